// The ACL token from CONSUL_HTTP_TOKEN travels as X-Consul-Token and nowhere else: not
// in any log line (with verbose logging on), not in error messages, also when the agent
// echoes it back.
#include <glog/logging.h>
#include <gtest/gtest.h>

#include <mutex>

#include "clients/common/agent_config.h"
#include "clients/consul/consul_client.h"
#include "tests/consul/fake_consul_kv.h"

namespace rollouts::consul {
namespace {

using testing::FakeConsulKv;

constexpr char kToken[] = "b7e1c0de-70ke-4abc-9def-5ec2e7t0ken1";

class CapturingSink : public google::LogSink {
 public:
  void send(google::LogSeverity, const char*, const char*, int, const std::tm*, const char* message,
            size_t message_len) override {
    std::lock_guard lock(mu_);
    lines_.emplace_back(message, message_len);
  }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

class ConsulToken : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_v_ = FLAGS_v;
    FLAGS_v = 3;
    google::AddLogSink(&sink_);
  }
  void TearDown() override {
    google::RemoveLogSink(&sink_);
    FLAGS_v = saved_v_;
  }

  std::unique_ptr<HttpConsulClient> ClientFor(const std::string& base_url, int attempts = 1) {
    HttpConsulClientOptions options;
    options.retry.max_attempts = attempts;
    options.retry.sleep = [](std::chrono::milliseconds) { return true; };
    options.request_timeout = std::chrono::seconds(5);
    auto config = clients::ConsulConfigFromEnv(
        clients::FixedEnv({{"CONSUL_HTTP_ADDR", base_url}, {"CONSUL_HTTP_TOKEN", kToken}}));
    EXPECT_EQ(config.token, kToken);
    return std::make_unique<HttpConsulClient>(config, options);
  }

  void ExpectClean(const ApiError& e) {
    EXPECT_EQ(e.message.find(kToken), std::string::npos) << e.message;
    EXPECT_EQ(e.endpoint.find(kToken), std::string::npos) << e.endpoint;
    EXPECT_EQ(e.ToString().find(kToken), std::string::npos);
  }

  CapturingSink sink_;
  int saved_v_ = 0;
};

TEST_F(ConsulToken, SentAsHeaderAndNeverLogged) {
  FakeConsulKv fake;
  auto client = ClientFor(fake.base_url(), 2);

  // Successful calls.
  auto put = client->KvPut("rollouts/spec/hello", "v1", {});
  ASSERT_TRUE(put.ok()) << put.error().ToString();
  auto get = client->KvGet("rollouts/spec/hello", {});
  ASSERT_TRUE(get.ok()) << get.error().ToString();
  auto missing = client->KvGet("rollouts/spec/nope", {});
  ASSERT_TRUE(missing.ok());

  // The agent echoes the token in a 403 (ACL) text.
  fake.SetOverride(http::Response{
      403, {{"Content-Type", "text/plain"}}, std::string("ACL not found for token ") + kToken});
  auto denied = client->KvGet("rollouts/spec/hello", {});
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().kind, ApiErrorKind::kUnauthorized);
  EXPECT_NE(denied.error().message.find("ACL not found for token <redacted>"), std::string::npos)
      << denied.error().message;
  ExpectClean(denied.error());

  // A retried 503 that echoes it (the retry is logged).
  fake.SetOverride(http::Response{503, {}, std::string("overloaded, token=") + kToken});
  auto unavailable = client->KvGet("rollouts/spec/hello", {});
  ASSERT_FALSE(unavailable.ok());
  EXPECT_EQ(unavailable.error().kind, ApiErrorKind::kUnavailable);
  ExpectClean(unavailable.error());

  // A body we cannot decode that contains it.
  fake.SetOverride(http::Response{
      200, {{"Content-Type", "application/json"}}, std::string("{\"not\": \"") + kToken + "\"}"});
  auto bad = client->KvList("rollouts/", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ApiErrorKind::kDecode);
  ExpectClean(bad.error());

  // Every request carried the token in X-Consul-Token.
  auto received = fake.received();
  ASSERT_GE(received.size(), 7u);  // put, 2 gets, 403, 503 twice (retried), list
  for (const auto& r : received) {
    ASSERT_TRUE(r.headers.count("X-Consul-Token")) << r.target;
    EXPECT_EQ(r.headers.at("X-Consul-Token"), kToken);
    EXPECT_EQ(r.target.find(kToken), std::string::npos);  // never in the URL
  }

  auto lines = sink_.lines();
  bool saw_request_log = false;
  bool saw_retry_log = false;
  for (const auto& line : lines) {
    EXPECT_EQ(line.find(kToken), std::string::npos) << "token leaked into log: " << line;
    if (line.find("GET /v1/kv/rollouts/spec/hello") != std::string::npos) saw_request_log = true;
    if (line.find("consul retry") != std::string::npos) saw_retry_log = true;
  }
  // Logging really was on: the check above inspected real lines.
  EXPECT_TRUE(saw_request_log);
  EXPECT_TRUE(saw_retry_log);
}

TEST_F(ConsulToken, TransportErrorsDoNotCarryIt) {
  std::string url;
  {
    FakeConsulKv gone;
    url = gone.base_url();
  }  // stopped: nothing listens there any more
  auto client = ClientFor(url);
  auto r = client->StatusLeader();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ApiErrorKind::kTransport);
  ExpectClean(r.error());
  for (const auto& line : sink_.lines()) {
    EXPECT_EQ(line.find(kToken), std::string::npos) << "token leaked into log: " << line;
  }
  EXPECT_FALSE(sink_.lines().empty());
}

}  // namespace
}  // namespace rollouts::consul
