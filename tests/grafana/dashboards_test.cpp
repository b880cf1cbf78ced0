// Static checks of the Grafana dashboards and the alert rule file: JSON structure, panel
// ids, datasource references, variables, and every PromQL expression parsed by promtool
// (the real Prometheus parser) after the dashboard variables are filled in. Metric names
// are checked against docs/metrics.md so a typo cannot hide behind "no data".
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSourceDir = ROLLOUTS_SOURCE_DIR;
const std::string kPromtool = ROLLOUTS_PROMTOOL;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<fs::path> DashboardFiles() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kSourceDir / "grafana" / "dashboards")) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

json LoadDashboard(const fs::path& path) {
  return json::parse(ReadFile(path));
}

// Every panel, rows' nested panels included.
void CollectPanels(const json& panels, std::vector<json>& out) {
  if (!panels.is_array()) return;
  for (const json& panel : panels) {
    out.push_back(panel);
    if (panel.contains("panels")) CollectPanels(panel["panels"], out);
  }
}

std::vector<json> AllPanels(const json& dashboard) {
  std::vector<json> panels;
  CollectPanels(dashboard.value("panels", json::array()), panels);
  return panels;
}

bool IsRow(const json& panel) {
  return panel.value("type", "") == "row";
}

const json kDatasourceRef = {{"type", "prometheus"}, {"uid", "${datasource}"}};

// One PromQL expression and where it came from (for failure messages).
struct Expression {
  std::string where;
  std::string promql;
};

// Panel targets, annotation queries and the metric selectors inside label_values()
// variable queries.
std::vector<Expression> Expressions(const json& dashboard) {
  std::vector<Expression> out;
  for (const json& panel : AllPanels(dashboard)) {
    for (const json& target : panel.value("targets", json::array())) {
      out.push_back({"panel " + std::to_string(panel.value("id", -1)) + " \"" +
                         panel.value("title", "") + "\" target " + target.value("refId", "?"),
                     target.value("expr", "")});
    }
  }
  for (const json& annotation : dashboard["annotations"]["list"]) {
    if (annotation.contains("expr")) {
      out.push_back({"annotation \"" + annotation.value("name", "") + "\"",
                     annotation["expr"].get<std::string>()});
    }
  }
  static const std::regex label_values(R"(^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$)");
  for (const json& variable : dashboard["templating"]["list"]) {
    if (variable.value("type", "") != "query") continue;
    const std::string query = variable["query"].is_object() ? variable["query"].value("query", "")
                                                            : variable["query"].get<std::string>();
    std::smatch match;
    if (std::regex_match(query, match, label_values)) {
      out.push_back({"variable $" + variable.value("name", ""), match[1].str()});
    }
  }
  return out;
}

// Grafana's built-in variables, with the values the checks (and
// tests/grafana/check_dashboard_queries.sh) substitute.
const std::map<std::string, std::string>& BuiltinVariables() {
  static const std::map<std::string, std::string> builtins = {
      {"__rate_interval", "1m"}, {"__interval", "1m"},       {"__range", "1h"},
      {"__range_s", "3600"},     {"__interval_ms", "60000"}, {"__range_ms", "3600000"}};
  return builtins;
}

std::map<std::string, std::string> VariableValues(const json& dashboard) {
  std::map<std::string, std::string> values = BuiltinVariables();
  for (const json& variable : dashboard["templating"]["list"]) {
    std::string value;
    if (variable.contains("current") && variable["current"].contains("value") &&
        variable["current"]["value"].is_string()) {
      value = variable["current"]["value"].get<std::string>();
    }
    values[variable.value("name", "")] = value;
  }
  return values;
}

// Names referenced as $name, ${name}, ${name:format} or [[name]].
std::set<std::string> ReferencedVariables(const std::string& text) {
  static const std::regex reference(
      R"(\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\])");
  std::set<std::string> names;
  for (std::sregex_iterator it(text.begin(), text.end(), reference), end; it != end; ++it) {
    for (int group = 1; group <= 3; ++group) {
      if ((*it)[group].matched) names.insert((*it)[group].str());
    }
  }
  return names;
}

