// RolloutReconciler over mocked clients: what failed is reported as an error kind and
// reaches rollouts_reconcile_errors_total{kind}; NoOp waits stop at deadlines.
#include "reconcilers/rollout_reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "api/text.h"
#include "controller/runtime.h"
#include "tests/controller/eventually.h"
#include "tests/controller/mock_consul_client.h"
#include "tests/controller/mock_nomad_client.h"
#include "tests/reconcilers/test_rollout.h"

namespace rollouts::controller {
namespace {

using std::chrono::milliseconds;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Invoke;
using testing::MockConsulClient;
using testing::MockNomadClient;
using ::testing::NiceMock;
using ::testing::Not;
using ::testing::Return;

using testing::Eventually;

constexpr const char* kSpec = R"({
  "apiVersion": "rollouts.nomad.io/v1", "kind": "Rollout",
  "metadata": {"name": "hello"},
  "spec": {
    "version": "v2",
    "nomad": {"namespace": "default", "job": "hello",
              "groups": ["hello-blue", "hello-green"], "service": "hello"},
    "template": {"task": "app", "set": {"/Env/APP_VERSION": "{{version}}"}},
    "strategy": {"blueGreen": {"autoPromote": true}}
  }
})";

// Never called by these tests: no action here probes.
class NoProber : public reconcilers::Prober {
 public:
  reconcilers::ProbeResult Probe(const std::vector<reconcilers::ProbeTarget>& /*targets*/,
                                 const reconcilers::ProbeSpec& /*probe*/,
                                 const std::shared_ptr<http::CancelToken>& /*cancel*/) override {
    ADD_FAILURE() << "unexpected probe";
    return {};
  }
};

using KvResult = clients::ApiResult<consul::QueryResult<std::optional<consul::KvPair>>>;

KvResult Key(const std::string& key, const std::string& value) {
  consul::KvPair kv;
  kv.key = key;
  kv.value = value;
  kv.modify_index = 7;
  return consul::QueryResult<std::optional<consul::KvPair>>{kv, {}};
}

KvResult NoKey() {
  return consul::QueryResult<std::optional<consul::KvPair>>{std::nullopt, {}};
}

class ReconcileErrorKindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ON_CALL(consul_, KvGet(_, _)).WillByDefault(Invoke([](const std::string& key, auto&) {
      return key == "rollouts/spec/hello" ? Key(key, kSpec) : NoKey();
    }));
    ON_CALL(consul_, HealthService(_, _, _))
        .WillByDefault(Return(consul::QueryResult<std::vector<consul::ServiceEntry>>{}));
    ON_CALL(consul_, KvList(_, _))
        .WillByDefault(Return(consul::QueryResult<std::vector<consul::KvPair>>{}));
    ON_CALL(nomad_, JobAllocations(_, _)).WillByDefault(Return(MockNomadClient::Allocs{}));
  }

  reconcilers::ReconcileOutcome Reconcile() {
    reconcilers::RolloutReconciler reconciler(
        consul_, [this](const std::string&) -> nomad::NomadClient& { return nomad_; }, nullptr,
        prober_, [] { return reconcilers::TimePoint(milliseconds(1'800'000'000'000)); },
        [this] { return may_write_; }, reconcilers::ReconcilerOptions{});
    return reconciler.Reconcile("hello");
  }

  NiceMock<MockConsulClient> consul_;
  NiceMock<MockNomadClient> nomad_;
  NoProber prober_;
  bool may_write_ = true;
};

TEST_F(ReconcileErrorKindTest, ANomadTimeoutIsATransportError) {
  EXPECT_CALL(nomad_, GetJob("hello"))
      .WillRepeatedly(Return(clients::ApiError{clients::ApiErrorKind::kTransport, 0,
                                               "GET /v1/job/hello", "timeout: no response"}));
  auto outcome = Reconcile();
  EXPECT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error_kind, "transport");
  EXPECT_THAT(outcome.message, HasSubstr("timeout"));
}

