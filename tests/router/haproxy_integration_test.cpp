// HaproxyApplier against a real HAProxy (/usr/sbin/haproxy -db) on free 127.0.0.1 ports,
// with in-process HTTP/1.1 keep-alive backends that answer with their instance name, and
// keep-alive clients that count every answer while instances are added, removed and a
// version is switched. The acceptance: every request answered 200, no connection lost,
// and once Apply returns kChanged the NEXT request on an already open connection is
// answered by the new set (and nothing after it by the old one).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "router/haproxy_applier.h"
#include "router/nginx_applier.h"  // ReadFileOrEmpty, WriteFileAtomically

extern char** environ;

namespace rollouts::router {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kHaproxy[] = "/usr/sbin/haproxy";

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Waits until fd is readable, at most `ms`; false on timeout or when `stop` is set.
bool PollIn(int fd, int ms, const std::atomic<bool>* stop = nullptr) {
  const auto deadline = Clock::now() + milliseconds(ms);
  while (Clock::now() < deadline) {
    if (stop != nullptr && *stop) return false;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, 20);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
  return false;
}

bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One HTTP/1.1 response read from fd (buffer keeps what follows it): status and body.
struct HttpResponse {
  int status = 0;
  std::string body;
};
bool ReadResponse(int fd, std::string* buffer, HttpResponse* out, int timeout_ms) {
  const auto deadline = Clock::now() + milliseconds(timeout_ms);
  auto fill = [&]() {
    int left =
        static_cast<int>(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count());
    if (left <= 0 || !PollIn(fd, left)) return false;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffer->append(buf, static_cast<size_t>(n));
    return true;
  };
  size_t end;
  while ((end = buffer->find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return false;
  }
  const std::string head = Lower(buffer->substr(0, end));
  if (head.rfind("http/1.1 ", 0) != 0) return false;
  out->status = std::atoi(head.c_str() + 9);
  size_t cl = head.find("\r\ncontent-length:");
  if (cl == std::string::npos) return false;
  const size_t length = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
  while (buffer->size() < end + 4 + length) {
    if (!fill()) return false;
  }
  out->body = buffer->substr(end + 4, length);
  buffer->erase(0, end + 4 + length);
  return true;
}

// A backend instance: HTTP/1.1 keep-alive on a free port, a thread per connection,
// answering every request 200 with its name ("v1a") as the body and X-Version, after
// `latency` (so that requests are in flight when routes change).
class VersionServer {
 public:
  VersionServer(std::string name, std::string version, milliseconds latency = milliseconds(0))
      : name_(std::move(name)), version_(std::move(version)), latency_(latency) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::listen(fd_, 64) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
      acceptor_ = std::thread([this] { Accept(); });
    }
  }
  ~VersionServer() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : connections_) t.join();
    if (fd_ >= 0) ::close(fd_);
  }
  VersionServer(const VersionServer&) = delete;
  VersionServer& operator=(const VersionServer&) = delete;

  int port() const { return port_; }
  const std::string& name() const { return name_; }
  Backend backend() const { return Backend{"127.0.0.1", port_, version_}; }

 private:
  void Accept() {
    while (PollIn(fd_, 1 << 30, &stop_)) {
      int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      connections_.emplace_back([this, conn] { Serve(conn); });
    }
  }
  void Serve(int conn) {
    const std::string body = name_;
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Version: " + version_ +
        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    std::string in;
    char buf[4096];
    while (PollIn(conn, 1 << 30, &stop_)) {
      ssize_t n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      size_t end;
      bool ok = true;
      while (ok && (end = in.find("\r\n\r\n")) != std::string::npos) {  // GETs: no body
        in.erase(0, end + 4);
        if (latency_.count() > 0) std::this_thread::sleep_for(latency_);
        ok = SendAll(conn, response);
      }
      if (!ok) break;
    }
    ::close(conn);
  }

  std::string name_, version_;
  milliseconds latency_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> connections_;
};

