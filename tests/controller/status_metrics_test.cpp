#include "controller/status_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

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
  analyzing.analysis_runs.push_back({"prePromotion", "v2", "hello-green", T(130), {}, {}, {}});
  RolloutStatus measured = analyzing;
  reconcilers::Measurement probe;
  probe.metric = "probe-error-rate";
  probe.value = 0.0;
  probe.verdict = reconcilers::Verdict::kSuccessful;
  AddMeasurement(measured.analysis_runs[0], probe);
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
  rolling.rollback_reason = "StandbyUnhealthy";
  RolloutStatus degraded = At(Phase::kDegraded, 210, "v1", "v2");
  degraded.rollback_reason = "StandbyUnhealthy";
  RecordStatusChange(m, "hello", waiting, rolling, Now(200));
  RecordStatusChange(m, "hello", rolling, degraded, Now(210));
  std::string text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text, HasSubstr("rollouts_rollbacks_total{reason=\"StandbyUnhealthy\","
                              "rollout=\"hello\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_gate_results_total{gate=\"health\",verdict=\"fail\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_flips_total{rollout=\"hello\"} 0"));
}

reconcilers::StatusCondition Condition(std::string type, std::string status, std::string reason,
                                       std::string message) {
  return {std::move(type), std::move(status), std::move(reason), std::move(message), T(0)};
}

reconcilers::Measurement Measured(std::string metric, double value, std::string condition,
                                  reconcilers::Verdict verdict, int64_t at) {
  reconcilers::Measurement m;
  m.metric = std::move(metric);
  m.value = value;
  m.condition = std::move(condition);
  m.verdict = verdict;
  m.time = T(at);
  return m;
}

constexpr const char* kDegradedSeries =
    "rollouts_rollout_degraded{reason=\"AnalysisFailed\",rollout=\"hello\"} 1";

TEST(StatusMetricsTest, DegradedNamesTheReasonOnlyWhileDegraded) {
  ControllerMetrics m;
  RolloutStatus verifying = At(Phase::kVerifying, 100, "v2", "v2");
  RolloutStatus rolling = At(Phase::kRollingBack, 200, "v2", "v2");
  rolling.rollback_reason = "AnalysisFailed";
  rolling.rollback_message = "2 failed measurements (limit 1), last error-rate";
  RolloutStatus degraded = At(Phase::kDegraded, 210, "v1", "v2");
  degraded.rollback_reason = rolling.rollback_reason;
  degraded.rollback_message = rolling.rollback_message;
  degraded.conditions.push_back(
      Condition("Degraded", "True", "AnalysisFailed", degraded.rollback_message));
  RolloutStatus retried = At(Phase::kDeployingStandby, 300, "v1", "v2");
  retried.conditions.push_back(
      Condition("Degraded", "True", "AnalysisFailed", degraded.rollback_message));

  RecordStatusChange(m, "hello", RolloutStatus{}, verifying, Now(100));
  RecordStatusChange(m, "hello", verifying, rolling, Now(200));
  EXPECT_THAT(SerializeMetrics(*m.registry()), Not(HasSubstr("rollouts_rollout_degraded{")));
  RecordStatusChange(m, "hello", rolling, degraded, Now(210));
  std::string text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text, HasSubstr(kDegradedSeries));
  // The message is free text: never a label.
  EXPECT_THAT(text, Not(HasSubstr("failed measurements")));
  // A retry leaves Degraded: the series goes although the condition is still True.
  RecordStatusChange(m, "hello", degraded, retried, Now(300));
  EXPECT_THAT(SerializeMetrics(*m.registry()), Not(HasSubstr("rollouts_rollout_degraded{")));
  RecordStatusChange(m, "hello", retried, degraded, Now(400));
  EXPECT_THAT(SerializeMetrics(*m.registry()), HasSubstr(kDegradedSeries));
  m.ForgetRollout("hello");
  EXPECT_THAT(SerializeMetrics(*m.registry()), Not(HasSubstr("rollouts_rollout_degraded{")));
}

TEST(StatusMetricsTest, DegradedWithoutItsConditionUsesTheRollbackReason) {
  ControllerMetrics m;
  RolloutStatus degraded = At(Phase::kDegraded, 210, "v1", "v2");
  degraded.rollback_reason = "ProbeFailed";
  RecordStatusChange(m, "hello", RolloutStatus{}, degraded, Now(210));
  EXPECT_THAT(SerializeMetrics(*m.registry()),
              HasSubstr("rollouts_rollout_degraded{reason=\"ProbeFailed\",rollout=\"hello\"} 1"));
}

