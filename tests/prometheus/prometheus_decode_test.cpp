// The Prometheus client against an in-process server answering in the documented HTTP API
// format (https://prometheus.io/docs/prometheus/latest/querying/api/).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "clients/http/server.h"
#include "clients/prometheus/prometheus_client.h"

namespace rollouts::prometheus {
namespace {

using nlohmann::json;

json Success(const std::string& type, const json& result) {
  return {{"status", "success"}, {"data", {{"resultType", type}, {"result", result}}}};
}

json Error(const std::string& type, const std::string& message) {
  return {{"status", "error"}, {"errorType", type}, {"error", message}};
}

// Answers by the value of the `query` parameter.
class FakePrometheus {
 public:
  struct Answer {
    int status;
    std::string body;
    std::string content_type = "application/json";
  };
  explicit FakePrometheus(std::map<std::string, Answer> answers) : answers_(std::move(answers)) {
    server_ = http::StartServer({}, [this](http::ServerRequest req, http::Responder respond) {
      std::string query;
      for (const auto& [k, v] : http::ParseQuery(req.query)) {
        if (k == "query") query = v;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        received_.push_back(req);
      }
      http::Response r;
      auto it = answers_.find(query);
      if (req.path != "/api/v1/query" || it == answers_.end()) {
        r.status = 599;
        r.body = "unexpected request " + req.target;
      } else {
        r.status = it->second.status;
        r.body = it->second.body;
        r.headers["Content-Type"] = it->second.content_type;
      }
      respond(std::move(r));
    });
  }
  std::string base_url() const { return server_->base_url(); }
  std::vector<http::ServerRequest> received() const {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  std::map<std::string, Answer> answers_;
  mutable std::mutex mu_;
  std::vector<http::ServerRequest> received_;
  std::unique_ptr<http::Server> server_;
};

PrometheusClientOptions Options(const std::string& base_url) {
  PrometheusClientOptions options;
  options.base_url = base_url;
  options.retry.max_attempts = 1;
  return options;
}

class PrometheusDecode : public ::testing::Test {
 protected:
  PrometheusDecode()
      : prom_({
            {"rate_by_version",
             {200,
              Success("vector", json::array({{{"metric", {{"version", "v1"}, {"job", "hello"}}},
                                              {"value", {1700000000.5, "0.25"}}},
                                             {{"metric", {{"version", "v2"}}},
                                              {"value", {1700000000.5, "1e-3"}}}}))
                  .dump()}},
            {"scalar(1.5)", {200, Success("scalar", {1700000001, "1.5"}).dump()}},
            {"vector(0)",
             {200, Success("vector", json::array({{{"metric", json::object()},
                                                   {"value", {1700000000, "0"}}}}))
                       .dump()}},
            {"sum(nothing)", {200, Success("vector", json::array()).dump()}},
            {"0/0", {200, Success("scalar", {1700000000, "NaN"}).dump()}},
            {"1/0", {200, Success("scalar", {1700000000, "+Inf"}).dump()}},
            {"-1/0",
             {200, Success("vector", json::array({{{"metric", json::object()},
                                                   {"value", {1700000000, "-Inf"}}}}))
                       .dump()}},
            {"up[1m]",
             {200, Success("matrix", json::array({{{"metric", {{"job", "x"}}},
                                                   {"values", {{1700000000, "1"}}}}}))
                       .dump()}},
            {"\"text\"", {200, Success("string", {1700000000, "text"}).dump()}},
            {"sum(",
             {400, Error("bad_data", "1:5: parse error: unclosed left parenthesis").dump()}},
            {"exec",
             {422, Error("execution", "query processing would load too many samples").dump()}},
            {"slow", {503, Error("timeout", "query timed out in expression evaluation").dump()}},
            {"proxy", {502, "Bad Gateway", "text/html"}},
            {"warned",
             {200, json({{"status", "success"},
                         {"data", {{"resultType", "vector"}, {"result", json::array()}}},
                         {"warnings", {"partial response"}}})
                       .dump()}},
            {"garbage",
             {200,
              Success("vector", json::array({{{"metric", json::object()}, {"value", {1, "fast"}}}}))
                  .dump()}},
            {"not_json", {200, "<html>hi</html>", "text/html"}},
        }),
        client_(Options(prom_.base_url())) {}

