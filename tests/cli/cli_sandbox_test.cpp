// rolloutctl against the real rollout-sandbox (Consul + Nomad stand-in, a separate
// process): every verb, including the refusal paths (invalid file, CAS conflict, unknown
// rollout, controller not acknowledging). The controller is simulated by the test: it
// acknowledges control requests and writes phases into the status key, the way rolloutd
// does (Consul CAS on the status key).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "cli/cli_common.h"
#include "cli/control_commands.h"
#include "cli/spec_commands.h"
#include "reconcilers/snapshot.h"
#include "tests/cli/subprocess.h"

namespace rollouts::cli {
namespace {

namespace fs = std::filesystem;
using cli_test::Child;
using cli_test::RunResult;
using reconcilers::Phase;
using namespace std::chrono_literals;

const std::string kSandbox = ROLLOUT_SANDBOX_PATH;
const std::string kRolloutctl = ROLLOUTCTL_PATH;

std::string RolloutJson(const std::string& name, const std::string& version,
                        bool auto_promote = true) {
  return nlohmann::json{
      {"apiVersion", "rollouts.nomad.io/v1"},
      {"kind", "Rollout"},
      {"metadata", {{"name", name}}},
      {"spec",
       {{"version", version},
        {"nomad",
         {{"job", name}, {"groups", {name + "-blue", name + "-green"}}, {"service", name}}},
        {"template", {{"task", "app"}, {"set", {{"/Env/APP_VERSION", "{{version}}"}}}}},
        {"strategy", {{"blueGreen", {{"autoPromote", auto_promote}}}}}}}}
      .dump(2);
}

// Forwards to a real client; `before_put` runs just before every KvPut, so a test can make
// a concurrent write land between rolloutctl's read and its CAS write.
class InterposedConsul : public consul::ConsulClient {
 public:
  InterposedConsul(consul::ConsulClient& real, std::function<void(const std::string&)> before_put)
      : real_(real), before_put_(std::move(before_put)) {}
  using R = consul::ConsulClient;
  clients::ApiResult<consul::QueryResult<std::optional<consul::KvPair>>> KvGet(
      const std::string& k, const consul::QueryOptions& q) override {
    return real_.KvGet(k, q);
  }
  clients::ApiResult<consul::QueryResult<std::optional<std::string>>> KvGetRaw(
      const std::string& k, const consul::QueryOptions& q) override {
    return real_.KvGetRaw(k, q);
  }
  clients::ApiResult<consul::QueryResult<std::vector<consul::KvPair>>> KvList(
      const std::string& p, const consul::QueryOptions& q) override {
    return real_.KvList(p, q);
  }
  clients::ApiResult<consul::QueryResult<std::vector<std::string>>> KvKeys(
      const std::string& p, const std::string& sep, const consul::QueryOptions& q) override {
    return real_.KvKeys(p, sep, q);
  }
  clients::ApiResult<bool> KvPut(const std::string& k, const std::string& v,
                                 const consul::PutOptions& o) override {
    ++puts;
    before_put_(k);
    return real_.KvPut(k, v, o);
  }
  clients::ApiResult<bool> KvDelete(const std::string& k, const consul::DeleteOptions& o) override {
    return real_.KvDelete(k, o);
  }
  clients::ApiResult<consul::TxnResult> Txn(const std::vector<consul::TxnOp>& ops) override {
    return real_.Txn(ops);
  }
  clients::ApiResult<std::string> SessionCreate(const consul::SessionRequest& r) override {
    return real_.SessionCreate(r);
  }
  clients::ApiResult<consul::SessionEntry> SessionRenew(const std::string& id) override {
    return real_.SessionRenew(id);
  }
  clients::ApiResult<bool> SessionDestroy(const std::string& id) override {
    return real_.SessionDestroy(id);
  }
  clients::ApiResult<consul::QueryResult<std::optional<consul::SessionEntry>>> SessionInfo(
      const std::string& id, const consul::QueryOptions& q) override {
    return real_.SessionInfo(id, q);
  }
  clients::ApiResult<consul::QueryResult<std::vector<consul::SessionEntry>>> SessionList(
      const consul::QueryOptions& q) override {
    return real_.SessionList(q);
  }
  clients::ApiResult<consul::QueryResult<std::vector<consul::ServiceEntry>>> HealthService(
      const std::string& s, const consul::HealthServiceOptions& o,
      const consul::QueryOptions& q) override {
    return real_.HealthService(s, o, q);
  }
  clients::ApiResult<consul::QueryResult<std::vector<consul::HealthCheck>>> HealthChecks(
      const std::string& s, const consul::QueryOptions& q) override {
    return real_.HealthChecks(s, q);
  }
  clients::ApiResult<consul::QueryResult<std::map<std::string, std::vector<std::string>>>>
  CatalogServices(const consul::QueryOptions& q) override {
    return real_.CatalogServices(q);
  }
  clients::ApiResult<consul::QueryResult<std::vector<consul::CatalogServiceEntry>>> CatalogService(
      const std::string& s, const consul::QueryOptions& q) override {
    return real_.CatalogService(s, q);
  }
  clients::ApiResult<std::string> StatusLeader() override { return real_.StatusLeader(); }
  clients::ApiResult<std::vector<std::string>> StatusPeers() override {
    return real_.StatusPeers();
  }
  int puts = 0;