TEST_F(ReconcileErrorKindTest, AConsulReadErrorKeepsItsKind) {
  ON_CALL(consul_, KvGet("rollouts/status/hello", _))
      .WillByDefault(
          Return(clients::ApiError{clients::ApiErrorKind::kUnavailable, 500,
                                   "GET /v1/kv/rollouts/status/hello", "No cluster leader"}));
  auto outcome = Reconcile();
  EXPECT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error_kind, "unavailable");
}

TEST_F(ReconcileErrorKindTest, AFailedStatusWriteKeepsItsKind) {
  // The job does not exist: decide() records InvalidSpec in the status.
  EXPECT_CALL(nomad_, GetJob("hello")).WillRepeatedly(Return(std::optional<nomad::Job>{}));
  EXPECT_CALL(consul_, KvPut("rollouts/status/hello", _, _))
      .WillOnce(Return(clients::ApiError{clients::ApiErrorKind::kUnauthorized, 403,
                                         "PUT /v1/kv/rollouts/status/hello", "Permission denied"}));
  auto outcome = Reconcile();
  EXPECT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error_kind, "unauthorized");
  EXPECT_FALSE(outcome.InProgress());
}

TEST_F(ReconcileErrorKindTest, AWriteRefusedForLostLeadershipIsNotLeader) {
  may_write_ = false;
  EXPECT_CALL(nomad_, GetJob("hello")).WillRepeatedly(Return(std::optional<nomad::Job>{}));
  EXPECT_CALL(consul_, KvPut(_, _, _)).Times(0);
  auto outcome = Reconcile();
  EXPECT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error_kind, "not_leader");
}

// The whole path: reconciler outcome -> ResultOf -> runtime -> metrics.
TEST_F(ReconcileErrorKindTest, TheRuntimeCountsTheKind) {
  EXPECT_CALL(nomad_, GetJob("hello"))
      .WillRepeatedly(Return(clients::ApiError{clients::ApiErrorKind::kTransport, 0,
                                               "GET /v1/job/hello", "timeout: no response"}));
  ON_CALL(consul_, KvList(_, _)).WillByDefault(Invoke([](const std::string& prefix, auto& q) {
    if (q.index > 0) std::this_thread::sleep_for(milliseconds(5));  // a short "block"
    consul::QueryResult<std::vector<consul::KvPair>> out;
    out.meta.index = 3;
    if (prefix == "rollouts/spec/") {
      consul::KvPair kv;
      kv.key = "rollouts/spec/hello";
      kv.modify_index = 7;
      out.value.push_back(kv);
    }
    return clients::ApiResult<consul::QueryResult<std::vector<consul::KvPair>>>(out);
  }));
  reconcilers::RolloutReconciler reconciler(
      consul_, [this](const std::string&) -> nomad::NomadClient& { return nomad_; }, nullptr,
      prober_, [] { return reconcilers::TimePoint(milliseconds(1'800'000'000'000)); },
      [] { return true; }, reconcilers::ReconcilerOptions{});
  ControllerMetrics metrics;
  RuntimeOptions options;
  options.workers = 1;
  options.resync = std::chrono::hours(1);
  options.watch_min_interval = milliseconds(1);
  options.queue.backoff.base = milliseconds(1);
  options.queue.backoff.max = milliseconds(5);
  options.queue.bucket.qps = 0;
  ControllerRuntime runtime(
      consul_,
      [&reconciler](const std::string& name, const std::shared_ptr<http::CancelToken>& cancel) {
        return ResultOf(reconciler.Reconcile(name, cancel));
      },
      options, &metrics, [] { return true; });
  runtime.Start();
  ASSERT_TRUE(Eventually([&] {
    return SerializeMetrics(*metrics.registry())
               .find("rollouts_reconcile_errors_total{kind=\"transport\"}") != std::string::npos;
  }));
  runtime.Stop(std::chrono::seconds(10));
  std::string text = SerializeMetrics(*metrics.registry());
  EXPECT_THAT(text, Not(HasSubstr("rollouts_reconcile_errors_total{kind=\"internal\"}")));
}

