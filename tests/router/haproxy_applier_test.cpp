// HaproxyApplier against a scripted in-memory HAProxy (FakeHaproxy): which runtime
// commands it sends, in which order, and what it leaves behind when HAProxy fails. The
// fake starts from the files the applier writes (as a restarted HAProxy would) and
// answers as HAProxy 2.6 does (texts copied from a real session).
#include "router/haproxy_applier.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "router/nginx_applier.h"  // ProcessRunner, ReadFileOrEmpty

namespace rollouts::router {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// An in-memory HAProxy: backends of servers and the routes map, changed by the runtime
// commands HaproxyApplier sends. `fail` makes an exchange fail as a broken socket would;
// ignore_ready makes HAProxy accept `set server ... state ready` and change nothing (so
// only the read-back can notice); `busy` holds the servers ("backend/server") that still
// have connections, whose `del server` HAProxy refuses.
class FakeHaproxy : public HaproxyRuntime {
 public:
  struct Server {
    std::string server, address;
    int port = 0, op = 0, admin = 0;
  };

  // What a HAProxy started on these files runs: every server of the config (`disabled`
  // ones in maintenance), the map file's entries.
  void Start(const std::string& config, const std::string& map_text, std::string map_path) {
    backends.clear();
    map.clear();
    map_path_ = std::move(map_path);
    std::istringstream in(config);
    std::string line;
    while (std::getline(in, line)) {
      auto w = Words(line);
      if (w.size() >= 2 && w[0] == "backend") backends.push_back({w[1], {}});
      if (w.size() >= 3 && w[0] == "server" && !backends.empty()) {
        Server s;
        s.server = w[1];
        size_t colon = w[2].rfind(':');
        s.address = w[2].substr(0, colon);
        s.port = std::stoi(w[2].substr(colon + 1));
        bool disabled = std::find(w.begin(), w.end(), "disabled") != w.end();
        s.op = disabled ? 0 : 2;
        s.admin = disabled ? 5 : 0;
        backends.back().second.push_back(s);
      }
    }
    std::istringstream m(map_text);
    while (std::getline(m, line)) {
      auto w = Words(line);
      if (w.size() == 2) map.push_back({w[0], w[1]});
    }
  }

  RuntimeAnswer Execute(const std::string& command_line) override {
    lines.push_back(command_line);
    if (fail) {
      if (auto why = fail(command_line)) return {false, *why};
    }
    std::string answer;
    std::istringstream in(command_line);
    std::string command;
    while (std::getline(in, command, ';')) answer += One(Words(command)) + "\n";
    return {true, answer};
  }

  Server* Find(const std::string& backend, const std::string& server) {
    for (auto& [name, servers] : backends) {
      if (name != backend) continue;
      for (auto& s : servers) {
        if (s.server == server) return &s;
      }
    }
    return nullptr;
  }

