// crd-schemas/rollout-status.schema.json against what the controller really writes
// (StatusToJson in reconcilers/rollout_status.cpp). ajv checks the examples against the
// schema (check_examples.js); this test ties the examples and the schema to the C++.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "reconcilers/condition.h"
#include "reconcilers/rollout_spec.h"
#include "reconcilers/rollout_status.h"
#include "tests/schemas/schema_walk.h"

namespace rollouts::reconcilers {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using schemas_testing::kSchemas;
using schemas_testing::Resolve;

json ReadJson(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << p;
  std::stringstream s;
  s << in.rdbuf();
  return json::parse(s.str());
}

std::vector<fs::path> StatusExamples() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kSchemas / "examples/status/valid")) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TimePoint At(int seconds) {
  return TimePoint{std::chrono::milliseconds(1'795'000'000'000LL + seconds * 1000LL + 7)};
}

// A status with every optional part present and every list non-empty.
RolloutStatus FullStatus() {
  RolloutStatus s;
  s.phase = Phase::kAnalyzing;
  s.active_version = "v1";
  s.active_group = "blue";
  s.standby_version = "v2";
  s.target_version = "v2";
  s.stable_version = "v1";
  s.stable_group = "blue";
  s.observed_spec_index = 42;
  SetCondition(s, "StandbyReady", "True", "AllReady", "2/2", At(1));
  s.current_step = StepRecord{"Analyzing", At(2), At(100)};
  s.rollout_started_at = At(0);
  s.progress_deadline = At(600);
  s.converged_at = At(3);
  s.standby_job_version = 9;
  s.rollback_reason = "ProbeFailed";
  s.rollback_message = "3 of 100 requests failed";
  s.pause = PauseState{"Manual", Phase::kAnalyzing, At(4)};
  AnalysisRun run;
  run.name = "prePromotion";
  run.version = "v2";
  run.group = "green";
  run.started_at = At(5);
  AddMeasurement(run, {"error-rate", 0.5, "< 0.01", Verdict::kFailed, At(6), "high"});
  AddMeasurement(run, {"error-rate", std::nullopt, "< 0.01", Verdict::kInconclusive, At(7), ""});
  AddMeasurement(run, {"latency", std::nullopt, "< 0.3", Verdict::kError, At(7), "refused"});
  run.result = Verdict::kFailed;
  s.analysis_runs.push_back(run);
  AddEvent(s, At(8), "Warning", "ProbeFailed", "3 of 100 requests failed");
  AddHistory(s, {"v0", "Succeeded", "", At(-100), At(-50)});
  AddAck(s, {"req-1", "pause", "accepted", At(9)});
  return s;
}

// Every key StatusToJson writes must be a property the schema declares (the schema says
// additionalProperties: false, so a new C++ field without a schema entry breaks readers
// that validate), and every required property must be written.
void CheckKeysDeclared(const json& value, const json& schema_in, const json& root,
                       const std::string& at, std::set<std::string>& seen) {
  const json& schema = Resolve(schema_in, root);
  seen.insert(at);
  if (value.is_array() && schema.contains("items")) {
    for (const json& item : value) CheckKeysDeclared(item, schema["items"], root, at + "/*", seen);
    return;
  }
  if (!value.is_object()) return;
  ASSERT_TRUE(schema.contains("properties")) << at << " is an object the schema does not describe";
  for (const auto& [key, sub] : value.items()) {
    EXPECT_TRUE(schema["properties"].contains(key)) << at << "/" << key << " is not in the schema";
    if (schema["properties"].contains(key)) {
      CheckKeysDeclared(sub, schema["properties"][key], root, at + "/" + key, seen);
    }
  }
  for (const json& required : schema.value("required", json::array())) {
    EXPECT_TRUE(value.contains(required))
        << at << "/" << required.get<std::string>() << " is required by the schema but not written";
  }
}

