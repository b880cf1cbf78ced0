#include "controller/progress_watches.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "controller/runtime.h"
#include "tests/controller/eventually.h"
#include "tests/controller/mock_consul_client.h"
#include "tests/controller/mock_nomad_client.h"

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

using testing::Eventually;

// Serves blocking queries per key (a job, a service, a KV prefix) like the agents do: an
// index that moves on every change, a query with an older index answers at once, one with
// the current index blocks (briefly here) and answers unchanged; cancel cuts it short.
template <typename T>
class FakeSource {
 public:
  void Set(const std::string& key, T value) {
    std::lock_guard lock(mu_);
    auto& e = entries_[key];
    e.value = std::move(value);
    e.index = ++index_;
  }
  // The next n queries of key fail with error.
  void FailNext(const std::string& key, int n, clients::ApiError error) {
    std::lock_guard lock(mu_);
    failures_[key] = {n, std::move(error)};
  }
  clients::ApiResult<consul::QueryResult<T>> Get(const std::string& key,
                                                 const consul::QueryOptions& q) {
    {
      std::lock_guard lock(mu_);
      ++calls_[key];
      queried_[key] = q.index;
      auto f = failures_.find(key);
      if (f != failures_.end() && f->second.first > 0) {
        --f->second.first;
        return f->second.second;
      }
    }
    for (int i = 0; i < 20; ++i) {
      {
        std::lock_guard lock(mu_);
        if (q.index < entries_[key].index) break;
      }
      if (q.cancel && q.cancel->cancelled()) break;
      std::this_thread::sleep_for(milliseconds(1));
    }
    std::lock_guard lock(mu_);
    const auto& e = entries_[key];
    return consul::QueryResult<T>{e.value, {e.index, true, milliseconds(0)}};
  }
  int Calls(const std::string& key) {
    std::lock_guard lock(mu_);
    return calls_[key];
  }
  // The index the latest query of key was sent with.
  uint64_t Queried(const std::string& key) {
    std::lock_guard lock(mu_);
    return queried_[key];
  }
  uint64_t Index(const std::string& key) {
    std::lock_guard lock(mu_);
    return entries_[key].index;
  }

 private:
  struct Entry {
    T value{};
    uint64_t index = 1;
  };
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::pair<int, clients::ApiError>> failures_;
  std::map<std::string, int> calls_;
  std::map<std::string, uint64_t> queried_;
  uint64_t index_ = 1;
};

nomad::AllocationStub Alloc(const std::string& id, const std::string& status) {
  nomad::AllocationStub a;
  a.id = id;
  a.task_group = "hello-green";
  a.client_status = status;
  a.desired_status = "run";
  return a;
}

consul::ServiceEntry Instance(const std::string& id, const std::string& check_status,
                              const std::string& check_output) {
  consul::ServiceEntry e;
  e.service.id = id;
  e.service.tags = {"standby"};
  e.service.port = 8080;
  consul::HealthCheck c;
  c.check_id = "service:" + id;
  c.service_id = id;
  c.status = check_status;
  c.output = check_output;
  e.checks.push_back(c);
  return e;
}

WatchTarget Hello() {
  return {"default", "hello", "hello"};
}
WatchTarget Other() {
  return {"default", "other", "other"};
}

class ProgressWatchesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ON_CALL(nomad_, JobAllocations(_, _))
        .WillByDefault(Invoke([this](const std::string& job, const nomad::BlockingQuery& bq)
                                  -> clients::ApiResult<MockNomadClient::Allocs> {
          auto r = allocs_.Get(job, consul::QueryOptions{bq.index, bq.wait, bq.cancel});
          if (!r.ok()) return r.error();
          return MockNomadClient::Allocs{r.value().value, r.value().meta.index};
        }));
    ON_CALL(consul_, HealthService(_, _, _))
        .WillByDefault(
            Invoke([this](const std::string& service, const consul::HealthServiceOptions& options,
                          const consul::QueryOptions& q) {
              {
                std::lock_guard lock(mu_);
                health_options_.push_back(options);
              }
              return health_.Get(service, q);
            }));
    ON_CALL(consul_, KvList(_, _))
        .WillByDefault(Invoke([this](const std::string& prefix, const consul::QueryOptions& q) {
          return kv_.Get(prefix, q);
        }));
    options_.wait = std::chrono::seconds(10);
    options_.min_interval = milliseconds(0);
    options_.error_backoff = {milliseconds(1), milliseconds(10), 2.0, 0.5};
  }
  void TearDown() override {
    runtime_.reset();
    watches_.reset();
  }

  ProgressWatches& Make() {
    watches_ = std::make_unique<ProgressWatches>(
        consul_,
        [this](const std::string& ns) -> nomad::NomadClient& {
          std::lock_guard lock(mu_);
          namespaces_.push_back(ns);
          return nomad_;
        },
        [this](const std::string& rollout) {
          std::lock_guard lock(mu_);
          ++enqueued_[rollout];
        },
        options_, &metrics_);
    return *watches_;
  }

  int Enqueued(const std::string& rollout) {
    std::lock_guard lock(mu_);
    return enqueued_[rollout];
  }
  std::string Metrics() { return SerializeMetrics(*metrics_.registry()); }
  // Every watch of target has handled the latest answer (enqueues included): its current
  // query was sent with the source's current index.
  bool Settled(const WatchTarget& t) {
    return allocs_.Queried(t.nomad_job) >= allocs_.Index(t.nomad_job) &&
           health_.Queried(t.service) >= health_.Index(t.service) &&
           kv_.Queried("rollouts/routers/") >= kv_.Index("rollouts/routers/");
  }

  NiceMock<MockConsulClient> consul_;
  NiceMock<MockNomadClient> nomad_;
  FakeSource<std::vector<nomad::AllocationStub>> allocs_;
  FakeSource<std::vector<consul::ServiceEntry>> health_;
  FakeSource<std::vector<consul::KvPair>> kv_;
  ProgressWatchOptions options_;
  ControllerMetrics metrics_;
  std::mutex mu_;
  std::map<std::string, int> enqueued_;
  std::vector<consul::HealthServiceOptions> health_options_;
  std::vector<std::string> namespaces_;
  std::unique_ptr<ProgressWatches> watches_;
  std::unique_ptr<ControllerRuntime> runtime_;
};

TEST_F(ProgressWatchesTest, AChangeOnTheWatchedJobEnqueuesOnlyItsRollout) {
  allocs_.Set("hello", {Alloc("a1", "pending")});
  allocs_.Set("other", {Alloc("o1", "running")});
  auto& w = Make();
  w.Track("a", Hello());
  w.Track("b", Other());
  // The first answer of each new watch enqueues its rollouts once (the gap between the
  // reconcile and the watch's first read).
  ASSERT_TRUE(Eventually([&] { return Settled(Hello()) && Settled(Other()); }));
  const int a0 = Enqueued("a");
  const int b0 = Enqueued("b");

  allocs_.Set("hello", {Alloc("a1", "running")});
  ASSERT_TRUE(Eventually([&] { return Enqueued("a") == a0 + 1; }));
  allocs_.Set("other", {Alloc("o1", "failed")});
  ASSERT_TRUE(Eventually([&] { return Enqueued("b") == b0 + 1; }));
  EXPECT_EQ(Enqueued("a"), a0 + 1);  // b's job changing did not wake a

  std::lock_guard lock(mu_);
  EXPECT_EQ(namespaces_, std::vector<std::string>({"default", "default"}));
}

TEST_F(ProgressWatchesTest, HealthIsWatchedUnfilteredAndOnlyRealChangesEnqueue) {
  health_.Set("hello", {Instance("i1", "critical", "connection refused")});
  auto& w = Make();
  w.Track("a", Hello());
  ASSERT_TRUE(Eventually([&] { return w.Covered("a") && Settled(Hello()); }));
  const int a0 = Enqueued("a");

  // Only the check output moves: the index does, the content that matters does not.
  health_.Set("hello", {Instance("i1", "critical", "connection refused (again)")});
  const uint64_t output_index = health_.Index("hello");
  ASSERT_TRUE(Eventually([&] { return health_.Queried("hello") >= output_index; }));
  health_.Set("hello", {Instance("i1", "passing", "HTTP 200")});
  ASSERT_TRUE(Eventually([&] { return Enqueued("a") == a0 + 1; }));
  const uint64_t passing_index = health_.Index("hello");
  ASSERT_TRUE(Eventually([&] { return health_.Queried("hello") >= passing_index; }));
  EXPECT_EQ(Enqueued("a"), a0 + 1);

  std::lock_guard lock(mu_);
  ASSERT_FALSE(health_options_.empty());
  for (const auto& o : health_options_) {
    EXPECT_EQ(o.tag, "");  // docs/design.md: no tag filter in blocking health queries
    EXPECT_FALSE(o.passing);
  }
}