 private:
  consul::ConsulClient& real_;
  std::function<void(const std::string&)> before_put_;
};

class CliSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kSandbox)) << "rollout-sandbox not built at " << kSandbox;
    dir_ = fs::temp_directory_path() /
           ("rolloutctl-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    sandbox_ = std::make_unique<Child>(
        std::vector<std::string>{kSandbox, "--consul-addr", "127.0.0.1:0", "--nomad-addr",
                                 "127.0.0.1:0", "--data-dir", (dir_ / "data").string()});
    for (int i = 0; i < 4 && (consul_url_.empty() || nomad_url_.empty()); ++i) {
      auto line = sandbox_->ReadLine(20s);
      if (!line) break;
      if (line->rfind("consul ", 0) == 0) consul_url_ = line->substr(7);
      if (line->rfind("nomad ", 0) == 0) nomad_url_ = line->substr(6);
    }
    ASSERT_FALSE(consul_url_.empty()) << "sandbox did not print its Consul address";
    clients::AgentConfig config;
    config.base_url = consul_url_;
    consul_ = std::make_unique<consul::HttpConsulClient>(config);
  }

  void TearDown() override {
    StopController();
    sandbox_.reset();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  // rolloutctl with the sandbox's addresses in the environment (as an operator would).
  RunResult Ctl(std::vector<std::string> args, std::chrono::milliseconds timeout = 30s) {
    args.insert(args.begin(), kRolloutctl);
    std::map<std::string, std::string> env = {
        {"CONSUL_HTTP_ADDR", consul_url_},
        {"NOMAD_ADDR", nomad_url_.empty() ? "127.0.0.1:1" : nomad_url_},
        {"NO_COLOR", "1"}};
    return cli_test::Run(args, timeout, env);
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  std::optional<consul::KvPair> Kv(const std::string& key) {
    auto got = consul_->KvGet(key, {});
    EXPECT_TRUE(got.ok()) << (got.ok() ? "" : got.error().ToString());
    return got.ok() ? got.value().value : std::nullopt;
  }

  void PutKv(const std::string& key, const std::string& value) {
    auto put = consul_->KvPut(key, value, {});
    ASSERT_TRUE(put.ok() && put.value());
  }

  std::string SpecVersion(const std::string& name) {
    auto kv = Kv("rollouts/spec/" + name);
    if (!kv) return "";
    return nlohmann::json::parse(kv->value)["spec"]["version"].get<std::string>();
  }

  // Writes a status as the controller would (CAS on what it read).
  void WriteStatus(const std::string& name,
                   const std::function<void(reconcilers::RolloutStatus&)>& edit) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto kv = Kv("rollouts/status/" + name);
      reconcilers::RolloutStatus st;
      if (kv) st = reconcilers::StatusFromJson(nlohmann::json::parse(kv->value));
      edit(st);
      consul::PutOptions o;
      o.cas = kv ? kv->modify_index : 0;
      auto put = consul_->KvPut("rollouts/status/" + name, reconcilers::StatusToJson(st).dump(), o);
      ASSERT_TRUE(put.ok());
      if (put.value()) return;
    }
    FAIL() << "status CAS kept failing";
  }

  void HealthyStatus(const std::string& name, const std::string& version) {
    uint64_t spec_index = Kv("rollouts/spec/" + name)->modify_index;
    WriteStatus(name, [&](reconcilers::RolloutStatus& st) {
      st.phase = Phase::kHealthy;
      st.active_version = version;
      st.active_group = name + "-blue";
      st.target_version = version;
      st.stable_version = version;
      st.stable_group = name + "-blue";
      st.observed_spec_index = spec_index;
      st.current_step = reconcilers::StepRecord{"Healthy", reconcilers::TimePoint{}, {}};
    });
  }

  // A stand-in for rolloutd's handling of control requests: blocks on the control key and
  // acknowledges each new id with the result `decide(verb)` gives.
  void StartController(const std::string& name,
                       std::function<std::string(const std::string& verb)> decide) {
    controller_ = std::thread([this, name, decide] {
      clients::AgentConfig config;
      config.base_url = consul_url_;
      consul::HttpConsulClient client(config);
      uint64_t index = 0;
      while (!stop_controller_) {
        consul::QueryOptions q;
        q.index = index;
        q.wait = 1s;  // bounded, so StopController is prompt
        auto got = client.KvGet("rollouts/control/" + name, q);
        if (!got.ok()) continue;
        index = std::max<uint64_t>(got.value().meta.index, 1);
        if (!got.value().value) continue;
        auto req = nlohmann::json::parse(got.value().value->value);
        const std::string id = req["id"], verb = req["verb"];
        if (acked_.count(id)) continue;
        acked_.insert(id);
        seen_verbs_.push_back(verb);
        WriteStatus(name, [&](reconcilers::RolloutStatus& st) {
          reconcilers::AddAck(st, {id, verb, decide(verb), reconcilers::TimePoint{}});
        });
      }
    });
  }
  void StopController() {
    stop_controller_ = true;
    if (controller_.joinable()) controller_.join();
  }

  fs::path dir_;
  std::unique_ptr<Child> sandbox_;
  std::string consul_url_, nomad_url_;
  std::unique_ptr<consul::HttpConsulClient> consul_;
  std::thread controller_;
  std::atomic<bool> stop_controller_{false};
  std::set<std::string> acked_;
  std::vector<std::string> seen_verbs_;
};