TEST(StatusMetricsTest, InvalidSpecNamesWhatIsWrongUntilTheSpecIsFixed) {
  ControllerMetrics m;
  RolloutStatus invalid = At(Phase::kInvalidSpec, 10, "v1", "v1");
  invalid.conditions.push_back(Condition("InvalidSpec", "True", "UnknownGroup",
                                         "job default/hello has no task group \"blue\""));
  RolloutStatus fixed = At(Phase::kHealthy, 20, "v1", "v1");
  fixed.conditions.push_back(Condition("InvalidSpec", "False", "SpecValid", ""));
  RecordStatusChange(m, "hello", RolloutStatus{}, invalid, Now(10));
  std::string text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text,
              HasSubstr("rollouts_rollout_degraded{reason=\"UnknownGroup\",rollout=\"hello\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("task group")));
  RecordStatusChange(m, "hello", invalid, fixed, Now(20));
  EXPECT_THAT(SerializeMetrics(*m.registry()), Not(HasSubstr("rollouts_rollout_degraded{")));
}

TEST(StatusMetricsTest, AnalysisFailuresAndThresholdsComeFromTheStatus) {
  using reconcilers::Verdict;
  ControllerMetrics m;
  RolloutStatus analyzing = At(Phase::kAnalyzing, 100, "v1", "v2");
  analyzing.analysis_runs.push_back({"prePromotion", "v2", "hello-green", T(100), {}, {}, {}});
  AddMeasurement(analyzing.analysis_runs[0],
                 Measured("probe-error-rate", 0, "<= 0", Verdict::kSuccessful, 101));
  analyzing.analysis_runs[0].result = Verdict::kSuccessful;
  RolloutStatus verifying = At(Phase::kVerifying, 150, "v2", "v2");
  verifying.analysis_runs = analyzing.analysis_runs;
  verifying.analysis_runs.push_back({"postPromotion", "v2", "hello-green", T(150), {}, {}, {}});
  AddMeasurement(verifying.analysis_runs.back(),
                 Measured("error-rate", 0.001, "< 0.01", Verdict::kSuccessful, 150));
  RolloutStatus failing = verifying;
  AddMeasurement(failing.analysis_runs.back(),
                 Measured("error-rate", 0.3, "< 0.01", Verdict::kFailed, 155));
  AddMeasurement(failing.analysis_runs.back(),
                 Measured("error-rate", 0.2, "< 0.01", Verdict::kFailed, 160));

  RecordStatusChange(m, "hello", RolloutStatus{}, analyzing, Now(101));
  std::string text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_failures{metric=\"probe-error-rate\","
                              "rollout=\"hello\",verdict=\"fail\"} 0"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_threshold{metric=\"probe-error-rate\","
                              "rollout=\"hello\"} 0"));

  RecordStatusChange(m, "hello", analyzing, verifying, Now(150));
  text = SerializeMetrics(*m.registry());
  // The post-promotion run is the newest: the probe's failure series is gone, its
  // threshold stays next to its last value.
  EXPECT_THAT(text, Not(HasSubstr("rollouts_analysis_failures{metric=\"probe-error-rate\"")));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_threshold{metric=\"probe-error-rate\","
                              "rollout=\"hello\"} 0"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_failures{metric=\"error-rate\",rollout=\"hello\","
                              "verdict=\"fail\"} 0"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_last_failure_timestamp_seconds{metric=\"error-"
                              "rate\",rollout=\"hello\",verdict=\"fail\"} 0"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_threshold{metric=\"error-rate\","
                              "rollout=\"hello\"} 0.01"));

  RecordStatusChange(m, "hello", verifying, failing, Now(161));
  text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_failures{metric=\"error-rate\",rollout=\"hello\","
                              "verdict=\"fail\"} 2"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_last_failure_timestamp_seconds{metric=\"error-"
                              "rate\",rollout=\"hello\",verdict=\"fail\"} 160"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_failures{metric=\"error-rate\",rollout=\"hello\","
                              "verdict=\"error\"} 0"));
  EXPECT_THAT(text, HasSubstr("rollouts_gate_results_total{gate=\"metrics\",verdict=\"fail\"} 2"));

  // The next rollout starts a new run: the failures of the old one are no longer current.
  RolloutStatus next = At(Phase::kAnalyzing, 500, "v1", "v3");
  next.analysis_runs = failing.analysis_runs;
  next.analysis_runs.push_back({"prePromotion", "v3", "hello-green", T(500), {}, {}, {}});
  RecordStatusChange(m, "hello", failing, next, Now(500));
  text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text, Not(HasSubstr("rollouts_analysis_failures{")));
  EXPECT_THAT(text, Not(HasSubstr("rollouts_analysis_last_failure_timestamp_seconds{")));

  m.ForgetRollout("hello");
  text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text, Not(HasSubstr("rollouts_analysis_threshold{")));
}

TEST(StatusMetricsTest, AnUnparsableConditionExportsNoThreshold) {
  ControllerMetrics m;
  RolloutStatus analyzing = At(Phase::kAnalyzing, 100, "v1", "v2");
  analyzing.analysis_runs.push_back({"prePromotion", "v2", "hello-green", T(100), {}, {}, {}});
  AddMeasurement(analyzing.analysis_runs[0],
                 Measured("error-rate", 0.5, "about 1%", reconcilers::Verdict::kError, 101));
  RecordStatusChange(m, "hello", RolloutStatus{}, analyzing, Now(101));
  std::string text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text, Not(HasSubstr("rollouts_analysis_threshold{")));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_failures{metric=\"error-rate\",rollout=\"hello\","
                              "verdict=\"error\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_last_failure_timestamp_seconds{metric=\"error-"
                              "rate\",rollout=\"hello\",verdict=\"error\"} 101"));
}