// --- OnStatusObserved: the status a reconcile reads reaches the listener ------------------

// Records the listener calls in order.
class RecordingListener : public reconcilers::ReconcileListener {
 public:
  void OnStatusObserved(const std::string& rollout,
                        const reconcilers::RolloutStatus& status) override {
    calls.push_back("observed " + rollout + " " +
                    std::string(reconcilers::PhaseName(status.phase.value())) + " " +
                    status.rollback_reason);
  }
  void OnStatusWritten(const std::string& rollout, const reconcilers::RolloutStatus& /*before*/,
                       const reconcilers::RolloutStatus& after) override {
    calls.push_back("written " + rollout + " " +
                    std::string(reconcilers::PhaseName(after.phase.value())));
  }
  std::vector<std::string> calls;
};

class StatusObservedTest : public ReconcileErrorKindTest {
 protected:
  reconcilers::ReconcileOutcome ReconcileWith(RecordingListener& listener) {
    reconcilers::RolloutReconciler reconciler(
        consul_, [this](const std::string&) -> nomad::NomadClient& { return nomad_; }, nullptr,
        prober_, [] { return reconcilers::TimePoint(milliseconds(1'800'000'000'000)); },
        [this] { return may_write_; }, reconcilers::ReconcilerOptions{}, &listener);
    return reconciler.Reconcile("hello");
  }
};

TEST_F(StatusObservedTest, AStatusThisProcessDidNotWriteIsReportedBeforeAnyWrite) {
  // Written by an earlier process: the Rollout rolled back and rests in Degraded.
  reconcilers::RolloutStatus degraded;
  degraded.phase = reconcilers::Phase::kDegraded;
  degraded.active_version = "v1";
  degraded.target_version = "v2";
  degraded.rollback_reason = "AnalysisFailed";
  const std::string doc = reconcilers::StatusToJson(degraded).dump();
  ON_CALL(consul_, KvGet(_, _)).WillByDefault(Invoke([doc](const std::string& key, auto&) {
    if (key == "rollouts/spec/hello") return Key(key, kSpec);
    if (key == "rollouts/status/hello") return Key(key, doc);
    return NoKey();
  }));
  // This process may not write (a follower, or leadership just lost): whatever decide()
  // wants, the observed status is reported first.
  may_write_ = false;
  EXPECT_CALL(nomad_, GetJob("hello")).WillRepeatedly(Return(std::optional<nomad::Job>{}));
  EXPECT_CALL(consul_, KvPut(_, _, _)).Times(0);
  RecordingListener listener;
  ReconcileWith(listener);
  ASSERT_FALSE(listener.calls.empty());
  EXPECT_EQ(listener.calls.front(), "observed hello Degraded AnalysisFailed");
}

TEST_F(StatusObservedTest, ANewRolloutHasNoStatusToReportUntilItsFirstWrite) {
  // No status key: the first reconcile writes one (InvalidSpec: the job does not exist).
  std::optional<std::string> stored;
  ON_CALL(consul_, KvGet(_, _)).WillByDefault(Invoke([&stored](const std::string& key, auto&) {
    if (key == "rollouts/spec/hello") return Key(key, kSpec);
    if (key == "rollouts/status/hello" && stored) return Key(key, *stored);
    return NoKey();
  }));
  EXPECT_CALL(nomad_, GetJob("hello")).WillRepeatedly(Return(std::optional<nomad::Job>{}));
  ON_CALL(consul_, KvPut("rollouts/status/hello", _, _))
      .WillByDefault(Invoke([&stored](const std::string&, const std::string& value, auto&) {
        stored = value;
        return clients::ApiResult<bool>(true);
      }));
  RecordingListener listener;
  auto outcome = ReconcileWith(listener);
  EXPECT_FALSE(outcome.error) << outcome.message;
  ASSERT_GE(listener.calls.size(), 2u);
  EXPECT_EQ(listener.calls[0], "written hello InvalidSpec");
  // The next round observes what was just written.
  EXPECT_EQ(listener.calls[1], "observed hello InvalidSpec ");
}

