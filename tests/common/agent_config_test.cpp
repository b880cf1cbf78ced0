// Agent configuration the HashiCorp way (env vars, scheme handling, TLS files) and the
// typed API errors shared by every client.
#include "clients/common/agent_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>

#include "clients/common/api_error.h"

namespace rollouts::clients {
namespace {

TEST(NormalizeAddress, AddsTheDefaultSchemeAndDropsTrailingSlashes) {
  EXPECT_EQ(NormalizeAddress("127.0.0.1:8500", "http"), "http://127.0.0.1:8500");
  EXPECT_EQ(NormalizeAddress("127.0.0.1:8501", "https"), "https://127.0.0.1:8501");
  EXPECT_EQ(NormalizeAddress("https://x:8501/", "http"), "https://x:8501");
  EXPECT_EQ(NormalizeAddress("HTTP://consul.local:8500//", "https"), "http://consul.local:8500");
  EXPECT_EQ(NormalizeAddress("  consul:8500 \n", "http"), "http://consul:8500");
}

TEST(NormalizeAddress, RejectsWhatCannotBeReached) {
  EXPECT_THROW(NormalizeAddress("unix:///var/run/consul.sock", "http"), std::invalid_argument);
  EXPECT_THROW(NormalizeAddress("", "http"), std::invalid_argument);
  EXPECT_THROW(NormalizeAddress("ftp://x:21", "http"), std::invalid_argument);
  EXPECT_THROW(NormalizeAddress("http://", "http"), std::invalid_argument);
  try {
    NormalizeAddress("gopher://h:1", "http");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("gopher://h:1"), std::string::npos) << e.what();
  }
}

TEST(ConsulConfigFromEnv, DefaultsToTheLocalAgent) {
  AgentConfig c = ConsulConfigFromEnv(FixedEnv({}));
  EXPECT_EQ(c.base_url, "http://127.0.0.1:8500");
  EXPECT_EQ(c.token, "");
  EXPECT_EQ(c.tls.ca_file, "");
  EXPECT_FALSE(c.tls.insecure_skip_verify);
}

TEST(ConsulConfigFromEnv, ReadsEveryVariable) {
  AgentConfig c = ConsulConfigFromEnv(FixedEnv({{"CONSUL_HTTP_ADDR", "consul.service:8501"},
                                                {"CONSUL_HTTP_SSL", "true"},
                                                {"CONSUL_HTTP_TOKEN", "tok-123"},
                                                {"CONSUL_CACERT", "/etc/consul/ca.pem"},
                                                {"CONSUL_CLIENT_CERT", "/etc/consul/cli.pem"},
                                                {"CONSUL_CLIENT_KEY", "/etc/consul/cli.key"},
                                                {"CONSUL_TLS_SERVER_NAME", "server.dc1.consul"}}));
  EXPECT_EQ(c.base_url, "https://consul.service:8501");
  EXPECT_EQ(c.token, "tok-123");
  EXPECT_EQ(c.tls.ca_file, "/etc/consul/ca.pem");
  EXPECT_EQ(c.tls.cert_file, "/etc/consul/cli.pem");
  EXPECT_EQ(c.tls.key_file, "/etc/consul/cli.key");
  EXPECT_EQ(c.tls.server_name, "server.dc1.consul");
  EXPECT_EQ(c.namespace_, "");
}

TEST(ConsulConfigFromEnv, HttpSslOnlyChoosesTheSchemeWhenTheAddressHasNone) {
  EXPECT_EQ(ConsulConfigFromEnv(FixedEnv({{"CONSUL_HTTP_ADDR", "h:1"}, {"CONSUL_HTTP_SSL", "1"}}))
                .base_url,
            "https://h:1");
  EXPECT_EQ(
      ConsulConfigFromEnv(FixedEnv({{"CONSUL_HTTP_ADDR", "h:1"}, {"CONSUL_HTTP_SSL", "false"}}))
          .base_url,
      "http://h:1");
  EXPECT_EQ(ConsulConfigFromEnv(
                FixedEnv({{"CONSUL_HTTP_ADDR", "http://h:1"}, {"CONSUL_HTTP_SSL", "true"}}))
                .base_url,
            "http://h:1");
  EXPECT_THROW(ConsulConfigFromEnv(FixedEnv({{"CONSUL_HTTP_SSL", "yes please"}})),
               std::invalid_argument);
}

TEST(ConsulConfigFromEnv, ClientCertificateNeedsItsKey) {
  EXPECT_THROW(ConsulConfigFromEnv(FixedEnv({{"CONSUL_CLIENT_CERT", "/c.pem"}})),
               std::invalid_argument);
  EXPECT_THROW(ConsulConfigFromEnv(FixedEnv({{"CONSUL_CLIENT_KEY", "/c.key"}})),
               std::invalid_argument);
}

TEST(ConsulConfigFromEnv, RejectsUnixSockets) {
  EXPECT_THROW(ConsulConfigFromEnv(FixedEnv({{"CONSUL_HTTP_ADDR", "unix:///tmp/consul.sock"}})),
               std::invalid_argument);
}

TEST(ConsulConfigFromEnv, FlagsAppliedAfterwardsWin) {
  AgentConfig c = ConsulConfigFromEnv(
      FixedEnv({{"CONSUL_HTTP_ADDR", "env-host:8500"}, {"CONSUL_HTTP_TOKEN", "from-env"}}));
  // What a --consul-addr / --consul-token flag does on top of the env.
  c.base_url = NormalizeAddress("flag-host:9500", "http");
  c.token = "from-flag";
  EXPECT_EQ(c.base_url, "http://flag-host:9500");
  EXPECT_EQ(c.token, "from-flag");
}

TEST(NomadConfigFromEnv, DefaultsToTheLocalAgent) {
  AgentConfig c = NomadConfigFromEnv(FixedEnv({}));
  EXPECT_EQ(c.base_url, "http://127.0.0.1:4646");
  EXPECT_EQ(c.token, "");
  EXPECT_EQ(c.namespace_, "");
  EXPECT_EQ(c.region, "");
}

TEST(NomadConfigFromEnv, ReadsEveryVariable) {
  AgentConfig c = NomadConfigFromEnv(FixedEnv({{"NOMAD_ADDR", "https://nomad.service:4646/"},
                                               {"NOMAD_TOKEN", "n-tok"},
                                               {"NOMAD_CACERT", "/n/ca.pem"},
                                               {"NOMAD_CLIENT_CERT", "/n/cli.pem"},
                                               {"NOMAD_CLIENT_KEY", "/n/cli.key"},
                                               {"NOMAD_NAMESPACE", "team-a"},
                                               {"NOMAD_REGION", "eu"},
                                               {"NOMAD_TLS_SERVER_NAME", "server.eu.nomad"},
                                               {"CONSUL_HTTP_TOKEN", "not-for-nomad"}}));
  EXPECT_EQ(c.base_url, "https://nomad.service:4646");
  EXPECT_EQ(c.token, "n-tok");
  EXPECT_EQ(c.tls.ca_file, "/n/ca.pem");
  EXPECT_EQ(c.tls.cert_file, "/n/cli.pem");
  EXPECT_EQ(c.tls.key_file, "/n/cli.key");
  EXPECT_EQ(c.tls.server_name, "server.eu.nomad");
  EXPECT_EQ(c.namespace_, "team-a");
  EXPECT_EQ(c.region, "eu");
}

TEST(NomadConfigFromEnv, SchemelessAddressIsHttp) {
  EXPECT_EQ(NomadConfigFromEnv(FixedEnv({{"NOMAD_ADDR", "10.0.0.5:4646"}})).base_url,
            "http://10.0.0.5:4646");
}

TEST(ProcessEnv, ReadsTheRealEnvironment) {
  ASSERT_EQ(setenv("ROLLOUTS_AGENT_CONFIG_TEST_VAR", "value-42", 1), 0);
  EnvLookup env = ProcessEnv();
  EXPECT_EQ(env("ROLLOUTS_AGENT_CONFIG_TEST_VAR"), std::optional<std::string>("value-42"));
  unsetenv("ROLLOUTS_AGENT_CONFIG_TEST_VAR");
  EXPECT_EQ(env("ROLLOUTS_AGENT_CONFIG_TEST_VAR"), std::nullopt);
}

TEST(Redact, ReplacesEveryOccurrence) {
  EXPECT_EQ(Redact("a SECRET b SECRETSECRET", "SECRET"), "a <redacted> b <redacted><redacted>");
  EXPECT_EQ(Redact("nothing here", "SECRET"), "nothing here");
  EXPECT_EQ(Redact("empty token leaves text alone", ""), "empty token leaves text alone");
}

TEST(ApiError, KindNamesAreDistinct) {
  std::set<std::string> names;
  for (ApiErrorKind k :
       {ApiErrorKind::kTransport, ApiErrorKind::kCancelled, ApiErrorKind::kUnauthorized,
        ApiErrorKind::kNotFound, ApiErrorKind::kBadRequest, ApiErrorKind::kValidation,
        ApiErrorKind::kConflict, ApiErrorKind::kUnavailable, ApiErrorKind::kDecode}) {
    names.insert(ApiErrorKindName(k));
  }
  EXPECT_EQ(names.size(), 9u);
}

TEST(ApiError, ToStringNamesKindEndpointStatusAndText) {
  ApiError e{ApiErrorKind::kConflict, 409, "PUT /v1/txn", "op 0: key exists"};
  EXPECT_EQ(e.ToString(), "conflict (PUT /v1/txn) HTTP 409: op 0: key exists");
  ApiError t{ApiErrorKind::kTransport, 0, "GET /v1/status/leader", "connect: refused"};
  EXPECT_EQ(t.ToString(), "transport (GET /v1/status/leader): connect: refused");
}

TEST(ApiResult, HoldsValueOrError) {
  ApiResult<int> ok(7);
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 7);
  ApiResult<int> bad(ApiError{ApiErrorKind::kNotFound, 404, "GET /x", "gone"});
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ApiErrorKind::kNotFound);
}

}  // namespace
}  // namespace rollouts::clients
