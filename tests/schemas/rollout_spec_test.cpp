// ParseRollout against crd-schemas/: every example, the schema's defaults, durations.
#include "reconcilers/rollout_spec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/schemas/schema_walk.h"

namespace rollouts::reconcilers {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

using schemas_testing::kSchemas;
using schemas_testing::Resolve;

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << p;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> Examples(const std::string& kind) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kSchemas / "examples" / kind)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The "pointer: ..." line of an invalid example's .why sidecar.
std::string WhyPointer(const fs::path& example) {
  fs::path why = example;
  why.replace_extension(".why");
  std::istringstream lines(ReadText(why));
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("pointer:")) {
      std::string p = line.substr(8);
      p.erase(0, p.find_first_not_of(' '));
      return p;
    }
  }
  ADD_FAILURE() << why << " has no pointer: line";
  return "<none>";
}

std::string Describe(const std::vector<SpecError>& errors) {
  std::string out;
  for (const auto& e : errors) out += "  " + e.pointer + ": " + e.message + "\n";
  return out;
}

// ---- durations ---------------------------------------------------------------------------

TEST(ParseDurationTest, AcceptsGoStyleIntegerParts) {
  const std::pair<std::string, milliseconds> cases[] = {
      {"0", milliseconds(0)},
      {"0s", milliseconds(0)},
      {"500ms", milliseconds(500)},
      {"1ms", milliseconds(1)},
      {"30s", seconds(30)},
      {"2m", minutes(2)},
      {"1h", hours(1)},
      {"1h30m", minutes(90)},
      {"1m5s", seconds(65)},
      {"1h1m1s1ms", milliseconds(3'661'001)},
      {"1s1s", seconds(2)},  // Go accepts repeated units, so do we
      {"90m", minutes(90)},
      {"00001s", seconds(1)},
      {"999999999ms", milliseconds(999'999'999)},
      {"999999999h", hours(999'999'999)},
  };
  for (const auto& [text, want] : cases) {
    std::optional<Duration> got = ParseDuration(text);
    ASSERT_TRUE(got.has_value()) << text;
    EXPECT_EQ(*got, want) << text;
  }
}

TEST(ParseDurationTest, RefusesEverythingTheSchemaPatternRefuses) {
  for (const std::string text :
       {"",           "5",         "120",    "s",   "ms",   "1.5h",       ".5s",   "-1s",
        "+1s",        "1d",        "1w",     "1us", "1ns",  "1\xC2\xB5s", "1 s",   " 1s",
        "1s ",        "1S",        "1H",     "1Ms", "1hh",  "1h2",        "1m-5s", "1234567890s",
        "1s2s3s4s5s", "5 seconds", "1h 30m", "00",  "0ms0", "inf",        "NaN"}) {
    EXPECT_FALSE(ParseDuration(text).has_value()) << '"' << text << '"';
  }
}

TEST(FormatDurationTest, WritesPartsFromHoursToMilliseconds) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(500)), "500ms");
  EXPECT_EQ(FormatDuration(seconds(30)), "30s");
  EXPECT_EQ(FormatDuration(seconds(90)), "1m30s");
  EXPECT_EQ(FormatDuration(minutes(90)), "1h30m");
  EXPECT_EQ(FormatDuration(milliseconds(3'723'004)), "1h2m3s4ms");
  EXPECT_EQ(FormatDuration(hours(48)), "48h");
  EXPECT_EQ(FormatDuration(milliseconds(-1500)), "-1s500ms");
}

