// deploy/rollout-router-haproxy.nomad.{hcl,json}: the JSON copy says what the HCL job says;
// the job's router flags give a HAProxy config that HAProxy accepts; and the JSON job,
// registered in the real rollout-sandbox with the real rollout-router and HAProxy, routes
// a request to the one ready active instance of "hello" (a small python3 job) through each
// allocation's HAProxy, with the files in the shared allocation directory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "clients/http/http.h"
#include "tests/cli/subprocess.h"
#include "tests/deploy/sandbox_for_jobs.h"

namespace {

using nlohmann::json;
using rollouts::cli_test::Child;
using namespace std::chrono_literals;

constexpr char kHaproxy[] = "/usr/sbin/haproxy";
constexpr char kPython[] = "/usr/bin/python3";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

json RouterJob() {
  return json::parse(ReadFile(ROLLOUTS_SOURCE_DIR "/deploy/rollout-router-haproxy.nomad.json"));
}

const json& TaskNamed(const json& group, const std::string& name) {
  for (const json& task : group["Tasks"]) {
    if (task["Name"] == name) return task;
  }
  static const json kNone;
  return kNone;
}

// HCL string literal of a JSON string (the inverse of HCL's escapes for '"' and '\').
std::string HclQuoted(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The args of `task` appear in the HCL job in the same order, after `from`.
void ExpectArgsInHcl(const std::string& hcl, const json& task, size_t from) {
  size_t at = hcl.find("args = [", from);
  ASSERT_NE(at, std::string::npos);
  for (const json& arg : task["Config"]["args"]) {
    const std::string quoted = HclQuoted(arg.get<std::string>());
    const size_t found = hcl.find(quoted, at);
    ASSERT_NE(found, std::string::npos) << arg << " missing or out of order in the HCL job";
    at = found + quoted.size();
  }
}

// The JSON copy is the HCL job in API form; the sandbox-only differences (raw_exec, dynamic
// front ports, no Vault template, no distinct_hosts) are listed in docs/routers.md.
TEST(RouterJobFiles, JsonCopyMatchesTheHclJob) {
  const json job = RouterJob()["Job"];
  const std::string hcl = ReadFile(ROLLOUTS_SOURCE_DIR "/deploy/rollout-router-haproxy.nomad.hcl");
  EXPECT_EQ(job["ID"], "rollout-router-haproxy");
  EXPECT_NE(hcl.find("job \"rollout-router-haproxy\""), std::string::npos);
  EXPECT_EQ(job["Type"], "service");
  EXPECT_EQ(job["Update"]["MaxParallel"], 1);
  EXPECT_NE(hcl.find("max_parallel      = 1"), std::string::npos);
  EXPECT_EQ(job["Update"]["HealthCheck"], "checks");
  ASSERT_EQ(job["TaskGroups"].size(), 1u);
  const json& group = job["TaskGroups"][0];
  EXPECT_EQ(group["Name"], "edge");
  EXPECT_EQ(group["Count"], 2);
  EXPECT_NE(hcl.find("count = 2"), std::string::npos);
  for (const json& port : group["Networks"][0]["DynamicPorts"]) {
    const std::string label = port["Label"];
    EXPECT_NE(hcl.find("port \"" + label + "\""), std::string::npos) << label;
  }
  const json& service = group["Services"][0];
  EXPECT_EQ(service["Name"], "rollout-router");
  EXPECT_EQ(service["PortLabel"], "router_metrics");
  EXPECT_EQ(service["Tags"], json::array({"metrics"}));
  EXPECT_EQ(service["Checks"][0]["Path"], "/readyz");
  EXPECT_NE(hcl.find("path     = \"/readyz\""), std::string::npos);

  ASSERT_EQ(group["Tasks"].size(), 2u);
  const json& router = TaskNamed(group, "rollout-router");
  const json& haproxy = TaskNamed(group, "haproxy");
  ASSERT_TRUE(router.is_object());
  ASSERT_TRUE(haproxy.is_object());
  const size_t router_at = hcl.find("task \"rollout-router\"");
  const size_t haproxy_at = hcl.find("task \"haproxy\"");
  ASSERT_NE(router_at, std::string::npos);
  ASSERT_NE(haproxy_at, std::string::npos);
  ASSERT_LT(router_at, haproxy_at);

  // The router: a prestart sidecar, same flags in the same order, SIGTERM.
  EXPECT_EQ(router["Lifecycle"], json({{"Hook", "prestart"}, {"Sidecar", true}}));
  EXPECT_NE(hcl.find("hook    = \"prestart\"", router_at), std::string::npos);
  EXPECT_NE(hcl.find("sidecar = true", router_at), std::string::npos);
  EXPECT_EQ(router["Config"]["command"], "/usr/local/bin/rollout-router");
  EXPECT_NE(hcl.find("command = \"/usr/local/bin/rollout-router\"", router_at), std::string::npos);
  ExpectArgsInHcl(hcl, router, router_at);
  EXPECT_EQ(router["KillSignal"], "SIGTERM");
  EXPECT_TRUE(router["Env"].contains("CONSUL_HTTP_ADDR"));
  EXPECT_FALSE(router["Env"].contains("CONSUL_HTTP_TOKEN"));
  EXPECT_NE(hcl.find("CONSUL_HTTP_TOKEN={{"), std::string::npos);

  // HAProxy: the main task (no lifecycle), the same wait-then-exec line, soft stop.
  EXPECT_FALSE(haproxy.contains("Lifecycle") && !haproxy["Lifecycle"].is_null());
  EXPECT_EQ(haproxy["Config"]["command"], "/bin/sh");
  ExpectArgsInHcl(hcl, haproxy, haproxy_at);
  const std::string script = haproxy["Config"]["args"][1];
  EXPECT_NE(script.find("exec /usr/sbin/haproxy -W -db -f $cfg"), std::string::npos) << script;
  EXPECT_NE(script.find("cfg=${NOMAD_ALLOC_DIR}/haproxy.cfg"), std::string::npos) << script;
  EXPECT_EQ(haproxy["KillSignal"], "SIGUSR1");
  EXPECT_NE(hcl.find("kill_signal  = \"SIGUSR1\"", haproxy_at), std::string::npos);
}

// The job's router flags are accepted by rollout-router itself and give a config HAProxy
// accepts (`haproxy -c`), with the files and the socket in the allocation directory.
TEST(RouterJobFiles, RouterFlagsGiveAConfigHaproxyAccepts) {
  const json job = RouterJob();
  const json& router = TaskNamed(job["Job"]["TaskGroups"][0], "rollout-router");
  const std::string dir = ::testing::TempDir() + "router-job-flags-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::vector<std::string> argv = {ROLLOUT_ROUTER_PATH};
  for (const json& arg : router["Config"]["args"]) {
    std::string value = arg.get<std::string>();
    // What Nomad fills in.
    value = std::regex_replace(value, std::regex(R"(\$\{NOMAD_ALLOC_DIR\})"), dir);
    value = std::regex_replace(value, std::regex(R"(\$\{NOMAD_ADDR_http\})"), "127.0.0.1:28080");
    value = std::regex_replace(value, std::regex(R"(\$\{NOMAD_ADDR_preview\})"), "127.0.0.1:28081");
    value = std::regex_replace(value, std::regex(R"(\$\{NOMAD_ADDR_router_metrics\})"),
                               "127.0.0.1:28082");
    value = std::regex_replace(value, std::regex(R"(\$\{NOMAD_ALLOC_ID\})"), "alloc-id");
    ASSERT_EQ(value.find("${"), std::string::npos) << "not filled in: " << value;
    argv.push_back(value);
  }
  argv.push_back("--print-haproxy-config");
  rollouts::cli_test::RunResult printed = rollouts::cli_test::Run(argv, 10s);
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_NE(printed.out.find("stats socket " + dir + "/admin.sock mode 600 level admin"),
            std::string::npos)
      << printed.out;
  EXPECT_NE(printed.out.find("map(" + dir + "/routes.map)"), std::string::npos) << printed.out;
  EXPECT_NE(printed.out.find("bind 127.0.0.1:28080"), std::string::npos);
  EXPECT_NE(printed.out.find("bind 127.0.0.1:28081"), std::string::npos);
  // No route is known before the router runs: both buffers start without servers.
  EXPECT_NE(printed.out.find("backend svc_hello_a\n"), std::string::npos) << printed.out;
  EXPECT_EQ(printed.out.find("  server "), std::string::npos) << printed.out;

  if (::access(kHaproxy, X_OK) != 0) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << kHaproxy << " is missing (scripts/install-deps.sh installs it)";
  }
  { std::ofstream(dir + "/haproxy.cfg") << printed.out; }
  { std::ofstream(dir + "/routes.map") << "svc_hello svc_hello_a\n"; }
  rollouts::cli_test::RunResult check =
      rollouts::cli_test::Run({kHaproxy, "-c", "-q", "-f", dir + "/haproxy.cfg"}, 10s);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  std::filesystem::remove_all(dir);
}

class RouterHaproxyNomadJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {kHaproxy, kPython}) {
      if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is missing";
    }
    // Short: the runtime API socket lives in the allocation directory below it, and a
    // Unix socket path has at most 107 characters.
    ASSERT_NO_FATAL_FAILURE(sandbox_.Start("/tmp/rrh-" + std::to_string(::getpid())));
  }

  static rollouts::http::Result Get(rollouts::http::Client& client, const std::string& target) {
    rollouts::http::Request request;
    request.target = target;
    request.timeout = 5s;
    return client.Send(request);
  }

  void Register(const json& job) {
    rollouts::http::Request put;
    put.method = rollouts::http::Method::kPut;
    put.target = "/v1/jobs";
    put.headers["Content-Type"] = "application/json";
    put.body = job.dump();
    rollouts::http::Result registered = sandbox_.nomad->Send(put);
    ASSERT_TRUE(registered.ok()) << registered.error().message;
    ASSERT_EQ(registered.response().status, 200) << registered.response().body;
  }

  // One instance of "hello" v1, tagged active: python3's file server on the task dir.
  static json HelloJob() {
    json check = {{"Name", "hello-root"},
                  {"Type", "http"},
                  {"Path", "/"},
                  {"Interval", 1000000000},
                  {"Timeout", 1000000000}};
    json task = {{"Name", "app"},
                 {"Driver", "raw_exec"},
                 {"Config",
                  {{"command", kPython},
                   {"args", {"-m", "http.server", "--bind", "127.0.0.1", "${NOMAD_PORT_http}"}}}},
                 {"KillSignal", "SIGTERM"},
                 {"KillTimeout", 5000000000},
                 {"Resources", {{"CPU", 100}, {"MemoryMB", 64}}}};
    json group = {{"Name", "hello-blue"},
                  {"Count", 1},
                  {"Networks", {{{"DynamicPorts", {{{"Label", "http"}}}}}}},
                  {"Services",
                   {{{"Name", "hello"},
                     {"PortLabel", "http"},
                     {"Tags", {"active"}},
                     {"Meta", {{"version", "v1"}}},
                     {"Checks", {check}}}}},
                  {"Tasks", {task}}};
    return {{"Job",
             {{"ID", "hello"},
              {"Name", "hello"},
              {"Type", "service"},
              {"Datacenters", {"dc1"}},
              {"TaskGroups", {group}}}}};
  }

  // The router job with the built binary and the sandbox's Consul filled in.
  json RouterJobForSandbox() const {
    json job = RouterJob();
    for (json& task : job["Job"]["TaskGroups"][0]["Tasks"]) {
      if (task["Name"] == "rollout-router") {
        task["Config"]["command"] = ROLLOUT_ROUTER_PATH;
        task["Env"]["CONSUL_HTTP_ADDR"] = sandbox_.consul_url;
      }
    }
    return job;
  }

  struct Edge {
    std::string alloc_id;
    int http_port = 0;
    int metrics_port = 0;
  };

  // Running allocations of the router job, with their ports.
  std::vector<Edge> RunningEdges() {
    std::vector<Edge> out;
    rollouts::http::Result list =
        Get(*sandbox_.nomad, "/v1/job/rollout-router-haproxy/allocations");
    if (!list.ok() || list.response().status != 200) return out;
    for (const json& stub : json::parse(list.response().body)) {
      if (stub.value("ClientStatus", "") != "running") continue;
      rollouts::http::Result alloc =
          Get(*sandbox_.nomad, "/v1/allocation/" + stub["ID"].get<std::string>());
      if (!alloc.ok() || alloc.response().status != 200) continue;
      json body = json::parse(alloc.response().body);
      Edge edge;
      edge.alloc_id = body["ID"];
      for (const json& port : body["AllocatedResources"]["Shared"]["Ports"]) {
        if (port["Label"] == "http") edge.http_port = port["Value"];
        if (port["Label"] == "router_metrics") edge.metrics_port = port["Value"];
      }
      out.push_back(edge);
    }
    return out;
  }

  // Instances of `service` whose checks all pass, as "127.0.0.1:port".
  std::vector<std::string> Passing(const std::string& service) {
    std::vector<std::string> out;
    rollouts::http::Result result = Get(*sandbox_.consul, "/v1/health/service/" + service);
    if (!result.ok() || result.response().status != 200) return out;
    for (const json& entry : json::parse(result.response().body)) {
      bool own_check = false, all_passing = true;
      for (const json& check : entry["Checks"]) {
        if (check.value("ServiceName", "") == service) own_check = true;
        if (check.value("Status", "") != "passing") all_passing = false;
      }
      if (own_check && all_passing) {
        out.push_back(entry["Service"].value("Address", "") + ":" +
                      std::to_string(entry["Service"].value("Port", 0)));
      }
    }
    return out;
  }

  rollouts::deploy_test::SandboxForJobs sandbox_;
};

