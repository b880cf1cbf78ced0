// rollout-router's metrics move on the real code paths: NginxApplier (nginx -t / reload
// results), RouterCore (applies, what nginx runs per service, the last-good rule) and
// RouterRunner against a mock Consul (watch errors and freshness, report writes, verify
// timeouts, readiness); and /metrics serves them with the process_* series.
#include "router/router_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>

#include "controller/http_endpoints.h"
#include "router/nginx_applier.h"
#include "router/router_core.h"
#include "router/router_runner.h"
#include "tests/consul/mock_consul_client.h"
#include "tests/router/test_instances.h"

namespace rollouts::router {
namespace {

namespace fs = std::filesystem;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Not;
using ::testing::Return;

// The value of the series of `name` whose labels are exactly `labels`; nullopt if absent.
std::optional<double> Value(RouterMetrics& m, const std::string& name,
                            const std::map<std::string, std::string>& labels = {}) {
  for (const auto& family : m.registry()->Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& l : metric.label) have[l.name] = l.value;
      if (have != labels) continue;
      return family.type == ::prometheus::MetricType::Counter ? metric.counter.value
                                                              : metric.gauge.value;
    }
  }
  return std::nullopt;
}

double Reloads(RouterMetrics& m, const std::string& result) {
  return Value(m, "rollouts_router_nginx_reloads_total", {{"result", result}}).value_or(-1);
}
double Applies(RouterMetrics& m, const std::string& result) {
  return Value(m, "rollouts_router_config_applies_total", {{"result", result}}).value_or(-1);
}
double Servers(RouterMetrics& m, const std::string& service, const std::string& route) {
  return Value(m, "rollouts_router_upstream_servers", {{"service", service}, {"route", route}})
      .value_or(-1);
}

// nginx stand-in: `-t` fails when test_ok is false, `-s reload` when reload_ok is false.
class ScriptedNginx : public CommandRunner {
 public:
  int Run(const std::vector<std::string>& argv, std::string* output) override {
    bool is_test = std::find(argv.begin(), argv.end(), "-t") != argv.end();
    if (is_test && !test_ok) {
      *output = "nginx: [emerg] invalid number of arguments in \"server\" directive";
      return 1;
    }
    if (!is_test && !reload_ok) {
      *output = "nginx: [error] invalid PID number \"\" in nginx.pid";
      return 1;
    }
    return 0;
  }
  bool test_ok = true;
  bool reload_ok = true;
};