TEST_F(ProgressWatchesTest, RouterReportsWakeEveryRolloutInProgress) {
  auto& w = Make();
  w.Track("a", Hello());
  w.Track("b", Other());
  ASSERT_TRUE(Eventually([&] { return Settled(Hello()) && Settled(Other()); }));
  const int a0 = Enqueued("a");
  const int b0 = Enqueued("b");
  consul::KvPair report;
  report.key = "rollouts/routers/r1";
  report.modify_index = 42;
  report.session = "s1";
  kv_.Set("rollouts/routers/", {report});
  ASSERT_TRUE(Eventually([&] { return Enqueued("a") == a0 + 1 && Enqueued("b") == b0 + 1; }));
}

TEST_F(ProgressWatchesTest, TwoRolloutsOnOneJobShareItsWatches) {
  auto& w = Make();
  w.Track("a", Hello());
  w.Track("b", Hello());
  EXPECT_EQ(w.RunningWatches(),
            std::vector<std::string>({"allocations default/hello", "health hello", "routers"}));
  EXPECT_EQ(w.Subscribers("allocations default/hello"), std::set<std::string>({"a", "b"}));
  ASSERT_TRUE(Eventually([&] { return Settled(Hello()); }));
  const int a0 = Enqueued("a");
  const int b0 = Enqueued("b");
  allocs_.Set("hello", {Alloc("x", "running")});
  ASSERT_TRUE(Eventually([&] { return Enqueued("a") == a0 + 1 && Enqueued("b") == b0 + 1; }));

  w.Untrack("a");  // b still needs them
  EXPECT_EQ(w.RunningWatches().size(), 3u);
  EXPECT_EQ(w.Subscribers("health hello"), std::set<std::string>({"b"}));
  w.Untrack("b");  // the last one: cancelled and joined before Untrack returns
  EXPECT_TRUE(w.RunningWatches().empty());
  const int calls = allocs_.Calls("hello");
  allocs_.Set("hello", {Alloc("x", "failed")});
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(allocs_.Calls("hello"), calls);
  EXPECT_FALSE(w.Covered("b"));
}

TEST_F(ProgressWatchesTest, ANewTargetMovesTheSubscription) {
  auto& w = Make();
  w.Track("a", Hello());
  w.Track("a", Other());  // the spec now names another job and service
  EXPECT_EQ(w.RunningWatches(),
            std::vector<std::string>({"allocations default/other", "health other", "routers"}));
}

TEST_F(ProgressWatchesTest, ErrorsBackOffWithJitterAreCountedAndFallBackToPolling) {
  options_.error_backoff = {milliseconds(100), milliseconds(1000), 2.0, 0.5};
  options_.uniform01 = [] { return 0.5; };
  std::vector<milliseconds> sleeps;
  options_.sleep = [&](milliseconds d, const http::CancelToken& cancel) {
    std::lock_guard lock(mu_);
    sleeps.push_back(d);
    return !cancel.cancelled();
  };
  clients::ApiError timeout{clients::ApiErrorKind::kTransport, 0, "GET /v1/job/hello/allocations",
                            "timeout: no response in 35s"};
  allocs_.FailNext("hello", 3, timeout);
  auto& w = Make();
  w.Track("a", Hello());
  EXPECT_FALSE(w.Covered("a"));
  ASSERT_TRUE(Eventually([&] { return w.Covered("a"); }));
  {
    std::lock_guard lock(mu_);
    // 100, 200, 400 ms doubled per error, each drawn from [d/2, d] (here 3/4 d).
    EXPECT_EQ(sleeps,
              std::vector<milliseconds>({milliseconds(75), milliseconds(150), milliseconds(300)}));
  }
  EXPECT_THAT(Metrics(),
              HasSubstr("rollouts_watch_errors_total{kind=\"transport\",watch=\"allocations\"} 3"));
  EXPECT_GE(allocs_.Calls("hello"), 4);
  ASSERT_TRUE(Eventually([&] { return Settled(Hello()); }));

  // A live watch that starts failing hands its rollouts back to the short poll once.
  const int a0 = Enqueued("a");
  allocs_.FailNext("hello", 1,
                   clients::ApiError{clients::ApiErrorKind::kUnavailable, 500,
                                     "GET /v1/job/hello/allocations", "no leader"});
  allocs_.Set("hello", {Alloc("x", "running")});  // wake the blocked query
  // One enqueue for the change, one for the hand-back, in either order.
  ASSERT_TRUE(Eventually([&] { return Enqueued("a") == a0 + 2; }));
  ASSERT_TRUE(Eventually([&] { return w.Covered("a"); }));
  EXPECT_THAT(
      Metrics(),
      HasSubstr("rollouts_watch_errors_total{kind=\"unavailable\",watch=\"allocations\"} 1"));
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(sleeps.back(), milliseconds(75));  // the backoff starts over after a success
  }
}

