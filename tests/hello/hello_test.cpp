// Black-box tests of the real hello binary: each test starts it on a free port with the
// environment under test, talks HTTP to it and stops it.
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/hello/hello_process.h"
#include "tests/hello/raw_http.h"

namespace hello::testing {
namespace {

using namespace std::chrono_literals;
using Env = std::map<std::string, std::string>;

struct Running {
  std::unique_ptr<HelloProcess> process;
  uint16_t port = 0;
};

Running Start(const Env& env, std::vector<std::string> args = {}) {
  Running running;
  running.process = std::make_unique<HelloProcess>(HELLO_BINARY, env, std::move(args));
  auto port = running.process->WaitListening(15s);
  EXPECT_TRUE(port.has_value()) << "hello did not report a listening port";
  running.port = port.value_or(0);
  return running;
}

// The value of one exact series line ("name{labels}") in a text exposition.
std::optional<double> Sample(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

std::string Requests(const std::string& code, const std::string& version) {
  return "http_requests_total{code=\"" + code + "\",service=\"hello\",version=\"" + version + "\"}";
}

std::string Metrics(uint16_t port) {
  auto response = Get(port, "/metrics");
  EXPECT_TRUE(response.has_value());
  if (!response) return "";
  EXPECT_EQ(response->status, 200);
  return response->body;
}

// Sends `count` GETs on one keep-alive connection; returns the number per status code.
std::map<int, int> SendMany(uint16_t port, const std::string& target, int count) {
  std::map<int, int> by_status;
  auto connection = RawConnection::Connect(port);
  EXPECT_TRUE(connection.has_value());
  if (!connection) return by_status;
  for (int i = 0; i < count; ++i) {
    EXPECT_TRUE(connection->SendGet(target));
    auto response = connection->ReadResponse(10s);
    EXPECT_TRUE(response.has_value()) << "request " << i;
    if (!response) break;
    ++by_status[response->status];
  }
  return by_status;
}

TEST(HelloTest, HelloAndRootAnswerVersionAndInstance) {
  Running hello = Start({{"APP_VERSION", "v7"}, {"NOMAD_ALLOC_ID", "alloc-123"}});
  for (const char* path : {"/hello", "/", "/hello?x=1"}) {
    auto response = Get(hello.port, path);
    ASSERT_TRUE(response.has_value()) << path;
    EXPECT_EQ(response->status, 200) << path;
    EXPECT_EQ(response->headers["content-type"], "application/json");
    auto body = nlohmann::json::parse(response->body);
    EXPECT_EQ(body["version"], "v7");
    EXPECT_EQ(body["instance"], "alloc-123");
    EXPECT_EQ(body["service"], "hello");
  }
}

TEST(HelloTest, InstanceDefaultsToHostnameAndPort) {
  Running hello = Start({{"APP_VERSION", "v1"}});
  auto response = Get(hello.port, "/hello");
  ASSERT_TRUE(response.has_value());
  std::string instance = nlohmann::json::parse(response->body)["instance"];
  std::string suffix = ":" + std::to_string(hello.port);
  ASSERT_GT(instance.size(), suffix.size());
  EXPECT_EQ(instance.substr(instance.size() - suffix.size()), suffix);
}

TEST(HelloTest, UnknownPathIs404AndPostIs405) {
  Running hello = Start({});
  auto missing = Get(hello.port, "/nope");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 404);
  auto post = RawConnection::Connect(hello.port);
  ASSERT_TRUE(post.has_value());
  ASSERT_TRUE(post->SendRequest("POST", "/hello"));
  auto refused = post->ReadResponse(10s);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 405);
  EXPECT_EQ(refused->headers["allow"], "GET, HEAD");
  std::string metrics = Metrics(hello.port);
  EXPECT_EQ(Sample(metrics, Requests("404", "dev")), 1.0);
  EXPECT_EQ(Sample(metrics, Requests("405", "dev")), 1.0);
}

TEST(HelloTest, HealthzIsOkUnlessFailHealth) {
  Running healthy = Start({});
  auto ok = Get(healthy.port, "/healthz");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);

  Running failing = Start({{"FAIL_HEALTH", "1"}});
  auto unhealthy = Get(failing.port, "/healthz");
  ASSERT_TRUE(unhealthy.has_value());
  EXPECT_EQ(unhealthy->status, 503);
  // Only the health check fails: the application still answers.
  auto hello = Get(failing.port, "/hello");
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->status, 200);
}

