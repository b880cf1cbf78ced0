// The runtime-command layer of the HAProxy backend: parsing HAProxy 2.6's answers (the
// texts below are copied from a real `haproxy -db` 2.6.12 session), the argument check,
// and UnixSocketRuntime against a missing socket and a tiny in-test socket server.
#include "router/haproxy_runtime.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace rollouts::router {
namespace {

namespace fs = std::filesystem;

const char kServersStateHeader[] =
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
    "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
    "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";

// `show servers state hello_a`: s1 running, s2 an empty slot ("disabled" in the config:
// admin 0x01|0x04, stopped).
const std::string kRealServersState =
    std::string("1\n") + kServersStateHeader +
    "3 hello_a 1 s1 127.0.0.1 2 0 1 1 2 1 0 2 0 0 0 0 - 19001 - 0 0 - - 0\n"
    "3 hello_a 2 s2 0.0.0.0 0 5 1 1 2 1 0 0 8 0 0 0 - 1 - 0 0 - - 0\n\n";

std::optional<std::vector<ServerState>> ParseState(const std::string& text, std::string* error) {
  error->clear();
  return ParseServersState(text, error);
}

TEST(HaproxyParseServersState, RealAnswer) {
  std::string error;
  auto slots = ParseState(kRealServersState, &error);
  ASSERT_TRUE(slots.has_value()) << error;
  ASSERT_EQ(slots->size(), 2u);
  const ServerState& s1 = (*slots)[0];
  EXPECT_EQ(s1.backend, "hello_a");
  EXPECT_EQ(s1.server, "s1");
  EXPECT_EQ(s1.address, "127.0.0.1");
  EXPECT_EQ(s1.port, 19001);
  EXPECT_EQ(s1.operational, 2);
  EXPECT_EQ(s1.admin, 0);
  EXPECT_EQ(s1.weight, 1);
  EXPECT_EQ(s1.Endpoint(), "127.0.0.1:19001");
  EXPECT_TRUE(s1.Routable());
  const ServerState& s2 = (*slots)[1];
  EXPECT_EQ(s2.server, "s2");
  EXPECT_EQ(s2.Endpoint(), "0.0.0.0:1");
  EXPECT_EQ(s2.operational, 0);
  EXPECT_EQ(s2.admin, 5);
  EXPECT_FALSE(s2.Routable());
}

TEST(HaproxyParseServersState, NoServersIsAnEmptyList) {
  std::string error;
  auto slots = ParseState(std::string("1\n") + kServersStateHeader + "\n", &error);
  ASSERT_TRUE(slots.has_value()) << error;
  EXPECT_TRUE(slots->empty());
}

TEST(HaproxyParseServersState, ColumnsAreFoundByNameAndExtraColumnsAreIgnored) {
  // A later version appending a column (and values for it) still parses.
  std::string header = kServersStateHeader;
  header.insert(header.size() - 1, " srv_future_thing");
  std::string text = "1\n" + header +
                     "3 hello_a 1 s1 127.0.0.1 2 8 7 1 2 1 0 2 0 0 0 0 - 19001 - 0 0 - - 0 zz\n\n";
  std::string error;
  auto slots = ParseState(text, &error);
  ASSERT_TRUE(slots.has_value()) << error;
  ASSERT_EQ(slots->size(), 1u);
  EXPECT_EQ((*slots)[0].weight, 7);
  EXPECT_EQ((*slots)[0].admin, 8);
  EXPECT_FALSE((*slots)[0].Routable());  // draining
}

TEST(HaproxyParseServersState, ErrorAnswersAreNotStates) {
  for (const std::string& text : {
           std::string("Unknown command, but maybe one of the following ones is a better match:\n"
                       "  show fd [num]    : dump list of file descriptors in use\n\n"),
           std::string("No such backend.\n\n"),
           std::string("Can't find backend.\n\n"),  // what 2.6 says for `... state nope`
           std::string("Permission denied\n\n"), std::string(""), std::string("\n"),
           std::string("2\n") + kServersStateHeader + "\n",  // another format version
       }) {
    std::string error;
    EXPECT_FALSE(ParseState(text, &error).has_value()) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
}

TEST(HaproxyParseServersState, CutOrGarbledAnswersAreRejected) {
  const std::string good_line =
      "3 hello_a 1 s1 127.0.0.1 2 0 1 1 2 1 0 2 0 0 0 0 - 19001 - 0 0 - - 0\n";
  struct Case {
    const char* what;
    std::string text;
  };
  const Case cases[] = {
      {"version line only", "1\n"},
      {"no header", "1\n" + good_line + "\n"},
      {"header cut before srv_port", std::string("1\n# be_id be_name srv_id srv_name srv_addr "
                                                 "srv_op_state srv_admin_state srv_uweight\n") +
                                         "3 hello_a 1 s1 127.0.0.1 2 0 1\n\n"},
      {"line cut in the middle",
       std::string("1\n") + kServersStateHeader + "3 hello_a 1 s1 127.0.0.1 2 0 1 1 2 1\n\n"},
      {"line cut after the port column",
       std::string("1\n") + kServersStateHeader +
           "3 hello_a 1 s1 127.0.0.1 2 0 1 1 2 1 0 2 0 0 0 0 - 19001\n"},
      {"port not a number",
       std::string("1\n") + kServersStateHeader +
           "3 hello_a 1 s1 127.0.0.1 2 0 1 1 2 1 0 2 0 0 0 0 - x9001 - 0 0 - - 0\n\n"},
      {"negative op state", std::string("1\n") + kServersStateHeader +
                                "3 hello_a 1 s1 127.0.0.1 -2 0 1 1 2 1 0 2 0 0 0 0 - 19001 - 0 0 "
                                "- - 0\n\n"},
      {"huge admin flags",
       std::string("1\n") + kServersStateHeader +
           "3 hello_a 1 s1 127.0.0.1 2 99999999999 1 1 2 1 0 2 0 0 0 0 - 19001 - 0 0 - - 0\n\n"},
      {"text after the closing blank line",
       std::string("1\n") + kServersStateHeader + good_line + "\n" + "Unknown command\n"},
  };
  for (const Case& c : cases) {
    std::string error;
    EXPECT_FALSE(ParseState(c.text, &error).has_value()) << c.what;
    EXPECT_FALSE(error.empty()) << c.what;
  }
}

TEST(HaproxyServerState, RoutableFollowsTheAdminFlags) {
  struct Case {
    int op, admin;
    bool routable;
  };
  const Case cases[] = {
      {2, 0x00, true},  {2, 0x01, false},  // forced maintenance (`state maint`)
      {2, 0x02, false},                    // inherited maintenance (tracked server)
      {2, 0x04, true},   // "disabled" in the config, forced flag cleared by `state ready`
      {0, 0x05, false},  // an empty slot as configured: disabled + forced maintenance
      {2, 0x08, false},  // forced drain
      {2, 0x0C, false},  // drain set on a slot configured disabled (2.6 shows 12)
      {2, 0x10, false},  // inherited drain
      {2, 0x20, false},  // resolver maintenance
      {0, 0x00, false},  // stopped
      {1, 0x00, false},  // starting
      {3, 0x00, false},  // stopping
  };
  for (const Case& c : cases) {
    ServerState s;
    s.operational = c.op;
    s.admin = c.admin;
    EXPECT_EQ(s.Routable(), c.routable) << "op " << c.op << " admin 0x" << std::hex << c.admin;
  }
}

TEST(HaproxyParseMapEntries, RealAnswers) {
  std::string error;
  auto one = ParseMapEntries("0x55fba1dff4a0 svc_hello svc_hello_a\n\n", &error);
  ASSERT_TRUE(one.has_value()) << error;
  EXPECT_EQ(*one, (std::map<std::string, std::string>{{"svc_hello", "svc_hello_a"}}));

  auto two = ParseMapEntries(
      "0x7f1b100468f0 svc_hello svc_hello_b\n0x7f1b10046b60 svc_web svc_web_a\n\n", &error);
  ASSERT_TRUE(two.has_value()) << error;
  EXPECT_EQ(two->size(), 2u);
  EXPECT_EQ(two->at("svc_web"), "svc_web_a");

  // An empty map: HAProxy 2.6 answers just the closing blank line.
  auto empty = ParseMapEntries("\n", &error);
  ASSERT_TRUE(empty.has_value()) << error;
  EXPECT_TRUE(empty->empty());
  ASSERT_TRUE(ParseMapEntries("", &error).has_value());
}

TEST(HaproxyParseMapEntries, ErrorAnswersAreRejected) {
  for (const std::string& text : {
           std::string("Unknown map identifier. Please use #<id> or <file>.\n\n"),
           std::string("Unknown command, but maybe one of the following ones is a better "
                       "match:\n  help [<command>]  : list matching or all commands\n\n"),
           std::string("svc_hello svc_hello_a\n"),  // a map file, not the runtime answer
           std::string("0x55fba1dff4a0 svc_hello\n\n"),
       }) {
    std::string error;
    EXPECT_FALSE(ParseMapEntries(text, &error).has_value()) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
}

TEST(HaproxyIsSafeRuntimeArgument, SeparatorsAndEscapesAreRefused) {
  for (const char* ok : {"127.0.0.1", "::1", "svc_hello_a", "svc_hello_a/s1",
                         "/tmp/router-x/routes.map", "10.0.0.7", "host-name.example"}) {
    EXPECT_TRUE(IsSafeRuntimeArgument(ok)) << ok;
  }
  for (const std::string& bad :
       {std::string(""), std::string("a b"), std::string("1.2.3.4;shutdown sessions"),
        std::string("a\nb"), std::string("a\rb"), std::string("a\tb"), std::string("a\\b"),
        std::string("a\x01"), std::string("a\0b", 3)}) {
    EXPECT_FALSE(IsSafeRuntimeArgument(bad)) << bad;
  }
}

// --- UnixSocketRuntime ---

fs::path SocketTestDir() {
  // Short: sun_path holds 108 bytes.
  char tmpl[] = "/tmp/hxrt-XXXXXX";
  const char* made = ::mkdtemp(tmpl);
  return made == nullptr ? fs::path() : fs::path(made);
}

// A one-connection-at-a-time Unix socket server run by a thread: reads one command line
// and answers `answer` (then closes, as HAProxy does), or, with answer_never, keeps the
// connection open without a word until it is destroyed.
class TinyUnixServer {
 public:
  TinyUnixServer(const std::string& path, std::string answer, bool answer_never = false)
      : answer_(std::move(answer)), answer_never_(answer_never) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    listening_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                 ::listen(fd_, 4) == 0;
    if (listening_) thread_ = std::thread([this] { Serve(); });
  }
  ~TinyUnixServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  TinyUnixServer(const TinyUnixServer&) = delete;
  TinyUnixServer& operator=(const TinyUnixServer&) = delete;

  bool listening() const { return listening_; }
  std::string received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  // Every wait is a short poll re-checking stop_, so the destructor returns promptly.
  bool WaitReadable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }
  void Serve() {
    while (WaitReadable(fd_)) {
      int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      std::string got;
      char buf[4096];
      while (got.find('\n') == std::string::npos && WaitReadable(conn)) {
        ssize_t n = ::recv(conn, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        received_ += got;
      }
      if (answer_never_) {
        while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      } else {
        size_t off = 0;
        while (off < answer_.size()) {
          ssize_t n = ::send(conn, answer_.data() + off, answer_.size() - off, MSG_NOSIGNAL);
          if (n <= 0) break;
          off += static_cast<size_t>(n);
        }
      }
      ::close(conn);
    }
  }

  std::string answer_;
  bool answer_never_;
  int fd_ = -1;
  bool listening_ = false;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string received_;
  std::thread thread_;
};

TEST(HaproxyUnixSocketRuntime, MissingSocketSaysWhichPathAndWhy) {
  UnixSocketRuntime runtime("/nonexistent-dir-for-router-test/admin.sock");
  RuntimeAnswer a = runtime.Execute("show servers state");
  EXPECT_FALSE(a.ok);
  EXPECT_NE(a.text.find("/nonexistent-dir-for-router-test/admin.sock"), std::string::npos)
      << a.text;
  EXPECT_NE(a.text.find("No such file or directory"), std::string::npos) << a.text;
}

TEST(HaproxyUnixSocketRuntime, TooLongPathIsRefused) {
  UnixSocketRuntime runtime("/tmp/" + std::string(200, 'x'));
  RuntimeAnswer a = runtime.Execute("show servers state");
  EXPECT_FALSE(a.ok);
  EXPECT_NE(a.text.find("too long"), std::string::npos) << a.text;
}

TEST(HaproxyUnixSocketRuntime, SocketWithoutListenerIsRefused) {
  fs::path dir = SocketTestDir();
  ASSERT_FALSE(dir.empty());
  const std::string path = (dir / "stale.sock").string();
  {
    // A socket file left behind by a process that is gone (bound, never listening).
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  RuntimeAnswer a = UnixSocketRuntime(path).Execute("show info");
  EXPECT_FALSE(a.ok);
  EXPECT_NE(a.text.find("Connection refused"), std::string::npos) << a.text;
  fs::remove_all(dir);
}

TEST(HaproxyUnixSocketRuntime, SendsOneLineAndReadsTheAnswerToTheEnd) {
  fs::path dir = SocketTestDir();
  ASSERT_FALSE(dir.empty());
  const std::string path = (dir / "admin.sock").string();
  {
    TinyUnixServer server(path, kRealServersState);
    ASSERT_TRUE(server.listening());
    RuntimeAnswer a = UnixSocketRuntime(path).Execute("show servers state");
    EXPECT_TRUE(a.ok) << a.text;
    EXPECT_EQ(a.text, kRealServersState);
    EXPECT_EQ(server.received(), "show servers state\n");
  }
  fs::remove_all(dir);
}

TEST(HaproxyUnixSocketRuntime, LongAnswersArriveWhole) {
  fs::path dir = SocketTestDir();
  ASSERT_FALSE(dir.empty());
  const std::string path = (dir / "admin.sock").string();
  // Several times the client's 16 KB read buffer: many recv calls.
  std::string big = "1\n" + std::string(kServersStateHeader);
  for (int i = 0; i < 2000; ++i) {
    big += "3 hello_a " + std::to_string(i + 1) + " s" + std::to_string(i + 1) +
           " 127.0.0.1 2 0 1 1 2 1 0 2 0 0 0 0 - 19001 - 0 0 - - 0\n";
  }
  big += "\n";
  {
    TinyUnixServer server(path, big);
    ASSERT_TRUE(server.listening());
    RuntimeAnswer a = UnixSocketRuntime(path).Execute("show servers state");
    ASSERT_TRUE(a.ok) << a.text;
    EXPECT_EQ(a.text.size(), big.size());
    std::string error;
    auto slots = ParseServersState(a.text, &error);
    ASSERT_TRUE(slots.has_value()) << error;
    EXPECT_EQ(slots->size(), 2000u);
  }
  fs::remove_all(dir);
}

TEST(HaproxyUnixSocketRuntime, ServerThatNeverAnswersIsBoundedByTheTimeout) {
  fs::path dir = SocketTestDir();
  ASSERT_FALSE(dir.empty());
  const std::string path = (dir / "admin.sock").string();
  {
    TinyUnixServer server(path, "", /*answer_never=*/true);
    ASSERT_TRUE(server.listening());
    UnixSocketRuntime runtime(path, std::chrono::milliseconds(300));
    const auto start = std::chrono::steady_clock::now();
    RuntimeAnswer a = runtime.Execute("show servers state");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(a.ok);
    EXPECT_NE(a.text.find("timed out"), std::string::npos) << a.text;
    EXPECT_GE(took, std::chrono::milliseconds(250));
    EXPECT_LT(took, std::chrono::seconds(3));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rollouts::router
