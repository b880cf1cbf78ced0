// Pure parts of rolloutctl: the watch screen (golden files, plain and coloured), the
// tables of list/describe/history, the apply diff and ages.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli/cli_common.h"
#include "cli/status_views.h"
#include "cli/text_diff.h"
#include "cli/watch_view.h"

namespace rollouts::cli {
namespace {

using reconcilers::ParseTime;
using reconcilers::Phase;
using reconcilers::TimePoint;
using reconcilers::Verdict;

TimePoint T(const char* text) {
  return *ParseTime(text);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Compares with tests/cli/golden/<name>; ROLLOUTS_UPDATE_GOLDEN=1 rewrites it.
void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(ROLLOUTS_SOURCE_DIR) + "/tests/cli/golden/" + name;
  if (const char* update = std::getenv("ROLLOUTS_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(path, std::ios::binary) << actual;
  }
  std::string want = ReadText(path);
  ASSERT_FALSE(want.empty()) << "missing golden " << path
                             << " (run with ROLLOUTS_UPDATE_GOLDEN=1 and review it)";
  EXPECT_EQ(want, actual) << "watch view differs from " << path;
}

reconcilers::Rollout HelloRollout(const std::string& version) {
  auto parsed = reconcilers::ParseRollout(nlohmann::json{
      {"apiVersion", "rollouts.nomad.io/v1"},
      {"kind", "Rollout"},
      {"metadata", {{"name", "hello"}}},
      {"spec",
       {{"version", version},
        {"nomad",
         {{"job", "hello"}, {"groups", {"hello-blue", "hello-green"}}, {"service", "hello"}}},
        {"template", {{"task", "app"}, {"set", {{"/Env/APP_VERSION", "{{version}}"}}}}}}}});
  EXPECT_TRUE(parsed.rollout) << (parsed.errors.empty() ? "" : parsed.errors[0].message);
  return *parsed.rollout;
}

// A rollout of v2 in pre-promotion analysis, one metric failed once, one instance not ready.
WatchInput AnalyzingInput() {
  WatchInput in;
  in.name = "hello";
  in.spec = HelloRollout("v2");
  in.has_status = true;
  auto& st = in.status;
  st.phase = Phase::kAnalyzing;
  st.active_version = "v1";
  st.active_group = "hello-blue";
  st.standby_version = "v2";
  st.target_version = "v2";
  st.stable_version = "v1";
  st.stable_group = "hello-blue";
  st.current_step = reconcilers::StepRecord{"Analyzing", T("2026-11-23T10:00:00.000Z"),
                                            T("2026-11-23T10:10:00.000Z")};
  reconcilers::AnalysisRun run{
      "prePromotion", "v2", "hello-green", T("2026-11-23T10:00:00.000Z"), {}, {}, std::nullopt};
  AddMeasurement(run, {"probe-error-rate", 0.0, "<= 0", Verdict::kSuccessful,
                       T("2026-11-23T10:00:20.000Z"), ""});
  AddMeasurement(
      run, {"error-rate", 0.0231, "< 0.01", Verdict::kFailed, T("2026-11-23T10:00:30.000Z"), ""});
  AddMeasurement(run, {"latency-p99", std::nullopt, "< 250", Verdict::kInconclusive,
                       T("2026-11-23T10:00:40.000Z"), "empty result"});
  st.analysis_runs.push_back(run);
  st.events.push_back(
      {T("2026-11-23T09:59:30.000Z"), "Normal", "DeployingStandby", "deploying v2 to hello-green"});
  st.events.push_back(
      {T("2026-11-23T09:59:50.000Z"), "Normal", "StandbyReady", "v2 ready in hello-green"});
  st.events.push_back(
      {T("2026-11-23T10:00:30.000Z"), "Warning", "MeasurementFailed", "error-rate 0.0231 >= 0.01"});

  reconcilers::JobView job;
  job.id = "hello";
  job.version = 7;
  job.groups.push_back({"hello-blue", 2, "v1", {{"hello", {"active", "v1"}, {}}}, {"app"}});
  job.groups.push_back({"hello-green", 2, "v2", {{"hello", {"standby", "v2"}, {}}}, {"app"}});
  in.job = job;
  in.instances.push_back({"_nomad-task-bbbbbbbb-1111-app-hello-http",
                          "bbbbbbbb-1111",
                          "hello-green",
                          "127.0.0.1",
                          21002,
                          {"standby", "v2"},
                          "v2",
                          false});
  in.instances.push_back({"_nomad-task-aaaaaaaa-2222-app-hello-http",
                          "aaaaaaaa-2222",
                          "hello-blue",
                          "127.0.0.1",
                          21001,
                          {"active", "v1"},
                          "v1",
                          true});
  in.instances.push_back({"_nomad-task-cccccccc-3333-app-hello-http",
                          "cccccccc-3333",
                          "hello-green",
                          "127.0.0.1",
                          21003,
                          {"standby", "v2"},
                          "v2",
                          true});
  in.now = T("2026-11-23T10:01:05.000Z");
  return in;
}

TEST(WatchView, MatchesGoldenPlain) {
  std::string view = RenderWatchView(AnalyzingInput());
  EXPECT_EQ(view.find('\033'), std::string::npos) << "no colour codes without color";
  ExpectGolden("watch_analyzing.txt", view);
}

TEST(WatchView, MatchesGoldenColoured) {
  WatchInput in = AnalyzingInput();
  in.color = true;
  ExpectGolden("watch_analyzing_color.txt", RenderWatchView(in));
}

TEST(WatchView, ShowsStepElapsedAndDeadline) {
  std::string view = RenderWatchView(AnalyzingInput());
  EXPECT_NE(
      view.find("step: Analyzing  elapsed 1m5s  deadline 2026-11-23T10:10:00.000Z (in 8m55s)"),
      std::string::npos)
      << view;
  // The measured value next to its threshold and verdict.
  EXPECT_NE(view.find("error-rate        0.0231  < 0.01"), std::string::npos) << view;
}

TEST(WatchView, SaysHowManyMeasurementsALongRunTook) {
  WatchInput in = AnalyzingInput();
  reconcilers::AnalysisRun& run = in.status.analysis_runs.back();
  for (int k = 0; k < 25; ++k) {
    AddMeasurement(run, {"error-rate", 0.001, "< 0.01", Verdict::kSuccessful,
                         T("2026-11-23T10:00:31.000Z"), ""});
  }
  std::string view = RenderWatchView(in);
  // 1 from the fixture + 25: the status keeps 10, the view says there were 26.
  EXPECT_NE(view.find("error-rate: newest 10 of 26 measurements shown (1 failed, 0 "
                      "inconclusive or error)"),
            std::string::npos)
      << view;
  EXPECT_EQ(view.find("probe-error-rate: newest"), std::string::npos) << view;
}

TEST(WatchView, PassedDeadlineAndMissingJobAreSaid) {
  WatchInput in = AnalyzingInput();
  in.now = T("2026-11-23T10:12:00.000Z");
  in.job.reset();
  in.job_note = "job hello not found in Nomad";
  in.instances.clear();
  std::string view = RenderWatchView(in);
  EXPECT_NE(view.find("(passed 2m ago)"), std::string::npos) << view;
  EXPECT_NE(view.find("job hello not found in Nomad"), std::string::npos) << view;
  EXPECT_NE(view.find("(none registered in Consul)"), std::string::npos) << view;
}

TEST(WatchView, NoStatusYet) {
  WatchInput in;
  in.name = "fresh";
  in.spec = HelloRollout("v1");
  in.job_note = "Nomad not configured";
  std::string view = RenderWatchView(in);
  EXPECT_NE(view.find("rollout/fresh  phase -"), std::string::npos) << view;
  EXPECT_NE(view.find("the controller has not written a status yet"), std::string::npos);
}

TEST(StatusViews, TableShowsPhaseVersionsStepAgeAndFailure) {
  RolloutSummary r;
  r.name = "hello";
  r.spec = HelloRollout("v3");
  r.has_status = true;
  r.status.phase = Phase::kDegraded;
  r.status.active_version = "v2";
  r.status.target_version = "v3";
  r.status.rollback_reason = "AnalysisFailed";
  r.status.rollback_message = "error-rate 0.2 >= 0.01";
  r.status.current_step = reconcilers::StepRecord{"Degraded", T("2026-11-23T10:00:00.000Z"), {}};
  RolloutSummary fresh;
  fresh.name = "new";
  fresh.spec = HelloRollout("v1");
  std::string table = RenderTable({r, fresh}, T("2026-11-23T11:02:03.000Z"));
  EXPECT_EQ(table,
            "NAME   PHASE     ACTIVE  TARGET  SPEC  STEP      AGE   LAST FAILURE\n"
            "hello  Degraded  v2      v3      v3    Degraded  1h2m  AnalysisFailed: error-rate "
            "0.2 >= 0.01\n"
            "new    -         -       -       v1    -         -     -\n");
}

TEST(StatusViews, HistoryNewestFirst) {
  RolloutSummary r;
  r.name = "hello";
  r.status.history.push_back(
      {"v1", "Succeeded", "", T("2026-11-23T09:00:00.000Z"), T("2026-11-23T09:02:30.000Z")});
  r.status.history.push_back({"v2", "RolledBack", "AnalysisFailed", T("2026-11-23T10:00:00.000Z"),
                              T("2026-11-23T10:05:00.000Z")});
  std::string h = RenderHistory(r);
  EXPECT_LT(h.find("v2"), h.find("v1")) << h;
  EXPECT_NE(h.find("RolledBack  2026-11-23T10:00:00.000Z  2026-11-23T10:05:00.000Z  5m        "
                   "AnalysisFailed"),
            std::string::npos)
      << h;
  EXPECT_EQ(HistoryJson(r.status)[0]["version"], "v2");
}

TEST(StatusViews, DescribeHasConditionsEventsHistoryAndRequests) {
  RolloutSummary r;
  r.name = "hello";
  r.spec = HelloRollout("v2");
  r.has_status = true;
  r.status.phase = Phase::kPaused;
  r.status.pause = reconcilers::PauseState{"AwaitingPromotion", Phase::kPromoting,
                                           T("2026-11-23T10:00:00.000Z")};
  r.status.conditions.push_back(
      {"StandbyReady", "True", "HealthGatePassed", "2/2 ready", T("2026-11-23T09:59:00.000Z")});
  r.status.events.push_back({T("2026-11-23T10:00:00.000Z"), "Normal", "Paused", "waiting"});
  r.status.acknowledged.push_back({"id-1", "pause", "accepted", T("2026-11-23T10:00:01.000Z")});
  std::string d = RenderDescribe(r, T("2026-11-23T10:01:00.000Z"));
  for (const char* want : {"Phase:           Paused", "Paused:          AwaitingPromotion",
                           "StandbyReady  True", "HealthGatePassed", "Paused  waiting",
                           "no finished rollouts yet", "pause  id-1  accepted"}) {
    EXPECT_NE(d.find(want), std::string::npos) << want << "\n" << d;
  }
}

TEST(TextDiff, EqualTextsGiveNothing) {
  EXPECT_EQ(UnifiedDiff("a\nb\n", "a\nb\n", "x", "y"), "");
}

TEST(TextDiff, ChangedLineWithContext) {
  std::string from = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
  std::string to = "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n";
  EXPECT_EQ(UnifiedDiff(from, to, "kv", "file", 2),
            "--- kv\n+++ file\n@@ -3,5 +3,5 @@\n 3\n 4\n-5\n+FIVE\n 6\n 7\n");
}

TEST(TextDiff, CreateShowsEveryLineAdded) {
  EXPECT_EQ(UnifiedDiff("", "a\nb\n", "kv", "file"), "--- kv\n+++ file\n@@ -0,0 +1,2 @@\n+a\n+b\n");
}

TEST(TextDiff, FarApartChangesMakeTwoHunks) {
  std::string from, to;
  for (int i = 0; i < 20; ++i) {
    from += std::to_string(i) + "\n";
    to += (i == 2 || i == 17 ? "x" : std::to_string(i)) + "\n";
  }
  std::string d = UnifiedDiff(from, to, "a", "b", 1);
  EXPECT_EQ(
      d, "--- a\n+++ b\n@@ -2,3 +2,3 @@\n 1\n-2\n+x\n 3\n@@ -17,3 +17,3 @@\n 16\n-17\n+x\n 18\n");
}

TEST(FormatAge, Units) {
  using std::chrono::milliseconds;
  EXPECT_EQ(FormatAge(milliseconds(999)), "0s");
  EXPECT_EQ(FormatAge(milliseconds(59'000)), "59s");
  EXPECT_EQ(FormatAge(milliseconds(65'000)), "1m5s");
  EXPECT_EQ(FormatAge(milliseconds(3'600'000)), "1h");
  EXPECT_EQ(FormatAge(milliseconds(90'061'000)), "1d1h");
}

}  // namespace
}  // namespace rollouts::cli