std::string Substitute(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [name, value] : values) {
    for (const std::string& form : {"${" + name + "}", "[[" + name + "]]"}) {
      for (size_t pos; (pos = text.find(form)) != std::string::npos;) {
        text.replace(pos, form.size(), value);
      }
    }
  }
  // $name last and longest names first, so "$__range_s" is not read as "$__range" + "_s".
  std::vector<std::string> names;
  for (const auto& [name, _] : values) names.push_back(name);
  std::sort(names.begin(), names.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& name : names) {
    const std::string form = "$" + name;
    for (size_t pos = 0; (pos = text.find(form, pos)) != std::string::npos;) {
      const size_t after = pos + form.size();
      if (after < text.size() &&
          (std::isalnum(static_cast<unsigned char>(text[after])) || text[after] == '_')) {
        pos = after;
        continue;
      }
      text.replace(pos, form.size(), values.at(name));
      pos += values.at(name).size();
    }
  }
  return text;
}

// Every string value anywhere in a JSON document.
void CollectStrings(const json& value, std::vector<std::string>& out) {
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
  } else if (value.is_structured()) {
    for (const json& child : value) CollectStrings(child, out);
  }
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult Run(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) {
    result.output.append(buffer, n);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// A YAML double-quoted scalar (JSON string syntax is valid YAML).
std::string YamlQuote(const std::string& text) {
  return json(text).dump();
}

// Writes each expression as a recording rule and runs `promtool check rules`.
CommandResult PromtoolCheck(const std::vector<std::string>& expressions, const std::string& name) {
  const fs::path file = fs::temp_directory_path() /
                        ("dashboards_test_" + std::to_string(::getpid()) + "_" + name + ".yml");
  {
    std::ofstream out(file);
    out << "groups:\n  - name: dashboard_" << name << "\n    rules:\n";
    for (size_t i = 0; i < expressions.size(); ++i) {
      out << "      - record: dashboard:expr_" << i
          << "\n        expr: " << YamlQuote(expressions[i]) << "\n";
    }
  }
  CommandResult result = Run(kPromtool + " check rules " + file.string());
  fs::remove(file);
  return result;
}

// Metric names listed in docs/metrics.md's tables (`rollouts_...`).
std::set<std::string> DocumentedMetrics() {
  const std::string doc = ReadFile(kSourceDir / "docs" / "metrics.md");
  static const std::regex row(R"(\|\s*`(rollouts_[a-z_]+)`\s*\|)");
  std::set<std::string> names;
  for (std::sregex_iterator it(doc.begin(), doc.end(), row), end; it != end; ++it) {
    names.insert((*it)[1].str());
  }
  return names;
}

// rollouts_* metric names used in a text; histogram series suffixes map to the family.
std::set<std::string> UsedControllerMetrics(const std::string& text) {
  static const std::regex metric(R"(\brollouts_[a-z_]+)");
  std::set<std::string> names;
  for (std::sregex_iterator it(text.begin(), text.end(), metric), end; it != end; ++it) {
    std::string name = it->str();
    for (const std::string suffix : {"_bucket", "_count", "_sum"}) {
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        name.resize(name.size() - suffix.size());
      }
    }
    names.insert(name);
  }
  return names;
}

bool HavePromtool() {
  return !kPromtool.empty() && ::access(kPromtool.c_str(), X_OK) == 0;
}

TEST(Dashboards, TheThreeDashboardsExist) {
  std::set<std::string> names;
  for (const fs::path& file : DashboardFiles()) names.insert(file.filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"controller.json", "fleet.json", "rollout.json"}));
}