TEST(FormatDurationTest, RoundTripsThroughParseDuration) {
  for (std::int64_t ms :
       {0LL, 1LL, 999LL, 1000LL, 61'001LL, 3'600'000LL, 86'399'999LL, 3'600'000LL * 1000 + 1}) {
    std::optional<Duration> back = ParseDuration(FormatDuration(milliseconds(ms)));
    ASSERT_TRUE(back.has_value()) << ms;
    EXPECT_EQ(back->count(), ms);
  }
}

// ---- examples ----------------------------------------------------------------------------

TEST(RolloutExamplesTest, ThereAreEnoughExamples) {
  EXPECT_GE(Examples("valid").size(), 4u);
  EXPECT_GE(Examples("invalid").size(), 15u);
}

TEST(RolloutExamplesTest, EveryValidExampleParses) {
  for (const fs::path& file : Examples("valid")) {
    ParseResult r = ParseRollout(ReadText(file));
    EXPECT_TRUE(r.errors.empty()) << file << "\n" << Describe(r.errors);
    EXPECT_TRUE(r.rollout.has_value()) << file;
  }
}

TEST(RolloutExamplesTest, EveryInvalidExampleFailsAtTheNamedPointer) {
  for (const fs::path& file : Examples("invalid")) {
    ParseResult r = ParseRollout(ReadText(file));
    EXPECT_FALSE(r.rollout.has_value()) << file;
    ASSERT_FALSE(r.errors.empty()) << file;
    std::string want = WhyPointer(file);
    bool found = std::any_of(r.errors.begin(), r.errors.end(),
                             [&](const SpecError& e) { return e.pointer == want; });
    EXPECT_TRUE(found) << file << ": no error at \"" << want << "\"; got\n" << Describe(r.errors);
    for (const SpecError& e : r.errors) EXPECT_FALSE(e.message.empty()) << file;
  }
}

TEST(RolloutExamplesTest, CanonicalFormIsStableAndReparses) {
  for (const fs::path& file : Examples("valid")) {
    ParseResult first = ParseRollout(ReadText(file));
    ASSERT_TRUE(first.rollout) << file;
    json canonical = RolloutToJson(*first.rollout);
    ParseResult second = ParseRollout(canonical);
    ASSERT_TRUE(second.rollout) << file << "\n" << Describe(second.errors);
    EXPECT_EQ(RolloutToJson(*second.rollout), canonical) << file;
  }
}

TEST(RolloutExamplesTest, DesignSampleReadsAsWritten) {
  ParseResult r = ParseRollout(ReadText(kSchemas / "examples/valid/hello.json"));
  ASSERT_TRUE(r.rollout) << Describe(r.errors);
  const Rollout& h = *r.rollout;
  EXPECT_EQ(h.api_version, "rollouts.nomad.io/v1");
  EXPECT_EQ(h.kind, "Rollout");
  EXPECT_EQ(h.name, "hello");
  EXPECT_EQ(h.labels, (std::map<std::string, std::string>{{"team", "fab"}}));
  EXPECT_EQ(h.spec.version, "v2");
  EXPECT_EQ(h.spec.nomad.job, "hello");
  EXPECT_EQ(h.spec.nomad.groups, (std::vector<std::string>{"hello-blue", "hello-green"}));
  EXPECT_EQ(h.spec.nomad.service, "hello");
  EXPECT_EQ(h.spec.template_.task, "app");
  EXPECT_EQ(h.spec.template_.set.at("/Config/image"), "registry.local/hello:{{version}}");
  EXPECT_EQ(h.spec.template_.set.at("/Env/APP_VERSION"), "{{version}}");
  ASSERT_TRUE(h.spec.pre_promotion && h.spec.pre_promotion->probe);
  EXPECT_EQ(h.spec.pre_promotion->probe->requests, 200);
  EXPECT_FALSE(h.spec.pre_promotion->probe->max_p99_latency.has_value());
  ASSERT_TRUE(h.spec.post_promotion);
  EXPECT_EQ(h.spec.post_promotion->count, 6);
  EXPECT_EQ(h.spec.post_promotion->failure_limit, 1);
  ASSERT_EQ(h.spec.post_promotion->metrics.size(), 1u);
  EXPECT_EQ(h.spec.post_promotion->metrics[0].name, "error-rate");
  EXPECT_EQ(h.spec.post_promotion->metrics[0].success_condition, "< 0.01");
}

TEST(RolloutExamplesTest, ExplicitValuesOverrideDefaults) {
  ParseResult r = ParseRollout(ReadText(kSchemas / "examples/valid/manual-promotion.json"));
  ASSERT_TRUE(r.rollout) << Describe(r.errors);
  const RolloutSpec& s = r.rollout->spec;
  EXPECT_EQ(s.nomad.namespace_, "payments");
  EXPECT_FALSE(s.blue_green.auto_promote);
  EXPECT_EQ(s.blue_green.scale_down_delay, minutes(90));
  EXPECT_EQ(s.blue_green.active_tag, "live");
  EXPECT_EQ(s.blue_green.standby_tag, "preview");
  EXPECT_EQ(s.health.min_healthy_time, milliseconds(0));
  EXPECT_EQ(s.health.progress_deadline, hours(1));
  ASSERT_TRUE(s.pre_promotion && s.pre_promotion->probe);
  EXPECT_EQ(s.pre_promotion->interval, milliseconds(500));
  EXPECT_EQ(s.pre_promotion->inconclusive_limit, 1);
  EXPECT_EQ(s.pre_promotion->probe->path, "/ready?deep=1");
  EXPECT_DOUBLE_EQ(s.pre_promotion->probe->max_error_rate, 0.02);
  EXPECT_EQ(s.pre_promotion->probe->max_p99_latency, milliseconds(250));
  EXPECT_EQ(s.pre_promotion->probe->timeout, seconds(1));
  EXPECT_FALSE(s.post_promotion.has_value());
}

// ---- defaults: the schema's "default" values and the parser's must be the same ----------

// Walks the canonical document along the schema. A field the input left out must come
// back holding the schema's default; a field with a schema default must never be dropped.
void CheckDefaults(const json& schema_in, const json& canonical, const json& input,
                   const json& root, const std::string& at, int& checked) {
  const json& schema = Resolve(schema_in, root);
  if (canonical.is_array() && schema.contains("items")) {
    for (size_t i = 0; i < canonical.size(); ++i) {
      CheckDefaults(schema["items"], canonical[i], input.is_array() ? input[i] : json(), root,
                    at + "/" + std::to_string(i), checked);
    }
    return;
  }
  if (!canonical.is_object() || !schema.contains("properties")) return;
  for (const auto& [key, value] : canonical.items()) {
    EXPECT_TRUE(schema["properties"].contains(key)) << at << "/" << key << " not in the schema";
  }
  for (const auto& [key, sub_in] : schema["properties"].items()) {
    const json& sub = Resolve(sub_in, root);
    // The "default" may sit beside the $ref (duration fields) or in the resolved schema.
    const json* def = sub_in.contains("default") ? &sub_in["default"]
                      : sub.contains("default")  ? &sub["default"]
                                                 : nullptr;
    bool in_input = input.is_object() && input.contains(key);
    std::string path = at + "/" + key;
    if (!canonical.contains(key)) {
      EXPECT_EQ(def, nullptr) << path << " has a schema default but the parser dropped it";
      continue;
    }
    if (!in_input) {
      EXPECT_NE(def, nullptr) << path << " was filled in by the parser without a schema default";
      if (def != nullptr && !def->is_object()) {
        EXPECT_EQ(canonical[key], *def) << path;
        ++checked;
      }
    }
    CheckDefaults(sub_in, canonical[key], in_input ? input[key] : json(), root, path, checked);
  }
}

TEST(RolloutDefaultsTest, SchemaDefaultsAreWhatTheParserFillsIn) {
  json schema = json::parse(ReadText(kSchemas / "rollout.schema.json"));
  json input = json::parse(ReadText(kSchemas / "examples/valid/minimal.json"));
  // Present but empty sections, so their own field defaults are exercised too.
  input["spec"]["analysis"] = {
      {"prePromotion", {{"probe", json::object()}}},
      {"postPromotion",
       {{"metrics", {{{"name", "m"}, {"query", "up"}, {"successCondition", "> 0"}}}}}}};
  ParseResult r = ParseRollout(input);
  ASSERT_TRUE(r.rollout) << Describe(r.errors);
  int checked = 0;
  CheckDefaults(schema, RolloutToJson(*r.rollout), input, schema, "", checked);
  // Scalar defaults: namespace, 4 blueGreen, 3 health, 2x4 analysis, 4 probe, provider.
  EXPECT_EQ(checked, 21);
}

TEST(RolloutDefaultsTest, MinimalDocumentGetsTheHeaderDefaults) {
  ParseResult r = ParseRollout(ReadText(kSchemas / "examples/valid/minimal.json"));
  ASSERT_TRUE(r.rollout) << Describe(r.errors);
  const RolloutSpec& s = r.rollout->spec;
  EXPECT_EQ(s.nomad.namespace_, "default");
  EXPECT_TRUE(s.blue_green.auto_promote);
  EXPECT_EQ(s.blue_green.scale_down_delay, seconds(30));
  EXPECT_EQ(s.blue_green.active_tag, "active");
  EXPECT_EQ(s.blue_green.standby_tag, "standby");
  EXPECT_EQ(s.health.min_healthy_time, seconds(5));
  EXPECT_EQ(s.health.healthy_deadline, minutes(2));
  EXPECT_EQ(s.health.progress_deadline, minutes(10));
  EXPECT_FALSE(s.pre_promotion.has_value());
  EXPECT_FALSE(s.post_promotion.has_value());
  EXPECT_TRUE(r.rollout->labels.empty());
}

// Editors show "description" on hover; every field of both schemas must have one.
void CheckDescriptions(const json& node, const std::string& at, int& fields) {
  if (!node.is_object()) return;
  if (node.contains("properties")) {
    for (const auto& [key, sub] : node["properties"].items()) {
      EXPECT_TRUE(sub.contains("description")) << at << "/properties/" << key;
      ++fields;
      CheckDescriptions(sub, at + "/properties/" + key, fields);
    }
  }
  for (const char* child : {"$defs", "items", "additionalProperties", "propertyNames"}) {
    if (!node.contains(child) || !node[child].is_object()) continue;
    if (std::string(child) == "$defs") {
      for (const auto& [key, sub] : node[child].items()) {
        EXPECT_TRUE(sub.contains("description")) << at << "/$defs/" << key;
        CheckDescriptions(sub, at + "/$defs/" + key, fields);
      }
    } else {
      if (std::string(child) != "items") {
        EXPECT_TRUE(node[child].contains("description")) << at << "/" << child;
      }
      CheckDescriptions(node[child], at + "/" + child, fields);
    }
  }
}

TEST(RolloutSchemaTest, EveryFieldHasADescription) {
  for (const char* name : {"rollout.schema.json", "rollout-status.schema.json"}) {
    int fields = 0;
    CheckDescriptions(json::parse(ReadText(kSchemas / name)), name, fields);
    EXPECT_GT(fields, 30) << name;
  }
}

// ---- error reporting ----------------------------------------------------------------------

json Minimal() {
  return json::parse(ReadText(kSchemas / "examples/valid/minimal.json"));
}

TEST(RolloutErrorsTest, ReportsEveryProblemNotJustTheFirst) {
  json doc = Minimal();
  doc["kind"] = "Job";
  doc["spec"]["nomad"]["groups"] = {"only-one"};
  doc["spec"]["health"] = {{"minHealthyTime", "soon"}};
  ParseResult r = ParseRollout(doc);
  EXPECT_FALSE(r.rollout);
  std::vector<std::string> pointers;
  for (const auto& e : r.errors) pointers.push_back(e.pointer);
  EXPECT_EQ(pointers, (std::vector<std::string>{"/kind", "/spec/nomad/groups",
                                                "/spec/health/minHealthyTime"}));
}

TEST(RolloutErrorsTest, TypoSuggestsTheFieldMeant) {
  json doc = Minimal();
  doc["spec"]["strategy"] = {{"blueGreen", {{"autopromote", false}}}};
  ParseResult r = ParseRollout(doc);
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r.errors);
  EXPECT_EQ(r.errors[0].pointer, "/spec/strategy/blueGreen/autopromote");
  EXPECT_EQ(r.errors[0].message, "unknown field \"autopromote\"; did you mean \"autoPromote\"?");
}

