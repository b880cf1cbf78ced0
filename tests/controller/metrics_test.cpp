#include "controller/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "controller/api_endpoint.h"
#include "controller/process_metrics.h"
#include "reconcilers/decide.h"

namespace rollouts::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::chrono::system_clock::time_point At(int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}

class MetricsTest : public ::testing::Test {
 protected:
  std::string Text() { return SerializeMetrics(*metrics_.registry()); }
  ControllerMetrics metrics_;
};

TEST_F(MetricsTest, PhaseGaugeHasExactlyOneActivePhasePerRollout) {
  metrics_.SetRolloutPhase("hello", "Analyzing", At(1000));
  std::string text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_phase{phase=\"Analyzing\",rollout=\"hello\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_phase{phase=\"Healthy\",rollout=\"hello\"} 0"));
  EXPECT_THAT(
      text, HasSubstr("rollouts_rollout_phase_entered_timestamp_seconds{rollout=\"hello\"} 1000"));

  metrics_.SetRolloutPhase("hello", "Promoting", At(1060));
  text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_phase{phase=\"Analyzing\",rollout=\"hello\"} 0"));
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_phase{phase=\"Promoting\",rollout=\"hello\"} 1"));
  EXPECT_THAT(
      text, HasSubstr("rollouts_rollout_phase_entered_timestamp_seconds{rollout=\"hello\"} 1060"));
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_transitions_total{from=\"none\",rollout=\"hello\","
                              "to=\"Analyzing\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_transitions_total{from=\"Analyzing\",rollout="
                              "\"hello\",to=\"Promoting\"} 1"));
}

TEST_F(MetricsTest, SamePhaseAgainIsNotATransition) {
  metrics_.SetRolloutPhase("hello", "Healthy", At(10));
  metrics_.SetRolloutPhase("hello", "Healthy", At(20));
  std::string text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_transitions_total{from=\"none\",rollout=\"hello\","
                              "to=\"Healthy\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("rollouts_rollout_phase_entered_timestamp_seconds{rollout=\"hello\"} 10"));
}

TEST_F(MetricsTest, UnknownPhaseGateAndVerdictFoldIntoBoundedValues) {
  metrics_.SetRolloutPhase("hello", "SomethingNew", At(1));
  metrics_.RecordGateResult("my-custom-gate", "maybe");
  std::string text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_phase{phase=\"Unknown\",rollout=\"hello\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("SomethingNew")));
  EXPECT_THAT(text, HasSubstr("rollouts_gate_results_total{gate=\"other\",verdict=\"other\"} 1"));
}

TEST_F(MetricsTest, InfoKeepsOneSeriesPerRolloutWhenVersionsChange) {
  metrics_.SetRolloutInfo("hello", "v1", "v2");
  metrics_.SetRolloutInfo("hello", "v2", "v2");
  std::string text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_info{active_version=\"v2\",rollout=\"hello\","
                              "target_version=\"v2\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("active_version=\"v1\"")));
}

TEST_F(MetricsTest, ForgetRolloutRemovesItsSeries) {
  metrics_.SetRolloutPhase("gone", "Healthy", At(1));
  metrics_.RecordFlip("gone");
  metrics_.RecordRollback("gone", "ProbeFailed");
  metrics_.SetAnalysisValue("gone", "error-rate", 0.5);
  metrics_.SetAnalysisThreshold("gone", "error-rate", 0.01);
  metrics_.SetAnalysisFailures("gone", {{"error-rate", {2, 50, 0, 0}}});
  metrics_.SetDegradedReason("gone", "AnalysisFailed");
  metrics_.SetRolloutInfo("gone", "v1", "v1");
  metrics_.SetRolloutPhase("kept", "Healthy", At(1));
  metrics_.SetDegradedReason("kept", "ProbeFailed");
  std::string text = Text();
  for (const std::string family :
       {"rollouts_analysis_threshold{", "rollouts_analysis_failures{",
        "rollouts_analysis_last_failure_timestamp_seconds{", "rollouts_rollout_degraded{"}) {
    EXPECT_THAT(text, HasSubstr(family));
  }
  metrics_.ForgetRollout("gone");
  text = Text();
  EXPECT_THAT(text, Not(HasSubstr("rollout=\"gone\"")));
  EXPECT_THAT(text, HasSubstr("rollout=\"kept\""));
  EXPECT_THAT(text,
              HasSubstr("rollouts_rollout_degraded{reason=\"ProbeFailed\",rollout=\"kept\"} 1"));
}