TEST(Dashboards, ParseWithGrafana10SchemaAndDatasourceVariable) {
  std::set<std::string> uids;
  for (const fs::path& file : DashboardFiles()) {
    SCOPED_TRACE(file.string());
    json dashboard;
    ASSERT_NO_THROW(dashboard = LoadDashboard(file));
    EXPECT_GE(dashboard.value("schemaVersion", 0), 36) << "Grafana 10 writes schemaVersion 36+";
    ASSERT_TRUE(dashboard.contains("uid"));
    EXPECT_TRUE(uids.insert(dashboard["uid"].get<std::string>()).second) << "duplicate uid";
    EXPECT_FALSE(dashboard.value("title", "").empty());
    const json& variables = dashboard["templating"]["list"];
    int datasource_variables = 0;
    for (const json& variable : variables) {
      if (variable.value("name", "") == "datasource") {
        ++datasource_variables;
        EXPECT_EQ(variable.value("type", ""), "datasource");
        EXPECT_EQ(variable.value("query", ""), "prometheus");
      }
    }
    EXPECT_EQ(datasource_variables, 1);
    EXPECT_FALSE(AllPanels(dashboard).empty());
  }
}

TEST(Dashboards, PanelIdsAreUniqueIntegers) {
  for (const fs::path& file : DashboardFiles()) {
    SCOPED_TRACE(file.string());
    std::set<int64_t> ids;
    for (const json& panel : AllPanels(LoadDashboard(file))) {
      ASSERT_TRUE(panel.contains("id") && panel["id"].is_number_integer())
          << "panel without an integer id: " << panel.value("title", "");
      EXPECT_TRUE(ids.insert(panel["id"].get<int64_t>()).second)
          << "duplicate panel id " << panel["id"] << " (" << panel.value("title", "") << ")";
    }
  }
}

TEST(Dashboards, EveryQueryUsesTheDatasourceVariable) {
  for (const fs::path& file : DashboardFiles()) {
    SCOPED_TRACE(file.string());
    const json dashboard = LoadDashboard(file);
    for (const json& panel : AllPanels(dashboard)) {
      if (IsRow(panel)) continue;
      const std::string title = panel.value("title", "");
      EXPECT_EQ(panel.value("datasource", json()), kDatasourceRef) << title;
      ASSERT_FALSE(panel.value("targets", json::array()).empty()) << title << " has no query";
      for (const json& target : panel["targets"]) {
        EXPECT_EQ(target.value("datasource", json()), kDatasourceRef) << title;
        EXPECT_FALSE(target.value("expr", "").empty()) << title;
      }
    }
    for (const json& annotation : dashboard["annotations"]["list"]) {
      if (annotation.value("builtIn", 0) == 1) continue;
      EXPECT_EQ(annotation.value("datasource", json()), kDatasourceRef)
          << annotation.value("name", "");
    }
    for (const json& variable : dashboard["templating"]["list"]) {
      if (variable.value("type", "") == "query") {
        EXPECT_EQ(variable.value("datasource", json()), kDatasourceRef)
            << variable.value("name", "");
      }
    }
  }
}

TEST(Dashboards, EveryVariableUsedIsDefined) {
  for (const fs::path& file : DashboardFiles()) {
    SCOPED_TRACE(file.string());
    const json dashboard = LoadDashboard(file);
    std::set<std::string> defined;
    for (const auto& [name, _] : BuiltinVariables()) defined.insert(name);
    for (const json& variable : dashboard["templating"]["list"]) {
      defined.insert(variable.value("name", ""));
    }
    std::vector<std::string> strings;
    CollectStrings(dashboard["panels"], strings);
    CollectStrings(dashboard["annotations"], strings);
    CollectStrings(dashboard["templating"], strings);
    for (const std::string& text : strings) {
      for (const std::string& name : ReferencedVariables(text)) {
        EXPECT_TRUE(defined.count(name)) << "$" << name << " is not defined, used in: " << text;
      }
    }
  }
}