Session SessionOver(consul::ConsulClient& consul, std::ostream& out) {
  Session s;
  s.consul = &consul;
  s.out = &out;
  return s;
}

// ---------------------------------------------------------------------------------------
// apply

TEST_F(CliSandboxTest, ApplyCreatesThenShowsDiffAndUpdates) {
  std::string file = WriteFile("hello.json", RolloutJson("hello", "v1"));
  RunResult r = Ctl({"apply", "-f", file});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("rollout/hello created"), std::string::npos) << r.out;
  EXPECT_EQ(SpecVersion("hello"), "v1");
  uint64_t created_index = Kv("rollouts/spec/hello")->modify_index;

  r = Ctl({"apply", "-f", file});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("rollout/hello unchanged"), std::string::npos) << r.out;
  EXPECT_EQ(Kv("rollouts/spec/hello")->modify_index, created_index) << "unchanged: no write";

  WriteFile("hello.json", RolloutJson("hello", "v2"));
  r = Ctl({"apply", "-f", file, "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("-    \"version\": \"v1\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+    \"version\": \"v2\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("configured (dry run)"), std::string::npos) << r.out;
  EXPECT_EQ(SpecVersion("hello"), "v1") << "--dry-run writes nothing";

  r = Ctl({"apply", "-f", dir_.string(), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["results"][0]["action"], "configured");
  EXPECT_EQ(SpecVersion("hello"), "v2");
}

TEST_F(CliSandboxTest, ApplyRefusesAnInvalidFileAndWritesNothing) {
  WriteFile("dir/good.json", RolloutJson("good", "v1"));
  std::string bad = RolloutJson("bad", "v1");
  bad.replace(bad.find("\"autoPromote\": true"), 19, "\"autoPromote\": \"yes\"");
  WriteFile("dir/bad.json", bad);
  RunResult r = Ctl({"apply", "-f", (dir_ / "dir").string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("bad.json: /spec/strategy/blueGreen/autoPromote: "), std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("nothing was written"), std::string::npos) << r.err;
  EXPECT_FALSE(Kv("rollouts/spec/good")) << "one invalid file: no Rollout is written";
  EXPECT_FALSE(Kv("rollouts/spec/bad"));
}

TEST_F(CliSandboxTest, ApplyRefusesToOverwriteAConcurrentChange) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v1"));
  // Someone else writes v9 after our read, just before our CAS write.
  InterposedConsul racing(*consul_, [this](const std::string& key) {
    if (key == "rollouts/spec/hello") PutKv(key, RolloutJson("hello", "v9"));
  });
  std::ostringstream out;
  ApplyOptions o;
  o.paths = {WriteFile("hello.json", RolloutJson("hello", "v2"))};
  EXPECT_EQ(RunApply(SessionOver(racing, out), o), kExitConflict);
  EXPECT_NE(out.str().find("CONFLICT: rollouts/spec/hello changed in Consul after it was read"),
            std::string::npos)
      << out.str();
  EXPECT_EQ(SpecVersion("hello"), "v9") << "the concurrent change must survive";
}

TEST_F(CliSandboxTest, ApplyCreateLosesToAConcurrentCreate) {
  InterposedConsul racing(*consul_, [this](const std::string& key) {
    if (key == "rollouts/spec/hello") PutKv(key, RolloutJson("hello", "v7"));
  });
  std::ostringstream out;
  ApplyOptions o;
  o.paths = {WriteFile("hello.json", RolloutJson("hello", "v1"))};
  EXPECT_EQ(RunApply(SessionOver(racing, out), o), kExitConflict) << out.str();
  EXPECT_EQ(SpecVersion("hello"), "v7");
}

TEST_F(CliSandboxTest, ApplyUnreadableFileIsUsageError) {
  RunResult r = Ctl({"apply", "-f", (dir_ / "missing.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
}

// ---------------------------------------------------------------------------------------
// set-version / undo --to

TEST_F(CliSandboxTest, SetVersionPrintsOldToNew) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v1"));
  RunResult r = Ctl({"set-version", "hello", "v2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout/hello: v1 -> v2\n");
  EXPECT_EQ(SpecVersion("hello"), "v2");
  r = Ctl({"set-version", "hello", "v2"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("already at v2"), std::string::npos);
}

TEST_F(CliSandboxTest, SetVersionUnknownRollout) {
  RunResult r = Ctl({"set-version", "nope", "v2"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("unknown rollout \"nope\""), std::string::npos) << r.err;
}

TEST_F(CliSandboxTest, SetVersionRetriesOnceAfterALostCas) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v1"));
  int races = 0;
  InterposedConsul racing(*consul_, [&](const std::string& key) {
    // The first write loses to someone changing a label; the retry re-reads and keeps it.
    if (races++ == 0) {
      auto doc = nlohmann::json::parse(RolloutJson("hello", "v1"));
      doc["metadata"]["labels"] = {{"team", "fab"}};
      PutKv(key, doc.dump());
    }
  });
  std::ostringstream out;
  SetVersionResult r = SetVersion(SessionOver(racing, out), "hello", "v2");
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.attempts, 2);
  auto stored = nlohmann::json::parse(Kv("rollouts/spec/hello")->value);
  EXPECT_EQ(stored["spec"]["version"], "v2");
  EXPECT_EQ(stored["metadata"]["labels"]["team"], "fab") << "the concurrent change is kept";
}

TEST_F(CliSandboxTest, SetVersionGivesUpAfterTwoLostCas) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v1"));
  int n = 0;
  InterposedConsul racing(*consul_, [&](const std::string& key) {
    PutKv(key, RolloutJson("hello", "v1" + std::string(static_cast<size_t>(++n), 'x')));
  });
  std::ostringstream out;
  try {
    SetVersion(SessionOver(racing, out), "hello", "v2");
    FAIL() << "expected a conflict";
  } catch (const CommandError& e) {
    EXPECT_EQ(e.exit_code, kExitConflict);
  }
  EXPECT_EQ(racing.puts, 2);
  EXPECT_EQ(SpecVersion("hello"), "v1xx");
}

TEST_F(CliSandboxTest, SetVersionRejectsAnInvalidVersion) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v1"));
  RunResult r = Ctl({"set-version", "hello", "has space"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(SpecVersion("hello"), "v1");
}

TEST_F(CliSandboxTest, UndoToWritesSpecVersion) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v3"));
  RunResult r = Ctl({"undo", "hello", "--to", "v1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("undo to v1 by setting spec.version (v3 -> v1)"), std::string::npos);
  EXPECT_EQ(SpecVersion("hello"), "v1");
  EXPECT_FALSE(Kv("rollouts/control/hello")) << "--to sends no control request";
}

// ---------------------------------------------------------------------------------------
// list / get / describe / history

TEST_F(CliSandboxTest, ListGetDescribeHistory) {
  RunResult r = Ctl({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "no rollouts under rollouts/spec/\n");

  PutKv("rollouts/spec/hello", RolloutJson("hello", "v2"));
  PutKv("rollouts/spec/api", RolloutJson("api", "v5"));
  PutKv("rollouts/spec/broken", "{not json");
  WriteStatus("hello", [](reconcilers::RolloutStatus& st) {
    st.phase = Phase::kDegraded;
    st.active_version = "v1";
    st.target_version = "v2";
    st.rollback_reason = "HealthDeadline";
    st.rollback_message = "v2 not ready within healthyDeadline";
    st.history.push_back({"v2", "RolledBack", "HealthDeadline", reconcilers::TimePoint{},
                          reconcilers::TimePoint{} + std::chrono::seconds(90)});
  });

  r = Ctl({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Sorted by name; each row has phase, versions and the failure.
  EXPECT_LT(r.out.find("api "), r.out.find("broken "));
  EXPECT_LT(r.out.find("broken "), r.out.find("hello "));
  EXPECT_NE(r.out.find("hello   Degraded     v1      v2      v2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HealthDeadline: v2 not ready within healthyDeadline"), std::string::npos);
  EXPECT_NE(r.out.find("broken  InvalidSpec"), std::string::npos) << r.out;

  r = Ctl({"list", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0);
  auto list = nlohmann::json::parse(r.out);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[2]["phase"], "Degraded");

  r = Ctl({"get", "hello"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.find("api"), std::string::npos);
  EXPECT_NE(r.out.find("Degraded"), std::string::npos);

  r = Ctl({"describe", "hello"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Last failure:    HealthDeadline"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("History:"), std::string::npos);

  r = Ctl({"history", "hello", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(r.out)[0]["outcome"], "RolledBack");

  for (const char* verb : {"get", "describe", "history"}) {
    r = Ctl({verb, "nope"});
    EXPECT_EQ(r.exit_code, 3) << verb;
    EXPECT_NE(r.err.find("unknown rollout \"nope\""), std::string::npos) << verb << r.err;
  }
}

TEST_F(CliSandboxTest, KvPrefixFlag) {
  PutKv("team-a/rollouts/spec/hello", RolloutJson("hello", "v1"));
  RunResult r = Ctl({"--kv-prefix", "team-a/rollouts", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("hello"), std::string::npos) << r.out;
  r = Ctl({"list"});
  EXPECT_EQ(r.out, "no rollouts under rollouts/spec/\n");
}

TEST_F(CliSandboxTest, AgentUnreachableIsExit6) {
  RunResult r = cli_test::Run({kRolloutctl, "--consul-addr", "127.0.0.1:1", "list"}, 30s);
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
}

// ---------------------------------------------------------------------------------------
// control verbs

TEST_F(CliSandboxTest, EveryControlVerbIsWrittenAndAcknowledged) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v2"));
  StartController("hello", [](const std::string&) { return "accepted"; });
  for (const char* verb : {"promote", "abort", "retry", "pause", "resume", "undo"}) {
    RunResult r = Ctl({verb, "hello", "--timeout", "20s"});
    EXPECT_EQ(r.exit_code, 0) << verb << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find(std::string("rollout/hello: ") + verb + ": accepted"), std::string::npos)
        << r.out;
    auto control = nlohmann::json::parse(Kv("rollouts/control/hello")->value);
    EXPECT_EQ(control["verb"], verb);
    EXPECT_FALSE(control["id"].get<std::string>().empty());
  }
  StopController();
  EXPECT_EQ(seen_verbs_,
            (std::vector<std::string>{"promote", "abort", "retry", "pause", "resume", "undo"}));
  EXPECT_EQ(acked_.size(), 6u) << "each request has its own id";
}

TEST_F(CliSandboxTest, RejectedRequestExits1WithTheReason) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v2"));
  StartController("hello",
                  [](const std::string&) { return "rejected: nothing to promote in Healthy"; });
  RunResult r = Ctl({"promote", "hello", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["result"], "rejected: nothing to promote in Healthy");
  EXPECT_NE(r.err.find("promote rejected: nothing to promote in Healthy"), std::string::npos);
}

TEST_F(CliSandboxTest, NoControllerTimesOutWithAClearMessage) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v2"));
  RunResult r = Ctl({"pause", "hello", "--timeout", "2s"});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_NE(
      r.err.find("controller did not acknowledge within 2s: is rolloutd running and leading?"),
      std::string::npos)
      << r.err;
  EXPECT_EQ(nlohmann::json::parse(Kv("rollouts/control/hello")->value)["verb"], "pause");
}

TEST_F(CliSandboxTest, ControlOnUnknownRolloutWritesNothing) {
  RunResult r = Ctl({"promote", "nope", "--timeout", "2s"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_FALSE(Kv("rollouts/control/nope"));
}

TEST_F(CliSandboxTest, ControlRequestLosesToAConcurrentOne) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v2"));
  InterposedConsul racing(*consul_, [this](const std::string& key) {
    if (key == "rollouts/control/hello") PutKv(key, R"({"id":"other","verb":"abort"})");
  });
  std::ostringstream out;
  Session s = SessionOver(racing, out);
  try {
    ControlOptions o;
    o.timeout = 2s;
    RunControl(s, "hello", reconcilers::ControlVerb::kPromote, o);
    FAIL() << "expected a conflict";
  } catch (const CommandError& e) {
    EXPECT_EQ(e.exit_code, kExitConflict) << e.message;
  }
  EXPECT_EQ(nlohmann::json::parse(Kv("rollouts/control/hello")->value)["id"], "other");
}

// ---------------------------------------------------------------------------------------
// wait

TEST_F(CliSandboxTest, WaitHealthySucceedsWhenTheControllerGetsThere) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v1"));
  HealthyStatus("hello", "v1");
  // A new version: the old Healthy (of v1, an older spec) must not satisfy the wait.
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v2"));
  Child waiter({kRolloutctl, "--consul-addr", consul_url_, "wait", "hello", "--for", "Healthy",
                "--timeout", "30s"});
  std::this_thread::sleep_for(300ms);
  uint64_t spec_index = Kv("rollouts/spec/hello")->modify_index;
  WriteStatus("hello", [&](reconcilers::RolloutStatus& st) {
    st.phase = Phase::kWaitingHealthy;
    st.target_version = "v2";
    st.observed_spec_index = spec_index;
  });
  std::this_thread::sleep_for(300ms);
  HealthyStatus("hello", "v2");
  int code = -1;
  ASSERT_TRUE(waiter.WaitExit(30s, code));
  EXPECT_EQ(code, 0) << waiter.output();
  EXPECT_NE(waiter.output().find("rollout/hello is Healthy (active v2)"), std::string::npos)
      << waiter.output();
}

TEST_F(CliSandboxTest, WaitHealthyFailsAtOnceWhenDegraded) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v2"));
  uint64_t spec_index = Kv("rollouts/spec/hello")->modify_index;
  WriteStatus("hello", [&](reconcilers::RolloutStatus& st) {
    st.phase = Phase::kDegraded;
    st.active_version = "v1";
    st.target_version = "v2";
    st.observed_spec_index = spec_index;
    st.rollback_reason = "AnalysisFailed";
    st.rollback_message = "error-rate 0.2 >= 0.01";
  });
  RunResult r = Ctl({"wait", "hello", "--for", "Healthy", "--timeout", "10m"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(
      r.err.find("became Degraded instead of Healthy: AnalysisFailed: error-rate 0.2 >= 0.01"),
      std::string::npos)
      << r.err;

  r = Ctl({"wait", "hello", "--for", "Degraded", "--timeout", "5s"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(CliSandboxTest, WaitTimesOutWithWhereItIs) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v2"));
  RunResult r = Ctl({"wait", "hello", "--for", "Healthy", "--timeout", "2s"});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_NE(r.err.find("not Healthy after 2s: the controller has not written a status yet"),
            std::string::npos)
      << r.err;
  r = Ctl({"wait", "nope", "--for", "Healthy", "--timeout", "2s"});
  EXPECT_EQ(r.exit_code, 3);
  r = Ctl({"wait", "hello", "--for", "Sleeping"});
  EXPECT_EQ(r.exit_code, 2);
}

// ---------------------------------------------------------------------------------------
// get --watch

TEST_F(CliSandboxTest, WatchWithoutTtyPrintsOneBlockPerChange) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v2"));
  HealthyStatus("hello", "v1");
  Child watch({kRolloutctl, "--consul-addr", consul_url_, "--nomad-addr",
               nomad_url_.empty() ? "127.0.0.1:1" : nomad_url_, "get", "hello", "--watch",
               "--count", "2"});
  ASSERT_TRUE(watch.WaitForOutput("EVENTS", 20s)) << watch.output();
  EXPECT_NE(watch.output().find("rollout/hello  phase Healthy  active v1"), std::string::npos)
      << watch.output();
  WriteStatus("hello", [](reconcilers::RolloutStatus& st) {
    st.phase = Phase::kDeployingStandby;
    st.target_version = "v2";
    reconcilers::AddEvent(st, reconcilers::TimePoint{}, "Normal", "DeployingStandby",
                          "deploying v2 to hello-green");
  });
  int code = -1;
  ASSERT_TRUE(watch.WaitExit(20s, code)) << watch.output();
  EXPECT_EQ(code, 0);
  const std::string& out = watch.output();
  EXPECT_NE(out.find("phase DeployingStandby"), std::string::npos) << out;
  EXPECT_NE(out.find("deploying v2 to hello-green"), std::string::npos) << out;
  EXPECT_EQ(out.find('\033'), std::string::npos) << "no escape codes without a TTY";
  size_t blocks = 0;
  for (size_t p = out.find("=== "); p != std::string::npos; p = out.find("=== ", p + 1)) ++blocks;
  EXPECT_EQ(blocks, 2u) << out;
}

TEST_F(CliSandboxTest, WatchJsonPrintsOneLinePerChange) {
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v2"));
  HealthyStatus("hello", "v1");
  Child watch({kRolloutctl, "--consul-addr", consul_url_, "--nomad-addr", "127.0.0.1:1", "get",
               "hello", "--watch", "--count", "2", "-o", "json"});
  auto first = watch.ReadLine(20s);
  ASSERT_TRUE(first) << watch.output();
  EXPECT_EQ(nlohmann::json::parse(*first)["phase"], "Healthy");
  WriteStatus("hello", [](reconcilers::RolloutStatus& st) { st.phase = Phase::kRollingBack; });
  auto second = watch.ReadLine(20s);
  ASSERT_TRUE(second) << watch.output();
  EXPECT_EQ(nlohmann::json::parse(*second)["phase"], "RollingBack");
  int code = -1;
  ASSERT_TRUE(watch.WaitExit(20s, code));
  EXPECT_EQ(code, 0);
}

TEST_F(CliSandboxTest, WatchUnknownRollout) {
  RunResult r = Ctl({"get", "nope", "--watch"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
}

TEST_F(CliSandboxTest, WatchInTmux) {
  if (std::system("command -v tmux >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "tmux not installed (apt-get install tmux); the pipe mode is tested above";
  }
  PutKv("rollouts/spec/hello", RolloutJson("hello", "v2"));
  HealthyStatus("hello", "v1");
  const std::string session = "rolloutctl-test-" + std::to_string(::getpid());
  const std::string socket = (dir_ / "tmux.sock").string();
  auto tmux = [&](const std::string& args) {
    return cli_test::Run({"/bin/sh", "-c", "tmux -S '" + socket + "' " + args}, 20s);
  };
  const std::string cmd = "env -u NO_COLOR " + kRolloutctl + " --consul-addr " + consul_url_ +
                          " --nomad-addr " + (nomad_url_.empty() ? "127.0.0.1:1" : nomad_url_) +
                          " get hello --watch";
  ASSERT_EQ(tmux("new-session -d -s " + session + " -x 150 -y 60 \"" + cmd +
                 // The server it forks must not hold our pipes open.
                 "\" </dev/null >/dev/null 2>&1")
                .exit_code,
            0);
  std::string screen;
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {  // bounded: 100 x 100 ms
    std::this_thread::sleep_for(100ms);
    screen = tmux("capture-pane -p -t " + session).out;
    seen = screen.find("phase Healthy") != std::string::npos;
  }
  EXPECT_TRUE(seen) << screen;
  WriteStatus("hello", [](reconcilers::RolloutStatus& st) { st.phase = Phase::kPaused; });
  seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    std::this_thread::sleep_for(100ms);
    screen = tmux("capture-pane -p -t " + session).out;
    seen = screen.find("phase Paused") != std::string::npos;
  }
  EXPECT_TRUE(seen) << "redrawn in place on change:\n" << screen;
  EXPECT_EQ(screen.find("phase Healthy"), std::string::npos) << "the old screen is cleared";
  EXPECT_NE(screen.find("(Ctrl-C to quit)"), std::string::npos) << screen;
  // With colours (a TTY, NO_COLOR unset): capture-pane -e keeps the escapes.
  std::string escaped = tmux("capture-pane -e -p -t " + session).out;
  EXPECT_NE(escaped.find("\033["), std::string::npos) << escaped;
  // NO_COLOR wins even on a terminal.
  const std::string plain_session = session + "-nocolor";
  ASSERT_EQ(tmux("new-session -d -s " + plain_session + " -x 150 -y 60 \"env NO_COLOR=1 " +
                 cmd.substr(cmd.find(kRolloutctl)) + "\" </dev/null >/dev/null 2>&1")
                .exit_code,
            0);
  std::string plain;
  for (int i = 0; i < 100 && plain.find("phase Paused") == std::string::npos; ++i) {
    std::this_thread::sleep_for(100ms);
    plain = tmux("capture-pane -e -p -t " + plain_session).out;
  }
  EXPECT_NE(plain.find("phase Paused"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("\033[3"), std::string::npos) << "no colour with NO_COLOR:\n" << plain;
  tmux("send-keys -t " + session + " C-c");
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::this_thread::sleep_for(100ms);
    gone = tmux("has-session -t =" + session + " 2>/dev/null").exit_code != 0;
  }
  EXPECT_TRUE(gone) << "Ctrl-C ends the watch";
  tmux("kill-server 2>/dev/null");
}

}  // namespace
}  // namespace rollouts::cli
