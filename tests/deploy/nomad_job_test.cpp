// deploy/rolloutd.nomad.json in the sandbox: register the job with the real rolloutd
// binary, wait (bounded) until both allocations run and their /healthz Consul checks pass,
// then check through /metrics that exactly one instance leads.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "clients/http/http.h"
#include "controller/config.h"
#include "tests/cli/subprocess.h"
#include "tests/deploy/sandbox_for_jobs.h"

namespace {

using nlohmann::json;
using rollouts::cli_test::Child;
using namespace std::chrono_literals;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Endpoint {
  std::string address;  // 127.0.0.1:port
  bool passing = false;
};

class RolloutdNomadJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(
        sandbox_.Start(::testing::TempDir() + "rolloutd-deploy-" + std::to_string(::getpid())));
  }

  static rollouts::http::Result Get(rollouts::http::Client& client, const std::string& target) {
    rollouts::http::Request request;
    request.target = target;
    request.timeout = 5s;
    return client.Send(request);
  }

  // The job file with the binary and the sandbox's agent addresses filled in.
  json JobForSandbox() const {
    json job = json::parse(ReadFile(ROLLOUTS_SOURCE_DIR "/deploy/rolloutd.nomad.json"));
    json& task = job["Job"]["TaskGroups"][0]["Tasks"][0];
    task["Config"]["command"] = ROLLOUTD_PATH;
    task["Env"]["CONSUL_HTTP_ADDR"] = sandbox_.consul_url;
    task["Env"]["NOMAD_ADDR"] = sandbox_.nomad_url;
    return job;
  }

  // rolloutd instances registered in Consul, with whether their checks pass.
  std::vector<Endpoint> Instances() {
    std::vector<Endpoint> out;
    rollouts::http::Result result = Get(*sandbox_.consul, "/v1/health/service/rolloutd");
    if (!result.ok() || result.response().status != 200) return out;
    for (const json& entry : json::parse(result.response().body)) {
      Endpoint endpoint;
      endpoint.address = entry["Service"].value("Address", "") + ":" +
                         std::to_string(entry["Service"].value("Port", 0));
      bool own_check = false, all_passing = true;
      for (const json& check : entry["Checks"]) {
        if (check.value("ServiceName", "") == "rolloutd") own_check = true;
        if (check.value("Status", "") != "passing") all_passing = false;
      }
      endpoint.passing = own_check && all_passing;
      out.push_back(endpoint);
    }
    return out;
  }

  int RunningAllocations() {
    rollouts::http::Result result = Get(*sandbox_.nomad, "/v1/job/rolloutd/allocations");
    if (!result.ok() || result.response().status != 200) return -1;
    int running = 0;
    for (const json& alloc : json::parse(result.response().body)) {
      if (alloc.value("ClientStatus", "") == "running") ++running;
    }
    return running;
  }

  // The value of the unlabelled gauge rollouts_leader, or -1 when it cannot be read.
  static int LeaderGauge(const std::string& address) {
    auto client = rollouts::http::MakeClient({"http://" + address, {}});
    rollouts::http::Result result = Get(*client, "/metrics");
    if (!result.ok() || result.response().status != 200) return -1;
    std::smatch match;
    const std::string& body = result.response().body;
    if (!std::regex_search(body, match, std::regex(R"((^|\n)rollouts_leader ([0-9.e+]+))"))) {
      return -1;
    }
    return std::stod(match[2]) == 1 ? 1 : 0;
  }

  rollouts::deploy_test::SandboxForJobs sandbox_;
};