// --- A status write and the register it leads to: one observe ---------------------------

// A small stateful cluster behind the mocks: the status key keeps what was written, the
// job keeps what was registered, and every call is logged in order.
class FollowUpRegisterTest : public ReconcileErrorKindTest {
 protected:
  void SetUp() override {
    ReconcileErrorKindTest::SetUp();
    job_ = reconcilers::testing::HelloJob();
    job_["JobModifyIndex"] = uint64_t{10};  // unsigned, as parsed from Nomad's JSON
    // hello-blue serves v1; hello-green is stopped: a rollout to v2 must deploy it.
    for (auto& g : job_["TaskGroups"]) {
      if (g["Name"] == "hello-green") {
        g["Count"] = 0;
        g["Meta"]["version"] = "";
        g["Tasks"][0]["Env"]["APP_VERSION"] = "";
      }
    }
    ON_CALL(consul_, KvGet(_, _)).WillByDefault(Invoke([this](const std::string& key, auto&) {
      std::lock_guard lock(mu_);
      if (key == "rollouts/spec/hello") return Key(key, spec_);
      if (key == "rollouts/control/hello" && control_) return Key(key, *control_);
      if (key == "rollouts/status/hello" && status_) {
        KvResult r = Key(key, *status_);
        r.value().value->modify_index = status_index_;
        return r;
      }
      return NoKey();
    }));
    ON_CALL(consul_, KvPut("rollouts/status/hello", _, _))
        .WillByDefault(Invoke([this](const std::string&, const std::string& value, auto& put) {
          std::lock_guard lock(mu_);
          bodies_.push_back(value);
          if (put.cas && *put.cas != (status_ ? status_index_ : 0)) {
            return clients::ApiResult<bool>(false);
          }
          status_ = value;
          ++status_index_;
          const auto phase = nlohmann::json::parse(value).value("phase", std::string("?"));
          calls_.push_back("put status " + phase);
          if (after_status_write_) after_status_write_(phase);
          return clients::ApiResult<bool>(true);
        }));
    ON_CALL(nomad_, GetJob("hello")).WillByDefault(Invoke([this](const std::string&) {
      std::lock_guard lock(mu_);
      calls_.push_back("get job");
      return nomad::ApiResult<std::optional<nomad::Job>>(nomad::Job(job_));
    }));
    ON_CALL(nomad_, RegisterJob(_, _, _))
        .WillByDefault(Invoke([this](const nomad::Job& job, std::optional<uint64_t> enforce, bool) {
          std::lock_guard lock(mu_);
          const uint64_t current = job_["JobModifyIndex"].get<uint64_t>();
          if (enforce && *enforce != current) {
            return nomad::ApiResult<nomad::WriteResponse>(clients::ApiError{
                clients::ApiErrorKind::kConflict, 500, "PUT /v1/job/hello", "index mismatch"});
          }
          job_ = job.json();
          job_["JobModifyIndex"] = current + 1;
          calls_.push_back("register");
          nomad::WriteResponse w;
          w.job_modify_index = current + 1;
          return nomad::ApiResult<nomad::WriteResponse>(w);
        }));
  }

  // Between the status write "put status <phase>" and the reconciler's next step
  // (called with mu_ held): what else happens meanwhile.
  std::function<void(const std::string& phase)> after_status_write_;
  // Whether the cluster was observed again ("get job") between the DeployingStandby status
  // write and the one register; fails the test if either is missing.
  bool ObservedBetweenStatusWriteAndRegister() {
    auto put = std::find(calls_.begin(), calls_.end(), "put status DeployingStandby");
    EXPECT_NE(put, calls_.end()) << ::testing::PrintToString(calls_);
    auto reg = std::find(put, calls_.end(), "register");
    EXPECT_NE(reg, calls_.end()) << ::testing::PrintToString(calls_);
    EXPECT_EQ(std::count(calls_.begin(), calls_.end(), "register"), 1)
        << ::testing::PrintToString(calls_);
    return std::find(put, reg, "get job") != reg;
  }