TEST_F(ProgressWatchesTest, TheCapLeavesExtraRolloutsPolled) {
  options_.max_watches = 3;
  auto& w = Make();
  w.Track("a", Hello());
  w.Track("b", Other());  // shares routers; its job and service watches do not fit
  EXPECT_EQ(w.RunningWatches().size(), 3u);
  ASSERT_TRUE(Eventually([&] { return w.Covered("a"); }));
  EXPECT_FALSE(w.Covered("b"));
  w.Untrack("a");
  w.Track("b", Other());  // room again
  ASSERT_TRUE(Eventually([&] { return w.Covered("b"); }));
}

TEST_F(ProgressWatchesTest, FreshnessIsExportedWhileWatchesRunAndForgottenAfter) {
  auto& w = Make();
  w.Track("a", Hello());
  ASSERT_TRUE(Eventually([&] { return w.Covered("a"); }));
  EXPECT_THAT(Metrics(),
              HasSubstr("rollouts_watch_last_success_timestamp_seconds{watch=\"allocations\"}"));
  EXPECT_THAT(Metrics(), HasSubstr("rollouts_watch_staleness_seconds{watch=\"health\"}"));
  w.Untrack("a");
  // No rollout in progress: no series that would grow stale and page someone.
  EXPECT_THAT(Metrics(), Not(HasSubstr("watch=\"allocations\"")));
  EXPECT_THAT(Metrics(), Not(HasSubstr("rollouts_watch_staleness_seconds{watch=\"health\"}")));
}

TEST_F(ProgressWatchesTest, AWatchWithoutAnAnswerForLongerThanItsWaitIsStalled) {
  auto& w = Make();
  EXPECT_EQ(w.Stalled(std::chrono::steady_clock::now(), milliseconds(1)), std::nullopt);
  w.Track("a", Hello());
  ASSERT_TRUE(Eventually([&] { return w.Covered("a"); }));
  const auto now = std::chrono::steady_clock::now();
  // Every watch answered just now: none is stalled.
  EXPECT_EQ(w.Stalled(now, std::chrono::minutes(1)), std::nullopt);
  // Seen from 10 minutes later (blocked queries that never came back): stalled, named.
  auto stalled = w.Stalled(now + std::chrono::minutes(10), std::chrono::minutes(1));
  ASSERT_TRUE(stalled.has_value());
  EXPECT_THAT(*stalled, ::testing::ContainsRegex("^(allocations default/hello|health hello|"
                                                 "routers): no answer for 6[0-9][0-9] s$"));
  w.Untrack("a");
  EXPECT_EQ(w.Stalled(now + std::chrono::minutes(10), std::chrono::minutes(1)), std::nullopt);
}

// --- Through the runtime ---------------------------------------------------------------

class RuntimeProgressTest : public ProgressWatchesTest {
 protected:
  void StartRuntime(bool with_nomad) {
    consul::KvPair spec_a;
    spec_a.key = "rollouts/spec/a";
    spec_a.modify_index = 5;
    consul::KvPair spec_b = spec_a;
    spec_b.key = "rollouts/spec/b";
    kv_.Set("rollouts/spec/", {spec_a, spec_b});
    RuntimeOptions options;
    options.workers = 2;
    options.resync = std::chrono::hours(1);
    options.watch_wait = std::chrono::seconds(10);
    options.watch_min_interval = milliseconds(1);
    options.queue.backoff.base = milliseconds(1);
    options.queue.bucket.qps = 0;
    options.progress = options_;
    options.unwatched_poll = unwatched_poll_;
    options.watch_slack = watch_slack_;
    ProgressWatches::NomadFor nomad;
    if (with_nomad) nomad = [this](const std::string&) -> nomad::NomadClient& { return nomad_; };
    runtime_ = std::make_unique<ControllerRuntime>(
        consul_,
        [this](const std::string& name, const std::shared_ptr<http::CancelToken>&) {
          std::lock_guard lock(mu_);
          ++reconciles_[name];
          ReconcileResult r;
          r.requeue_after = std::chrono::hours(1);  // only watches bring it back
          if (in_progress_[name]) r.progress = Hello();
          return r;
        },
        options, &metrics_, [this] { return leader_.load(); }, nomad);
    runtime_->Start();
  }
  int Reconciles(const std::string& name) {
    std::lock_guard lock(mu_);
    return reconciles_[name];
  }
  void SetInProgress(const std::string& name, bool v) {
    std::lock_guard lock(mu_);
    in_progress_[name] = v;
  }