fs::path TempDir(const std::string& what) {
  fs::path p = fs::temp_directory_path() /
               ("router-metrics-" + std::to_string(::getpid()) + "-" + what + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

using testing::Inst;

TEST(RouterMetrics, FixedSeriesExistAtZeroBeforeAnything) {
  RouterMetrics m;
  for (const char* r : {"ok", "test_failed", "reload_failed"}) EXPECT_EQ(Reloads(m, r), 0) << r;
  for (const char* r : {"changed", "unchanged", "failed"}) EXPECT_EQ(Applies(m, r), 0) << r;
  EXPECT_EQ(Value(m, "rollouts_router_last_apply_success_timestamp_seconds"), 0);
  EXPECT_EQ(Value(m, "rollouts_router_last_apply_failed"), 0);
  EXPECT_EQ(Value(m, "rollouts_router_build_info", {{"version", ROLLOUTS_VERSION}}), 1);
  EXPECT_EQ(Value(m, "rollouts_router_watch_errors_total", {{"watch", "status"}}), 0);
  m.AddService("hello");
  EXPECT_EQ(Servers(m, "hello", "live"), 0);
  EXPECT_EQ(Value(m, "rollouts_router_kept_last_good_total", {{"service", "hello"}}), 0);
  EXPECT_EQ(
      Value(m, "rollouts_router_watch_errors_total", {{"watch", "health"}, {"service", "hello"}}),
      0);
  EXPECT_FALSE(Value(m, "rollouts_router_active_version_info", {{"service", "hello"}}));
}

class ApplierMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir("applier");
    applier_ =
        std::make_unique<NginxApplier>(NginxSetup{"/usr/sbin/nginx", (dir_ / "nginx.conf").string(),
                                                  "", (dir_ / "routes.conf").string()},
                                       nginx_, &metrics_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Routes() { return ReadFileOrEmpty((dir_ / "routes.conf").string()); }

  fs::path dir_;
  ScriptedNginx nginx_;
  RouterMetrics metrics_;
  std::unique_ptr<NginxApplier> applier_;
};

TEST_F(ApplierMetricsTest, ATestFailureCountsTestFailedAndKeepsTheLastConfig) {
  ASSERT_EQ(applier_->Apply("good").outcome, ApplyResult::Outcome::kChanged);
  EXPECT_EQ(Reloads(metrics_, "ok"), 1);
  nginx_.test_ok = false;
  EXPECT_EQ(applier_->Apply("bad").outcome, ApplyResult::Outcome::kRejected);
  EXPECT_EQ(Reloads(metrics_, "test_failed"), 1);
  EXPECT_EQ(Reloads(metrics_, "ok"), 1);
  EXPECT_EQ(Reloads(metrics_, "reload_failed"), 0);
  EXPECT_EQ(Routes(), "good");
  // Unchanged content runs no nginx command and counts nothing.
  nginx_.test_ok = true;
  EXPECT_EQ(applier_->Apply("good").outcome, ApplyResult::Outcome::kUnchanged);
  EXPECT_EQ(Reloads(metrics_, "ok") + Reloads(metrics_, "test_failed"), 2);
}

TEST_F(ApplierMetricsTest, AFailedReloadIsCountedAndRetriedForTheSameContent) {
  ASSERT_EQ(applier_->Apply("one").outcome, ApplyResult::Outcome::kChanged);
  nginx_.reload_ok = false;
  EXPECT_EQ(applier_->Apply("two").outcome, ApplyResult::Outcome::kApplyFailed);
  EXPECT_EQ(Reloads(metrics_, "reload_failed"), 1);
  // nginx never loaded "two": the same routes must be reloaded again, not taken as live.
  nginx_.reload_ok = true;
  EXPECT_EQ(applier_->Apply("two").outcome, ApplyResult::Outcome::kChanged);
  EXPECT_EQ(Reloads(metrics_, "ok"), 2);
  EXPECT_EQ(applier_->Apply("two").outcome, ApplyResult::Outcome::kUnchanged);
  EXPECT_EQ(Reloads(metrics_, "ok"), 2);
}

class CoreMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir("core");
    applier_ =
        std::make_unique<NginxApplier>(NginxSetup{"/usr/sbin/nginx", (dir_ / "nginx.conf").string(),
                                                  "", (dir_ / "routes.conf").string()},
                                       nginx_, &metrics_);
    core_ = std::make_unique<RouterCore>(
        "r1",
        std::vector<RoutedService>{
            {"hello", "", "127.0.0.1:8080", "127.0.0.1:8081", "active", "standby"},
            {"api", "", "127.0.0.1:8090", "", "active", "standby"}},
        *applier_, &metrics_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  ScriptedNginx nginx_;
  RouterMetrics metrics_;
  std::unique_ptr<NginxApplier> applier_;
  std::unique_ptr<RouterCore> core_;
  std::chrono::system_clock::time_point t0_{std::chrono::seconds(1700000000)};
};

TEST_F(CoreMetricsTest, AnAppliedSyncSetsServersVersionAndTimestamp) {
  core_->SetInstances(
      "hello",
      {Inst("a", 1, "active", "v1"), Inst("b", 2, "active", "v1"), Inst("c", 3, "standby", "v2")},
      7);
  core_->SetInstances("api", {Inst("d", 4, "active", "v9"), Inst("e", 5, "standby", "v9")}, 7);
  core_->SetDeclaredVersion("hello", "v1");
  core_->Sync(t0_);
  EXPECT_EQ(Applies(metrics_, "changed"), 1);
  EXPECT_EQ(Value(metrics_, "rollouts_router_last_apply_success_timestamp_seconds"), 1700000000);
  EXPECT_EQ(Servers(metrics_, "hello", "live"), 2);
  EXPECT_EQ(Servers(metrics_, "hello", "preview"), 1);
  EXPECT_EQ(Servers(metrics_, "api", "live"), 1);
  EXPECT_EQ(Servers(metrics_, "api", "preview"), 0) << "api has no preview listener";
  EXPECT_EQ(Value(metrics_, "rollouts_router_active_version_info",
                  {{"service", "hello"}, {"version", "v1"}}),
            1);
  // The same view again: nginx already runs it; the apply still counts as a success.
  core_->Sync(t0_ + std::chrono::seconds(5));
  EXPECT_EQ(Applies(metrics_, "unchanged"), 1);
  EXPECT_EQ(Value(metrics_, "rollouts_router_last_apply_success_timestamp_seconds"), 1700000005);
  EXPECT_EQ(Reloads(metrics_, "ok"), 1);
}

TEST_F(CoreMetricsTest, TheVersionInfoSeriesFollowsTheFlipWithOneSeriesPerService) {
  core_->SetInstances("hello", {Inst("a", 1, "active", "v1"), Inst("b", 2, "standby", "v2")}, 7);
  core_->SetDeclaredVersion("hello", "v1");
  core_->Sync(t0_);
  core_->SetInstances("hello", {Inst("a", 1, "standby", "v1"), Inst("b", 2, "active", "v2")}, 8);
  core_->SetDeclaredVersion("hello", "v2");
  core_->Sync(t0_);
  EXPECT_EQ(Value(metrics_, "rollouts_router_active_version_info",
                  {{"service", "hello"}, {"version", "v2"}}),
            1);
  EXPECT_FALSE(Value(metrics_, "rollouts_router_active_version_info",
                     {{"service", "hello"}, {"version", "v1"}}))
      << "the old version's series must be removed";
}

TEST_F(CoreMetricsTest, KeepingTheLastGoodSetIsCountedAndHeld) {
  core_->SetInstances("hello", {Inst("a", 1, "active", "v1")}, 7);
  core_->SetDeclaredVersion("hello", "v1");
  core_->Sync(t0_);
  const std::map<std::string, std::string> hello{{"service", "hello"}};
  EXPECT_EQ(Value(metrics_, "rollouts_router_kept_last_good_total", hello), 0);
  // Mid-flip: the controller declared v2, but no v2 instance carries the active tag yet.
  core_->SetDeclaredVersion("hello", "v2");
  core_->Sync(t0_);
  core_->Sync(t0_);
  EXPECT_EQ(Value(metrics_, "rollouts_router_kept_last_good_total", hello), 2);
  EXPECT_EQ(Value(metrics_, "rollouts_router_holding_last_good", hello), 1);
  EXPECT_EQ(Servers(metrics_, "hello", "live"), 1) << "the kept set is what nginx runs";
  EXPECT_EQ(Value(metrics_, "rollouts_router_active_version_info",
                  {{"service", "hello"}, {"version", "v1"}}),
            1);
  EXPECT_EQ(Value(metrics_, "rollouts_router_kept_last_good_total", {{"service", "api"}}), 0)
      << "api never had a last good set: an empty selection is not 'kept'";
  core_->SetInstances("hello", {Inst("b", 2, "active", "v2")}, 8);
  core_->Sync(t0_);
  EXPECT_EQ(Value(metrics_, "rollouts_router_holding_last_good", hello), 0);
  EXPECT_EQ(Value(metrics_, "rollouts_router_kept_last_good_total", hello), 2);
}

TEST_F(CoreMetricsTest, ARejectedConfigCountsAFailedApplyAndLeavesWhatNginxRuns) {
  core_->SetInstances("hello", {Inst("a", 1, "active", "v1")}, 7);
  core_->SetDeclaredVersion("hello", "v1");
  core_->Sync(t0_);
  nginx_.test_ok = false;
  core_->SetInstances("hello", {Inst("b", 2, "active", "v2"), Inst("c", 3, "active", "v2")}, 9);
  core_->SetDeclaredVersion("hello", "v2");
  core_->Sync(t0_ + std::chrono::seconds(30));
  EXPECT_EQ(Reloads(metrics_, "test_failed"), 1);
  EXPECT_EQ(Applies(metrics_, "failed"), 1);
  EXPECT_EQ(Value(metrics_, "rollouts_router_last_apply_success_timestamp_seconds"), 1700000000)
      << "a failed apply does not move the last success";
  EXPECT_EQ(Value(metrics_, "rollouts_router_last_apply_failed"), 1);
  EXPECT_EQ(Servers(metrics_, "hello", "live"), 1);
  EXPECT_EQ(Value(metrics_, "rollouts_router_active_version_info",
                  {{"service", "hello"}, {"version", "v1"}}),
            1);
  EXPECT_THAT(ReadFileOrEmpty((dir_ / "routes.conf").string()), HasSubstr("127.0.0.1:1 "));
  EXPECT_THAT(ReadFileOrEmpty((dir_ / "routes.conf").string()), Not(HasSubstr("127.0.0.1:2 ")));
  // nginx accepts the same view later: the flag clears and the new set is what it runs.
  nginx_.test_ok = true;
  core_->Sync(t0_ + std::chrono::seconds(60));
  EXPECT_EQ(Value(metrics_, "rollouts_router_last_apply_failed"), 0);
  EXPECT_EQ(Servers(metrics_, "hello", "live"), 2);
  EXPECT_EQ(Value(metrics_, "rollouts_router_last_apply_success_timestamp_seconds"), 1700000060);
}

TEST(RouterMetricsEndpoint, MetricsServesRouterAndProcessSeriesAndRefreshesStaleness) {
  RouterMetrics m;
  m.AddService("hello");
  auto t = std::chrono::system_clock::now();
  m.RecordWatchSuccess("health", "hello", t - std::chrono::seconds(42));
  controller::HealthEndpointsOptions options;
  options.registry = m.registry();
  options.before_scrape = [&m, t] { m.UpdateWatchStaleness(t); };
  http::ServerRequest request;
  request.method = "GET";
  request.path = "/metrics";
  http::Response r = controller::HandleHealthRequest(options, request);
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("rollouts_router_nginx_reloads_total{result=\"test_failed\"} 0"));
  EXPECT_THAT(
      r.body,
      HasSubstr("rollouts_router_watch_staleness_seconds{service=\"hello\",watch=\"health\"} 42"));
  EXPECT_THAT(r.body, HasSubstr("process_resident_memory_bytes "));
}

// --- RouterRunner against a mock Consul ---

using consul::testing::MockConsulClient;

// A blocking query: answers at once when the caller's index is behind `index`, else
// waits (bounded by the query's wait, like Consul) and answers unchanged.
template <typename T>
consul::ApiResult<consul::QueryResult<T>> Blocking(const consul::QueryOptions& q, uint64_t index,
                                                   T value) {
  if (q.index >= index && q.cancel) q.cancel->SleepFor(q.wait);
  if (q.cancel && q.cancel->cancelled()) {
    return consul::ApiError{consul::ApiErrorKind::kCancelled, 0, "", "cancelled"};
  }
  consul::QueryResult<T> r;
  r.value = std::move(value);
  r.meta.index = index;
  return r;
}

consul::ServiceEntry Entry(const std::string& id, int port, const std::string& tag,
                           const std::string& version) {
  consul::ServiceEntry e;
  e.node.address = "127.0.0.1";
  e.service.id = id;
  e.service.service = "hello";
  e.service.address = "127.0.0.1";
  e.service.port = port;
  e.service.tags = {tag};
  e.service.meta["version"] = version;
  consul::HealthCheck check;
  check.check_id = "service:" + id;
  check.service_id = id;
  check.status = "passing";
  e.checks.push_back(check);
  return e;
}

bool WaitUntil(const std::function<bool()>& condition) {
  for (int i = 0; i < 500; ++i) {  // at most 10 s
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

TEST(RouterRunnerMetrics, WatchErrorsFreshnessReportWritesVerifyTimeoutsAndReadiness) {
  fs::path dir = TempDir("runner");
  ScriptedNginx nginx;
  RouterMetrics metrics;
  NginxApplier applier(
      {"/usr/sbin/nginx", (dir / "nginx.conf").string(), "", (dir / "routes.conf").string()}, nginx,
      &metrics);
  // Nothing listens on port 9 of the loopback: nginx "never serves" the new set.
  RouterCore core("r1", {{"hello", "", "127.0.0.1:9", "", "active", "standby"}}, applier, &metrics);
  ::testing::NiceMock<MockConsulClient> consul;
  std::atomic<int> health_calls{0};
  EXPECT_CALL(consul, HealthService("hello", _, _))
      .WillRepeatedly(
          Invoke([&](const std::string&, const consul::HealthServiceOptions&,
                     const consul::QueryOptions& q)
                     -> consul::ApiResult<consul::QueryResult<std::vector<consul::ServiceEntry>>> {
            if (health_calls++ == 0) {
              return consul::ApiError{consul::ApiErrorKind::kUnavailable, 500, "GET /v1/health",
                                      "No cluster leader"};
            }
            return Blocking<std::vector<consul::ServiceEntry>>(q, 5,
                                                               {Entry("a", 21001, "active", "v1")});
          }));
  EXPECT_CALL(consul, KvList("rollouts/status/", _))
      .WillRepeatedly(Invoke([](const std::string&, const consul::QueryOptions& q) {
        consul::KvPair kv;
        kv.key = "rollouts/status/hello";
        kv.value = R"({"activeVersion":"v1"})";
        return Blocking<std::vector<consul::KvPair>>(q, 3, {kv});
      }));
  EXPECT_CALL(consul, SessionCreate(_)).WillRepeatedly(Return(std::string("sess-1")));
  EXPECT_CALL(consul, SessionDestroy("sess-1")).WillRepeatedly(Return(true));
  EXPECT_CALL(consul, SessionRenew(_)).WillRepeatedly(Return(consul::SessionEntry{}));
  std::atomic<int> puts{0};
  EXPECT_CALL(consul, KvPut("rollouts/routers/r1", _, _))
      .WillRepeatedly(
          Invoke([&](const std::string&, const std::string&,
                     const consul::PutOptions&) -> consul::ApiResult<bool> { return puts++ > 0; }));

  RouterRunnerOptions options;
  options.router_id = "r1";
  options.blocking_wait = std::chrono::milliseconds(50);
  options.verify_timeout = std::chrono::milliseconds(100);
  RouterRunner runner(consul, core, options, &metrics);
  auto stop = std::make_shared<http::CancelToken>();
  std::thread run([&] { runner.Run(stop); });

  const std::map<std::string, std::string> health{{"watch", "health"}, {"service", "hello"}};
  auto report = [&](const char* r) {
    return Value(metrics, "rollouts_router_report_writes_total", {{"result", r}}).value_or(-1);
  };
  bool done = WaitUntil([&] {
    return Value(metrics, "rollouts_router_watch_errors_total", health) == 1 &&
           Servers(metrics, "hello", "live") == 1 && report("ok") >= 1 && runner.ready() &&
           Value(metrics, "rollouts_router_verify_timeouts_total", {{"service", "hello"}}) >= 1;
  });
  EXPECT_TRUE(done);
  EXPECT_EQ(report("lock_held"), 1) << "the first put found the key locked";
  EXPECT_EQ(Value(metrics, "rollouts_router_watch_errors_total", {{"watch", "status"}}), 0);
  EXPECT_EQ(Value(metrics, "rollouts_router_verify_timeouts_total", {{"service", "hello"}}), 1);
  EXPECT_EQ(Value(metrics, "rollouts_router_active_version_info",
                  {{"service", "hello"}, {"version", "v1"}}),
            1);
  // Unchanged blocking answers keep the watches fresh.
  auto last = Value(metrics, "rollouts_router_watch_last_success_timestamp_seconds", health);
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(WaitUntil([&] {
    return Value(metrics, "rollouts_router_watch_last_success_timestamp_seconds", health) > *last;
  }));
  EXPECT_TRUE(
      Value(metrics, "rollouts_router_watch_last_success_timestamp_seconds", {{"watch", "status"}})
          .has_value());

  stop->Cancel();
  run.join();
  EXPECT_FALSE(runner.ready());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rollouts::router
