// The demo's Nomad job and Rollout document agree with each other and with what the hello
// binary really exports, and hello-job rewrites the command and nothing else.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "examples/hello/job_command.h"
#include "examples/hello/metrics.h"

namespace hello {
namespace {

using nlohmann::json;

json ReadJson(const std::string& name) {
  std::ifstream in(std::string(HELLO_EXAMPLES_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  return json::parse(in);
}

constexpr int64_t kSecond = 1000000000;

TEST(HelloJobTest, TwoGroupsActiveAndStandbyWithHealthChecks) {
  json job = ReadJson("hello.nomad.json")["Job"];
  EXPECT_EQ(job["ID"], "hello");
  EXPECT_EQ(job["Type"], "service");
  EXPECT_EQ(job["Update"]["MinHealthyTime"], 2 * kSecond);
  EXPECT_EQ(job["Update"]["HealthCheck"], "checks");
  EXPECT_LT(job["Update"]["MinHealthyTime"], job["Update"]["HealthyDeadline"]);
  EXPECT_LT(job["Update"]["HealthyDeadline"], job["Update"]["ProgressDeadline"]);
  ASSERT_EQ(job["TaskGroups"].size(), 2u);
  std::vector<std::string> names, tags;
  for (const json& group : job["TaskGroups"]) {
    names.push_back(group["Name"]);
    EXPECT_EQ(group["Count"], 2);
    EXPECT_EQ(group["Networks"][0]["DynamicPorts"][0]["Label"], "http");
    ASSERT_EQ(group["Services"].size(), 1u);
    const json& service = group["Services"][0];
    EXPECT_EQ(service["Name"], "hello");
    EXPECT_EQ(service["PortLabel"], "http");
    ASSERT_EQ(service["Tags"].size(), 1u);
    tags.push_back(service["Tags"][0]);
    const json& check = service["Checks"][0];
    EXPECT_EQ(check["Type"], "http");
    EXPECT_EQ(check["Path"], "/healthz");
    EXPECT_EQ(check["Interval"], kSecond);
    EXPECT_EQ(check["Timeout"], kSecond);
    ASSERT_EQ(group["Tasks"].size(), 1u);
    const json& task = group["Tasks"][0];
    EXPECT_EQ(task["Name"], "app");
    EXPECT_EQ(task["Driver"], "raw_exec");
    EXPECT_EQ(task["KillSignal"], "SIGTERM");
    EXPECT_EQ(task["KillTimeout"], 10 * kSecond);
    // The version is stated three times; they must agree.
    EXPECT_EQ(group["Meta"]["version"], task["Env"]["APP_VERSION"]);
    EXPECT_EQ(service["Meta"]["version"], task["Env"]["APP_VERSION"]);
    std::string command = task["Config"]["command"];
    EXPECT_EQ(command.front(), '/');
  }
  EXPECT_EQ(names, (std::vector<std::string>{"hello-blue", "hello-green"}));
  EXPECT_EQ(tags, (std::vector<std::string>{"active", "standby"}));
}

TEST(HelloJobTest, RolloutTargetsThisJob) {
  json job = ReadJson("hello.nomad.json")["Job"];
  json spec = ReadJson("rollout.json")["spec"];
  EXPECT_EQ(spec["nomad"]["job"], job["ID"]);
  EXPECT_EQ(spec["nomad"]["groups"],
            (json{job["TaskGroups"][0]["Name"], job["TaskGroups"][1]["Name"]}));
  EXPECT_EQ(spec["nomad"]["service"], job["TaskGroups"][0]["Services"][0]["Name"]);
  EXPECT_EQ(spec["template"]["task"], job["TaskGroups"][0]["Tasks"][0]["Name"]);
  EXPECT_EQ(spec["template"]["set"], (json{{"/Env/APP_VERSION", "{{version}}"}}));
  EXPECT_EQ(spec["strategy"]["blueGreen"]["activeTag"],
            job["TaskGroups"][0]["Services"][0]["Tags"][0]);
  EXPECT_EQ(spec["strategy"]["blueGreen"]["standbyTag"],
            job["TaskGroups"][1]["Services"][0]["Tags"][0]);
  EXPECT_EQ(spec["analysis"]["prePromotion"]["probe"]["path"], "/hello");
}

// Every selector in the post-promotion queries, with {{service}}/{{version}} filled in,
// must match a series the real metrics code exports: a renamed metric or label would
// otherwise turn the analysis into "no data" without anyone noticing.
TEST(HelloJobTest, AnalysisQueriesSelectSeriesHelloExports) {
  HelloMetrics metrics("hello", "v5");
  metrics.CountRequest(500, std::chrono::milliseconds(1));
  std::string exposition = metrics.Render();

  json spec = ReadJson("rollout.json")["spec"];
  const json& queries = spec["analysis"]["postPromotion"]["metrics"];
  ASSERT_FALSE(queries.empty());
  std::regex selector_pattern(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\})");
  std::regex matcher_pattern(R"re(([a-zA-Z_]+)(=~|!=|=)"([^"]*)")re");
  int selectors = 0;
  for (const json& metric : queries) {
    std::string query = metric["query"];
    for (const auto& [from, to] : {std::pair{"{{service}}", "hello"}, {"{{version}}", "v5"}}) {
      for (auto pos = query.find(from); pos != std::string::npos; pos = query.find(from)) {
        query.replace(pos, std::string(from).size(), to);
      }
    }
    for (std::sregex_iterator it(query.begin(), query.end(), selector_pattern), end; it != end;
         ++it) {
      ++selectors;
      std::string name = (*it)[1];
      std::string matchers = (*it)[2];
      bool matched = false;
      std::istringstream lines(exposition);
      std::string line;
      while (std::getline(lines, line) && !matched) {
        if (line.rfind(name + "{", 0) != 0) continue;
        bool all = true;
        for (std::sregex_iterator m(matchers.begin(), matchers.end(), matcher_pattern);
             m != std::sregex_iterator(); ++m) {
          std::smatch value;
          std::regex label_value((*m)[1].str() + "=\"([^\"]*)\"");
          if (!std::regex_search(line, value, label_value)) {
            all = false;
            break;
          }
          std::string op = (*m)[2], want = (*m)[3];
          bool ok = op == "="    ? value[1] == want
                    : op == "!=" ? value[1] != want
                                 : std::regex_match(value[1].str(), std::regex(want));
          all = all && ok;
        }
        matched = all;
      }
      EXPECT_TRUE(matched) << "no exported series matches " << (*it)[0] << "\n" << exposition;
    }
  }
  EXPECT_GE(selectors, 2);
}

TEST(HelloJobCommandTest, SetsTheCommandOfEveryMatchingTaskOnly) {
  json original = ReadJson("hello.nomad.json");
  json rewritten = WithTaskCommand(original, "app", "/opt/demo/bin/hello");
  int seen = 0;
  for (const json& group : rewritten["Job"]["TaskGroups"]) {
    for (const json& task : group["Tasks"]) {
      EXPECT_EQ(task["Config"]["command"], "/opt/demo/bin/hello");
      ++seen;
    }
  }
  EXPECT_EQ(seen, 2);
  // Nothing else moved.
  json restored = rewritten;
  for (std::size_t g = 0; g < restored["Job"]["TaskGroups"].size(); ++g) {
    restored["Job"]["TaskGroups"][g]["Tasks"][0]["Config"]["command"] =
        original["Job"]["TaskGroups"][g]["Tasks"][0]["Config"]["command"];
  }
  EXPECT_EQ(restored, original);
}

TEST(HelloJobCommandTest, RefusesWhatNomadWouldNotRun) {
  json job = ReadJson("hello.nomad.json");
  EXPECT_THROW(WithTaskCommand(job, "app", "hello"), std::invalid_argument);
  EXPECT_THROW(WithTaskCommand(job, "app", ""), std::invalid_argument);
  EXPECT_THROW(WithTaskCommand(job, "web", "/bin/hello"), std::invalid_argument);
  EXPECT_THROW(WithTaskCommand(job["Job"], "app", "/bin/hello"), std::invalid_argument);
  EXPECT_THROW(WithTaskCommand(json::array(), "app", "/bin/hello"), std::invalid_argument);
}

TEST(HelloJobCommandTest, ToolPrintsTheJobWithTheBuiltBinary) {
  std::string output;
  FILE* pipe = ::popen(HELLO_JOB_TOOL " 2>&1", "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  ASSERT_EQ(::pclose(pipe), 0) << output;
  json job = json::parse(output);
  for (const json& group : job["Job"]["TaskGroups"]) {
    EXPECT_EQ(group["Tasks"][0]["Config"]["command"], HELLO_BINARY);
  }
}

}  // namespace
}  // namespace hello