TEST_F(MetricsTest, DegradedHasOneSeriesForTheCurrentReasonOnly) {
  metrics_.SetDegradedReason("hello", "AnalysisFailed");
  EXPECT_THAT(Text(), HasSubstr("rollouts_rollout_degraded{reason=\"AnalysisFailed\","
                                "rollout=\"hello\"} 1"));
  metrics_.SetDegradedReason("hello", "ProbeFailed");
  std::string text = Text();
  EXPECT_THAT(text,
              HasSubstr("rollouts_rollout_degraded{reason=\"ProbeFailed\",rollout=\"hello\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("AnalysisFailed")));
  metrics_.SetDegradedReason("hello", std::nullopt);
  EXPECT_THAT(Text(), Not(HasSubstr("rollouts_rollout_degraded{")));
}

// Every observed status re-seeds the info and degraded series with the same values; a
// scrape at any moment must still see them (a remove-then-add left a gap that made the
// crash_on_start integration test miss the info series after a restart).
TEST_F(MetricsTest, ReseedingUnchangedSeriesNeverHidesThemFromAScrape) {
  metrics_.SetRolloutInfo("hello", "v1", "v2");
  metrics_.SetDegradedReason("hello", "StandbyUnhealthy");
  std::atomic<bool> stop{false};
  std::thread seeder([&] {
    while (!stop.load()) {
      metrics_.SetRolloutInfo("hello", "v1", "v2");
      metrics_.SetDegradedReason("hello", "StandbyUnhealthy");
    }
  });
  int missing = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string text = Text();
    if (text.find("rollouts_rollout_info{active_version=\"v1\",rollout=\"hello\","
                  "target_version=\"v2\"} 1") == std::string::npos ||
        text.find("rollouts_rollout_degraded{reason=\"StandbyUnhealthy\",rollout=\"hello\"} 1") ==
            std::string::npos) {
      ++missing;
    }
  }
  stop = true;
  seeder.join();
  EXPECT_EQ(missing, 0) << "scrapes that missed a re-seeded series";
}

TEST_F(MetricsTest, ReasonCodesOutsideTheVocabularyAreOther) {
  metrics_.SetDegradedReason("hello", "the job exploded at 12:03 on node 7");
  metrics_.RecordRollback("hello", "SomethingNew");
  std::string text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_degraded{reason=\"other\",rollout=\"hello\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_rollbacks_total{reason=\"other\",rollout=\"hello\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("exploded")));
  EXPECT_THAT(text, Not(HasSubstr("SomethingNew")));
}

TEST(KnownReasonsTest, CoverEveryReasonCodeOfTheReconciler) {
  namespace reason = reconcilers::reason;
  for (std::string_view code :
       {reason::kStandbyUnhealthy, reason::kCrashLoop, reason::kProgressDeadlineExceeded,
        reason::kProbeFailed, reason::kAnalysisFailed, reason::kRouterTimeout, reason::kAborted,
        reason::kUndo, reason::kCancelled, reason::kSpecReverted, reason::kNewVersionUnhealthy,
        reason::kJobNotAllowed}) {
    EXPECT_THAT(KnownReasons(), ::testing::Contains(std::string(code)));
  }
  EXPECT_THAT(KnownReasons(), ::testing::Not(::testing::Contains("other")));
}

TEST_F(MetricsTest, AnalysisFailuresFollowTheGivenRun) {
  metrics_.SetAnalysisFailures("hello", {{"probe-error-rate", {}}});
  metrics_.SetAnalysisFailures("hello", {{"error-rate", {2, 1234.5, 1, 1200}}, {"latency", {}}});
  std::string text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_failures{metric=\"error-rate\",rollout=\"hello\","
                              "verdict=\"fail\"} 2"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_failures{metric=\"error-rate\",rollout=\"hello\","
                              "verdict=\"error\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_last_failure_timestamp_seconds{metric=\"error-"
                              "rate\",rollout=\"hello\",verdict=\"fail\"} 1234.5"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_last_failure_timestamp_seconds{metric=\"error-"
                              "rate\",rollout=\"hello\",verdict=\"error\"} 1200"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_failures{metric=\"latency\",rollout=\"hello\","
                              "verdict=\"fail\"} 0"));
  EXPECT_THAT(text, Not(HasSubstr("probe-error-rate")));
  metrics_.SetAnalysisFailures("hello", {});
  text = Text();
  EXPECT_THAT(text, Not(HasSubstr("rollouts_analysis_failures{")));
  EXPECT_THAT(text, Not(HasSubstr("rollouts_analysis_last_failure_timestamp_seconds{")));
}

TEST_F(MetricsTest, CountersAndHistogramsRecord) {
  metrics_.RecordFlip("hello");
  metrics_.RecordFlip("hello");
  metrics_.RecordRollback("hello", "AnalysisFailed");
  metrics_.SetAnalysisValue("hello", "error-rate", 0.25);
  metrics_.ObserveStepDuration("WaitingHealthy", 12);
  metrics_.RecordGateResult("metrics", "inconclusive");
  metrics_.RecordReconcile(0.02, "");
  metrics_.RecordReconcile(0.03, "conflict");
  metrics_.SetLeader(true);
  std::string text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_flips_total{rollout=\"hello\"} 2"));
  EXPECT_THAT(text,
              HasSubstr("rollouts_rollbacks_total{reason=\"AnalysisFailed\",rollout=\"hello\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr("rollouts_analysis_last_value{metric=\"error-rate\",rollout=\"hello\"} 0.25"));
  EXPECT_THAT(text, HasSubstr("rollouts_step_duration_seconds_count{step=\"WaitingHealthy\"} 1"));
  EXPECT_THAT(
      text, HasSubstr("rollouts_gate_results_total{gate=\"metrics\",verdict=\"inconclusive\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_gate_results_total{gate=\"probe\",verdict=\"pass\"} 0"));
  EXPECT_THAT(text, HasSubstr("rollouts_reconcile_total{result=\"success\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_reconcile_total{result=\"error\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_reconcile_errors_total{kind=\"conflict\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_reconcile_duration_seconds_count 2"));
  EXPECT_THAT(text, HasSubstr("rollouts_leader 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_build_info{version=\"" ROLLOUTS_VERSION "\"} 1"));
}

TEST_F(MetricsTest, WorkQueueFeedsItsMetrics) {
  WorkQueue queue({}, nullptr, &metrics_);
  queue.Add("a");
  queue.Add("b");
  std::string text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_workqueue_depth 2"));
  EXPECT_THAT(text, HasSubstr("rollouts_workqueue_adds_total 2"));
  ASSERT_EQ(queue.Get(), "a");
  queue.Done("a");
  queue.AddRateLimited("a");
  text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_workqueue_depth 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_workqueue_wait_seconds_count 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_workqueue_work_duration_seconds_count 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_workqueue_retries_total 1"));
}

TEST_F(MetricsTest, WatchStalenessGrowsFromLastSuccess) {
  metrics_.RecordWatchSuccess("spec", At(1000));
  metrics_.UpdateWatchStaleness(At(1042));
  std::string text = Text();
  EXPECT_THAT(text,
              HasSubstr("rollouts_watch_last_success_timestamp_seconds{watch=\"spec\"} 1000"));
  EXPECT_THAT(text, HasSubstr("rollouts_watch_staleness_seconds{watch=\"spec\"} 42"));
}

TEST_F(MetricsTest, ApiRequestsRefuseRawPathsAsEndpoints) {
  metrics_.ObserveApiRequest("consul", "kv_get", "200", 0.01);
  metrics_.ObserveApiRequest("consul", "/v1/kv/rollouts/spec/hello", "404", 0.01);
  metrics_.ObserveApiRequest("nomad", "job_register", "timeout", 1.0);
  metrics_.ObserveApiRequest("nomad", "job_register", "whatever happened", 1.0);
  std::string text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_api_requests_total{backend=\"consul\",code=\"200\","
                              "endpoint=\"kv_get\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_api_requests_total{backend=\"consul\",code=\"404\","
                              "endpoint=\"other\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_api_requests_total{backend=\"nomad\",code=\"timeout\","
                              "endpoint=\"job_register\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_api_requests_total{backend=\"nomad\",code=\"other\","
                              "endpoint=\"job_register\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_api_request_duration_seconds_count{backend=\"nomad\","
                              "endpoint=\"job_register\"} 2"));
  EXPECT_THAT(text, Not(HasSubstr("/v1/kv")));
}

TEST(ApiEndpointTest, ConsulTemplates) {
  using http::Method;
  EXPECT_EQ(ConsulEndpointTemplate(Method::kGet, "/v1/kv/rollouts/spec/hello"), "kv_get");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kGet, "/v1/kv/rollouts/spec/?recurse&index=42&wait=5m"),
            "kv_list_watch");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kGet, "/v1/kv/rollouts/spec/?recurse&index=0"),
            "kv_list");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kGet, "/v1/kv/rollouts/?keys&separator=/"), "kv_keys");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kPut, "/v1/kv/rollouts/leader?acquire=abc"),
            "kv_acquire");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kPut, "/v1/kv/rollouts/leader?release=abc"),
            "kv_release");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kPut, "/v1/kv/rollouts/status/x?cas=7"), "kv_cas");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kDelete, "/v1/kv/x"), "kv_delete");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kPut, "/v1/txn"), "txn");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kPut, "/v1/session/create"), "session_create");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kPut, "/v1/session/renew/9f1c"), "session_renew");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kPut, "/v1/session/destroy/9f1c"), "session_destroy");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kGet, "/v1/health/service/hello?index=9"),
            "health_service_watch");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kGet, "/v1/status/leader"), "status_leader");
  EXPECT_EQ(ConsulEndpointTemplate(Method::kGet, "/v1/agent/members"), "other");
}