TEST_F(RouterHaproxyNomadJobTest, BothEdgesRouteToTheActiveInstanceThroughHaproxy) {
  ASSERT_NO_FATAL_FAILURE(Register(HelloJob()));
  ASSERT_NO_FATAL_FAILURE(Register(RouterJobForSandbox()));

  // Bounded: hello's check runs every 1 s, the routers' /readyz check every 10 s (two
  // rounds plus start-up); /readyz passes once HAProxy serves the selected routes.
  std::vector<Edge> edges;
  std::vector<std::string> hello, routers;
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (std::chrono::steady_clock::now() < deadline) {
    edges = RunningEdges();
    hello = Passing("hello");
    routers = Passing("rollout-router");
    if (edges.size() == 2 && hello.size() == 1 && routers.size() == 2) break;
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(hello.size(), 1u) << "hello not passing; sandbox output:\n" << sandbox_.output();
  ASSERT_EQ(edges.size(), 2u) << "router allocations running; sandbox output:\n"
                              << sandbox_.output();
  ASSERT_EQ(routers.size(), 2u) << "the routers' /readyz checks do not both pass";

  for (const Edge& edge : edges) {
    SCOPED_TRACE("allocation " + edge.alloc_id);
    // The router wrote its files into the allocation directory HAProxy runs on.
    const std::string alloc_dir = sandbox_.data_dir() + "/alloc/" + edge.alloc_id;
    EXPECT_NE(ReadFile(alloc_dir + "/haproxy.cfg").find("frontend svc_hello"), std::string::npos);
    EXPECT_NE(ReadFile(alloc_dir + "/routes.map").find("svc_hello svc_hello_"), std::string::npos);
    EXPECT_TRUE(std::filesystem::is_socket(alloc_dir + "/admin.sock"));

    auto front =
        rollouts::http::MakeClient({"http://127.0.0.1:" + std::to_string(edge.http_port), {}});
    rollouts::http::Result answer = Get(*front, "/");
    ASSERT_TRUE(answer.ok()) << answer.error().message;
    EXPECT_EQ(answer.response().status, 200) << answer.response().body;
    EXPECT_EQ(answer.response().Header("X-Upstream").value_or("(none)"), hello[0]);

    auto metrics =
        rollouts::http::MakeClient({"http://127.0.0.1:" + std::to_string(edge.metrics_port), {}});
    rollouts::http::Result scraped = Get(*metrics, "/metrics");
    ASSERT_TRUE(scraped.ok()) << scraped.error().message;
    std::smatch match;
    const std::string& body = scraped.response().body;
    ASSERT_TRUE(std::regex_search(
        body, match,
        std::regex(
            R"((^|\n)rollouts_router_haproxy_switches_total\{service="hello"\} ([0-9.e+]+))")))
        << body;
    EXPECT_GE(std::stod(match[2]), 1) << "the live buffer was switched at least once";
  }
}

}  // namespace