// Clients on `connections` keep-alive connections (a thread each) sending GET after GET;
// every answer is logged with the time its request was sent. A lost connection, a
// timeout or a non-200 answer is an error; the connection is then opened again.
class KeepAliveClients {
 public:
  struct Answer {
    Clock::time_point sent;
    int connection;
    std::string instance;
  };

  KeepAliveClients(int port, int connections) : port_(port) {
    for (int i = 0; i < connections; ++i) threads_.emplace_back([this, i] { Run(i); });
  }
  ~KeepAliveClients() { Stop(); }
  KeepAliveClients(const KeepAliveClients&) = delete;
  KeepAliveClients& operator=(const KeepAliveClients&) = delete;

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  // Waits until every connection has `n` answers to requests sent at or after `t`.
  bool WaitForAnswersSince(Clock::time_point t, size_t n, milliseconds limit = milliseconds(8000)) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      std::map<int, size_t> per;
      for (const auto& a : AnswersSince(t)) ++per[a.connection];
      bool all = per.size() == threads_.size();
      for (const auto& [c, count] : per) all = all && count >= n;
      if (all) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }

  std::vector<Answer> AnswersSince(Clock::time_point t) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Answer> out;
    for (const auto& a : answers_) {
      if (a.sent >= t) out.push_back(a);
    }
    return out;
  }
  // instance -> answers to requests sent at or after t.
  std::map<std::string, int> CountSince(Clock::time_point t) {
    std::map<std::string, int> out;
    for (const auto& a : AnswersSince(t)) ++out[a.instance];
    return out;
  }

  size_t answers() {
    std::lock_guard<std::mutex> lock(mu_);
    return answers_.size();
  }
  std::vector<std::string> errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }
  int connects() const { return connects_; }

 private:
  void Error(int i, const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.push_back("connection " + std::to_string(i) + ": " + what);
  }

  void Run(int i) {
    const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    while (!stop_) {
      int fd = ConnectLoopback(port_);
      if (fd < 0) {
        Error(i, "connect failed");
        std::this_thread::sleep_for(milliseconds(50));
        continue;
      }
      ++connects_;
      std::string buffer;
      while (!stop_) {
        const auto sent = Clock::now();
        if (!SendAll(fd, request)) {
          Error(i, "send failed");
          break;
        }
        HttpResponse r;
        if (!ReadResponse(fd, &buffer, &r, 5000)) {
          Error(i, "no complete answer (closed or timed out)");
          break;
        }
        if (r.status != 200) {
          Error(i, "status " + std::to_string(r.status) + " " + r.body.substr(0, 100));
        } else {
          std::lock_guard<std::mutex> lock(mu_);
          answers_.push_back({sent, i, r.body});
        }
        // Paced: the point is many requests on each connection across every flip, not
        // load; 2 cores run HAProxy, the backends and these clients.
        std::this_thread::sleep_for(milliseconds(2));
      }
      ::close(fd);
    }
  }

  int port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connects_{0};
  std::mutex mu_;
  std::vector<Answer> answers_;
  std::vector<std::string> errors_;
  std::vector<std::thread> threads_;
};