TEST(RolloutErrorsTest, PointerTokensAreEscaped) {
  json doc = Minimal();
  doc["spec"]["template"]["set"]["/Cmd~x"] = "x";
  ParseResult r = ParseRollout(doc);
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r.errors);
  EXPECT_EQ(r.errors[0].pointer, "/spec/template/set/~1Cmd~0x");
}

TEST(RolloutErrorsTest, ActiveTagEqualToDefaultStandbyIsRefused) {
  json doc = Minimal();
  doc["spec"]["strategy"] = {{"blueGreen", {{"activeTag", "standby"}}}};
  ParseResult r = ParseRollout(doc);
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r.errors);
  EXPECT_EQ(r.errors[0].pointer, "/spec/strategy/blueGreen/activeTag");
}

// ---- minHealthyTime < healthyDeadline (x-durationLessThan) --------------------------------

TEST(RolloutHealthTest, MinHealthyTimeLongerThanHealthyDeadlineIsRefused) {
  json doc = Minimal();
  doc["spec"]["health"] = {{"minHealthyTime", "10m"}, {"healthyDeadline", "30s"}};
  ParseResult r = ParseRollout(doc);
  EXPECT_FALSE(r.rollout);
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r.errors);
  EXPECT_EQ(r.errors[0].pointer, "/spec/health/minHealthyTime");
  EXPECT_EQ(r.errors[0].message,
            "must be shorter than healthyDeadline (10m >= 30s): the standby could never count "
            "as healthy in time");
}

