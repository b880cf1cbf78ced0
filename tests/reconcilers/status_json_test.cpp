#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reconcilers/rollout_status.h"

namespace rollouts::reconcilers {
namespace {

using std::chrono::milliseconds;

TimePoint At(int64_t ms) {
  return TimePoint{milliseconds(ms)};
}

TEST(StatusTime, FormatsAndParsesUtcWithMilliseconds) {
  TimePoint t = At(1795426881123);  // 2026-11-23T09:41:21.123Z
  EXPECT_EQ(FormatTime(t), "2026-11-23T09:41:21.123Z");
  EXPECT_EQ(ParseTime("2026-11-23T09:41:21.123Z"), t);
  EXPECT_EQ(ParseTime("2026-11-23T09:41:21Z"), At(1795426881000));
  EXPECT_EQ(ParseTime("2026-11-23T09:41:21.123456789Z"), t);
  EXPECT_EQ(FormatTime(At(0)), "1970-01-01T00:00:00.000Z");
  for (const char* bad :
       {"", "2026-11-23", "2026-11-23T09:41:21", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2026-11-23T25:00:00Z", "2026-11-23T09:41:21.Z", "2026-11-23T09:41:21+01:00"}) {
    EXPECT_FALSE(ParseTime(bad)) << bad;
  }
}

RolloutStatus FullStatus() {
  RolloutStatus s;
  s.phase = Phase::kVerifying;
  s.active_version = "v2";
  s.active_group = "hello-green";
  s.standby_version = "v1";
  s.target_version = "v2";
  s.stable_version = "v1";
  s.stable_group = "hello-blue";
  s.observed_spec_index = 42;
  s.conditions.push_back({"StandbyReady", "True", "AllReady", "2/2 ready", At(1000)});
  s.current_step = StepRecord{"Verifying", At(2000), At(3000)};
  s.rollout_started_at = At(500);
  s.progress_deadline = At(600500);
  s.converged_at = At(1900);
  s.standby_job_version = 3;
  s.rollback_reason = "AnalysisFailed";
  s.rollback_message = "error-rate 0.5";
  s.pause = PauseState{"Manual", Phase::kDraining, At(2500)};
  AnalysisRun run{"postPromotion", "v2", "hello-green", At(2000), {}, {}, Verdict::kFailed};
  AddMeasurement(run, {"error-rate", 0.5, "< 0.01", Verdict::kFailed, At(2100), ""});
  AddMeasurement(run, {"error-rate", std::nullopt, "< 0.01", Verdict::kInconclusive, At(2200),
                       "empty result"});
  s.analysis_runs.push_back(run);
  s.analysis_runs.push_back({"prePromotion", "v3", "hello-blue", At(2300), {}, {}, std::nullopt});
  s.events.push_back({At(2000), "Normal", "Flipped", "v2 is active"});
  s.history.push_back({"v1", "Succeeded", "", At(10), At(70)});
  s.acknowledged.push_back({"req-1", "pause", "accepted", At(2500)});
  return s;
}

TEST(StatusJson, RoundTripKeepsEveryField) {
  RolloutStatus in = FullStatus();
  nlohmann::json doc = StatusToJson(in);
  RolloutStatus out = StatusFromJson(nlohmann::json::parse(doc.dump()));
  EXPECT_EQ(StatusToJson(out), doc);
  EXPECT_EQ(out.phase, Phase::kVerifying);
  EXPECT_EQ(out.standby_job_version, 3);
  ASSERT_TRUE(out.pause);
  EXPECT_EQ(out.pause->resume_phase, Phase::kDraining);
  ASSERT_EQ(out.analysis_runs.size(), 2u);
  EXPECT_EQ(out.analysis_runs[0].result, Verdict::kFailed);
  EXPECT_FALSE(out.analysis_runs[1].result);
  ASSERT_EQ(out.analysis_runs[0].measurements.size(), 2u);
  EXPECT_EQ(out.analysis_runs[0].measurements[0].value, 0.5);
  EXPECT_FALSE(out.analysis_runs[0].measurements[1].value);
  EXPECT_EQ(out.current_step->deadline, At(3000));
}

TEST(StatusJson, DocumentUsesTheDocumentedNames) {
  nlohmann::json doc = StatusToJson(FullStatus());
  EXPECT_EQ(doc["phase"], "Verifying");
  EXPECT_EQ(doc["currentStep"]["startedAt"], "1970-01-01T00:00:02.000Z");
  EXPECT_EQ(doc["analysisRuns"][0]["measurements"][0]["verdict"], "Failed");
  EXPECT_TRUE(doc["analysisRuns"][0]["measurements"][1]["value"].is_null());
  EXPECT_EQ(doc["conditions"][0]["lastTransitionTime"], "1970-01-01T00:00:01.000Z");
  EXPECT_DOUBLE_EQ(doc["history"][0]["durationSeconds"].get<double>(), 0.06);
  EXPECT_EQ(doc["acknowledged"][0]["verb"], "pause");
}

TEST(StatusJson, ToleratesMissingAndMistypedFields) {
  RolloutStatus empty = StatusFromJson(nlohmann::json::object());
  EXPECT_FALSE(empty.phase);
  EXPECT_TRUE(empty.active_version.empty());
  RolloutStatus odd = StatusFromJson(nlohmann::json::parse(R"({
    "phase": "Sleeping", "activeVersion": 7, "observedSpecIndex": "x",
    "conditions": [1, {"type": "X"}], "currentStep": {"name": "Healthy", "startedAt": "bad"},
    "analysisRuns": [{"name": "prePromotion", "measurements": [{"metric": "m", "value": "1"}]}],
    "events": "none"})"));
  EXPECT_FALSE(odd.phase);
  EXPECT_TRUE(odd.active_version.empty());
  EXPECT_EQ(odd.observed_spec_index, 0u);
  ASSERT_EQ(odd.conditions.size(), 1u);
  EXPECT_EQ(odd.conditions[0].type, "X");
  ASSERT_TRUE(odd.current_step);
  EXPECT_EQ(odd.current_step->started_at, TimePoint{});
  ASSERT_EQ(odd.analysis_runs.size(), 1u);
  EXPECT_FALSE(odd.analysis_runs[0].measurements[0].value);
  EXPECT_TRUE(odd.events.empty());
  EXPECT_FALSE(StatusFromJson(nlohmann::json::array()).phase);
}

TEST(StatusLists, StayBounded) {
  RolloutStatus s;
  for (int i = 0; i < 50; ++i) {
    AddEvent(s, At(i), "Normal", "E" + std::to_string(i), "");
    AddHistory(s, {"v" + std::to_string(i), "Succeeded", "", At(i), At(i)});
    AddAck(s, {"id" + std::to_string(i), "pause", "accepted", At(i)});
  }
  ASSERT_EQ(s.events.size(), kMaxEvents);
  EXPECT_EQ(s.events.front().reason, "E30");
  EXPECT_EQ(s.events.back().reason, "E49");
  EXPECT_EQ(s.history.size(), kMaxHistory);
  EXPECT_EQ(s.acknowledged.size(), kMaxAcks);
  EXPECT_TRUE(IsAcknowledged(s, "id49"));
  EXPECT_FALSE(IsAcknowledged(s, "id0"));
}

TEST(StatusConditions, TransitionTimeMovesOnlyOnStatusChange) {
  RolloutStatus s;
  SetCondition(s, "StandbyReady", "False", "Waiting", "0/2", At(1));
  SetCondition(s, "StandbyReady", "False", "Waiting", "1/2", At(2));
  EXPECT_EQ(FindCondition(s, "StandbyReady")->last_transition_time, At(1));
  EXPECT_EQ(FindCondition(s, "StandbyReady")->message, "1/2");
  SetCondition(s, "StandbyReady", "True", "AllReady", "2/2", At(3));
  EXPECT_EQ(FindCondition(s, "StandbyReady")->last_transition_time, At(3));
  RemoveCondition(s, "StandbyReady");
  EXPECT_FALSE(FindCondition(s, "StandbyReady"));
}

TEST(Phases, NamesRoundTrip) {
  for (int p = 0; p <= static_cast<int>(Phase::kInvalidSpec); ++p) {
    Phase phase = static_cast<Phase>(p);
    EXPECT_EQ(ParsePhase(PhaseName(phase)), phase);
  }
  EXPECT_FALSE(InProgress(Phase::kHealthy));
  EXPECT_TRUE(InProgress(Phase::kPaused));
}

// The schema's largest analysis: count 1000 of 20 metrics and both probe gates. Kept whole,
// its measurements alone would be ~2.6 MB, five times Consul's 512 KB value limit.
TEST(AnalysisTallies, TheLargestRunStaysSmallAndCountsEveryMeasurement) {
  AnalysisRun run{"prePromotion", "v2", "hello-green", TimePoint(milliseconds(0)), {}, {}, {}};
  std::vector<std::string> metrics = {"probe-error-rate", "probe-p99-latency-ms"};
  for (int i = 0; i < 20; ++i) metrics.push_back("metric-" + std::to_string(i));
  for (int k = 0; k < 1000; ++k) {
    for (const std::string& metric : metrics) {
      const Verdict verdict = k % 100 == 7 ? Verdict::kFailed : Verdict::kSuccessful;
      AddMeasurement(run, {metric, 0.001 * k, "< 0.5", verdict, TimePoint(milliseconds(1000LL * k)),
                           "a note of some length"});
    }
  }
  EXPECT_EQ(run.measurements.size(), metrics.size() * kKeptMeasurements);
  for (const std::string& metric : metrics) {
    const MetricTally& t = run.tallies.at(metric);
    EXPECT_EQ(t.taken, 1000);
    EXPECT_EQ(t.failed, 10);
    EXPECT_EQ(t.last_failed, TimePoint(milliseconds(1000LL * 907)));
  }
  // The kept ones are the newest, in order.
  EXPECT_EQ(run.measurements.back().time, TimePoint(milliseconds(1000LL * 999)));
  RolloutStatus status;
  status.phase = Phase::kAnalyzing;
  for (size_t i = 0; i < kMaxAnalysisRuns; ++i) status.analysis_runs.push_back(run);
  const std::string text = StatusToJson(status).dump();
  EXPECT_LT(text.size(), 400u * 1024) << "six full runs must fit in one Consul value";
  RolloutStatus back = StatusFromJson(nlohmann::json::parse(text));
  ASSERT_EQ(back.analysis_runs.size(), kMaxAnalysisRuns);
  EXPECT_EQ(back.analysis_runs[0].tallies, run.tallies);
  EXPECT_EQ(back.analysis_runs[0].measurements.size(), run.measurements.size());
}

TEST(AnalysisTallies, AStatusWrittenBeforeTalliesIsCountedFromItsMeasurements) {
  const auto doc = nlohmann::json::parse(R"({"phase": "Analyzing", "analysisRuns": [
    {"name": "prePromotion", "version": "v2", "group": "g", "startedAt": "2026-11-23T10:00:00.000Z",
     "measurements": [
       {"metric": "error-rate", "value": 0.5, "condition": "< 0.01", "verdict": "Failed",
        "time": "2026-11-23T10:00:10.000Z"},
       {"metric": "error-rate", "value": null, "condition": "< 0.01", "verdict": "Error",
        "time": "2026-11-23T10:00:20.000Z", "message": "refused"},
       {"metric": "latency", "value": 0.1, "condition": "< 0.3", "verdict": "Successful",
        "time": "2026-11-23T10:00:20.000Z"}],
     "result": null}]})");
  RolloutStatus status = StatusFromJson(doc);
  ASSERT_EQ(status.analysis_runs.size(), 1u);
  const auto& tallies = status.analysis_runs[0].tallies;
  ASSERT_EQ(tallies.size(), 2u);
  EXPECT_EQ(tallies.at("error-rate").taken, 2);
  EXPECT_EQ(tallies.at("error-rate").failed, 1);
  EXPECT_EQ(tallies.at("error-rate").errors, 1);
  EXPECT_EQ(tallies.at("latency").taken, 1);
  EXPECT_EQ(status.analysis_runs[0].measurements.size(), 3u);
}

}  // namespace
}  // namespace rollouts::reconcilers