// One request on a new connection: the instance that answered, or "" (with the status
// or the failure in *why).
std::string GetOnce(int port, std::string* why) {
  int fd = ConnectLoopback(port);
  if (fd < 0) {
    *why = "connect failed";
    return "";
  }
  std::string buffer;
  HttpResponse r;
  bool ok = SendAll(fd, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n") &&
            ReadResponse(fd, &buffer, &r, 3000);
  ::close(fd);
  if (!ok) {
    *why = "no answer";
    return "";
  }
  if (r.status != 200) {
    *why = "status " + std::to_string(r.status);
    return "";
  }
  return r.body;
}

// `haproxy -db -f cfg`, output to a log file; killed (and reaped) by the destructor.
class HaproxyProcess {
 public:
  ~HaproxyProcess() { Kill(); }

  bool Start(const std::string& config, const std::string& log, std::string* why) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    std::vector<std::string> args = {kHaproxy, "-db", "-f", config};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, kHaproxy, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      *why = std::string("posix_spawn: ") + std::strerror(rc);
      return false;
    }
    return true;
  }

  bool Running() {
    if (pid_ <= 0) return false;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

class HaproxyIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kHaproxy)) {
      GTEST_SKIP() << "needs " << kHaproxy << " (scripts/install-deps.sh)";
    }
    char tmpl[] = "/tmp/hxit-XXXXXX";  // short: the socket path must fit sun_path
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    listen_port_ = FreeLoopbackPort();
    preview_port_ = FreeLoopbackPort();
    ASSERT_NE(listen_port_, 0);
    ASSERT_NE(preview_port_, 0);
    setup_.layout.socket_path = (dir_ / "admin.sock").string();
    setup_.layout.map_path = (dir_ / "routes.map").string();
    setup_.config_path = (dir_ / "haproxy.cfg").string();
    runtime_ = std::make_unique<UnixSocketRuntime>(setup_.layout.socket_path);
    HaproxyServiceRoutes hello;
    hello.service = "hello";
    hello.listen = "127.0.0.1:" + std::to_string(listen_port_);
    hello.preview_listen = "127.0.0.1:" + std::to_string(preview_port_);
    applier_ = std::make_unique<HaproxyApplier>(setup_, std::vector<HaproxyServiceRoutes>{hello},
                                                *runtime_);
    applier_->WriteInitialFiles();
    for (auto* s : {&v1a_, &v1b_, &v2a_, &v2b_}) ASSERT_NE(s->port(), 0) << s->name();
    ASSERT_NO_FATAL_FAILURE(StartHaproxy());
  }

  void TearDown() override {
    haproxy_.Kill();
    if (HasFailure() && !dir_.empty()) {
      std::cerr << "haproxy log:\n" << ReadFileOrEmpty((dir_ / "haproxy.log").string()) << "\n";
    }
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  // Starts HAProxy on the files and waits (bounded) until its socket answers and its
  // frontend accepts connections.
  void StartHaproxy() {
    std::string why;
    ASSERT_TRUE(haproxy_.Start(setup_.config_path, (dir_ / "haproxy.log").string(), &why)) << why;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      ASSERT_TRUE(haproxy_.Running())
          << "haproxy exited: " << ReadFileOrEmpty((dir_ / "haproxy.log").string());
      RuntimeAnswer info = UnixSocketRuntime(setup_.layout.socket_path).Execute("show info");
      int fd = info.ok ? ConnectLoopback(listen_port_) : -1;
      if (fd >= 0) {
        ::close(fd);
        return;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    FAIL() << "haproxy not ready within 10 s: " << ReadFileOrEmpty((dir_ / "haproxy.log").string());
  }

  ApplyResult Apply(const std::vector<const VersionServer*>& active,
                    const std::vector<const VersionServer*>& preview = {}) {
    ServiceRoute r;
    r.service = "hello";
    r.listen = "127.0.0.1:" + std::to_string(listen_port_);
    r.preview_listen = "127.0.0.1:" + std::to_string(preview_port_);
    for (const auto* s : active) r.active.backends.push_back(s->backend());
    if (!active.empty()) r.active.version = active[0]->backend().version;
    for (const auto* s : preview) r.preview.push_back(s->backend());
    return applier_->Apply({r});
  }

  // Applies `active` while `clients` run; then checks, on every connection of every
  // client, that every request sent after Apply returned was answered by an instance of
  // `active`, and that each of them answered some request of some client.
  void SwitchAndCheck(const std::vector<KeepAliveClients*>& clients,
                      const std::vector<const VersionServer*>& active, const char* step) {
    SCOPED_TRACE(step);
    ApplyResult r = Apply(active);
    const auto applied = Clock::now();
    ASSERT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
    for (KeepAliveClients* c : clients) {
      ASSERT_TRUE(c->WaitForAnswersSince(applied, 12)) << "clients stalled";
    }
    std::set<std::string> want;
    for (const auto* s : active) want.insert(s->name());
    std::set<std::string> seen;
    for (KeepAliveClients* c : clients) {
      for (const auto& [instance, count] : c->CountSince(applied)) {
        EXPECT_EQ(want.count(instance), 1u)
            << count << " request(s) sent after Apply returned were answered by " << instance;
        seen.insert(instance);
      }
    }
    // Over all connections: round robin over one connection alone may keep landing on
    // the same server when the other connections' requests interleave in step.
    EXPECT_EQ(seen, want);
  }

  VersionServer v1a_{"v1a", "v1"}, v1b_{"v1b", "v1"}, v2a_{"v2a", "v2"}, v2b_{"v2b", "v2"};
  fs::path dir_;
  int listen_port_ = 0, preview_port_ = 0;
  HaproxySetup setup_;
  std::unique_ptr<UnixSocketRuntime> runtime_;
  std::unique_ptr<HaproxyApplier> applier_;
  HaproxyProcess haproxy_;
};

TEST_F(HaproxyIntegrationTest, AddRemoveAndSwitchUnderKeepAliveClients) {
  ApplyResult first = Apply({&v1a_});
  ASSERT_EQ(first.outcome, ApplyResult::Outcome::kChanged) << first.message;
  std::string why;
  ASSERT_EQ(GetOnce(listen_port_, &why), "v1a") << why;

  // One client on one connection, one on three: 4 keep-alive connections in all.
  KeepAliveClients one(listen_port_, 1);
  KeepAliveClients three(listen_port_, 3);
  const auto start = Clock::now();
  ASSERT_TRUE(one.WaitForAnswersSince(start, 5));
  ASSERT_TRUE(three.WaitForAnswersSince(start, 5));

  struct Step {
    std::vector<const VersionServer*> active;
    const char* what;
  };
  const Step steps[] = {
      {{&v1a_, &v1b_}, "add an instance (v1a + v1b)"},
      {{&v1b_}, "remove one (v1b)"},
      {{&v2a_, &v2b_}, "switch v1 -> v2"},
      {{&v1a_}, "switch back to v1 (v1a)"},
      {{&v2b_}, "switch to v2 again (v2b)"},
  };
  for (const Step& s : steps) {
    ASSERT_NO_FATAL_FAILURE(SwitchAndCheck({&one, &three}, s.active, s.what));
  }

  // The preview route, changed in place, does not move live traffic.
  const auto before_preview = Clock::now();
  ApplyResult p = Apply({&v2b_}, {&v1b_});
  ASSERT_EQ(p.outcome, ApplyResult::Outcome::kChanged) << p.message;
  EXPECT_EQ(GetOnce(preview_port_, &why), "v1b") << why;
  ASSERT_TRUE(one.WaitForAnswersSince(Clock::now(), 5));
  EXPECT_EQ(one.CountSince(before_preview).size(), 1u);
  EXPECT_EQ(one.CountSince(before_preview).count("v2b"), 1u);

  one.Stop();
  three.Stop();
  EXPECT_TRUE(one.errors().empty()) << one.errors().front();
  EXPECT_TRUE(three.errors().empty()) << three.errors().front();
  EXPECT_EQ(one.connects(), 1);  // every request on the one connection it opened
  EXPECT_EQ(three.connects(), 3);
  std::cout << "answers: " << one.answers() << " on 1 connection, " << three.answers()
            << " on 3 connections\n";
}

TEST_F(HaproxyIntegrationTest, RestartedHaproxyServesTheLastAppliedRoutesAtOnce) {
  ASSERT_EQ(Apply({&v1a_}).outcome, ApplyResult::Outcome::kChanged);
  ApplyResult r = Apply({&v2a_, &v2b_}, {&v1b_});
  ASSERT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  haproxy_.Kill();  // SIGKILL: nothing saved on the way out
  ASSERT_NO_FATAL_FAILURE(StartHaproxy());
  // The very first requests after the restart: the last applied set, no empty backend.
  std::set<std::string> seen;
  for (int i = 0; i < 6; ++i) {
    std::string why;
    std::string got = GetOnce(listen_port_, &why);
    EXPECT_TRUE(got == "v2a" || got == "v2b") << "answer " << i << ": '" << got << "' " << why;
    seen.insert(got);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"v2a", "v2b"}));
  std::string why;
  EXPECT_EQ(GetOnce(preview_port_, &why), "v1b") << why;
  // What runs is what the applier wants: nothing to do; and the runtime API works again.
  r = Apply({&v2a_, &v2b_}, {&v1b_});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kUnchanged) << r.message;
  KeepAliveClients client(listen_port_, 1);
  ASSERT_TRUE(client.WaitForAnswersSince(Clock::now(), 3));
  ASSERT_NO_FATAL_FAILURE(SwitchAndCheck({&client}, {&v1a_}, "switch after the restart"));
  client.Stop();
  EXPECT_TRUE(client.errors().empty()) << client.errors().front();
  EXPECT_EQ(client.connects(), 1);
}