TEST(HelloTest, MetricsCountExactlyTheApplicationRequestsSent) {
  Running hello = Start({{"APP_VERSION", "v3"}});
  std::string before = Metrics(hello.port);
  EXPECT_NE(before.find("# TYPE http_requests_total counter"), std::string::npos);
  EXPECT_NE(before.find("# TYPE http_request_duration_seconds histogram"), std::string::npos);
  EXPECT_EQ(Sample(before, Requests("200", "v3")), 0.0);

  auto statuses = SendMany(hello.port, "/hello", 37);
  EXPECT_EQ(statuses[200], 37);
  statuses = SendMany(hello.port, "/", 5);
  EXPECT_EQ(statuses[200], 5);
  // Health checks and scrapes are not application traffic.
  SendMany(hello.port, "/healthz", 4);
  Metrics(hello.port);

  auto response = Get(hello.port, "/metrics");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  const std::string& after = response->body;
  EXPECT_EQ(Sample(after, Requests("200", "v3")), 42.0);
  EXPECT_EQ(Sample(after, Requests("500", "v3")), 0.0);
  EXPECT_EQ(Sample(after, "http_request_duration_seconds_count{service=\"hello\",version=\"v3\"}"),
            42.0);
  EXPECT_EQ(Sample(after,
                   "http_request_duration_seconds_bucket{service=\"hello\",version="
                   "\"v3\",le=\"+Inf\"}"),
            42.0);
  EXPECT_EQ(Sample(after, "http_requests_in_flight{service=\"hello\",version=\"v3\"}"), 0.0);
}

TEST(HelloTest, ServiceLabelComesFromServiceName) {
  Running hello = Start({{"APP_VERSION", "v1"}, {"SERVICE_NAME", "greeter"}});
  SendMany(hello.port, "/hello", 3);
  EXPECT_EQ(Sample(Metrics(hello.port),
                   "http_requests_total{code=\"200\",service=\"greeter\",version=\"v1\"}"),
            3.0);
}

TEST(HelloTest, ErrorRateOneAnswersOnly500s) {
  Running hello = Start({{"APP_VERSION", "bad"}, {"ERROR_RATE", "1"}});
  auto statuses = SendMany(hello.port, "/hello", 50);
  EXPECT_EQ(statuses[500], 50);
  EXPECT_EQ(statuses.size(), 1u);
  // Health stays green: a bad version is caught by analysis, not by the health gate.
  auto health = Get(hello.port, "/healthz");
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 200);
  std::string metrics = Metrics(hello.port);
  EXPECT_EQ(Sample(metrics, Requests("500", "bad")), 50.0);
  EXPECT_EQ(Sample(metrics, Requests("200", "bad")), 0.0);
}

TEST(HelloTest, ErrorRateZeroAnswersNo500s) {
  Running hello = Start({{"ERROR_RATE", "0"}});
  auto statuses = SendMany(hello.port, "/hello", 300);
  EXPECT_EQ(statuses[200], 300);
  EXPECT_EQ(statuses.count(500), 0u);
}

TEST(HelloTest, ErrorRateFractionIsRoughlyThatFraction) {
  Running hello = Start({{"APP_VERSION", "v3"}, {"ERROR_RATE", "0.3"}});
  auto statuses = SendMany(hello.port, "/hello", 1000);
  EXPECT_EQ(statuses[200] + statuses[500], 1000);
  // Binomial(1000, 0.3): sd ~ 14.5, so 150..450 is more than 10 sd from the mean.
  EXPECT_GE(statuses[500], 150);
  EXPECT_LE(statuses[500], 450);
  std::string metrics = Metrics(hello.port);
  EXPECT_EQ(Sample(metrics, Requests("500", "v3")), statuses[500]);
  EXPECT_EQ(Sample(metrics, Requests("200", "v3")), statuses[200]);
}

TEST(HelloTest, ErrorRateByVersionMakesOnlyThatVersionFail) {
  Running bad = Start({{"APP_VERSION", "v3"}, {"ERROR_RATE_BY_VERSION", "v3=1"}});
  EXPECT_EQ(SendMany(bad.port, "/hello", 20)[500], 20);
  Running good = Start({{"APP_VERSION", "v2"}, {"ERROR_RATE_BY_VERSION", "v3=1"}});
  EXPECT_EQ(SendMany(good.port, "/hello", 20)[200], 20);
}

TEST(HelloTest, CrashOnStartExitsWithOneWithoutListening) {
  HelloProcess process(HELLO_BINARY, {{"CRASH_ON_START", "1"}});
  EXPECT_FALSE(process.WaitListening(10s).has_value());
  EXPECT_EQ(process.WaitExit(10s), std::optional<int>(1));
}