TEST(RolloutHealthTest, EqualValuesAreRefusedShorterIsAccepted) {
  json doc = Minimal();
  // Equal after parsing, though written differently: the values are compared, not the text.
  doc["spec"]["health"] = {{"minHealthyTime", "60s"}, {"healthyDeadline", "1m"}};
  ParseResult r = ParseRollout(doc);
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r.errors);
  EXPECT_EQ(r.errors[0].pointer, "/spec/health/minHealthyTime");
  EXPECT_NE(r.errors[0].message.find("(60s >= 1m)"), std::string::npos) << r.errors[0].message;

  doc["spec"]["health"]["minHealthyTime"] = "59s999ms";
  r = ParseRollout(doc);
  ASSERT_TRUE(r.rollout) << Describe(r.errors);
  EXPECT_EQ(r.rollout->spec.health.min_healthy_time, milliseconds(59'999));
  EXPECT_EQ(r.rollout->spec.health.healthy_deadline, minutes(1));
}

TEST(RolloutHealthTest, ComparesWithTheDefaultHealthyDeadline) {
  json doc = Minimal();
  doc["spec"]["health"] = {{"minHealthyTime", "3m"}};
  ParseResult r = ParseRollout(doc);
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r.errors);
  EXPECT_EQ(r.errors[0].pointer, "/spec/health/minHealthyTime");
  EXPECT_EQ(r.errors[0].message,
            "must be shorter than healthyDeadline, whose default is 2m (3m >= 2m): the standby "
            "could never count as healthy in time");

  doc["spec"]["health"] = {{"minHealthyTime", "2m"}};  // equal to the default
  EXPECT_FALSE(ParseRollout(doc).rollout);
  doc["spec"]["health"] = {{"minHealthyTime", "1m59s"}};
  EXPECT_TRUE(ParseRollout(doc).rollout);
}

