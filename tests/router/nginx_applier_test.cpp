// NginxApplier against the real Debian nginx binary: a broken routes file is rejected by
// `nginx -t`, the last good file stays in place and the running nginx keeps serving it
// (and rollouts_router_nginx_reloads_total says so).
#include "router/nginx_applier.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace rollouts::router {
namespace {

namespace fs = std::filesystem;

class FakeRunner : public CommandRunner {
 public:
  int Run(const std::vector<std::string>& argv, std::string* output) override {
    calls.push_back(argv);
    bool is_test = std::find(argv.begin(), argv.end(), "-t") != argv.end();
    if (is_test && !test_ok) {
      *output = "nginx: [emerg] invalid config";
      return 1;
    }
    return 0;
  }
  bool test_ok = true;
  std::vector<std::vector<std::string>> calls;
};

fs::path TempDir() {
  fs::path p = fs::temp_directory_path() /
               ("router-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  fs::create_directories(p);
  return p;
}

TEST(NginxApplier, UnchangedContentDoesNotReload) {
  fs::path dir = TempDir();
  FakeRunner runner;
  NginxApplier applier(
      {"/usr/sbin/nginx", (dir / "nginx.conf").string(), "", (dir / "routes.conf").string()},
      runner);
  EXPECT_EQ(applier.Apply("a").outcome, ApplyResult::Outcome::kChanged);
  EXPECT_EQ(applier.Apply("a").outcome, ApplyResult::Outcome::kUnchanged);
  EXPECT_EQ(runner.calls.size(), 2u);  // one -t, one reload
  fs::remove_all(dir);
}

TEST(NginxApplier, RejectedConfigRestoresThePreviousFileAndDoesNotReload) {
  fs::path dir = TempDir();
  FakeRunner runner;
  NginxApplier applier(
      {"/usr/sbin/nginx", (dir / "nginx.conf").string(), "", (dir / "routes.conf").string()},
      runner);
  ASSERT_EQ(applier.Apply("good").outcome, ApplyResult::Outcome::kChanged);
  runner.test_ok = false;
  ApplyResult r = applier.Apply("bad");
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kRejected);
  EXPECT_NE(r.message.find("invalid config"), std::string::npos);
  EXPECT_EQ(ReadFileOrEmpty((dir / "routes.conf").string()), "good");
  EXPECT_EQ(runner.calls.size(), 3u);  // -t, reload, -t
  fs::remove_all(dir);
}

double Reloads(RouterMetrics& metrics, const std::string& result) {
  for (const auto& family : metrics.registry()->Collect()) {
    if (family.name != "rollouts_router_nginx_reloads_total") continue;
    for (const auto& m : family.metric) {
      if (m.label.size() == 1 && m.label[0].value == result) return m.counter.value;
    }
  }
  return -1;
}

std::string HttpGet(int port) {
  std::string out;
  ProcessRunner().Run(
      {"/usr/bin/curl", "-s", "-m", "2", "http://127.0.0.1:" + std::to_string(port) + "/"}, &out);
  return out;
}

// A port that was free a moment ago: bind 127.0.0.1:0, read back the kernel's choice,
// release it. Another process can still take it before nginx binds; Start() retries then.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// A real nginx (daemon, own prefix directory) listening on a free port with routes that
// answer a fixed body. The destructor stops it and waits for it, however the test ends.
class RealNginx {
 public:
  RealNginx() : dir_(TempDir()) { fs::create_directories(dir_ / "logs"); }
  ~RealNginx() {
    Stop();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  RealNginx(const RealNginx&) = delete;
  RealNginx& operator=(const RealNginx&) = delete;

  // Starts nginx serving `body`; on a port another process took in the meantime, tries
  // again with another one (bounded). False with nginx's output when it did not start.
  bool Start(const std::string& body, std::string* output) {
    std::ofstream(dir_ / "nginx.conf")
        << "daemon on;\nworker_processes 1;\npid " << (dir_ / "nginx.pid").string()
        << ";\nerror_log " << (dir_ / "logs/error.log").string()
        << ";\nevents { worker_connections 64; }\nhttp {\n"
        << "  access_log off;\n  client_body_temp_path " << dir_.string() << ";\n  proxy_temp_path "
        << dir_.string() << ";\n"
        << "  fastcgi_temp_path " << dir_.string() << ";\n"
        << "  uwsgi_temp_path " << dir_.string() << ";\n"
        << "  scgi_temp_path " << dir_.string() << ";\n"
        << "  include " << routes_file() << ";\n}\n";
    for (int attempt = 0; attempt < 10; ++attempt) {
      port_ = FreePort();
      if (port_ == 0) continue;
      WriteFileAtomically(routes_file(), Routes(body));
      output->clear();
      if (runner_.Run({"/usr/sbin/nginx", "-p", dir_.string(), "-c", main_conf()}, output) == 0) {
        return true;
      }
      if (output->find("Address already in use") == std::string::npos) return false;
    }
    return false;
  }

  // Routes that answer `body` on this nginx's port.
  std::string Routes(const std::string& body) const {
    return "server { listen 127.0.0.1:" + std::to_string(port_) +
           "; location / { default_type text/plain; return 200 \"" + body + "\"; } }\n";
  }

  // Polls until nginx answers `want` (a reload takes effect asynchronously), for at most
  // `limit`; generous because a loaded machine delays process starts and reloads.
  ::testing::AssertionResult Serves(const std::string& want,
                                    std::chrono::seconds limit = std::chrono::seconds(30)) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::string last;
    while (true) {
      last = HttpGet(port_);
      if (last == want) return ::testing::AssertionSuccess();
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return ::testing::AssertionFailure()
           << "port " << port_ << " did not answer \"" << want << "\" within " << limit.count()
           << " s; last answer \"" << last << "\"";
  }

  std::string main_conf() const { return (dir_ / "nginx.conf").string(); }
  std::string routes_file() const { return (dir_ / "routes.conf").string(); }
  const fs::path& dir() const { return dir_; }

 private:
  // `nginx -s quit`, then wait (bounded) for the master to remove its pid file; a master
  // that does not go is killed by its pid (this test started it).
  void Stop() {
    const fs::path pid_file = dir_ / "nginx.pid";
    if (!fs::exists(pid_file)) return;
    std::string out;
    runner_.Run({"/usr/sbin/nginx", "-p", dir_.string(), "-c", main_conf(), "-s", "quit"}, &out);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (fs::exists(pid_file) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!fs::exists(pid_file)) return;
    const std::string pid_text = ReadFileOrEmpty(pid_file.string());
    const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
    if (pid > 1) ::kill(static_cast<pid_t>(pid), SIGKILL);
    ADD_FAILURE() << "nginx (pid " << pid_text << ") did not quit within 15 s; killed";
  }

  fs::path dir_;
  ProcessRunner runner_;
  int port_ = 0;
};

TEST(NginxApplierWithRealNginx, BrokenRoutesKeepTheLastGoodConfigServing) {
  if (!fs::exists("/usr/sbin/nginx") || !fs::exists("/usr/bin/curl")) {
    GTEST_SKIP() << "needs /usr/sbin/nginx and /usr/bin/curl (scripts/install-deps.sh)";
  }
  RealNginx nginx;
  std::string out;
  ASSERT_TRUE(nginx.Start("one", &out)) << out;
  ProcessRunner runner;
  RouterMetrics metrics;
  NginxApplier applier(
      {"/usr/sbin/nginx", nginx.main_conf(), nginx.dir().string(), nginx.routes_file()}, runner,
      &metrics);
  ASSERT_TRUE(nginx.Serves("one"));
  EXPECT_EQ(applier.Apply(nginx.Routes("two")).outcome, ApplyResult::Outcome::kChanged);
  EXPECT_TRUE(nginx.Serves("two"));
  ApplyResult bad = applier.Apply("upstream broken { server ; }\n");
  EXPECT_EQ(bad.outcome, ApplyResult::Outcome::kRejected);
  EXPECT_FALSE(bad.message.empty());
  EXPECT_EQ(ReadFileOrEmpty(nginx.routes_file()), nginx.Routes("two"));
  EXPECT_TRUE(nginx.Serves("two"));
  EXPECT_EQ(Reloads(metrics, "ok"), 1);
  EXPECT_EQ(Reloads(metrics, "test_failed"), 1);
  EXPECT_EQ(Reloads(metrics, "reload_failed"), 0);
}

}  // namespace
}  // namespace rollouts::router