// --- Seeding from an observed status (restart, leadership change) ----------------------

// A Rollout that failed its post-promotion analysis and rests in Degraded: what a new
// rolloutd process reads from Consul.
RolloutStatus RestingDegraded() {
  using reconcilers::Verdict;
  RolloutStatus degraded = At(Phase::kDegraded, 210, "v1", "v2");
  degraded.rollback_reason = "AnalysisFailed";
  degraded.conditions.push_back(Condition("Degraded", "True", "AnalysisFailed", "2 failed"));
  degraded.analysis_runs.push_back({"postPromotion", "v2", "hello-green", T(150), {}, {}, {}});
  auto& run = degraded.analysis_runs.back();
  AddMeasurement(run, Measured("error-rate", 0.001, "< 0.01", Verdict::kSuccessful, 150));
  AddMeasurement(run, Measured("error-rate", 0.3, "< 0.01", Verdict::kFailed, 155));
  AddMeasurement(run, Measured("error-rate", 0.2, "< 0.01", Verdict::kFailed, 160));
  degraded.analysis_runs.back().result = Verdict::kFailed;
  return degraded;
}

// The sample lines of a metric family (name followed by '{' or ' ').
std::vector<std::string> Lines(const std::string& text, const std::string& family) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(family + "{", 0) == 0 || line.rfind(family + " ", 0) == 0) {
      out.push_back(line);
    }
  }
  return out;
}

