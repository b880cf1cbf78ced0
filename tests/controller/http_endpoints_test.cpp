#include "controller/http_endpoints.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "clients/http/http.h"
#include "controller/metrics.h"

namespace rollouts::controller {
namespace {

using ::testing::HasSubstr;

class HealthEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HealthEndpointsOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.registry = metrics_.registry();
    options.readiness = [this] {
      std::lock_guard lock(mu_);
      return readiness_;
    };
    options.before_scrape = [this] { ++scrapes_; };
    server_ = std::make_unique<HealthEndpoints>(options);
    http::ClientOptions client_options;
    client_options.base_url = server_->base_url();
    client_ = http::MakeClient(client_options);
  }

  http::Response Get(const std::string& target, http::Method method = http::Method::kGet) {
    http::Request request;
    request.method = method;
    request.target = target;
    request.timeout = std::chrono::seconds(10);
    http::Result result = client_->Send(request);
    EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
    return result.ok() ? result.response() : http::Response{};
  }

  void SetReadiness(bool ready, std::string reason) {
    std::lock_guard lock(mu_);
    readiness_ = {ready, std::move(reason)};
  }

  ControllerMetrics metrics_;
  std::mutex mu_;
  Readiness readiness_{false, "watches not started"};
  std::atomic<int> scrapes_{0};
  std::unique_ptr<HealthEndpoints> server_;
  std::unique_ptr<http::Client> client_;
};

TEST_F(HealthEndpointsTest, HealthzAnswersWhileNotReady) {
  http::Response r = Get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST_F(HealthEndpointsTest, ReadyzFollowsTheReadinessCallback) {
  http::Response r = Get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("watches not started"));

  SetReadiness(true, "");
  r = Get("/readyz");
  EXPECT_EQ(r.status, 200);

  SetReadiness(false, "spec watch stale for 700s");
  r = Get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("spec watch stale for 700s"));
}

TEST_F(HealthEndpointsTest, MetricsServesTheRegistry) {
  metrics_.SetLeader(true);
  metrics_.SetRolloutPhase("hello", "Verifying", std::chrono::system_clock::now());
  http::Response r = Get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.Header("Content-Type").value_or(""), HasSubstr("text/plain"));
  for (const char* name :
       {"rollouts_leader 1", "rollouts_rollout_phase{phase=\"Verifying\",rollout=\"hello\"} 1",
        "rollouts_workqueue_depth", "rollouts_reconcile_total", "rollouts_gate_results_total",
        "rollouts_build_info", "rollouts_workqueue_wait_seconds_bucket"}) {
    EXPECT_THAT(r.body, HasSubstr(name));
  }
  EXPECT_EQ(scrapes_.load(), 1);
}

TEST_F(HealthEndpointsTest, UnknownPathsAndMethodsAreRefused) {
  EXPECT_EQ(Get("/nope").status, 404);
  EXPECT_EQ(Get("/metrics", http::Method::kPut).status, 405);
}

TEST(HealthEndpointsHandlerTest, MissingReadinessCheckIsNotReady) {
  HealthEndpointsOptions options;
  http::ServerRequest request;
  request.method = "GET";
  request.path = "/readyz";
  http::Response r = HandleHealthRequest(options, request);
  EXPECT_EQ(r.status, 503);
}

}  // namespace
}  // namespace rollouts::controller
