// Small pure pieces of the Consul client: base64, readiness, error classification per
// endpoint, wait formatting, the SAX decoder of KV indexes.
#include <gtest/gtest.h>

#include "clients/consul/base64.h"
#include "clients/consul/consul_client.h"
#include "clients/consul/consul_decode.h"

namespace rollouts::consul {
namespace {

TEST(Base64, RoundTripsEveryPaddingLengthAndBinaryBytes) {
  const std::string binary("\x00\xff\x10\x80 \n", 6);
  for (size_t n = 0; n <= binary.size(); ++n) {
    std::string bytes = binary.substr(0, n);
    auto decoded = Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(decoded.has_value()) << n;
    EXPECT_EQ(*decoded, bytes) << n;
  }
  EXPECT_EQ(Base64Encode("x"), "eA==");
  EXPECT_EQ(Base64Encode("held"), "aGVsZA==");
  EXPECT_EQ(Base64Encode("abc"), "YWJj");
}

TEST(Base64, RejectsMalformedText) {
  EXPECT_FALSE(Base64Decode("abc").has_value());       // not a multiple of 4
  EXPECT_FALSE(Base64Decode("ab=c").has_value());      // data after padding
  EXPECT_FALSE(Base64Decode("a===").has_value());      // too much padding
  EXPECT_FALSE(Base64Decode("ab!d").has_value());      // outside the alphabet
  EXPECT_FALSE(Base64Decode("ab==abcd").has_value());  // padding before the end
  EXPECT_EQ(Base64Decode(""), std::optional<std::string>(""));
}

ServiceEntry Instance(std::vector<HealthCheck> checks) {
  ServiceEntry e;
  e.service.id = "svc-1";
  e.service.tags = {"active", "v2"};
  e.node.address = "10.0.0.9";
  e.checks = std::move(checks);
  return e;
}

HealthCheck Serf(const std::string& status) {
  return HealthCheck{"n", "serfHealth", "Serf", status, "", "", {}, "", ""};
}
HealthCheck Own(const std::string& status, const std::string& service_id = "svc-1") {
  return HealthCheck{"n", "c-" + service_id, "http", status, service_id, "hello", {}, "", "http"};
}

TEST(IsReady, NeedsTheServicesOwnChecksAllPassing) {
  EXPECT_FALSE(IsReady(Instance({})));
  EXPECT_FALSE(IsReady(Instance({Serf("passing")})));  // serfHealth alone is not ready
  EXPECT_FALSE(IsReady(Instance({Serf("passing"), Own("critical")})));
  EXPECT_FALSE(IsReady(Instance({Serf("passing"), Own("warning")})));
  EXPECT_FALSE(IsReady(Instance({Serf("passing"), Own("passing"), Own("critical")})));
  EXPECT_FALSE(IsReady(Instance({Serf("passing"), Own("passing", "other-svc")})));
  EXPECT_FALSE(IsReady(Instance({Serf("critical"), Own("passing")})));  // node is gone
  EXPECT_TRUE(IsReady(Instance({Serf("passing"), Own("passing")})));
  EXPECT_TRUE(IsReady(Instance({Own("passing"), Own("passing")})));
}

TEST(ServiceEntryHelpers, TagsAndAddress) {
  ServiceEntry e = Instance({});
  EXPECT_TRUE(HasTag(e, "active"));
  EXPECT_FALSE(HasTag(e, "standby"));
  EXPECT_FALSE(HasTag(e, "activ"));
  EXPECT_EQ(ServiceAddress(e), "10.0.0.9");  // no service address: the node's
  e.service.address = "10.0.0.10";
  EXPECT_EQ(ServiceAddress(e), "10.0.0.10");
}

std::optional<ApiError> Classify(Endpoint endpoint, int status, const std::string& body) {
  return ClassifyConsulResponse(endpoint, "X /v1/x", http::Response{status, {}, body}, "tok");
}

TEST(ClassifyConsulResponse, PerEndpointMeaningOfStatusCodes) {
  EXPECT_FALSE(Classify(Endpoint::kKvRead, 200, "[]").has_value());
  EXPECT_FALSE(Classify(Endpoint::kKvRead, 404, "").has_value());  // missing key
  EXPECT_EQ(Classify(Endpoint::kRead, 404, "")->kind, ApiErrorKind::kNotFound);
  EXPECT_EQ(Classify(Endpoint::kSessionRenew, 404, "Session id 'x' not found")->kind,
            ApiErrorKind::kNotFound);
  EXPECT_EQ(Classify(Endpoint::kKvRead, 403, "Permission denied")->kind,
            ApiErrorKind::kUnauthorized);
  EXPECT_EQ(Classify(Endpoint::kKvWrite, 401, "")->kind, ApiErrorKind::kUnauthorized);
  EXPECT_EQ(Classify(Endpoint::kKvRead, 400, "Invalid index")->kind, ApiErrorKind::kBadRequest);
  EXPECT_EQ(Classify(Endpoint::kKvRead, 429, "slow down")->kind, ApiErrorKind::kUnavailable);
  // 500 from a write is the agent rejecting input only when its text says so.
  EXPECT_EQ(Classify(Endpoint::kKvWrite, 500, "strconv.ParseUint: parsing \"abc\"")->kind,
            ApiErrorKind::kBadRequest);
  EXPECT_EQ(Classify(Endpoint::kKvWrite, 500, "No cluster leader")->kind,
            ApiErrorKind::kUnavailable);
  EXPECT_EQ(Classify(Endpoint::kRead, 500, "invalid thing")->kind, ApiErrorKind::kUnavailable);
  EXPECT_EQ(Classify(Endpoint::kKvRead, 503, "")->kind, ApiErrorKind::kUnavailable);
  // A 409 outside /v1/txn is not a txn conflict.
  EXPECT_EQ(Classify(Endpoint::kKvWrite, 409, "conflict")->kind, ApiErrorKind::kBadRequest);
  auto txn = Classify(Endpoint::kTxn, 409, R"({"Errors":[{"OpIndex":2,"What":"boom"}]})");
  EXPECT_EQ(txn->kind, ApiErrorKind::kConflict);
  EXPECT_EQ(txn->message, "op 2: boom");
  auto txn_text = Classify(Endpoint::kTxn, 409, "not json");
  EXPECT_EQ(txn_text->message, "not json");
}

TEST(ClassifyConsulResponse, KeepsTheAgentTextWithTheTokenRedacted) {
  auto e = Classify(Endpoint::kKvRead, 403, "ACL not found: tok\n");
  EXPECT_EQ(e->message, "ACL not found: <redacted>");
  EXPECT_EQ(e->status, 403);
  EXPECT_EQ(e->endpoint, "X /v1/x");
}

TEST(FromTransportError, CancelledIsItsOwnKind) {
  EXPECT_EQ(FromTransportError("GET /v1/x", http::Error{http::ErrorKind::kCancelled, "c"}, "").kind,
            ApiErrorKind::kCancelled);
  auto tls = FromTransportError("GET /v1/x", http::Error{http::ErrorKind::kTls, "handshake"}, "");
  EXPECT_EQ(tls.kind, ApiErrorKind::kTransport);
  EXPECT_EQ(tls.message, "tls: handshake");
}

TEST(FormatWait, WholeSecondsOrMilliseconds) {
  EXPECT_EQ(FormatWait(std::chrono::seconds(60)), "60s");
  EXPECT_EQ(FormatWait(std::chrono::seconds(2)), "2s");
  EXPECT_EQ(FormatWait(std::chrono::milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatWait(std::chrono::milliseconds(0)), "0s");
}

TEST(DecodeKvPair, RefusesIndexesThatAreNotNonNegativeIntegers) {
  // A float or a negative number used to be converted with get<uint64_t>() (undefined
  // behaviour: fuzz/regressions/consul/create-index-5e99.json); now it is a decode error.
  for (const char* index : {"5e99", "-1", "1.5", "\"7\""}) {
    const auto j = nlohmann::json::parse(std::string(R"({"Key": "k", "CreateIndex": )") + index +
                                         R"(, "ModifyIndex": 3})");
    EXPECT_THROW(DecodeKvPair(j), std::invalid_argument) << index;
  }
  EXPECT_EQ(DecodeKvPair(nlohmann::json::parse(R"({"Key": "k", "ModifyIndex": 3})")).modify_index,
            3u);
}

TEST(DecodeKvIndexes, KeepsKeyAndModifyIndexOfTopLevelFieldsOnly) {
  // Field order as Consul writes it, plus a nested object whose fields must not leak.
  const std::string body = R"([
    {"LockIndex": 0, "Key": "rollouts/spec/a", "Flags": 0, "Value": "eyJ4IjoxfQ==",
     "CreateIndex": 5, "ModifyIndex": 9},
    {"ModifyIndex": 12, "Extra": {"Key": "nested", "ModifyIndex": 99}, "Value": null,
     "Key": "rollouts/spec/b", "Session": "s"}
  ])";
  EXPECT_EQ(DecodeKvIndexes(body),
            (std::vector<KvIndex>{{"rollouts/spec/a", 9}, {"rollouts/spec/b", 12}}));
  EXPECT_TRUE(DecodeKvIndexes("[]").empty());
  EXPECT_TRUE(DecodeKvIndexes("null").empty());  // how Consul writes an empty list
}

TEST(DecodeKvIndexes, RejectsMalformedOrMisshapenBodies) {
  EXPECT_THROW(DecodeKvIndexes(R"([{"Key": "a", "ModifyIndex": 1)"), std::runtime_error);
  EXPECT_THROW(DecodeKvIndexes(R"({"Key": "a", "ModifyIndex": 1})"), std::runtime_error);
  EXPECT_THROW(DecodeKvIndexes("not json"), std::runtime_error);
  // A misshapen answer must not read as "no keys" (a watch would take every key as deleted).
  for (const char* body :
       {"5", R"("x")", "true", "[1]", R"([[{"Key": "a", "ModifyIndex": 1}]])",
        R"([{"Key": 7, "ModifyIndex": 1}])", R"([{"Key": null, "ModifyIndex": 1}])",
        R"([{"Key": "a", "ModifyIndex": -1}])", R"([{"Key": "a", "ModifyIndex": 1.5}])",
        R"([{"Key": "a", "ModifyIndex": "1"}])", R"([{"ModifyIndex": 1}])", R"([{"Key": "a"}])",
        R"([{"Key": ["a"], "ModifyIndex": 1}])"}) {
    EXPECT_THROW(DecodeKvIndexes(body), std::runtime_error) << body;
  }
}

}  // namespace
}  // namespace rollouts::consul