TEST(Dashboards, RolloutDashboardHasRolloutVariableFromAControllerMetric) {
  const json dashboard = LoadDashboard(kSourceDir / "grafana" / "dashboards" / "rollout.json");
  bool found = false;
  for (const json& variable : dashboard["templating"]["list"]) {
    if (variable.value("name", "") != "rollout") continue;
    found = true;
    EXPECT_EQ(variable.value("type", ""), "query");
    const std::string query = variable["query"].value("query", "");
    EXPECT_EQ(query.rfind("label_values(rollouts_", 0), 0u) << query;
    EXPECT_NE(query.find(", rollout)"), std::string::npos) << query;
  }
  EXPECT_TRUE(found);
  // Flip and roll-back annotations.
  std::set<std::string> annotations;
  for (const json& annotation : dashboard["annotations"]["list"]) {
    annotations.insert(annotation.value("expr", ""));
  }
  bool flips = false, rollbacks = false;
  for (const std::string& expr : annotations) {
    flips |= expr.find("rollouts_flips_total") != std::string::npos;
    rollbacks |= expr.find("rollouts_rollbacks_total") != std::string::npos;
  }
  EXPECT_TRUE(flips);
  EXPECT_TRUE(rollbacks);
}

TEST(Dashboards, VariableSubstitutionFillsEveryForm) {
  const std::map<std::string, std::string> values = {
      {"job", "rolloutd"}, {"__range", "1h"}, {"__range_s", "3600"}, {"rollout", "hello"}};
  EXPECT_EQ(Substitute("x{job=~\"$job\", r=\"${rollout}\", s=\"[[rollout]]\"}[$__range] $__range_s",
                       values),
            "x{job=~\"rolloutd\", r=\"hello\", s=\"hello\"}[1h] 3600");
  EXPECT_EQ(Substitute("$jobs", values), "$jobs");
}

TEST(Dashboards, ControllerMetricsUsedAreDocumented) {
  const std::set<std::string> documented = DocumentedMetrics();
  ASSERT_GT(documented.size(), 20u) << "docs/metrics.md tables not found";
  std::vector<std::pair<std::string, std::string>> sources;
  for (const fs::path& file : DashboardFiles()) {
    for (const Expression& e : Expressions(LoadDashboard(file))) {
      sources.push_back({file.filename().string() + " " + e.where, e.promql});
    }
  }
  sources.push_back(
      {"rollouts.rules.yml", ReadFile(kSourceDir / "grafana" / "alerts" / "rollouts.rules.yml")});
  for (const auto& [where, text] : sources) {
    for (const std::string& name : UsedControllerMetrics(text)) {
      EXPECT_TRUE(documented.count(name))
          << where << " uses " << name << ", which docs/metrics.md does not list";
    }
  }
}

TEST(Promtool, RejectsABrokenExpression) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not found (install the Debian prometheus package)";
  // The check below is only meaningful if promtool fails on a syntax error.
  const CommandResult result =
      PromtoolCheck({"sum by (job) (rate(up[5m])", "up{job=~\"$job\"}"}, "broken");
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(PromtoolCheck({"sum(rate(up[5m]))"}, "good").exit_code, 1);
}

TEST(Promtool, EveryDashboardExpressionParses) {
  if (!HavePromtool()) GTEST_SKIP() << "promtool not found (install the Debian prometheus package)";
  for (const fs::path& file : DashboardFiles()) {
    SCOPED_TRACE(file.string());
    const json dashboard = LoadDashboard(file);
    const std::map<std::string, std::string> values = VariableValues(dashboard);
    const std::vector<Expression> expressions = Expressions(dashboard);
    ASSERT_FALSE(expressions.empty());
    std::vector<std::string> filled;
    for (const Expression& e : expressions) {
      const std::string promql = Substitute(e.promql, values);
      EXPECT_TRUE(ReferencedVariables(promql).empty()) << e.where << ": " << promql;
      filled.push_back(promql);
    }
    // One file per dashboard; on failure, re-check expression by expression to name it.
    const CommandResult all = PromtoolCheck(filled, file.stem().string());
    if (all.exit_code == 0) continue;
    for (size_t i = 0; i < filled.size(); ++i) {
      const CommandResult one = PromtoolCheck({filled[i]}, file.stem().string() + "_one");
      EXPECT_EQ(one.exit_code, 0) << expressions[i].where << ": " << filled[i] << "\n"
                                  << one.output;
    }
    ADD_FAILURE() << all.output;
  }
}

