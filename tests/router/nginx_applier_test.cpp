// NginxApplier against the real Debian nginx binary: a broken routes file is rejected by
// `nginx -t`, the last good file stays in place and the running nginx keeps serving it
// (and rollouts_router_nginx_reloads_total says so).
#include "router/nginx_applier.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
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
  EXPECT_EQ(applier.Apply("a").outcome, ApplyResult::Outcome::kReloaded);
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
  ASSERT_EQ(applier.Apply("good").outcome, ApplyResult::Outcome::kReloaded);
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

TEST(NginxApplierWithRealNginx, BrokenRoutesKeepTheLastGoodConfigServing) {
  if (!fs::exists("/usr/sbin/nginx") || !fs::exists("/usr/bin/curl")) {
    GTEST_SKIP() << "needs /usr/sbin/nginx and /usr/bin/curl (scripts/install-deps.sh)";
  }
  fs::path dir = TempDir();
  fs::create_directories(dir / "logs");
  int port = 20000 + (::getpid() % 20000);
  std::ofstream(dir / "nginx.conf")
      << "daemon on;\nworker_processes 1;\npid " << (dir / "nginx.pid").string() << ";\nerror_log "
      << (dir / "logs/error.log").string() << ";\nevents { worker_connections 64; }\nhttp {\n"
      << "  access_log off;\n  client_body_temp_path " << dir.string() << ";\n  proxy_temp_path "
      << dir.string() << ";\n"
      << "  fastcgi_temp_path " << dir.string() << ";\n"
      << "  uwsgi_temp_path " << dir.string() << ";\n"
      << "  scgi_temp_path " << dir.string() << ";\n"
      << "  include " << (dir / "routes.conf").string() << ";\n}\n";
  auto routes = [port](const std::string& body) {
    return "server { listen 127.0.0.1:" + std::to_string(port) +
           "; location / { default_type text/plain; return 200 \"" + body + "\"; } }\n";
  };
  WriteFileAtomically((dir / "routes.conf").string(), routes("one"));
  ProcessRunner runner;
  std::string out;
  ASSERT_EQ(runner.Run({"/usr/sbin/nginx", "-p", dir.string(), "-c", (dir / "nginx.conf").string()},
                       &out),
            0)
      << out;
  RouterMetrics metrics;
  NginxApplier applier({"/usr/sbin/nginx", (dir / "nginx.conf").string(), dir.string(),
                        (dir / "routes.conf").string()},
                       runner, &metrics);
  auto wait_for = [&](const std::string& want) {
    for (int i = 0; i < 50; ++i) {
      if (HttpGet(port) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };
  EXPECT_TRUE(wait_for("one"));
  EXPECT_EQ(applier.Apply(routes("two")).outcome, ApplyResult::Outcome::kReloaded);
  EXPECT_TRUE(wait_for("two"));
  ApplyResult bad = applier.Apply("upstream broken { server ; }\n");
  EXPECT_EQ(bad.outcome, ApplyResult::Outcome::kRejected);
  EXPECT_FALSE(bad.message.empty());
  EXPECT_EQ(ReadFileOrEmpty((dir / "routes.conf").string()), routes("two"));
  EXPECT_TRUE(wait_for("two"));
  EXPECT_EQ(Reloads(metrics, "ok"), 1);
  EXPECT_EQ(Reloads(metrics, "test_failed"), 1);
  EXPECT_EQ(Reloads(metrics, "reload_failed"), 0);
  runner.Run(
      {"/usr/sbin/nginx", "-p", dir.string(), "-c", (dir / "nginx.conf").string(), "-s", "quit"},
      &out);
  for (int i = 0; i < 50 && fs::exists(dir / "nginx.pid"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rollouts::router