  std::mutex mu_;
  nlohmann::json job_;
  std::string spec_ = kSpec;
  std::optional<std::string> control_;
  std::optional<std::string> status_;
  uint64_t status_index_ = 40;
  std::vector<std::string> bodies_;  // every status body written, also those a CAS refused
  std::vector<std::string> calls_;
};

TEST_F(FollowUpRegisterTest, TheStandbyRegisterFollowsTheStatusWriteWithoutAnotherObserve) {
  auto outcome = Reconcile();
  ASSERT_FALSE(outcome.error) << outcome.message;
  // The rollout started and the standby group was deployed, once, without observing again.
  EXPECT_FALSE(ObservedBetweenStatusWriteAndRegister()) << ::testing::PrintToString(calls_);
  // Right after the write: the register it leads to, decided on the same observation.
  auto put_deploying = std::find(calls_.begin(), calls_.end(), "put status DeployingStandby");
  ASSERT_NE(put_deploying, calls_.end());
  ASSERT_NE(put_deploying + 1, calls_.end()) << ::testing::PrintToString(calls_);
  EXPECT_EQ(*(put_deploying + 1), "register") << ::testing::PrintToString(calls_);
  for (const auto& g : job_["TaskGroups"]) {
    if (g["Name"] == "hello-green") {
      EXPECT_EQ(g["Meta"]["version"], "v2");
      EXPECT_EQ(g["Count"], 2);
    }
  }
  // After the register, a full observe again (the next step waits on fresh health).
  EXPECT_EQ(calls_.back(), "get job") << ::testing::PrintToString(calls_);
}

TEST_F(FollowUpRegisterTest, ASlowStatusWriteIsFollowedByAFreshObserve) {
  // Each status write takes a (simulated) second: the observation is too old by the time it
  // returns, so the deploy waits for a new one.
  std::atomic<int64_t> now_ms{1'800'000'000'000};
  after_status_write_ = [&](const std::string&) { now_ms += 1000; };
  reconcilers::RolloutReconciler reconciler(
      consul_, [this](const std::string&) -> nomad::NomadClient& { return nomad_; }, nullptr,
      prober_, [&] { return reconcilers::TimePoint(milliseconds(now_ms.load())); },
      [] { return true; }, reconcilers::ReconcilerOptions{});
  auto outcome = reconciler.Reconcile("hello");
  ASSERT_FALSE(outcome.error) << outcome.message;
  EXPECT_TRUE(ObservedBetweenStatusWriteAndRegister()) << ::testing::PrintToString(calls_);
}

TEST_F(FollowUpRegisterTest, AJobChangedMeanwhileRefusesTheFollowUpAndIsObservedAfresh) {
  // Someone else registers the job between our status write and our register.
  after_status_write_ = [this](const std::string& phase) {
    if (phase == "DeployingStandby") {
      job_["JobModifyIndex"] = job_["JobModifyIndex"].get<uint64_t>() + 1;
    }
  };
  auto outcome = Reconcile();
  ASSERT_FALSE(outcome.error) << outcome.message;
  // The refused register is not logged; the one that landed came after a new observe.
  EXPECT_TRUE(ObservedBetweenStatusWriteAndRegister()) << ::testing::PrintToString(calls_);
}

// --- The cluster reads of the last observed target start with the KV reads -------------