TEST(ApiEndpointTest, NomadTemplates) {
  using http::Method;
  EXPECT_EQ(NomadEndpointTemplate(Method::kPost, "/v1/job/hello"), "job_register");
  EXPECT_EQ(NomadEndpointTemplate(Method::kPost, "/v1/jobs"), "job_register");
  EXPECT_EQ(NomadEndpointTemplate(Method::kGet, "/v1/job/hello?namespace=default"), "job_get");
  EXPECT_EQ(NomadEndpointTemplate(Method::kGet, "/v1/job/hello/allocations?index=12"),
            "job_allocations_watch");
  EXPECT_EQ(NomadEndpointTemplate(Method::kGet, "/v1/job/hello/deployments"), "job_deployments");
  EXPECT_EQ(NomadEndpointTemplate(Method::kDelete, "/v1/job/hello"), "job_deregister");
  EXPECT_EQ(NomadEndpointTemplate(Method::kGet, "/v1/allocation/5d0c"), "allocation_get");
  EXPECT_EQ(NomadEndpointTemplate(Method::kGet, "/v1/job/hello/weird"), "other");
  EXPECT_EQ(PrometheusEndpointTemplate(Method::kGet, "/api/v1/query?query=up"), "query");
}

class CannedClient : public http::Client {
 public:
  http::Result Send(const http::Request&) override {
    if (fail) return http::Error{http::ErrorKind::kTimeout, "slow"};
    http::Response r;
    r.status = 200;
    return r;
  }
  bool fail = false;
};