TEST_F(RolloutdNomadJobTest, TwoInstancesRunHealthyAndExactlyOneLeads) {
  const json job = JobForSandbox();
  rollouts::http::Request put;
  put.method = rollouts::http::Method::kPut;
  put.target = "/v1/jobs";
  put.headers["Content-Type"] = "application/json";
  put.body = job.dump();
  rollouts::http::Result registered = sandbox_.nomad->Send(put);
  ASSERT_TRUE(registered.ok()) << registered.error().message;
  ASSERT_EQ(registered.response().status, 200) << registered.response().body;

  // Bounded wait: the Consul check runs every 10s, so two rounds plus start-up.
  std::vector<Endpoint> instances;
  int running = 0;
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (std::chrono::steady_clock::now() < deadline) {
    running = RunningAllocations();
    instances = Instances();
    const bool all_passing = instances.size() == 2 && instances[0].passing && instances[1].passing;
    if (running == 2 && all_passing) break;
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(running, 2) << "allocations running; sandbox output:\n" << sandbox_.output();
  ASSERT_EQ(instances.size(), 2u);
  for (const Endpoint& instance : instances) {
    EXPECT_TRUE(instance.passing) << instance.address << " /healthz check not passing";
  }
  ASSERT_NE(instances[0].address, instances[1].address);

  // Leader election settles within a few lock attempts; wait (bounded) for one leader.
  std::vector<int> gauges;
  const auto leader_deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < leader_deadline) {
    gauges = {LeaderGauge(instances[0].address), LeaderGauge(instances[1].address)};
    if (gauges[0] + gauges[1] == 1 && gauges[0] >= 0 && gauges[1] >= 0) break;
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(gauges.size(), 2u);
  EXPECT_GE(gauges[0], 0) << "no rollouts_leader on " << instances[0].address;
  EXPECT_GE(gauges[1], 0) << "no rollouts_leader on " << instances[1].address;
  EXPECT_EQ(gauges[0] + gauges[1], 1) << "exactly one instance must lead";
}

// The JSON copy is the HCL job in API form; the sandbox-only differences (raw_exec, no
// Vault template, no distinct_hosts) are documented in docs/operations.md.
TEST(RolloutdJobFiles, JsonCopyMatchesTheHclJob) {
  const json job = json::parse(ReadFile(ROLLOUTS_SOURCE_DIR "/deploy/rolloutd.nomad.json"))["Job"];
  const std::string hcl = ReadFile(ROLLOUTS_SOURCE_DIR "/deploy/rolloutd.nomad.hcl");
  EXPECT_EQ(job["ID"], "rolloutd");
  EXPECT_EQ(job["Type"], "service");
  ASSERT_EQ(job["TaskGroups"].size(), 1u);
  const json& group = job["TaskGroups"][0];
  EXPECT_EQ(group["Count"], 2) << "two instances for HA";
  EXPECT_NE(hcl.find("count = 2"), std::string::npos);
  EXPECT_EQ(job["Update"]["MaxParallel"], 1);
  EXPECT_NE(hcl.find("max_parallel      = 1"), std::string::npos);
  EXPECT_EQ(group["Networks"][0]["DynamicPorts"][0]["Label"], "metrics");
  EXPECT_NE(hcl.find("port \"metrics\" {}"), std::string::npos);
  const json& service = group["Services"][0];
  EXPECT_EQ(service["Name"], "rolloutd");
  EXPECT_EQ(service["PortLabel"], "metrics");
  EXPECT_EQ(service["Checks"][0]["Type"], "http");
  EXPECT_EQ(service["Checks"][0]["Path"], "/healthz");
  EXPECT_NE(hcl.find("path     = \"/healthz\""), std::string::npos);
  const json& task = group["Tasks"][0];
  EXPECT_EQ(task["Config"]["command"], "/usr/local/bin/rolloutd");
  EXPECT_NE(hcl.find("command = \"/usr/local/bin/rolloutd\""), std::string::npos);
  // Same flags in the same order.
  size_t at = hcl.find("args = [");
  ASSERT_NE(at, std::string::npos);
  for (const json& arg : task["Config"]["args"]) {
    const std::string quoted = "\"" + arg.get<std::string>() + "\"";
    const size_t found = hcl.find(quoted, at);
    ASSERT_NE(found, std::string::npos) << arg << " missing or out of order in the HCL job";
    at = found + quoted.size();
  }
  EXPECT_EQ(task["KillSignal"], "SIGTERM");
  EXPECT_NE(hcl.find("kill_signal  = \"SIGTERM\""), std::string::npos);
  for (const char* variable : {"CONSUL_HTTP_ADDR", "NOMAD_ADDR", "NOMAD_NAMESPACE"}) {
    EXPECT_TRUE(task["Env"].contains(variable)) << variable;
    EXPECT_NE(hcl.find(variable), std::string::npos) << variable;
  }
  // Tokens come from the template in the HCL job, never from the job's Env or args.
  EXPECT_FALSE(task["Env"].contains("CONSUL_HTTP_TOKEN"));
  EXPECT_FALSE(task["Env"].contains("NOMAD_TOKEN"));
  EXPECT_NE(hcl.find("CONSUL_HTTP_TOKEN={{"), std::string::npos);
  EXPECT_NE(hcl.find("NOMAD_TOKEN={{"), std::string::npos);
}

// The job's flags are accepted by rolloutd's own configuration parser.
TEST(RolloutdJobFiles, JobFlagsParseAsAValidConfiguration) {
  const json task = json::parse(ReadFile(
      ROLLOUTS_SOURCE_DIR "/deploy/rolloutd.nomad.json"))["Job"]["TaskGroups"][0]["Tasks"][0];
  std::vector<std::string> args = {"rolloutd"};
  for (const json& arg : task["Config"]["args"]) {
    std::string value = arg.get<std::string>();
    if (value == "${NOMAD_ADDR_metrics}") value = "127.0.0.1:24001";  // what Nomad fills in
    args.push_back(value);
  }
  std::map<std::string, std::string> env;
  for (const auto& [name, value] : task["Env"].items()) env[name] = value.get<std::string>();
  const rollouts::controller::ConfigParseResult parsed = rollouts::controller::ParseConfig(
      args, [&env](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
      });
  ASSERT_TRUE(parsed.config.has_value()) << parsed.output;
  EXPECT_EQ(parsed.config->metrics_port, 24001);
  EXPECT_EQ(parsed.config->kv_prefix, "rollouts/");
  EXPECT_EQ(parsed.config->leader_ttl, std::chrono::seconds(15));
  EXPECT_EQ(parsed.config->allowed_jobs, std::vector<std::string>{"default/*"});
}

}  // namespace