class PrefetchTest : public FollowUpRegisterTest {
 protected:
  void SetUp() override {
    FollowUpRegisterTest::SetUp();
    // The spec read answers once a job read has started, or after 2 s: whether the job
    // read began while the spec was still being read is then visible in the log.
    ON_CALL(consul_, KvGet(_, _)).WillByDefault(Invoke([this](const std::string& key, auto&) {
      std::unique_lock lock(mu_);
      if (key == "rollouts/spec/hello") {
        job_read_cv_.wait_for(lock, std::chrono::seconds(2), [this] { return job_read_; });
        calls_.push_back(job_read_ ? "spec read after a job read began" : "spec read alone");
        return Key(key, spec_);
      }
      if (key == "rollouts/status/hello" && status_) {
        KvResult r = Key(key, *status_);
        r.value().value->modify_index = status_index_;
        return r;
      }
      return NoKey();
    }));
    ON_CALL(nomad_, GetJob(_)).WillByDefault(Invoke([this](const std::string& id) {
      std::lock_guard lock(mu_);
      job_read_ = true;
      job_read_cv_.notify_all();
      calls_.push_back("get job " + id);
      if (id != job_["ID"].get<std::string>()) {
        return nomad::ApiResult<std::optional<nomad::Job>>(std::optional<nomad::Job>{});
      }
      return nomad::ApiResult<std::optional<nomad::Job>>(nomad::Job(job_));
    }));
    spec_ = kSpec;
  }
  // One reconcile with the same reconciler (the hint lives in it); the log starts afresh.
  std::vector<std::string> ReconcileOnce() {
    {
      std::lock_guard lock(mu_);
      calls_.clear();
      job_read_ = false;
    }
    auto outcome = reconciler_->Reconcile("hello");
    EXPECT_FALSE(outcome.error) << outcome.message;
    std::lock_guard lock(mu_);
    return calls_;
  }
  void MakeReconciler() {
    reconciler_ = std::make_unique<reconcilers::RolloutReconciler>(
        consul_, [this](const std::string&) -> nomad::NomadClient& { return nomad_; }, nullptr,
        prober_, [] { return reconcilers::TimePoint(milliseconds(1'800'000'000'000)); },
        [] { return true; }, reconcilers::ReconcilerOptions{});
  }

  std::string spec_;
  bool job_read_ = false;
  std::condition_variable job_read_cv_;
  std::unique_ptr<reconcilers::RolloutReconciler> reconciler_;
};

TEST_F(PrefetchTest, TheLastTargetIsReadAlongWithTheSpec) {
  MakeReconciler();
  auto first = ReconcileOnce();
  ASSERT_FALSE(first.empty());
  // Nothing known yet: the spec names the job, then the job is read.
  EXPECT_EQ(first.front(), "spec read alone") << ::testing::PrintToString(first);
  auto second = ReconcileOnce();
  ASSERT_FALSE(second.empty());
  EXPECT_THAT(second, ::testing::Contains("spec read after a job read began"))
      << ::testing::PrintToString(second);
  EXPECT_THAT(second, Not(::testing::Contains("spec read alone")))
      << ::testing::PrintToString(second);
}

TEST_F(PrefetchTest, ASpecThatMovedToAnotherJobIsReadForThatJob) {
  MakeReconciler();
  ReconcileOnce();
  // The spec now names a job that does not exist: the prefetched read of "hello" must not
  // stand in for it. decide() records InvalidSpec (unknown job) in the status.
  {
    std::lock_guard lock(mu_);
    auto doc = nlohmann::json::parse(kSpec);
    doc["spec"]["nomad"]["job"] = "elsewhere";
    spec_ = doc.dump();
  }
  auto calls = ReconcileOnce();
  EXPECT_THAT(calls, ::testing::Contains("get job hello"));      // the hint, read and dropped
  EXPECT_THAT(calls, ::testing::Contains("get job elsewhere"));  // what the spec names
  std::lock_guard lock(mu_);
  ASSERT_TRUE(status_.has_value());
  EXPECT_EQ(nlohmann::json::parse(*status_).value("phase", ""), "InvalidSpec") << *status_;
}

// --- Keys that cannot be read (issue #20): reported, never the reconcile's failure --------

class InputsListener : public reconcilers::ReconcileListener {
 public:
  void OnInputsObserved(const std::string& rollout,
                        const std::map<std::string, int>& invalid) override {
    EXPECT_EQ(rollout, "hello");
    observed.push_back(invalid);
  }
  std::vector<std::map<std::string, int>> observed;
};