  FakePrometheus prom_;
  HttpPrometheusClient client_;
};

TEST_F(PrometheusDecode, VectorWithLabels) {
  auto r = client_.Query("rate_by_version");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->type, ResultType::kVector);
  ASSERT_EQ(r->samples.size(), 2u);
  EXPECT_EQ(r->samples[0].labels.at("version"), "v1");
  EXPECT_EQ(r->samples[0].labels.at("job"), "hello");
  EXPECT_DOUBLE_EQ(r->samples[0].timestamp, 1700000000.5);
  EXPECT_EQ(r->samples[0].value.kind, ValueKind::kNumber);
  EXPECT_DOUBLE_EQ(r->samples[0].value.number, 0.25);
  EXPECT_DOUBLE_EQ(r->samples[1].value.number, 0.001);
}

TEST_F(PrometheusDecode, Scalar) {
  auto r = client_.Query("scalar(1.5)");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->type, ResultType::kScalar);
  ASSERT_EQ(r->samples.size(), 1u);
  EXPECT_TRUE(r->samples[0].labels.empty());
  EXPECT_TRUE(r->samples[0].value.finite());
  EXPECT_DOUBLE_EQ(r->samples[0].value.number, 1.5);
}

TEST_F(PrometheusDecode, ZeroEmptyNaNAndInfinitiesAreDistinct) {
  auto zero = client_.Query("vector(0)");
  auto empty = client_.Query("sum(nothing)");
  auto nan = client_.Query("0/0");
  auto pos_inf = client_.Query("1/0");
  auto neg_inf = client_.Query("-1/0");
  ASSERT_TRUE(zero.ok() && empty.ok() && nan.ok() && pos_inf.ok() && neg_inf.ok());

  ASSERT_EQ(zero->samples.size(), 1u);
  EXPECT_FALSE(zero->empty());
  EXPECT_EQ(zero->samples[0].value.kind, ValueKind::kNumber);
  EXPECT_EQ(zero->samples[0].value.number, 0.0);

  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(empty->type, ResultType::kVector);

  ASSERT_EQ(nan->samples.size(), 1u);
  EXPECT_EQ(nan->samples[0].value.kind, ValueKind::kNaN);
  EXPECT_FALSE(nan->samples[0].value.finite());
  EXPECT_TRUE(std::isnan(nan->samples[0].value.number));

  EXPECT_EQ(pos_inf->samples[0].value.kind, ValueKind::kPositiveInfinity);
  EXPECT_EQ(neg_inf->samples[0].value.kind, ValueKind::kNegativeInfinity);
  EXPECT_EQ(neg_inf->type, ResultType::kVector);
}

TEST_F(PrometheusDecode, MatrixAndStringAreUnsupported) {
  auto matrix = client_.Query("up[1m]");
  ASSERT_FALSE(matrix.ok());
  EXPECT_EQ(matrix.error().kind, ApiErrorKind::kDecode);
  EXPECT_NE(matrix.error().message.find("matrix"), std::string::npos);
  auto text = client_.Query("\"text\"");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().kind, ApiErrorKind::kDecode);
}

TEST_F(PrometheusDecode, PrometheusErrorsKeepTypeAndText) {
  auto bad = client_.Query("sum(");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ApiErrorKind::kBadRequest);
  EXPECT_EQ(bad.error().status, 400);
  EXPECT_EQ(bad.error().message, "bad_data: 1:5: parse error: unclosed left parenthesis");

  auto exec = client_.Query("exec");
  ASSERT_FALSE(exec.ok());
  EXPECT_EQ(exec.error().kind, ApiErrorKind::kBadRequest);
  EXPECT_EQ(exec.error().status, 422);
  EXPECT_EQ(exec.error().message, "execution: query processing would load too many samples");

  auto slow = client_.Query("slow");
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().kind, ApiErrorKind::kUnavailable);
  EXPECT_EQ(slow.error().status, 503);
  EXPECT_EQ(slow.error().message, "timeout: query timed out in expression evaluation");

  auto proxy = client_.Query("proxy");
  ASSERT_FALSE(proxy.ok());
  EXPECT_EQ(proxy.error().kind, ApiErrorKind::kUnavailable);
  EXPECT_EQ(proxy.error().message, "Bad Gateway");
}

TEST_F(PrometheusDecode, MalformedSuccessIsDecodeError) {
  auto garbage = client_.Query("garbage");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().kind, ApiErrorKind::kDecode);
  auto html = client_.Query("not_json");
  ASSERT_FALSE(html.ok());
  EXPECT_EQ(html.error().kind, ApiErrorKind::kDecode);
}

TEST_F(PrometheusDecode, WarningsAreKept) {
  auto r = client_.Query("warned");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->warnings, std::vector<std::string>{"partial response"});
}

TEST_F(PrometheusDecode, RequestEncodesQueryAndTime) {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000250));
  auto r = client_.Query("sum(nothing)", t);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  auto received = prom_.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].method, "GET");
  EXPECT_EQ(received[0].target, "/api/v1/query?query=sum%28nothing%29&time=1700000000.250");
}

TEST(PrometheusClient, BearerTokenSentNeverReturned) {
  const std::string token = "prom-secret-4711";
  auto server = http::StartServer({}, [&](http::ServerRequest req, http::Responder respond) {
    http::Response r;
    r.status = 400;
    r.headers["Content-Type"] = "application/json";
    auto it = req.headers.find("Authorization");
    r.body = Error("bad_data", "echo " + (it == req.headers.end() ? "" : it->second)).dump();
    respond(std::move(r));
  });
  PrometheusClientOptions options = Options(server->base_url());
  options.bearer_token = token;
  HttpPrometheusClient client(options);
  auto r = client.Query("up");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("echo Bearer <redacted>"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().ToString().find(token), std::string::npos);
}

TEST(SampleValue, ParsesPrometheusSpellingsOnly) {
  EXPECT_EQ(SampleValue::Parse("1")->number, 1.0);
  EXPECT_EQ(SampleValue::Parse("+2.5")->number, 2.5);
  EXPECT_EQ(SampleValue::Parse("-0.5")->number, -0.5);
  EXPECT_EQ(SampleValue::Parse("1e3")->number, 1000.0);
  EXPECT_EQ(SampleValue::Parse("NaN")->kind, ValueKind::kNaN);
  EXPECT_EQ(SampleValue::Parse("+Inf")->kind, ValueKind::kPositiveInfinity);
  EXPECT_EQ(SampleValue::Parse("-Inf")->kind, ValueKind::kNegativeInfinity);
  EXPECT_FALSE(SampleValue::Parse("").has_value());
  EXPECT_FALSE(SampleValue::Parse("nan").has_value());
  EXPECT_FALSE(SampleValue::Parse("inf").has_value());
  EXPECT_FALSE(SampleValue::Parse("1.0abc").has_value());
  EXPECT_FALSE(SampleValue::Parse("1e999").has_value());
  EXPECT_STREQ(ValueKindName(ValueKind::kPositiveInfinity), "+Inf");
}

}  // namespace
}  // namespace rollouts::prometheus
