#include "controller/status_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rollouts::controller {
namespace {

using reconcilers::Phase;
using reconcilers::RolloutStatus;
using ::testing::HasSubstr;
using ::testing::Not;

reconcilers::TimePoint T(int64_t unix_seconds) {
  return reconcilers::TimePoint(std::chrono::seconds(unix_seconds));
}
std::chrono::system_clock::time_point Now(int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}

RolloutStatus At(Phase phase, int64_t step_start, std::string active, std::string target) {
  RolloutStatus s;
  s.phase = phase;
  s.current_step = reconcilers::StepRecord{std::string(reconcilers::PhaseName(phase)),
                                           T(step_start), std::nullopt};
  s.active_version = std::move(active);
  s.target_version = std::move(target);
  return s;
}

TEST(StatusMetricsTest, TheCurrentStepDeadlineIsExportedAndClearedWhenTheStepHasNone) {
  ControllerMetrics m;
  RolloutStatus waiting = At(Phase::kWaitingHealthy, 100, "v1", "v2");
  waiting.current_step->deadline = T(220);
  RecordStatusChange(m, "hello", RolloutStatus{}, waiting, Now(100));
  EXPECT_THAT(SerializeMetrics(*m.registry()),
              HasSubstr("rollouts_rollout_step_deadline_timestamp_seconds{rollout=\"hello\"} 220"));
  RolloutStatus healthy = At(Phase::kHealthy, 300, "v2", "v2");
  RecordStatusChange(m, "hello", waiting, healthy, Now(300));
  EXPECT_THAT(SerializeMetrics(*m.registry()),
              HasSubstr("rollouts_rollout_step_deadline_timestamp_seconds{rollout=\"hello\"} 0"));
  m.ForgetRollout("hello");
  EXPECT_THAT(SerializeMetrics(*m.registry()),
              Not(HasSubstr("rollouts_rollout_step_deadline_timestamp_seconds{")));
}

TEST(StatusMetricsTest, AWholeRolloutIsVisible) {
  ControllerMetrics m;
  RolloutStatus healthy = At(Phase::kHealthy, 0, "v1", "v1");
  RolloutStatus waiting = At(Phase::kWaitingHealthy, 100, "v1", "v2");
  RolloutStatus analyzing = At(Phase::kAnalyzing, 130, "v1", "v2");
  analyzing.analysis_runs.push_back({"prePromotion", "v2", "hello-green", T(130), {}, {}});
  RolloutStatus measured = analyzing;
  reconcilers::Measurement probe;
  probe.metric = "probe-error-rate";
  probe.value = 0.0;
  probe.verdict = reconcilers::Verdict::kSuccessful;
  measured.analysis_runs[0].measurements.push_back(probe);
  RolloutStatus verifying = At(Phase::kVerifying, 150, "v2", "v2");
  verifying.analysis_runs = measured.analysis_runs;

  RecordStatusChange(m, "hello", RolloutStatus{}, healthy, Now(1));
  RecordStatusChange(m, "hello", healthy, waiting, Now(100));
  RecordStatusChange(m, "hello", waiting, analyzing, Now(130));
  RecordStatusChange(m, "hello", analyzing, measured, Now(140));
  RecordStatusChange(m, "hello", measured, verifying, Now(150));

  std::string text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_phase{phase=\"Verifying\",rollout=\"hello\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_transitions_total{from=\"WaitingHealthy\","
                              "rollout=\"hello\",to=\"Analyzing\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_gate_results_total{gate=\"health\",verdict=\"pass\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_gate_results_total{gate=\"probe\",verdict=\"pass\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_last_value{metric=\"probe-error-rate\","
                              "rollout=\"hello\"} 0"));
  EXPECT_THAT(text, HasSubstr("rollouts_flips_total{rollout=\"hello\"} 1"));
  // WaitingHealthy lasted 30s; Analyzing 20s.
  EXPECT_THAT(text, HasSubstr("rollouts_step_duration_seconds_sum{step=\"WaitingHealthy\"} 30"));
  EXPECT_THAT(text, HasSubstr("rollouts_step_duration_seconds_sum{step=\"Analyzing\"} 20"));
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_info{active_version=\"v2\",rollout=\"hello\","
                              "target_version=\"v2\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("active_version=\"v1\"")));
}

TEST(StatusMetricsTest, RollBackIsCountedOnceWithItsReason) {
  ControllerMetrics m;
  RolloutStatus waiting = At(Phase::kWaitingHealthy, 100, "v1", "v2");
  RolloutStatus rolling = At(Phase::kRollingBack, 200, "v1", "v2");
  rolling.rollback_reason = "HealthyDeadlineExceeded";
  RolloutStatus degraded = At(Phase::kDegraded, 210, "v1", "v2");
  degraded.rollback_reason = "HealthyDeadlineExceeded";
  RecordStatusChange(m, "hello", waiting, rolling, Now(200));
  RecordStatusChange(m, "hello", rolling, degraded, Now(210));
  std::string text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text, HasSubstr("rollouts_rollbacks_total{reason=\"HealthyDeadlineExceeded\","
                              "rollout=\"hello\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_gate_results_total{gate=\"health\",verdict=\"fail\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_flips_total{rollout=\"hello\"} 0"));
}

}  // namespace
}  // namespace rollouts::controller