class BadInputTest : public FollowUpRegisterTest {
 protected:
  reconcilers::ReconcileOutcome ReconcileWith(reconcilers::ReconcileListener* listener) {
    reconcilers::RolloutReconciler reconciler(
        consul_, [this](const std::string&) -> nomad::NomadClient& { return nomad_; }, nullptr,
        prober_, [] { return reconcilers::TimePoint(milliseconds(1'800'000'000'000)); },
        [] { return true; }, reconcilers::ReconcilerOptions{}, listener);
    return reconciler.Reconcile("hello");
  }

  // The status as last written, parsed; fails the test if there is none or it is not JSON.
  nlohmann::json StoredStatus() {
    std::lock_guard lock(mu_);
    EXPECT_TRUE(status_.has_value());
    if (!status_) return nlohmann::json::object();
    EXPECT_EQ(api::FirstInvalidUtf8(*status_), std::nullopt);
    return nlohmann::json::parse(*status_, nullptr, false);
  }
};

TEST_F(BadInputTest, AMalformedRouterReportIsThatRoutersFailureNotTheReconciles) {
  // Any session holder may write there; this one wrote a report of the wrong shape.
  ON_CALL(consul_, KvList(_, _)).WillByDefault(Invoke([](const std::string& prefix, auto&) {
    consul::QueryResult<std::vector<consul::KvPair>> out;
    if (prefix == "rollouts/routers/") {
      consul::KvPair kv;
      kv.key = "rollouts/routers/x";
      kv.value = R"({"services":"x"})";
      kv.modify_index = 12;
      kv.session = "5a1c0a4e-0000-4000-8000-000000000001";
      out.value.push_back(kv);
    }
    return clients::ApiResult<consul::QueryResult<std::vector<consul::KvPair>>>(out);
  }));
  InputsListener listener;
  auto outcome = ReconcileWith(&listener);
  EXPECT_FALSE(outcome.error) << outcome.error_kind << ": " << outcome.message;
  ASSERT_FALSE(listener.observed.empty());
  for (const auto& invalid : listener.observed) {
    EXPECT_EQ(invalid, (std::map<std::string, int>{{"router_report", 1}}));
  }
  // The rollout went on: the standby was deployed.
  EXPECT_THAT(calls_, ::testing::Contains("register"));
}

TEST_F(BadInputTest, AReadableRouterReportIsNoInvalidInput) {
  ON_CALL(consul_, KvList(_, _)).WillByDefault(Invoke([](const std::string& prefix, auto&) {
    consul::QueryResult<std::vector<consul::KvPair>> out;
    if (prefix == "rollouts/routers/") {
      consul::KvPair kv;
      kv.key = "rollouts/routers/x";
      kv.value = R"({"id":"x","services":{"hello":{"version":"v1"}}})";
      kv.session = "5a1c0a4e-0000-4000-8000-000000000001";
      out.value.push_back(kv);
    }
    return clients::ApiResult<consul::QueryResult<std::vector<consul::KvPair>>>(out);
  }));
  InputsListener listener;
  auto outcome = ReconcileWith(&listener);
  EXPECT_FALSE(outcome.error) << outcome.message;
  ASSERT_FALSE(listener.observed.empty());
  for (const auto& invalid : listener.observed) EXPECT_TRUE(invalid.empty());
}

TEST_F(BadInputTest, ASpecWithAnInvalidUtf8ByteIsReportedAsInvalidSpec) {
  const size_t at = spec_.find("\"v2\"");
  ASSERT_NE(at, std::string::npos);
  spec_[at + 2] = '\xFF';  // "v\xFF"
  InputsListener listener;
  auto outcome = ReconcileWith(&listener);
  EXPECT_FALSE(outcome.error) << outcome.error_kind << ": " << outcome.message;
  const nlohmann::json status = StoredStatus();
  EXPECT_EQ(status.value("phase", ""), "InvalidSpec") << status.dump();
  bool named = false;
  for (const auto& c : status.value("conditions", nlohmann::json::array())) {
    if (c.value("type", "") == "InvalidSpec") {
      named = c.value("message", "").find("UTF-8") != std::string::npos;
    }
  }
  EXPECT_TRUE(named) << status.dump();
  ASSERT_FALSE(listener.observed.empty());
  EXPECT_EQ(listener.observed.front(), (std::map<std::string, int>{{"spec", 1}}));
  EXPECT_THAT(calls_, Not(::testing::Contains("register")));
}

