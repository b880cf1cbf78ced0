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

// An in-memory HAProxy: backends of server slots and the routes map, changed by the
// runtime commands HaproxyApplier sends. `fail` makes an exchange fail as a broken
// socket would; ignore_addr makes HAProxy accept `set server ... addr` and change nothing
// (so only the read-back can notice).
class FakeHaproxy : public HaproxyRuntime {
 public:
  struct Slot {
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
        Slot s;
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

  Slot* Find(const std::string& backend, const std::string& server) {
    for (auto& [name, slots] : backends) {
      if (name != backend) continue;
      for (auto& s : slots) {
        if (s.server == server) return &s;
      }
    }
    return nullptr;
  }

  // The endpoints that take traffic in one backend, sorted.
  std::vector<std::string> Serving(const std::string& backend) {
    std::vector<std::string> out;
    for (auto& [name, slots] : backends) {
      if (name != backend) continue;
      for (auto& s : slots) {
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

  std::vector<std::pair<std::string, std::vector<Slot>>> backends;
  std::vector<std::pair<std::string, std::string>> map;
  std::vector<std::string> lines;
  std::function<std::optional<std::string>(const std::string&)> fail;
  bool ignore_addr = false;

 private:
  std::string ServersState() const {
    std::string out =
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
        "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
        "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
        "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
        "srv_agent_port\n";
    int be_id = 3;
    for (const auto& [name, slots] : backends) {
      int srv_id = 1;
      for (const auto& s : slots) {
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
    if (w.size() == 3 && w[0] == "show" && w[1] == "map") {
      if (w[2] != map_path_) return unknown_map;
      std::string out;
      int id = 0;
      for (const auto& [k, v] : map)
        out += "0x55fba1dff4" + std::to_string(10 + id++) + " " + k + " " + v + "\n";
      return out;
    }
    if (w.size() >= 5 && w[0] == "set" && w[1] == "server") {
      size_t slash = w[2].find('/');
      Slot* s = slash == std::string::npos ? nullptr
                                           : Find(w[2].substr(0, slash), w[2].substr(slash + 1));
      if (s == nullptr) return "No such server.\n";
      if (w.size() == 7 && w[3] == "addr" && w[5] == "port") {
        std::string was = s->address, was_port = std::to_string(s->port);
        if (!ignore_addr) {
          s->address = w[4];
          s->port = std::stoi(w[6]);
        }
        return "IP changed from '" + was + "' to '" + w[4] + "', port changed from '" + was_port +
               "' to '" + w[6] + "' by 'stats socket command'\n";
      }
      if (w.size() == 5 && w[3] == "state") {
        if (w[4] == "ready") {
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
    setup_.layout.slots = 4;
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

  // The `set ...` lines received since `from`.
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
    EXPECT_TRUE(fake_.Serving(backend).empty()) << backend;
    ASSERT_NE(fake_.Find(backend, "s4"), nullptr) << backend;  // layout.slots servers each
    EXPECT_EQ(fake_.Find(backend, "s5"), nullptr) << backend;
  }
}

TEST_F(HaproxyApplierTest, FirstApplyProgramsTheSpareAndFlipsTheMap) {
  ApplyResult r = Apply({Be(9001, "v1"), Be(9002, "v1")});
  ASSERT_EQ(r.outcome, ApplyResult::Outcome::kChanged) << r.message;
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(applier_->LiveBuffer("hello"), 'b');
  EXPECT_EQ(fake_.Serving("svc_hello_b"), (std::vector<std::string>{Ep(9001), Ep(9002)}));
  EXPECT_TRUE(fake_.Serving("svc_hello_a").empty());
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
    EXPECT_EQ(fake_.LinesSince(before).find("set server " + live + "/"), std::string::npos)
        << fake_.LinesSince(before);
    EXPECT_EQ(fake_.Serving(live), live_before);
    // Exactly one `set map`, after every `set server`.
    auto sets = SetLinesSince(before);
    ASSERT_FALSE(sets.empty());
    EXPECT_EQ(sets.back(), "set map " + setup_.layout.map_path + " svc_hello " + next);
    for (size_t i = 0; i + 1 < sets.size(); ++i) {
      EXPECT_TRUE(StartsWith(sets[i], "set server " + next + "/")) << sets[i];
    }
  }
}

TEST_F(HaproxyApplierTest, SocketErrorBeforeSetMapLeavesTheOldBufferLive) {
  ASSERT_EQ(Apply({Be(9001, "v1")}).outcome, ApplyResult::Outcome::kChanged);
  fake_.fail = [](const std::string& line) -> std::optional<std::string> {
    if (StartsWith(line, "set server")) return "connect /x/admin.sock: Connection refused";
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
  fake_.ignore_addr = true;  // HAProxy answers "IP changed" but did not change it
  const size_t before = fake_.lines.size();
  ApplyResult r = Apply({Be(9201, "v2")});
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kApplyFailed);
  EXPECT_NE(r.message.find("instead of " + Ep(9201)), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("IP changed"), std::string::npos) << r.message;  // HAProxy's words
  EXPECT_EQ(Live(), "svc_hello_b");
  EXPECT_EQ(applier_->LiveBuffer("hello"), 'b');
  EXPECT_EQ(fake_.LinesSince(before).find("set map"), std::string::npos);
  fake_.ignore_addr = false;
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

TEST_F(HaproxyApplierTest, MoreInstancesThanSlotsOrUnsafeAddressesAreRejected) {
  std::vector<Backend> five;
  for (int i = 0; i < 5; ++i) five.push_back(Be(9001 + i, "v1"));
  ApplyResult r = Apply(five);
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kRejected);
  EXPECT_NE(r.message.find("5 instances of hello exceed the 4 server slots"), std::string::npos)
      << r.message;
  r = Apply({Be(9001, "v1")}, five);  // the preview backend has as many slots
  EXPECT_EQ(r.outcome, ApplyResult::Outcome::kRejected);
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
  ASSERT_TRUE(fake_.Execute("set server svc_hello_b/s2 state maint").ok);
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
    EXPECT_TRUE(StartsWith(line, "set server svc_hello_preview/")) << line;
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
  const size_t b = config.find("backend svc_hello_b\n");
  const size_t preview = config.find("backend svc_hello_preview\n");
  ASSERT_NE(b, std::string::npos) << config;
  ASSERT_NE(preview, std::string::npos) << config;
  EXPECT_NE(config.find("server s1 127.0.0.1:9001  # version v1", b), std::string::npos) << config;
  EXPECT_NE(config.find("server s2 127.0.0.1:9002  # version v1", b), std::string::npos) << config;
  EXPECT_NE(config.find("server s1 127.0.0.1:9101  # version v2", preview), std::string::npos)
      << config;
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
  again.WriteInitialFiles();
  EXPECT_EQ(ReadFileOrEmpty(setup_.config_path), config);
  EXPECT_EQ(ReadFileOrEmpty(setup_.layout.map_path), "svc_hello svc_hello_b\n");
}

}  // namespace
}  // namespace rollouts::router