TEST(StatusMetricsTest, SeedingARestingDegradedRolloutSetsItsGaugesAndCountsNothing) {
  ControllerMetrics m;
  SeedStatusGauges(m, "hello", RestingDegraded(), Now(5000));
  const std::string text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_phase{phase=\"Degraded\",rollout=\"hello\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_phase{phase=\"Healthy\",rollout=\"hello\"} 0"));
  // Entered when its current step started, not when this process looked.
  EXPECT_THAT(text,
              HasSubstr("rollouts_rollout_phase_entered_timestamp_seconds{rollout=\"hello\"} 210"));
  EXPECT_THAT(text,
              HasSubstr("rollouts_rollout_step_deadline_timestamp_seconds{rollout=\"hello\"} 0"));
  EXPECT_THAT(text, HasSubstr(kDegradedSeries));
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_info{active_version=\"v1\",rollout=\"hello\","
                              "target_version=\"v2\"} 1"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_threshold{metric=\"error-rate\","
                              "rollout=\"hello\"} 0.01"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_last_value{metric=\"error-rate\","
                              "rollout=\"hello\"} 0.2"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_failures{metric=\"error-rate\",rollout=\"hello\","
                              "verdict=\"fail\"} 2"));
  EXPECT_THAT(text, HasSubstr("rollouts_analysis_last_failure_timestamp_seconds{metric=\"error-"
                              "rate\",rollout=\"hello\",verdict=\"fail\"} 160"));
  // Nothing is counted: the writer counted these when they happened.
  EXPECT_TRUE(Lines(text, "rollouts_rollout_transitions_total").empty()) << text;
  EXPECT_TRUE(Lines(text, "rollouts_rollbacks_total").empty()) << text;
  EXPECT_TRUE(Lines(text, "rollouts_step_duration_seconds_count").empty()) << text;
  EXPECT_THAT(text, HasSubstr("rollouts_flips_total{rollout=\"hello\"} 0"));
  for (const std::string& line : Lines(text, "rollouts_gate_results_total")) {
    EXPECT_THAT(line, ::testing::EndsWith("} 0"));
  }
}

TEST(StatusMetricsTest, ASeededProcessShowsTheGaugesOfTheProcessThatWroteTheStatus) {
  using reconcilers::Verdict;
  RolloutStatus verifying = At(Phase::kVerifying, 150, "v2", "v2");
  verifying.current_step->deadline = T(400);
  verifying.analysis_runs.push_back({"postPromotion", "v2", "hello-green", T(150), {}, {}, {}});
  AddMeasurement(verifying.analysis_runs.back(),
                 Measured("error-rate", 0.001, "< 0.01", Verdict::kSuccessful, 150));
  RolloutStatus rolling = At(Phase::kRollingBack, 200, "v2", "v2");
  rolling.rollback_reason = "AnalysisFailed";
  const RolloutStatus degraded = RestingDegraded();
  rolling.analysis_runs = degraded.analysis_runs;

  ControllerMetrics writer;
  RecordStatusChange(writer, "hello", RolloutStatus{}, verifying, Now(150));
  RecordStatusChange(writer, "hello", verifying, rolling, Now(200));
  RecordStatusChange(writer, "hello", rolling, degraded, Now(210));
  ControllerMetrics restarted;
  SeedStatusGauges(restarted, "hello", degraded, Now(9000));

  const std::string written = SerializeMetrics(*writer.registry());
  const std::string seeded = SerializeMetrics(*restarted.registry());
  for (const char* gauge :
       {"rollouts_rollout_phase", "rollouts_rollout_phase_entered_timestamp_seconds",
        "rollouts_rollout_step_deadline_timestamp_seconds", "rollouts_rollout_degraded",
        "rollouts_rollout_info", "rollouts_analysis_last_value", "rollouts_analysis_threshold",
        "rollouts_analysis_failures", "rollouts_analysis_last_failure_timestamp_seconds"}) {
    SCOPED_TRACE(gauge);
    EXPECT_FALSE(Lines(written, gauge).empty());
    EXPECT_EQ(Lines(seeded, gauge), Lines(written, gauge));
  }
  EXPECT_FALSE(Lines(written, "rollouts_rollbacks_total").empty());
  EXPECT_TRUE(Lines(seeded, "rollouts_rollbacks_total").empty());
}

TEST(StatusMetricsTest, SeedingAtEveryObserveKeepsTheEnteredTimeAndTheNextWriteCountsFromIt) {
  ControllerMetrics m;
  const RolloutStatus degraded = RestingDegraded();
  SeedStatusGauges(m, "hello", degraded, Now(5000));
  SeedStatusGauges(m, "hello", degraded, Now(5010));
  EXPECT_THAT(SerializeMetrics(*m.registry()),
              HasSubstr("rollouts_rollout_phase_entered_timestamp_seconds{rollout=\"hello\"} 210"));

  // `rolloutctl retry`: the leader writes the next phase; the transition is counted from
  // the seeded phase, once.
  RolloutStatus retried = At(Phase::kDeployingStandby, 6000, "v1", "v2");
  RecordStatusChange(m, "hello", degraded, retried, Now(6000));
  SeedStatusGauges(m, "hello", retried, Now(6001));
  std::string text = SerializeMetrics(*m.registry());
  EXPECT_EQ(Lines(text, "rollouts_rollout_transitions_total"),
            std::vector<std::string>{"rollouts_rollout_transitions_total{from=\"Degraded\","
                                     "rollout=\"hello\",to=\"DeployingStandby\"} 1"});
  EXPECT_THAT(
      text, HasSubstr("rollouts_rollout_phase_entered_timestamp_seconds{rollout=\"hello\"} 6000"));
  EXPECT_THAT(text, Not(HasSubstr("rollouts_rollout_degraded{")));
  // A seed after the write (the next observe) changes nothing.
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_phase{phase=\"DeployingStandby\","
                              "rollout=\"hello\"} 1"));
}

TEST(StatusMetricsTest, AStatusWithoutStepTimeIsEnteredWhenSeenAndOneWithoutPhaseSetsNothing) {
  ControllerMetrics m;
  SeedStatusGauges(m, "hello", RolloutStatus{}, Now(100));
  EXPECT_THAT(SerializeMetrics(*m.registry()), Not(HasSubstr("rollout=\"hello\"")));

  RolloutStatus healthy;  // an old status document without currentStep
  healthy.phase = Phase::kHealthy;
  healthy.active_version = "v1";
  SeedStatusGauges(m, "hello", healthy, Now(100));
  const std::string text = SerializeMetrics(*m.registry());
  EXPECT_THAT(text, HasSubstr("rollouts_rollout_phase{phase=\"Healthy\",rollout=\"hello\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("rollouts_rollout_phase_entered_timestamp_seconds{rollout=\"hello\"} 100"));
  EXPECT_THAT(text, Not(HasSubstr("rollouts_rollout_degraded{")));
}

}  // namespace
}  // namespace rollouts::controller