TEST_F(MetricsTest, InstrumentedClientRecordsEveryRequest) {
  auto inner = std::make_shared<CannedClient>();
  InstrumentedClient client(inner, "consul", ConsulEndpointTemplate, metrics_);
  http::Request request;
  request.target = "/v1/kv/rollouts/spec/hello";
  ASSERT_TRUE(client.Send(request).ok());
  inner->fail = true;
  ASSERT_FALSE(client.Send(request).ok());
  std::string text = Text();
  EXPECT_THAT(text, HasSubstr("rollouts_api_requests_total{backend=\"consul\",code=\"200\","
                              "endpoint=\"kv_get\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_api_requests_total{backend=\"consul\",code=\"timeout\","
                              "endpoint=\"kv_get\"} 1"));
}

}  // namespace
}  // namespace rollouts::controller

namespace rollouts::controller {
namespace {

TEST(ProcessMetrics, ExposesTheStandardProcessSeriesWithPlausibleValues) {
  ControllerMetrics metrics;
  std::string text = SerializeMetrics(*metrics.registry());
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_max_fds", "process_start_time_seconds"}) {
    EXPECT_NE(text.find(std::string("\n") + name + " "), std::string::npos) << name;
  }
  double rss = 0, open_fds = 0, max_fds = 0;
  for (const auto& f : CollectProcessMetrics()) {
    if (f.name == "process_resident_memory_bytes") rss = f.metric.at(0).gauge.value;
    if (f.name == "process_open_fds") open_fds = f.metric.at(0).gauge.value;
    if (f.name == "process_max_fds") max_fds = f.metric.at(0).gauge.value;
  }
  EXPECT_GT(rss, 1024.0 * 1024.0);  // a test binary holds more than 1 MiB
  EXPECT_GE(open_fds, 3.0);         // stdin, stdout, stderr at least
  EXPECT_GE(max_fds, open_fds);
}

// docs/metrics.md lists every rollouts_* family rolloutd registers (in a table row).
TEST_F(MetricsTest, EveryFamilyIsDocumented) {
  std::ifstream in(std::string(ROLLOUTS_SOURCE_DIR) + "/docs/metrics.md");
  ASSERT_TRUE(in) << "docs/metrics.md not found";
  std::stringstream doc;
  doc << in.rdbuf();
  const std::string text = doc.str();
  std::set<std::string> documented;
  static const std::regex row(R"(\|\s*`(rollouts_[a-z_]+)`\s*\|)");
  for (std::sregex_iterator it(text.begin(), text.end(), row), end; it != end; ++it) {
    documented.insert((*it)[1].str());
  }
  // One call of every recording method, so every family has a series to expose.
  metrics_.SetRolloutPhase("hello", "Verifying", At(10));
  metrics_.SetStepDeadline("hello", At(100));
  metrics_.ObserveStepDuration("Analyzing", 3);
  metrics_.RecordGateResult("metrics", "pass");
  metrics_.SetAnalysisValue("hello", "error-rate", 0.001);
  metrics_.SetAnalysisThreshold("hello", "error-rate", 0.01);
  metrics_.SetAnalysisFailures("hello", {{"error-rate", {}}});
  metrics_.SetDegradedReason("hello", "AnalysisFailed");
  metrics_.RecordFlip("hello");
  metrics_.RecordRollback("hello", "AnalysisFailed");
  metrics_.SetRolloutInfo("hello", "v1", "v2");
  metrics_.RecordReconcile(0.01, "conflict");
  metrics_.SetDepth(1);
  metrics_.Added();
  metrics_.ObserveWait(0.1);
  metrics_.ObserveWorkDuration(0.1);
  metrics_.Retried();
  metrics_.SetLeader(true);
  metrics_.ObserveApiRequest("consul", "kv_get", "200", 0.01);
  metrics_.RecordWatchSuccess("spec", At(10));
  metrics_.UpdateWatchStaleness(At(20));
  metrics_.RecordWatchError("spec", "transport");
  const std::string exposed = Text();
  static const std::regex help(R"(# HELP (rollouts_[a-z_]+) )");
  int families = 0;
  for (std::sregex_iterator it(exposed.begin(), exposed.end(), help), end; it != end; ++it) {
    ++families;
    EXPECT_TRUE(documented.count((*it)[1].str()))
        << (*it)[1].str() << " is not in a table of docs/metrics.md";
  }
  EXPECT_GT(families, 20);
}

}  // namespace
}  // namespace rollouts::controller