TEST_F(HaproxyIntegrationTest, SocketGoneIsAnApplyFailureAndHaproxyKeepsServing) {
  ASSERT_EQ(Apply({&v1a_, &v1b_}).outcome, ApplyResult::Outcome::kChanged);
  KeepAliveClients client(listen_port_, 2);
  ASSERT_TRUE(client.WaitForAnswersSince(Clock::now(), 3));
  const std::string map_before = ReadFileOrEmpty(setup_.layout.map_path);
  const std::string config_before = ReadFileOrEmpty(setup_.config_path);
  ASSERT_TRUE(fs::remove(setup_.layout.socket_path));  // HAProxy runs on without it
  const auto t = Clock::now();
  ApplyResult r = Apply({&v2a_});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kApplyFailed);
  EXPECT_NE(r.message.find(setup_.layout.socket_path), std::string::npos) << r.message;
  EXPECT_EQ(Apply({&v2a_}).outcome, ApplyResult::Outcome::kApplyFailed);  // still, not stuck
  ASSERT_TRUE(client.WaitForAnswersSince(t, 12));
  for (const auto& [instance, count] : client.CountSince(t)) {
    EXPECT_TRUE(instance == "v1a" || instance == "v1b") << count << " answer(s) by " << instance;
  }
  // The files still describe what runs (a restart would come up on v1).
  EXPECT_EQ(ReadFileOrEmpty(setup_.layout.map_path), map_before);
  EXPECT_EQ(ReadFileOrEmpty(setup_.config_path), config_before);
  client.Stop();
  EXPECT_TRUE(client.errors().empty()) << client.errors().front();
  EXPECT_EQ(client.connects(), 2);
}