TEST_F(BadInputTest, AControlCommandWithAHugeIdIsRejectedAndTheStatusStaysSmall) {
  control_ = R"({"id": ")" + std::string(300 * 1024, 'i') + R"(", "verb": "promote"})";
  InputsListener listener;
  auto outcome = ReconcileWith(&listener);
  EXPECT_FALSE(outcome.error) << outcome.error_kind << ": " << outcome.message;
  {
    std::lock_guard lock(mu_);
    ASSERT_FALSE(bodies_.empty());
    for (const std::string& body : bodies_) EXPECT_LT(body.size(), 64u * 1024);
  }
  const nlohmann::json status = StoredStatus();
  int rejected = 0;
  for (const auto& ack : status.value("acknowledged", nlohmann::json::array())) {
    if (ack.value("result", "").rfind("rejected:", 0) == 0) ++rejected;
  }
  EXPECT_EQ(rejected, 1) << status.dump();
  EXPECT_THAT(listener.observed, ::testing::Contains(std::map<std::string, int>{{"control", 1}}));
}

// --- ResultOf and CapAtDeadline ----------------------------------------------------------

TEST(ResultOfTest, OnlyARolloutInProgressIsWatched) {
  reconcilers::ReconcileOutcome o;
  o.nomad_namespace = "default";
  o.nomad_job = "hello";
  o.service = "hello-svc";
  o.phase = reconcilers::Phase::kWaitingHealthy;
  auto r = ResultOf(o);
  ASSERT_TRUE(r.progress.has_value());
  EXPECT_EQ(*r.progress, (WatchTarget{"default", "hello", "hello-svc"}));
  for (auto done : {reconcilers::Phase::kHealthy, reconcilers::Phase::kDegraded,
                    reconcilers::Phase::kInvalidSpec}) {
    o.phase = done;
    EXPECT_FALSE(ResultOf(o).progress.has_value()) << reconcilers::PhaseName(done);
  }
  o.phase.reset();
  EXPECT_FALSE(ResultOf(o).progress.has_value());
  o.error = true;
  o.error_kind = "transport";
  EXPECT_EQ(ResultOf(o).error_kind, "transport");
}

TEST(CapAtDeadlineTest, AWaitNeverSleepsPastTheNextDeadline) {
  using std::chrono::seconds;
  reconcilers::Snapshot s;
  s.now = reconcilers::TimePoint(milliseconds(1'800'000'000'000));
  s.status.phase = reconcilers::Phase::kPromoting;
  s.status.current_step = reconcilers::StepRecord{"Promoting", s.now, s.now + seconds(3)};
  EXPECT_EQ(reconcilers::CapAtDeadline(s, seconds(10)), seconds(3));
  EXPECT_EQ(reconcilers::CapAtDeadline(s, seconds(1)), seconds(1));
  EXPECT_EQ(reconcilers::CapAtDeadline(s, milliseconds(0)), seconds(3));
  s.status.progress_deadline = s.now + seconds(2);
  EXPECT_EQ(reconcilers::CapAtDeadline(s, seconds(10)), seconds(2));
  s.status.progress_deadline = s.now - seconds(2);  // passed: decide() has handled it
  s.status.current_step->deadline = s.now + milliseconds(20);
  EXPECT_EQ(reconcilers::CapAtDeadline(s, seconds(10)), milliseconds(100));  // the floor
  s.status.phase = reconcilers::Phase::kHealthy;  // nothing in progress: untouched
  EXPECT_EQ(reconcilers::CapAtDeadline(s, seconds(30)), seconds(30));
}

}  // namespace
}  // namespace rollouts::controller