// Every property path the schema declares (to compare with what the C++ writes).
void SchemaPaths(const json& schema_in, const json& root, const std::string& at,
                 std::set<std::string>& out) {
  const json& schema = Resolve(schema_in, root);
  out.insert(at);
  if (schema.contains("items")) SchemaPaths(schema["items"], root, at + "/*", out);
  if (schema.contains("properties")) {
    for (const auto& [key, sub] : schema["properties"].items()) {
      SchemaPaths(sub, root, at + "/" + key, out);
    }
  }
}

TEST(StatusSchemaTest, ValidExamplesAreExactlyWhatTheControllerWrites) {
  std::vector<fs::path> files = StatusExamples();
  ASSERT_GE(files.size(), 3u);
  for (const fs::path& file : files) {
    json doc = ReadJson(file);
    EXPECT_EQ(StatusToJson(StatusFromJson(doc)), doc) << file;
  }
}

TEST(StatusSchemaTest, SchemaDeclaresEveryFieldTheControllerWritesAndNoOther) {
  json schema = ReadJson(kSchemas / "rollout-status.schema.json");
  std::set<std::string> written;
  CheckKeysDeclared(StatusToJson(FullStatus()), schema, schema, "", written);
  std::set<std::string> declared;
  SchemaPaths(schema, schema, "", declared);
  std::vector<std::string> unwritten;
  std::set_difference(declared.begin(), declared.end(), written.begin(), written.end(),
                      std::back_inserter(unwritten));
  EXPECT_TRUE(unwritten.empty()) << "declared in the schema but never written: "
                                 << testing::PrintToString(unwritten);
}

TEST(StatusSchemaTest, PhaseAndVerdictEnumsMatchTheCode) {
  json schema = ReadJson(kSchemas / "rollout-status.schema.json");
  std::vector<std::string> phases;
  for (int p = static_cast<int>(Phase::kHealthy); p <= static_cast<int>(Phase::kInvalidSpec); ++p) {
    phases.emplace_back(PhaseName(static_cast<Phase>(p)));
  }
  EXPECT_EQ(schema["$defs"]["phase"]["enum"].get<std::vector<std::string>>(), phases);
  std::vector<std::string> verdicts;
  for (Verdict v :
       {Verdict::kSuccessful, Verdict::kFailed, Verdict::kInconclusive, Verdict::kError}) {
    verdicts.emplace_back(VerdictName(v));
  }
  EXPECT_EQ(schema["$defs"]["verdict"]["enum"].get<std::vector<std::string>>(), verdicts);
}

TEST(StatusSchemaTest, TimesInExamplesAreInFormatTimeForm) {
  // The schema's time pattern admits 1-9 fraction digits; the controller always writes 3.
  for (const fs::path& file : StatusExamples()) {
    json doc = ReadJson(file);
    std::function<void(const json&)> walk = [&](const json& v) {
      if (v.is_object() || v.is_array()) {
        for (const json& child : v) walk(child);
      } else if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        if (std::optional<TimePoint> t = ParseTime(s); t && s.size() >= 20 && s[4] == '-') {
          EXPECT_EQ(FormatTime(*t), s) << file;
        }
      }
    };
    walk(doc);
  }
}

// The Rollout schema's successCondition pattern is narrower than the reconciler's parser:
// everything the schema lets through must evaluate.
TEST(StatusSchemaTest, EverySchemaValidConditionParsesInTheReconciler) {
  for (const auto& e : fs::directory_iterator(kSchemas / "examples/valid")) {
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    ParseResult r = ParseRollout(text.str());
    ASSERT_TRUE(r.rollout) << e.path();
    for (const auto& analysis : {r.rollout->spec.pre_promotion, r.rollout->spec.post_promotion}) {
      if (!analysis) continue;
      for (const MetricSpec& m : analysis->metrics) {
        EXPECT_TRUE(ParseCondition(m.success_condition).has_value())
            << e.path() << ": " << m.success_condition;
      }
    }
  }
  for (const char* text : {"<0", "< 0", "<=1", ">= -2.5", "== 0", "> 123456789012345.5"}) {
    EXPECT_TRUE(ParseCondition(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace rollouts::reconcilers