TEST(AlertRules, EveryAlertHasSeverityTextAndARunbookSection) {
  const std::string rules = ReadFile(kSourceDir / "grafana" / "alerts" / "rollouts.rules.yml");
  const std::string runbook = ReadFile(kSourceDir / "docs" / "runbook.md");
  // Anchors GitHub derives from "## Heading" lines: lower case, spaces to dashes.
  std::set<std::string> anchors;
  static const std::regex heading(R"((^|\n)#{2,3} ([^\n]+))");
  for (std::sregex_iterator it(runbook.begin(), runbook.end(), heading), end; it != end; ++it) {
    std::string anchor;
    for (char c : (*it)[2].str()) {
      if (std::isalnum(static_cast<unsigned char>(c))) {
        anchor += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      } else if (c == ' ' || c == '-') {
        anchor += '-';
      }
    }
    anchors.insert(anchor);
  }
  // Split the file at each "- alert:" and check the block up to the next rule.
  static const std::regex alert(R"(\n\s*- alert: (\w+)\n)");
  std::vector<std::pair<std::string, size_t>> starts;
  for (std::sregex_iterator it(rules.begin(), rules.end(), alert), end; it != end; ++it) {
    starts.push_back({(*it)[1].str(), static_cast<size_t>(it->position())});
  }
  std::set<std::string> names;
  for (size_t i = 0; i < starts.size(); ++i) {
    const auto& [name, begin] = starts[i];
    const size_t stop = i + 1 < starts.size() ? starts[i + 1].second : rules.size();
    const std::string block = rules.substr(begin, stop - begin);
    SCOPED_TRACE(name);
    names.insert(name);
    EXPECT_TRUE(std::regex_search(block, std::regex(R"(severity: (critical|warning))")));
    EXPECT_NE(block.find("summary:"), std::string::npos);
    EXPECT_NE(block.find("description:"), std::string::npos);
    EXPECT_NE(block.find("reason"), std::string::npos) << "the description names the reason";
    std::smatch url;
    ASSERT_TRUE(std::regex_search(
        block, url, std::regex(R"re(runbook_url: "docs/runbook.md#([a-z0-9-]+)")re")));
    EXPECT_EQ(url[1].str(), [&] {
      std::string lower;
      for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return lower;
    }());
    EXPECT_TRUE(anchors.count(url[1].str())) << "docs/runbook.md has no section #" << url[1];
  }
  for (const char* required :
       {"RolloutStuck", "RolloutDegraded", "RolloutAnalysisFailing", "RolloutRolledBack",
        "ControllerDown", "NoLeader", "LeaderFlapping", "ReconcileErrorsHigh", "WatchStalled"}) {
    EXPECT_TRUE(names.count(required)) << required << " is missing";
  }
}

TEST(AlertRules, EveryAlertHasAUnitTest) {
  const std::string rules = ReadFile(kSourceDir / "grafana" / "alerts" / "rollouts.rules.yml");
  std::string tests;
  for (const auto& entry : fs::directory_iterator(kSourceDir / "grafana" / "alerts" / "tests")) {
    if (entry.path().extension() == ".yml") tests += ReadFile(entry.path());
  }
  static const std::regex alert(R"(- alert: (\w+))");
  for (std::sregex_iterator it(rules.begin(), rules.end(), alert), end; it != end; ++it) {
    const std::string name = (*it)[1].str();
    // A firing case (exp_labels under the alert) and at least one quiet case.
    const std::regex firing("alertname: " + name + R"(\n\s*exp_alerts:\n\s*- exp_labels:)");
    const std::regex quiet("alertname: " + name + R"(\n\s*exp_alerts: \[\])");
    EXPECT_TRUE(std::regex_search(tests, firing)) << name << " has no firing test";
    EXPECT_TRUE(std::regex_search(tests, quiet)) << name << " has no quiet test";
  }
}

}  // namespace