TEST(RolloutHealthTest, HealthyDeadlineNotAboveTheDefaultMinHealthyTimeIsRefusedThere) {
  json doc = Minimal();
  doc["spec"]["health"] = {{"healthyDeadline", "5s"}};  // the default minHealthyTime is 5s
  ParseResult r = ParseRollout(doc);
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r.errors);
  EXPECT_EQ(r.errors[0].pointer, "/spec/health/healthyDeadline");
  EXPECT_EQ(r.errors[0].message,
            "must be longer than minHealthyTime, whose default is 5s (5s >= 5s): the standby "
            "could never count as healthy in time");

  doc["spec"]["health"] = {{"healthyDeadline", "6s"}};
  EXPECT_TRUE(ParseRollout(doc).rollout);
  doc["spec"]["health"] = {{"healthyDeadline", "1s"}, {"minHealthyTime", "0"}};
  EXPECT_TRUE(ParseRollout(doc).rollout);
}

TEST(RolloutHealthTest, MalformedDurationIsReportedOnceNotCompared) {
  json doc = Minimal();
  doc["spec"]["health"] = {{"minHealthyTime", "10 minutes"}, {"healthyDeadline", "1s"}};
  ParseResult r = ParseRollout(doc);
  ASSERT_EQ(r.errors.size(), 1u) << Describe(r.errors);
  EXPECT_EQ(r.errors[0].pointer, "/spec/health/minHealthyTime");
  EXPECT_TRUE(r.errors[0].message.starts_with("must be a duration")) << r.errors[0].message;
}

// ---- metric names unique within one analysis (x-uniqueBy) --------------------------------