  // Every server of one backend, routable or not: "name=addr:port[ maint]", sorted.
  std::vector<std::string> Servers(const std::string& backend) {
    std::vector<std::string> out;
    for (auto& [name, servers] : backends) {
      if (name != backend) continue;
      for (auto& s : servers) {
        out.push_back(s.server + "=" + s.address + ":" + std::to_string(s.port) +
                      ((s.admin & 0x01) != 0 ? " maint" : ""));
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // The endpoints that take traffic in one backend, sorted.
  std::vector<std::string> Serving(const std::string& backend) {
    std::vector<std::string> out;
    for (auto& [name, servers] : backends) {
      if (name != backend) continue;
      for (auto& s : servers) {
        if (s.op == 2 && (s.admin & ~0x04) == 0) {
          out.push_back(s.address + ":" + std::to_string(s.port));
        }
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string MapValue(const std::string& key) const {
    for (const auto& [k, v] : map) {
      if (k == key) return v;
    }
    return "";
  }

  // The command lines received since `from`, joined for failure messages.
  std::string LinesSince(size_t from) const {
    std::string out;
    for (size_t i = from; i < lines.size(); ++i) out += "  " + lines[i] + "\n";
    return out;
  }

  std::vector<std::pair<std::string, std::vector<Server>>> backends;
  std::vector<std::pair<std::string, std::string>> map;
  std::vector<std::string> lines;
  std::function<std::optional<std::string>(const std::string&)> fail;
  bool ignore_ready = false;
  std::set<std::string> busy;  // "backend/server": `del server` refused
  int addr_commands = 0;       // `set server ... addr`: must stay 0

 private:
  std::string ServersState() const {
    std::string out =
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
        "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
        "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
        "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
        "srv_agent_port\n";
    int be_id = 3;
    for (const auto& [name, servers] : backends) {
      int srv_id = 1;
      for (const auto& s : servers) {
        out += std::to_string(be_id) + " " + name + " " + std::to_string(srv_id++) + " " +
               s.server + " " + s.address + " " + std::to_string(s.op) + " " +
               std::to_string(s.admin) + " 1 1 2 1 0 2 0 0 0 0 - " + std::to_string(s.port) +
               " - 0 0 - - 0\n";
      }
      ++be_id;
    }
    return out;  // Execute adds the closing blank line
  }

  std::string One(const std::vector<std::string>& w) {
    const std::string unknown_map = "Unknown map identifier. Please use #<id> or <file>.\n";
    if (w.size() == 3 && w[0] == "show" && w[1] == "servers" && w[2] == "state") {
      return ServersState();
    }
    if (w.size() == 2 && w[0] == "show" && w[1] == "backend") {
      std::string out = "# name\n";
      for (const auto& [name, servers] : backends) out += name + "\n";
      return out;
    }
    if (w.size() == 3 && w[0] == "show" && w[1] == "map") {
      if (w[2] != map_path_) return unknown_map;
      std::string out;
      int id = 0;
      for (const auto& [k, v] : map)
        out += "0x55fba1dff4" + std::to_string(10 + id++) + " " + k + " " + v + "\n";
      return out;
    }
    // Answers as HAProxy 2.6 gives them (cli_parse_add_server, cli_parse_delete_server).
    if (w.size() >= 3 && (w[0] == "add" || w[0] == "del" || w[0] == "set") && w[1] == "server") {
      size_t slash = w[2].find('/');
      if (slash == std::string::npos) return "Require 'backend/server'.\n";
      const std::string be = w[2].substr(0, slash), name = w[2].substr(slash + 1);
      auto backend = std::find_if(backends.begin(), backends.end(),
                                  [&](const auto& b) { return b.first == be; });
      if (backend == backends.end()) return "No such backend.\n";
      Server* s = Find(be, name);
      if (w[0] == "add") {
        // Keywords after the address: only the connection-pool ones the applier sends.
        if (w.size() < 4) return "'server' expects <name> and <addr>[:<port>] as arguments.\n";
        for (size_t k = 4; k + 1 < w.size() + 1; k += 2) {
          if (k + 1 >= w.size() || (w[k] != "pool-purge-delay" && w[k] != "pool-max-conn")) {
            return "unknown keyword in 'add server'.\n";
          }
        }
        if (s != nullptr) return "Already exists a server with the same name in backend.\n";
        Server added;
        added.server = name;
        size_t colon = w[3].rfind(':');
        added.address = w[3].substr(0, colon);
        added.port = std::stoi(w[3].substr(colon + 1));
        added.op = 0;
        added.admin = 0x01;  // a dynamic server starts in maintenance
        backend->second.push_back(added);
        return "New server registered.\n";
      }
      if (s == nullptr) return "No such server.\n";
      if (w[0] == "del") {
        if ((s->admin & 0x01) == 0) return "Only servers in maintenance mode can be deleted.\n";
        if (busy.count(w[2]) > 0) {
          return "Server still has connections attached to it, cannot remove it.\n";
        }
        auto& list = backend->second;
        list.erase(std::find_if(list.begin(), list.end(),
                                [&](const Server& x) { return x.server == name; }));
        return "Server deleted.\n";
      }
      if (w.size() == 7 && w[3] == "addr" && w[5] == "port") {
        ++addr_commands;
        std::string was = s->address, was_port = std::to_string(s->port);
        s->address = w[4];
        s->port = std::stoi(w[6]);
        return "IP changed from '" + was + "' to '" + w[4] + "', port changed from '" + was_port +
               "' to '" + w[6] + "' by 'stats socket command'\n";
      }
      if (w.size() == 5 && w[3] == "state") {
        if (w[4] == "ready") {
          if (ignore_ready) return "";
          s->admin &= ~(0x01 | 0x08);  // 0x04 (configured disabled) stays, as in 2.6
          s->op = 2;
        } else if (w[4] == "maint") {
          s->admin |= 0x01;
          s->op = 0;
        } else if (w[4] == "drain") {
          s->admin = (s->admin & ~0x01) | 0x08;
          s->op = 2;
        } else {
          return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n";
        }
        return "";
      }
    }
    if (w.size() == 5 && (w[0] == "set" || w[0] == "add") && w[1] == "map") {
      if (w[2] != map_path_) return unknown_map;
      if (w[0] == "add") {
        map.push_back({w[3], w[4]});
        return "";
      }
      bool found = false;
      for (auto& [k, v] : map) {
        if (k == w[3]) {
          v = w[4];
          found = true;
        }
      }
      return found ? "" : "entry not found.\n";
    }
    return "Unknown command, but maybe one of the following ones is a better match:\n"
           "  help [<command>]   : list matching or all commands\n";
  }

  std::string map_path_;
};

Backend Be(int port, const std::string& version) {
  return Backend{"127.0.0.1", port, version};
}

std::string Ep(int port) {
  return "127.0.0.1:" + std::to_string(port);
}

class HaproxyApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("haproxy-applier-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(dir_);
    setup_.layout.socket_path = (dir_ / "admin.sock").string();
    setup_.layout.map_path = (dir_ / "routes.map").string();
    setup_.config_path = (dir_ / "haproxy.cfg").string();
    HaproxyServiceRoutes hello;
    hello.service = "hello";
    hello.listen = "127.0.0.1:18080";
    hello.preview_listen = "127.0.0.1:18081";
    applier_ =
        std::make_unique<HaproxyApplier>(setup_, std::vector<HaproxyServiceRoutes>{hello}, fake_);
    applier_->WriteInitialFiles();
    initial_config_ = ReadFileOrEmpty(setup_.config_path);
    initial_map_ = ReadFileOrEmpty(setup_.layout.map_path);
    RestartFromFiles();
  }
  void TearDown() override {
    // A server's identity is its address: re-addressing one kept its connections to the
    // old instance serving (see haproxy_config.h), so no test may ever see one.
    EXPECT_EQ(fake_.addr_commands, 0) << fake_.LinesSince(0);
    for (const auto& line : fake_.lines) EXPECT_EQ(line.find(" addr "), std::string::npos) << line;
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // HAProxy restarted on what the files say now.
  void RestartFromFiles() {
    fake_.Start(ReadFileOrEmpty(setup_.config_path), ReadFileOrEmpty(setup_.layout.map_path),
                setup_.layout.map_path);
  }

  ApplyResult Apply(std::vector<Backend> active, std::vector<Backend> preview = {}) {
    ServiceRoute r;
    r.service = "hello";
    r.listen = "127.0.0.1:18080";
    r.preview_listen = "127.0.0.1:18081";
    r.active.backends = std::move(active);
    r.active.version = r.active.backends.empty() ? "" : r.active.backends[0].version;
    r.preview = std::move(preview);
    return applier_->Apply({r});
  }

  std::string Live() const { return fake_.MapValue("svc_hello"); }

  // The changing lines (`set`, `add`, `del`) received since `from`.
  std::vector<std::string> SetLinesSince(size_t from) const {
    std::vector<std::string> out;
    for (size_t i = from; i < fake_.lines.size(); ++i) {
      if (!StartsWith(fake_.lines[i], "show ")) out.push_back(fake_.lines[i]);
    }
    return out;
  }

  fs::path dir_;
  HaproxySetup setup_;
  FakeHaproxy fake_;
  std::unique_ptr<HaproxyApplier> applier_;
  std::string initial_config_, initial_map_;
};

TEST_F(HaproxyApplierTest, InitialFilesServeNothingFromBufferA) {
  EXPECT_EQ(initial_map_, "svc_hello svc_hello_a\n");
  EXPECT_EQ(Live(), "svc_hello_a");
  for (const char* backend : {"svc_hello_a", "svc_hello_b", "svc_hello_preview"}) {
    EXPECT_TRUE(fake_.Servers(backend).empty()) << backend;  // no server line at all
    EXPECT_NE(initial_config_.find("backend " + std::string(backend) + "\n"), std::string::npos);
  }
}

TEST_F(HaproxyApplierTest, FirstApplyProgramsTheSpareAndFlipsTheMap) {
  ApplyResult r = Apply({Be(9001, "v1"), Be(9002, "v1")});
  ASSERT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(applier_->LiveBuffer("hello"), 'b');
  EXPECT_EQ(fake_.Serving("svc_hello_b"), (std::vector<std::string>{Ep(9001), Ep(9002)}));
  EXPECT_EQ(
      fake_.Servers("svc_hello_b"),
      (std::vector<std::string>{"127.0.0.1:9001=127.0.0.1:9001", "127.0.0.1:9002=127.0.0.1:9002"}));
  EXPECT_TRUE(fake_.Servers("svc_hello_a").empty());
  // Each instance is added under its address and then readied (added servers start in
  // maintenance).
  auto changes = SetLinesSince(0);
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes[0],
            "add server svc_hello_b/127.0.0.1:9001 127.0.0.1:9001 pool-purge-delay 5s "
            "pool-max-conn -1;"
            "set server svc_hello_b/127.0.0.1:9001 state ready;"
            "add server svc_hello_b/127.0.0.1:9002 127.0.0.1:9002 pool-purge-delay 5s "
            "pool-max-conn -1;"
            "set server svc_hello_b/127.0.0.1:9002 state ready");
  // Buffer a (live until the flip) was never sent a command.
  for (const auto& line : fake_.lines) {
    EXPECT_EQ(line.find("svc_hello_a/"), std::string::npos) << line;
  }
  // The flip is the last `set` and the map is read back after it.
  auto sets = SetLinesSince(0);
  ASSERT_FALSE(sets.empty());
  EXPECT_EQ(sets.back(), "set map " + setup_.layout.map_path + " svc_hello svc_hello_b");
  EXPECT_EQ(fake_.lines.back(), "show map " + setup_.layout.map_path);
}

TEST_F(HaproxyApplierTest, UnchangedRoutesSendNoSetCommand) {
  ASSERT_EQ(Apply({Be(9001, "v1")}, {Be(9101, "v2")}).outcome, ApplyResult::Outcome::kChanged);
  const size_t before = fake_.lines.size();
  ApplyResult r = Apply({Be(9001, "v1")}, {Be(9101, "v2")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kUnchanged) << r.message;
  EXPECT_TRUE(SetLinesSince(before).empty()) << fake_.LinesSince(before);
  EXPECT_GT(fake_.lines.size(), before);  // but it did look
  // The order of the instances is no change either.
  ASSERT_EQ(Apply({Be(9002, "v1"), Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  const size_t again = fake_.lines.size();
  EXPECT_EQ(Apply({Be(9001, "v1"), Be(9002, "v1")}).outcome, ApplyResult::Outcome::kUnchanged);
  EXPECT_TRUE(SetLinesSince(again).empty()) << fake_.LinesSince(again);
}

TEST_F(HaproxyApplierTest, ChangeProgramsTheOtherBufferAndNeverTouchesTheLiveOne) {
  ASSERT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  ASSERT_EQ(Live(), "svc_hello_b");
  // Each step: (wanted set, the buffer that must go live).
  const std::vector<std::pair<std::vector<Backend>, std::string>> steps = {
      {{Be(9001, "v1"), Be(9002, "v1")}, "svc_hello_a"},  // add an instance
      {{Be(9002, "v1")}, "svc_hello_b"},                  // remove one
      {{Be(9201, "v2"), Be(9202, "v2")}, "svc_hello_a"},  // switch v1 -> v2
      {{Be(9002, "v1")}, "svc_hello_b"},                  // and back
  };
  for (const auto& [want, next] : steps) {
    const std::string live = Live();
    const auto live_before = fake_.Serving(live);
    const size_t before = fake_.lines.size();
    ApplyResult r = Apply(want);
    ASSERT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
    EXPECT_EQ(Live(), next);
    std::vector<std::string> want_eps;
    for (const auto& b : want) want_eps.push_back(Ep(b.port));
    std::sort(want_eps.begin(), want_eps.end());
    EXPECT_EQ(fake_.Serving(next), want_eps);
    // The buffer that was live was not sent one command, and still holds its set (the
    // requests it is finishing are not disturbed).
    EXPECT_EQ(fake_.LinesSince(before).find(" server " + live + "/"), std::string::npos)
        << fake_.LinesSince(before);
    EXPECT_EQ(fake_.Serving(live), live_before);
    // Exactly one `set map`, after every server command, all of them on the spare.
    auto sets = SetLinesSince(before);
    ASSERT_FALSE(sets.empty());
    EXPECT_EQ(sets.back(), "set map " + setup_.layout.map_path + " svc_hello " + next);
    for (size_t i = 0; i + 1 < sets.size(); ++i) {
      std::istringstream commands(sets[i]);
      std::string c;
      while (std::getline(commands, c, ';')) {
        EXPECT_TRUE(StartsWith(c, "set server " + next + "/") ||
                    StartsWith(c, "add server " + next + "/") ||
                    StartsWith(c, "del server " + next + "/"))
            << c;
      }
    }
    // The spare holds nothing but the wanted servers (the others deleted: no connection
    // was left on them in the fake).
    EXPECT_EQ(fake_.Servers(next).size(), want.size());
  }
}

TEST_F(HaproxyApplierTest, SocketErrorBeforeSetMapLeavesTheOldBufferLive) {
  ASSERT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  fake_.fail = [](const std::string& line) -> std::optional<std::string> {
    if (StartsWith(line, "add server") || StartsWith(line, "set server")) {
      return "connect /x/admin.sock: Connection refused";
    }
    return std::nullopt;
  };
  const size_t before = fake_.lines.size();
  ApplyResult r = Apply({Be(9201, "v2")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kApplyFailed);
  EXPECT_NE(r.message.find("Connection refused"), std::string::npos) << r.message;
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(applier_->LiveBuffer("hello"), 'b');
  EXPECT_EQ(fake_.Serving("svc_hello_b"), std::vector<std::string>{Ep(9001)});
  EXPECT_EQ(fake_.LinesSince(before).find("set map"), std::string::npos);
  // The files still say what runs.
  EXPECT_EQ(ReadFileOrEmpty(setup_.layout.map_path), "svc_hello svc_hello_b\n");
  EXPECT_EQ(ReadFileOrEmpty(setup_.config_path).find(":9201"), std::string::npos);
  // The socket back: the next Apply does it.
  fake_.fail = nullptr;
  r = Apply({Be(9201, "v2")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(Live(), "svc_hello_a");
  EXPECT_EQ(fake_.Serving("svc_hello_a"), std::vector<std::string>{Ep(9201)});
}

TEST_F(HaproxyApplierTest, SocketGoneBeforeAnythingIsAnApplyFailure) {
  fake_.fail = [](const std::string&) -> std::optional<std::string> {
    return "connect /x/admin.sock: No such file or directory";
  };
  ApplyResult r = Apply({Be(9001, "v1")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kApplyFailed);
  EXPECT_NE(r.message.find("No such file or directory"), std::string::npos) << r.message;
  EXPECT_EQ(fake_.lines.size(), 1u);  // gave up after the first exchange
  EXPECT_EQ(Live(), "svc_hello_a");
}

TEST_F(HaproxyApplierTest, ReadBackMismatchLeavesTheOldBufferLive) {
  ASSERT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  fake_.ignore_ready = true;  // HAProxy adds the server but leaves it in maintenance
  const size_t before = fake_.lines.size();
  ApplyResult r = Apply({Be(9201, "v2")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kApplyFailed);
  EXPECT_NE(r.message.find("instead of " + Ep(9201)), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("New server registered."), std::string::npos)  // HAProxy's words
      << r.message;
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(applier_->LiveBuffer("hello"), 'b');
  EXPECT_EQ(fake_.LinesSince(before).find("set map"), std::string::npos);
  fake_.ignore_ready = false;  // the server added then is readied, not added again
  EXPECT_EQ(Apply({Be(9201, "v2")}).outcome, ApplyResult::Outcome::kChanged);
  EXPECT_EQ(Live(), "svc_hello_a");
}

TEST_F(HaproxyApplierTest, FailedSetMapKeepsTheOldBufferAndIsRetried) {
  ASSERT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  fake_.fail = [](const std::string& line) -> std::optional<std::string> {
    if (StartsWith(line, "set map")) return "timed out waiting for the answer of /x/admin.sock";
    return std::nullopt;
  };
  ApplyResult r = Apply({Be(9201, "v2")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kApplyFailed);
  EXPECT_NE(r.message.find("timed out"), std::string::npos) << r.message;
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(applier_->LiveBuffer("hello"), 'b');
  EXPECT_EQ(ReadFileOrEmpty(setup_.layout.map_path), "svc_hello svc_hello_b\n");
  fake_.fail = nullptr;
  r = Apply({Be(9201, "v2")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(Live(), "svc_hello_a");
  EXPECT_EQ(ReadFileOrEmpty(setup_.layout.map_path), "svc_hello svc_hello_a\n");
}

TEST_F(HaproxyApplierTest, UnsafeAddressesAreRejected) {
  ApplyResult r;
  for (const Backend& bad :
       {Backend{"1.2.3.4;shutdown sessions", 80, "v1"}, Backend{"1.2.3.4", 0, "v1"},
        Backend{"1.2.3.4", 70000, "v1"}, Backend{"", 80, "v1"}}) {
    r = Apply({bad});
    EXPECT_EQ(r.outcome, ApplyResult::Outcome::kRejected) << bad.address << ":" << bad.port;
  }
  EXPECT_TRUE(fake_.lines.empty()) << fake_.LinesSince(0);  // refused before asking HAProxy
  EXPECT_EQ(Live(), "svc_hello_a");
}

TEST_F(HaproxyApplierTest, EmptySelectionNeverSwitches) {
  ApplyResult r = Apply({});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kUnchanged) << r.message;
  EXPECT_TRUE(SetLinesSince(0).empty()) << fake_.LinesSince(0);
  EXPECT_EQ(Live(), "svc_hello_a");

  ASSERT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  const size_t before = fake_.lines.size();
  r = Apply({});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kUnchanged) << r.message;
  EXPECT_TRUE(SetLinesSince(before).empty()) << fake_.LinesSince(before);
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(fake_.Serving("svc_hello_b"), std::vector<std::string>{Ep(9001)});
  // The files keep what serves, so a restart is not emptier than now.
  RestartFromFiles();
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(fake_.Serving("svc_hello_b"), std::vector<std::string>{Ep(9001)});
}

TEST_F(HaproxyApplierTest, RestartOnTheRewrittenFilesNeedsNoCommand) {
  ASSERT_EQ(Apply({Be(9001, "v1"), Be(9002, "v1")}, {Be(9101, "v2")}).outcome,
            ApplyResult::Outcome::kChanged);
  ASSERT_EQ(Apply({Be(9201, "v2")}, {}).outcome, ApplyResult::Outcome::kChanged);
  RestartFromFiles();
  EXPECT_EQ(Live(), "svc_hello_a");
  EXPECT_EQ(fake_.Serving("svc_hello_a"), std::vector<std::string>{Ep(9201)});
  EXPECT_TRUE(fake_.Serving("svc_hello_preview").empty());
  const size_t before = fake_.lines.size();
  ApplyResult r = Apply({Be(9201, "v2")}, {});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kUnchanged) << r.message;
  EXPECT_TRUE(SetLinesSince(before).empty()) << fake_.LinesSince(before);
}

TEST_F(HaproxyApplierTest, RestartOnAnOlderStateIsPutRightByTheNextApply) {
  ASSERT_EQ(Apply({Be(9001, "v1")}, {Be(9101, "v2")}).outcome, ApplyResult::Outcome::kChanged);
  // HAProxy restarted on the files of the router's first start (e.g. restored from an
  // image): empty buffers, the map on a.
  fake_.Start(initial_config_, initial_map_, setup_.layout.map_path);
  ApplyResult r = Apply({Be(9001, "v1")}, {Be(9101, "v2")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(applier_->LiveBuffer("hello"), 'b');
  EXPECT_EQ(fake_.Serving("svc_hello_b"), std::vector<std::string>{Ep(9001)});
  EXPECT_EQ(fake_.Serving("svc_hello_preview"), std::vector<std::string>{Ep(9101)});
}

TEST_F(HaproxyApplierTest, HandMadeRuntimeChangeIsPutRight) {
  ASSERT_EQ(Apply({Be(9001, "v1"), Be(9002, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  ASSERT_TRUE(fake_.Execute("set server svc_hello_b/127.0.0.1:9002 state maint").ok);
  ApplyResult r = Apply({Be(9001, "v1"), Be(9002, "v1")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(fake_.Serving(Live()), (std::vector<std::string>{Ep(9001), Ep(9002)}));
  // The map pointed somewhere else by hand: back to the buffer that serves the set.
  ASSERT_TRUE(fake_.Execute("set map " + setup_.layout.map_path + " svc_hello svc_hello_x").ok);
  r = Apply({Be(9001, "v1"), Be(9002, "v1")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(fake_.Serving(Live()), (std::vector<std::string>{Ep(9001), Ep(9002)}));
}

// A map file without the service's key (edited by hand, or written by an older router):
// HAProxy starts and serves default_backend, and `set map` answers "entry not found."
// for a key it does not hold, so the applier must add the entry instead.
TEST_F(HaproxyApplierTest, MapWithoutTheServiceKeyGetsTheEntry) {
  fake_.Start(initial_config_, "", setup_.layout.map_path);
  ASSERT_EQ(Live(), "");
  ApplyResult r = Apply({Be(9001, "v1")});
  ASSERT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(SetLinesSince(0).back(),
            "add map " + setup_.layout.map_path + " svc_hello svc_hello_b");
  EXPECT_EQ(fake_.map.size(), 1u);
  EXPECT_EQ(fake_.Serving("svc_hello_b"), std::vector<std::string>{Ep(9001)});
  const size_t before = fake_.lines.size();
  EXPECT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kUnchanged);
  EXPECT_TRUE(SetLinesSince(before).empty()) << fake_.LinesSince(before);
  EXPECT_EQ(Apply({Be(9201, "v2")}).outcome, ApplyResult::Outcome::kChanged);
  EXPECT_EQ(Live(), "svc_hello_a");
  EXPECT_EQ(fake_.map.size(), 1u);
}

TEST_F(HaproxyApplierTest, PreviewIsChangedInPlace) {
  ASSERT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  const size_t before = fake_.lines.size();
  ApplyResult r = Apply({Be(9001, "v1")}, {Be(9201, "v2"), Be(9202, "v2")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(fake_.Serving("svc_hello_preview"), (std::vector<std::string>{Ep(9201), Ep(9202)}));
  for (const auto& line : SetLinesSince(before)) {
    EXPECT_TRUE(StartsWith(line, "add server svc_hello_preview/")) << line;
  }
  EXPECT_EQ(Live(), "svc_hello_b");
  r = Apply({Be(9001, "v1")}, {});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_TRUE(fake_.Serving("svc_hello_preview").empty());
}

TEST_F(HaproxyApplierTest, FilesAreRewrittenAfterAChangeAndHaproxyAcceptsThem) {
  ASSERT_EQ(Apply({Be(9001, "v1"), Be(9002, "v1")}, {Be(9101, "v2")}).outcome,
            ApplyResult::Outcome::kChanged);
  EXPECT_EQ(ReadFileOrEmpty(setup_.layout.map_path), "svc_hello svc_hello_b\n");
  const std::string config = ReadFileOrEmpty(setup_.config_path);
  const size_t b = config.find("\nbackend svc_hello_b\n");
  const size_t preview = config.find("\nbackend svc_hello_preview\n");
  ASSERT_NE(b, std::string::npos) << config;
  ASSERT_NE(preview, std::string::npos) << config;
  EXPECT_NE(config.find("server 127.0.0.1:9001 127.0.0.1:9001  # version v1", b), std::string::npos)
      << config;
  EXPECT_NE(config.find("server 127.0.0.1:9002 127.0.0.1:9002  # version v1", b), std::string::npos)
      << config;
  EXPECT_NE(config.find("server 127.0.0.1:9101 127.0.0.1:9101  # version v2", preview),
            std::string::npos)
      << config;
  // Buffer a never held a server: no server line (no placeholder either).
  const size_t a = config.find("\nbackend svc_hello_a\n");
  ASSERT_NE(a, std::string::npos) << config;
  EXPECT_EQ(config.substr(a, b - a).find("  server "), std::string::npos) << config;
  EXPECT_NE(config.find("default_backend svc_hello_b"), std::string::npos) << config;
  EXPECT_NE(config.find("stats socket " + setup_.layout.socket_path + " "), std::string::npos);

  if (!fs::exists("/usr/sbin/haproxy")) {
    GTEST_SKIP() << "needs /usr/sbin/haproxy (scripts/install-deps.sh) for `haproxy -c`";
  }
  std::string out;
  int rc = ProcessRunner().Run({"/usr/sbin/haproxy", "-c", "-f", setup_.config_path}, &out);
  EXPECT_EQ(rc, 0) << out << "\n" << config;
  // And the first config too (written before any route was known).
  const std::string first = (dir_ / "first.cfg").string();
  WriteFileAtomically(first, initial_config_);
  rc = ProcessRunner().Run({"/usr/sbin/haproxy", "-c", "-f", first}, &out);
  EXPECT_EQ(rc, 0) << out << "\n" << initial_config_;
}

TEST_F(HaproxyApplierTest, ExistingFilesAreKeptByWriteInitialFiles) {
  ASSERT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  const std::string config = ReadFileOrEmpty(setup_.config_path);
  // A router restarted: its new applier knows no routes yet, the files hold the last ones.
  HaproxyServiceRoutes hello;
  hello.service = "hello";
  hello.listen = "127.0.0.1:18080";
  hello.preview_listen = "127.0.0.1:18081";
  HaproxyApplier again(setup_, {hello}, fake_);
  EXPECT_FALSE(again.WriteInitialFiles());
  EXPECT_EQ(ReadFileOrEmpty(setup_.config_path), config);
  EXPECT_EQ(ReadFileOrEmpty(setup_.layout.map_path), "svc_hello svc_hello_b\n");
}

TEST_F(HaproxyApplierTest, FilesOfAnotherLayoutAreReplacedByWriteInitialFiles) {
  ASSERT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  // The router restarted with one more service: HAProxy must be restarted on new files.
  HaproxyServiceRoutes hello, world;
  hello.service = "hello";
  hello.listen = "127.0.0.1:18080";
  hello.preview_listen = "127.0.0.1:18081";
  world.service = "world";
  world.listen = "127.0.0.1:18090";
  HaproxyApplier more(setup_, {hello, world}, fake_);
  EXPECT_TRUE(more.WriteInitialFiles());
  const std::string config = ReadFileOrEmpty(setup_.config_path);
  EXPECT_TRUE(StartsWith(config, HaproxyLayoutLine(setup_.layout, {hello, world}) + "\n"))
      << config;
  EXPECT_NE(config.find("backend svc_world_a\n"), std::string::npos) << config;
  EXPECT_NE(ReadFileOrEmpty(setup_.layout.map_path).find("svc_world "), std::string::npos);
  // Written once: the same layout again keeps them.
  EXPECT_FALSE(more.WriteInitialFiles());
  EXPECT_EQ(ReadFileOrEmpty(setup_.config_path), config);
  // A config of an older router (no layout line) is another layout too.
  WriteFileAtomically(setup_.config_path, "global\n  maxconn 100\n");
  EXPECT_TRUE(more.WriteInitialFiles());
  EXPECT_TRUE(StartsWith(ReadFileOrEmpty(setup_.config_path), "# layout: "));
}

TEST_F(HaproxyApplierTest, NoFilesAreWrittenWithoutReplacingAnything) {
  fs::remove(setup_.config_path);
  fs::remove(setup_.layout.map_path);
  HaproxyServiceRoutes hello;
  hello.service = "hello";
  hello.listen = "127.0.0.1:18080";
  hello.preview_listen = "127.0.0.1:18081";
  HaproxyApplier fresh(setup_, {hello}, fake_);
  EXPECT_FALSE(fresh.WriteInitialFiles());  // a first start: nothing to restart
  EXPECT_EQ(ReadFileOrEmpty(setup_.config_path), initial_config_);
  EXPECT_EQ(ReadFileOrEmpty(setup_.layout.map_path), initial_map_);
}

TEST_F(HaproxyApplierTest, UnwantedServersOfTheSpareArePutInMaintAndDeleted) {
  ASSERT_EQ(Apply({Be(9001, "v1"), Be(9002, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  ASSERT_EQ(Apply({Be(9201, "v2")}).outcome, ApplyResult::Outcome::kChanged);  // into a
  ASSERT_EQ(Live(), "svc_hello_a");
  // Back to b with one v1 instance kept and one new: 9002 must go, 9001 stays as it is.
  const size_t before = fake_.lines.size();
  ApplyResult r = Apply({Be(9001, "v1"), Be(9301, "v3")});
  ASSERT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(
      fake_.Servers("svc_hello_b"),
      (std::vector<std::string>{"127.0.0.1:9001=127.0.0.1:9001", "127.0.0.1:9301=127.0.0.1:9301"}));
  const std::string sent = fake_.LinesSince(before);
  const size_t maint = sent.find("set server svc_hello_b/127.0.0.1:9002 state maint");
  const size_t del = sent.find("del server svc_hello_b/127.0.0.1:9002");
  ASSERT_NE(maint, std::string::npos) << sent;
  ASSERT_NE(del, std::string::npos) << sent;
  EXPECT_LT(maint, del) << sent;  // HAProxy deletes only servers in maintenance
  EXPECT_LT(del, sent.find("set map")) << sent;
  EXPECT_EQ(sent.find("svc_hello_b/127.0.0.1:9001"), std::string::npos) << sent;  // untouched
  EXPECT_EQ(sent.find("add server svc_hello_b/127.0.0.1:9001"), std::string::npos) << sent;
}

TEST_F(HaproxyApplierTest, RefusedDeleteKeepsTheServerInMaintAndALaterApplyDeletesIt) {
  ASSERT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);  // b
  ASSERT_EQ(Apply({Be(9201, "v2")}).outcome, ApplyResult::Outcome::kChanged);  // a
  // Requests sent to 9001 before the last flip are still running.
  fake_.busy.insert("svc_hello_b/127.0.0.1:9001");
  ApplyResult r = Apply({Be(9301, "v3")});  // into b, where 9001 lives
  ASSERT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(fake_.Serving("svc_hello_b"), std::vector<std::string>{Ep(9301)});
  EXPECT_EQ(fake_.Servers("svc_hello_b"),
            (std::vector<std::string>{"127.0.0.1:9001=127.0.0.1:9001 maint",
                                      "127.0.0.1:9301=127.0.0.1:9301"}));
  // Only live servers are in the file: a restart does not bring it back.
  EXPECT_EQ(ReadFileOrEmpty(setup_.config_path).find(":9001"), std::string::npos);
  // Unchanged routes leave the live buffer alone: the delete waits for b to be the spare.
  EXPECT_EQ(Apply({Be(9301, "v3")}).outcome, ApplyResult::Outcome::kUnchanged);
  fake_.busy.clear();  // the requests finished
  ASSERT_EQ(Apply({Be(9401, "v4")}).outcome, ApplyResult::Outcome::kChanged);  // a
  const size_t before = fake_.lines.size();
  ASSERT_EQ(Apply({Be(9501, "v5")}).outcome, ApplyResult::Outcome::kChanged);  // b
  EXPECT_EQ(fake_.Servers("svc_hello_b"),
            std::vector<std::string>{"127.0.0.1:9501=127.0.0.1:9501"});
  const std::string sent = fake_.LinesSince(before);
  EXPECT_NE(sent.find("del server svc_hello_b/127.0.0.1:9001"), std::string::npos) << sent;
  // Already in maintenance: deleted without a second `state maint`.
  EXPECT_EQ(sent.find("set server svc_hello_b/127.0.0.1:9001 state maint"), std::string::npos)
      << sent;
}

TEST_F(HaproxyApplierTest, AnInstanceComingBackReusesItsServerInMaint) {
  ASSERT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);  // b
  ASSERT_EQ(Apply({Be(9201, "v2")}).outcome, ApplyResult::Outcome::kChanged);  // a
  fake_.busy.insert("svc_hello_b/127.0.0.1:9001");
  ASSERT_EQ(Apply({Be(9301, "v3")}).outcome, ApplyResult::Outcome::kChanged);  // b
  ASSERT_EQ(Apply({Be(9201, "v2")}).outcome, ApplyResult::Outcome::kChanged);  // a
  // 9001 (still in maintenance in b, undeletable) is wanted again: readied, not re-added.
  const size_t before = fake_.lines.size();
  ApplyResult r = Apply({Be(9001, "v1")});
  ASSERT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(fake_.Serving("svc_hello_b"), std::vector<std::string>{Ep(9001)});
  const std::string sent = fake_.LinesSince(before);
  EXPECT_NE(sent.find("set server svc_hello_b/127.0.0.1:9001 state ready"), std::string::npos)
      << sent;
  EXPECT_EQ(sent.find("add server svc_hello_b/127.0.0.1:9001"), std::string::npos) << sent;
}

TEST_F(HaproxyApplierTest, ManyInstancesNeedNoSlotsAndAreSentInBoundedLines) {
  std::vector<Backend> many;
  std::vector<std::string> eps;
  for (int i = 0; i < 40; ++i) {
    many.push_back(Be(9001 + i, "v1"));
    eps.push_back(Ep(9001 + i));
  }
  std::sort(eps.begin(), eps.end());
  ASSERT_EQ(Apply(many, many).outcome, ApplyResult::Outcome::kChanged);
  EXPECT_EQ(fake_.Serving("svc_hello_b"), eps);
  EXPECT_EQ(fake_.Serving("svc_hello_preview"), eps);
  for (const auto& line : fake_.lines) EXPECT_LT(line.size(), 4096u) << line;
}

}  // namespace
}  // namespace rollouts::router