  std::map<std::string, int> reconciles_;
  std::map<std::string, bool> in_progress_;
  std::atomic<bool> leader_{true};
  milliseconds unwatched_poll_{std::chrono::hours(1)};
  milliseconds watch_slack_{std::chrono::seconds(30)};
};

TEST_F(RuntimeProgressTest, AWatchedChangeReconcilesTheRolloutAndFinishingStopsTheWatches) {
  SetInProgress("a", true);
  StartRuntime(true);
  auto* w = runtime_->progress_watches();
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(Eventually([&] { return Reconciles("b") == 1 && w->Covered("a"); }));
  EXPECT_EQ(w->Subscribers("allocations default/hello"), std::set<std::string>({"a"}));
  ASSERT_TRUE(Eventually([&] {
    return Settled(Hello()) && runtime_->queue().Len() == 0 &&
           runtime_->queue().NumProcessing() == 0;
  }));
  const int a0 = Reconciles("a");
  EXPECT_GE(a0, 2);  // the first reconcile, then the first answers of the new watches

  allocs_.Set("hello", {Alloc("a1", "running")});  // e.g. the standby allocation started
  ASSERT_TRUE(Eventually([&] { return Reconciles("a") == a0 + 1; }));
  EXPECT_EQ(Reconciles("b"), 1);  // b is not in progress: not woken

  SetInProgress("a", false);  // the next reconcile finds it finished
  health_.Set("hello", {Instance("i1", "passing", "")});
  ASSERT_TRUE(Eventually([&] { return Reconciles("a") == a0 + 2; }));
  ASSERT_TRUE(Eventually([&] { return w->RunningWatches().empty(); }));
}

TEST_F(RuntimeProgressTest, LosingLeadershipStopsTheWatches) {
  SetInProgress("a", true);
  StartRuntime(true);
  auto* w = runtime_->progress_watches();
  ASSERT_TRUE(Eventually([&] { return w->Covered("a"); }));
  leader_ = false;
  runtime_->LeadershipLost();
  EXPECT_TRUE(w->RunningWatches().empty());
}

TEST_F(RuntimeProgressTest, WithoutLiveWatchesARolloutInProgressIsPolled) {
  unwatched_poll_ = milliseconds(5);
  SetInProgress("a", true);
  StartRuntime(false);  // no Nomad client: no progress watches
  EXPECT_EQ(runtime_->progress_watches(), nullptr);
  // The reconcile asked for an hour; the runtime polls it at unwatched_poll instead.
  ASSERT_TRUE(Eventually([&] { return Reconciles("a") >= 3; }));
  EXPECT_EQ(Reconciles("b"), 1);
}

TEST_F(RuntimeProgressTest, AStalledProgressWatchMakesTheControllerNotReadyUntilItAnswers) {
  options_.wait = milliseconds(100);  // progress watches answer at least every 100 ms
  options_.error_backoff = {milliseconds(20), milliseconds(20), 2.0, 0.0};
  watch_slack_ = milliseconds(0);
  // The job's allocations keep failing for ~1 s (50 errors, 20 ms apart).
  allocs_.FailNext("hello", 50,
                   clients::ApiError{clients::ApiErrorKind::kUnavailable, 500,
                                     "GET /v1/job/hello/allocations", "no leader"});
  StartRuntime(true);
  ASSERT_TRUE(Eventually([&] { return runtime_->WatchesLive().ready; }));  // nothing in progress
  SetInProgress("a", true);
  runtime_->Enqueue("a");
  ASSERT_TRUE(Eventually([&] {
    auto r = runtime_->WatchesLive();
    return !r.ready && r.reason.find("progress watch allocations default/hello") == 0;
  })) << runtime_->WatchesLive().reason;
  // Once the watch answers again, the controller is ready again.
  ASSERT_TRUE(Eventually([&] { return runtime_->WatchesLive().ready; }))
      << runtime_->WatchesLive().reason;
}

}  // namespace
}  // namespace rollouts::controller