// The bug that made servers named by their address: with fixed slots re-addressed by
// `set server ... addr`, HAProxy kept the slot's connections to the OLD instance (held by
// the keep-alive client sessions whose requests were in flight at the flip) and went on
// sending requests over them once the slot was live again: the old version answered ~40%
// of requests for 26 s. The same steps here: slow answers (requests in flight at every
// flip), 32 keep-alive connections, v1 -> v2, and 50 ms later v3 into the buffer v1 still
// finishes requests in. From the moment the last Apply returns, only v3 may answer.
TEST_F(HaproxyIntegrationTest, OldInstanceNeverAnswersAfterItsBufferIsReused) {
  const milliseconds latency(150);
  VersionServer v1("slow-v1", "v1", latency), v2("slow-v2", "v2", latency),
      v3a("slow-v3a", "v3", latency), v3b("slow-v3b", "v3", latency);
  for (auto* s : {&v1, &v2, &v3a, &v3b}) ASSERT_NE(s->port(), 0) << s->name();
  ASSERT_EQ(Apply({&v1}).outcome, ApplyResult::Outcome::kChanged);  // buffer b
  // Restarted on the files, HAProxy runs v1's server from the config, as the slots were
  // (re-addressing a server added at run time did not keep its connections in 2.6).
  haproxy_.Kill();
  ASSERT_NO_FATAL_FAILURE(StartHaproxy());
  KeepAliveClients clients(listen_port_, 32);
  ASSERT_TRUE(clients.WaitForAnswersSince(Clock::now(), 2)) << "clients stalled";
  ApplyResult r = Apply({&v2});  // buffer a; v1's requests in flight finish in b
  ASSERT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  std::this_thread::sleep_for(milliseconds(50));
  r = Apply({&v3a, &v3b});  // buffer b again, while v1 still answers there
  const auto applied = Clock::now();
  ASSERT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(applier_->LiveBuffer("hello"), 'b');
  // 5 answers per connection after the flip: every connection reused its server-side
  // connections several times (~0.8 s).
  ASSERT_TRUE(clients.WaitForAnswersSince(applied, 5)) << "clients stalled";
  clients.Stop();
  std::map<std::string, int> counts = clients.CountSince(applied);
  int total = 0, stale = 0;
  for (const auto& [instance, count] : counts) {
    total += count;
    if (instance != "slow-v3a" && instance != "slow-v3b") stale += count;
  }
  EXPECT_EQ(stale, 0) << stale << " of " << total
                      << " requests sent after the last Apply returned were answered by an "
                         "older version";
  EXPECT_GT(counts["slow-v3a"], 0);
  EXPECT_GT(counts["slow-v3b"], 0);
  EXPECT_TRUE(clients.errors().empty()) << clients.errors().front();
  EXPECT_EQ(clients.connects(), 32);

  // Once b is the spare again it is brought to what is wanted there: v1b alone takes
  // requests. v1's server may stay in maintenance: HAProxy refuses `del server` while
  // connections to it remain, idle ones in its pool included, and a later Apply retries.
  ASSERT_EQ(Apply({&v2}).outcome, ApplyResult::Outcome::kChanged);    // a
  ASSERT_EQ(Apply({&v1b_}).outcome, ApplyResult::Outcome::kChanged);  // b
  RuntimeAnswer state = runtime_->Execute("show servers state svc_hello_b");
  ASSERT_TRUE(state.ok) << state.text;
  std::string error;
  auto servers = ParseServersState(state.text, &error);
  ASSERT_TRUE(servers.has_value()) << error << "\n" << state.text;
  EXPECT_EQ(RoutableEndpoints(*servers),
            std::vector<std::string>{v1b_.backend().address + ":" + std::to_string(v1b_.port())})
      << state.text;
  for (const auto& s : *servers) {
    EXPECT_TRUE(s.Routable() || s.server == HaproxyServerName(v1.backend())) << state.text;
    EXPECT_EQ(s.server, s.Endpoint()) << state.text;  // never re-addressed
  }
}

// A map file without the service's key (edited by hand): HAProxy serves default_backend,
// and the next change must create the entry (`set map` alone answers "entry not found.").
TEST_F(HaproxyIntegrationTest, MapFileWithoutTheKeyIsPutRight) {
  ASSERT_EQ(Apply({&v1a_}).outcome, ApplyResult::Outcome::kChanged);
  haproxy_.Kill();
  WriteFileAtomically(setup_.layout.map_path, "");
  ASSERT_NO_FATAL_FAILURE(StartHaproxy());
  std::string why;
  EXPECT_EQ(GetOnce(listen_port_, &why), "v1a") << why;  // default_backend: the file's live
  KeepAliveClients client(listen_port_, 1);
  ASSERT_TRUE(client.WaitForAnswersSince(Clock::now(), 3));
  ASSERT_NO_FATAL_FAILURE(SwitchAndCheck({&client}, {&v2a_}, "first change: the entry added"));
  ASSERT_NO_FATAL_FAILURE(SwitchAndCheck({&client}, {&v1b_}, "second change: the entry set"));
  client.Stop();
  EXPECT_TRUE(client.errors().empty()) << client.errors().front();
  EXPECT_EQ(client.connects(), 1);
}

}  // namespace
}  // namespace rollouts::router