json Metric(const std::string& name) {
  return {{"name", name}, {"query", "up{job=\"{{job}}\"}"}, {"successCondition", "> 0"}};
}

TEST(RolloutMetricsTest, DuplicateNamesAreRefusedAtEachRepeat) {
  json doc = Minimal();
  doc["spec"]["analysis"] = {
      {"prePromotion", {{"metrics", {Metric("x"), Metric("y"), Metric("x"), Metric("x")}}}}};
  ParseResult r = ParseRollout(doc);
  EXPECT_FALSE(r.rollout);
  ASSERT_EQ(r.errors.size(), 2u) << Describe(r.errors);
  EXPECT_EQ(r.errors[0].pointer, "/spec/analysis/prePromotion/metrics/2/name");
  EXPECT_EQ(r.errors[0].message,
            "duplicate metric name \"x\" (also metrics/0): measurements are keyed by name");
  EXPECT_EQ(r.errors[1].pointer, "/spec/analysis/prePromotion/metrics/3/name");
  EXPECT_NE(r.errors[1].message.find("(also metrics/0)"), std::string::npos);
}

TEST(RolloutMetricsTest, NamesAreUniquePerAnalysisNotAcrossBoth) {
  json doc = Minimal();
  doc["spec"]["analysis"] = {{"prePromotion", {{"metrics", {Metric("error-rate")}}}},
                             {"postPromotion", {{"metrics", {Metric("error-rate")}}}}};
  ParseResult r = ParseRollout(doc);
  ASSERT_TRUE(r.rollout) << Describe(r.errors);
  EXPECT_EQ(r.rollout->spec.pre_promotion->metrics[0].name, "error-rate");
  EXPECT_EQ(r.rollout->spec.post_promotion->metrics[0].name, "error-rate");
}

TEST(RolloutErrorsTest, BadJsonTextIsAnErrorAtTheRoot) {
  ParseResult r = ParseRollout(std::string("{\"apiVersion\": "));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].pointer, "");
  EXPECT_TRUE(r.errors[0].message.starts_with("not valid JSON: ")) << r.errors[0].message;
  EXPECT_EQ(r.errors[0].message.find("[json.exception"), std::string::npos);
}

TEST(RolloutErrorsTest, HostileInputNeitherThrowsNorPasses) {
  std::string deep(5000, '[');
  std::string huge_query = "up{x=\"" + std::string(200'000, 'a') + "\"}";
  json doc = Minimal();
  doc["spec"]["analysis"] = {
      {"postPromotion",
       {{"metrics", {{{"name", "m"}, {"query", huge_query}, {"successCondition", "< 1"}}}}}}};
  for (const json& bad : {json(), json(42), json("Rollout"), json::array(), doc}) {
    ParseResult r;
    EXPECT_NO_THROW(r = ParseRollout(bad));
    EXPECT_FALSE(r.rollout.has_value()) << bad.dump().substr(0, 80);
    EXPECT_FALSE(r.errors.empty());
  }
  ParseResult r;
  EXPECT_NO_THROW(r = ParseRollout(deep));
  EXPECT_FALSE(r.errors.empty());
}

TEST(RolloutErrorsTest, IntegralFloatsCountAsIntegers) {
  json doc = Minimal();
  doc["spec"]["analysis"] = {{"prePromotion", {{"count", 3.0}, {"probe", {{"requests", 1e2}}}}}};
  ParseResult r = ParseRollout(doc);
  ASSERT_TRUE(r.rollout) << Describe(r.errors);
  EXPECT_EQ(r.rollout->spec.pre_promotion->count, 3);
  EXPECT_EQ(r.rollout->spec.pre_promotion->probe->requests, 100);
}

TEST(RolloutErrorsTest, LengthLimitsCountCharactersNotBytes) {
  json doc = Minimal();
  std::string accented;
  for (int i = 0; i < 256; ++i) accented += "\xC3\xA9";  // 256 x 'é' = 512 bytes
  doc["metadata"]["labels"] = {{"note", accented}};
  EXPECT_TRUE(ParseRollout(doc).errors.empty());
  doc["metadata"]["labels"]["note"] = accented + "e";
  ParseResult r = ParseRollout(doc);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].pointer, "/metadata/labels/note");
}

}  // namespace
}  // namespace rollouts::reconcilers