TEST(HelloTest, MalformedKnobExitsWithTwo) {
  for (const Env& env : {Env{{"ERROR_RATE", "1.5"}}, Env{{"ERROR_RATE", "lots"}},
                         Env{{"LATENCY_MS", "-3"}}, Env{{"FAIL_HEALTH", "maybe"}}}) {
    HelloProcess process(HELLO_BINARY, env);
    EXPECT_FALSE(process.WaitListening(10s).has_value()) << env.begin()->first;
    EXPECT_EQ(process.WaitExit(10s), std::optional<int>(2)) << env.begin()->first;
  }
}

TEST(HelloTest, LatencyDelaysApplicationRequestsWithoutBlockingOthers) {
  Running hello = Start({{"LATENCY_MS", "3000"}});
  auto slow = RawConnection::Connect(hello.port);
  ASSERT_TRUE(slow.has_value());
  auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(slow->SendGet("/hello"));
  // While /hello waits on its timer, the same single-threaded server answers others.
  auto health = Get(hello.port, "/healthz");
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 200);
  EXPECT_FALSE(slow->ReadResponse(0ms).has_value()) << "/hello answered before its latency";
  auto response = slow->ReadResponse(15s);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - sent, 3000ms);
}

// Waits (bounded) until the server reports `count` application requests in flight.
bool WaitInFlight(uint16_t port, double count) {
  for (int i = 0; i < 500; ++i) {
    auto response = Get(port, "/metrics", 5s);
    if (response && Sample(response->body,
                           "http_requests_in_flight{service=\"hello\",version="
                           "\"v1\"}") == count) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// Connects until the kernel refuses (listener closed); bounded.
bool WaitRefused(uint16_t port) {
  for (int i = 0; i < 300; ++i) {
    int error = 0;
    if (!RawConnection::Connect(port, &error) && error == ECONNREFUSED) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(HelloTest, SigtermDrainsInFlightRequestsAndRefusesNewConnections) {
  // The latency is longer than the brief's 500 ms so that "refused while the request is
  // still in flight" holds even on a loaded CI box.
  Running hello = Start({{"APP_VERSION", "v1"}, {"LATENCY_MS", "1500"}});
  // An idle keep-alive connection (one request done, waiting for the next).
  auto idle = RawConnection::Connect(hello.port);
  ASSERT_TRUE(idle.has_value());
  ASSERT_TRUE(idle->SendGet("/healthz"));
  ASSERT_TRUE(idle->ReadResponse(10s).has_value());
  // A request in flight.
  auto busy = RawConnection::Connect(hello.port);
  ASSERT_TRUE(busy.has_value());
  ASSERT_TRUE(busy->SendGet("/hello"));
  ASSERT_TRUE(WaitInFlight(hello.port, 1.0));

  hello.process->Signal(SIGTERM);

  EXPECT_TRUE(WaitRefused(hello.port));
  EXPECT_TRUE(hello.process->Running()) << "exited before answering the in-flight request";
  EXPECT_TRUE(idle->WaitClosedByPeer(5s)) << "idle keep-alive connection left open";

  auto response = busy->ReadResponse(15s);
  ASSERT_TRUE(response.has_value()) << "in-flight request dropped";
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->headers["connection"], "close");
  EXPECT_EQ(nlohmann::json::parse(response->body)["version"], "v1");
  EXPECT_EQ(hello.process->WaitExit(15s), std::optional<int>(0));
}

TEST(HelloTest, SigintClosesIdleConnectionsAndExitsZero) {
  Running hello = Start({});
  auto idle = RawConnection::Connect(hello.port);
  ASSERT_TRUE(idle.has_value());
  ASSERT_TRUE(idle->SendGet("/hello"));
  ASSERT_TRUE(idle->ReadResponse(10s).has_value());
  hello.process->Signal(SIGINT);
  EXPECT_TRUE(idle->WaitClosedByPeer(10s));
  EXPECT_EQ(hello.process->WaitExit(15s), std::optional<int>(0));
}

TEST(HelloTest, ShutdownTimeoutBoundsTheDrain) {
  Running hello =
      Start({{"APP_VERSION", "v1"}, {"LATENCY_MS", "60000"}}, {"--shutdown-timeout-ms", "200"});
  auto busy = RawConnection::Connect(hello.port);
  ASSERT_TRUE(busy.has_value());
  ASSERT_TRUE(busy->SendGet("/hello"));
  ASSERT_TRUE(WaitInFlight(hello.port, 1.0));
  hello.process->Signal(SIGTERM);
  // Far sooner than the 60 s the request would take: the drain gave up as configured.
  EXPECT_EQ(hello.process->WaitExit(20s), std::optional<int>(0));
  EXPECT_FALSE(busy->ReadResponse(1s).has_value());
}

}  // namespace
}  // namespace hello::testing
