#include "controller/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace rollouts::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ConfigTest : public ::testing::Test {
 protected:
  ConfigParseResult Parse(std::vector<std::string> flags) {
    flags.insert(flags.begin(), "rolloutd");
    return ParseConfig(flags, [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    });
  }
  ControllerConfig MustParse(std::vector<std::string> flags) {
    ConfigParseResult r = Parse(std::move(flags));
    EXPECT_TRUE(r.config.has_value()) << r.output;
    return r.config.value_or(ControllerConfig{});
  }
  std::string MustFail(std::vector<std::string> flags) {
    ConfigParseResult r = Parse(std::move(flags));
    EXPECT_FALSE(r.config.has_value());
    EXPECT_NE(r.exit_code, 0);
    return r.output;
  }

  std::map<std::string, std::string> env_;
};

TEST_F(ConfigTest, Defaults) {
  ControllerConfig c = MustParse({});
  EXPECT_EQ(c.consul.base_url, "http://127.0.0.1:8500");
  EXPECT_EQ(c.nomad.base_url, "http://127.0.0.1:4646");
  EXPECT_EQ(c.kv_prefix, "rollouts/");
  EXPECT_EQ(c.LeaderKey(), "rollouts/leader");
  EXPECT_EQ(c.workers, 4);
  EXPECT_EQ(c.resync, std::chrono::minutes(5));
  EXPECT_EQ(c.metrics_host, "127.0.0.1");
  EXPECT_EQ(c.metrics_port, 9464);
  EXPECT_EQ(c.leader_ttl, seconds(15));
  EXPECT_EQ(c.lock_delay, seconds(15));
  EXPECT_THAT(c.allowed_jobs, ElementsAre("*/*"));
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.prometheus_url, "");
}

TEST_F(ConfigTest, PrometheusAddressFromEnvOrFlag) {
  env_ = {{"ROLLOUTD_PROMETHEUS_ADDR", "prom:9090"}};
  EXPECT_EQ(MustParse({}).prometheus_url, "http://prom:9090");
  EXPECT_EQ(MustParse({"--prometheus-addr", "https://p:9091/"}).prometheus_url, "https://p:9091");
  EXPECT_THAT(MustFail({"--prometheus-addr", "ftp://p"}), HasSubstr("--prometheus-addr"));
}

TEST_F(ConfigTest, HashiCorpEnvironmentIsRead) {
  env_ = {{"CONSUL_HTTP_ADDR", "consul.service:8500"},
          {"CONSUL_HTTP_TOKEN", "secret-consul"},
          {"NOMAD_ADDR", "https://nomad:4646/"},
          {"NOMAD_TOKEN", "secret-nomad"},
          {"NOMAD_NAMESPACE", "apps"}};
  ControllerConfig c = MustParse({});
  EXPECT_EQ(c.consul.base_url, "http://consul.service:8500");
  EXPECT_EQ(c.consul.token, "secret-consul");
  EXPECT_EQ(c.nomad.base_url, "https://nomad:4646");
  EXPECT_EQ(c.nomad.token, "secret-nomad");
  EXPECT_EQ(c.nomad.namespace_, "apps");
}

TEST_F(ConfigTest, FlagsOverrideEnvironment) {
  env_ = {{"CONSUL_HTTP_ADDR", "from-env:8500"},
          {"CONSUL_HTTP_TOKEN", "tok"},
          {"ROLLOUTD_WORKERS", "8"},
          {"ROLLOUTD_KV_PREFIX", "env-prefix"},
          {"ROLLOUTD_RESYNC", "1m"}};
  ControllerConfig c =
      MustParse({"--consul-addr", "from-flag:8501", "--workers", "2", "--kv-prefix", "team/ro"});
  EXPECT_EQ(c.consul.base_url, "http://from-flag:8501");
  EXPECT_EQ(c.consul.token, "tok");  // the token still comes from the environment
  EXPECT_EQ(c.workers, 2);
  EXPECT_EQ(c.kv_prefix, "team/ro/");
  EXPECT_EQ(c.resync, std::chrono::minutes(1));  // no flag: the environment applies
}

TEST_F(ConfigTest, FlagReplacesABadAddressVariable) {
  env_ = {{"NOMAD_ADDR", "unix:///var/run/nomad.sock"}};
  EXPECT_THAT(MustFail({}), HasSubstr("unix"));
  ControllerConfig c = MustParse({"--nomad-addr", "127.0.0.1:4646"});
  EXPECT_EQ(c.nomad.base_url, "http://127.0.0.1:4646");
}

TEST_F(ConfigTest, ConsulSslMakesTheFlagAddressHttps) {
  env_ = {{"CONSUL_HTTP_SSL", "true"}};
  EXPECT_EQ(MustParse({"--consul-addr", "consul:8501"}).consul.base_url, "https://consul:8501");
}

TEST_F(ConfigTest, DurationsAndAddresses) {
  ControllerConfig c =
      MustParse({"--resync", "1m30s", "--router-timeout", "2500ms", "--leader-ttl", "20s",
                 "--lock-delay", "0", "--metrics-addr", "0.0.0.0:9100", "--log-level", "debug"});
  EXPECT_EQ(c.resync, seconds(90));
  EXPECT_EQ(c.router_timeout, milliseconds(2500));
  EXPECT_EQ(c.leader_ttl, seconds(20));
  EXPECT_EQ(c.lock_delay, milliseconds(0));
  EXPECT_EQ(c.metrics_host, "0.0.0.0");
  EXPECT_EQ(c.metrics_port, 9100);
  EXPECT_EQ(c.log_level, "debug");
}

TEST_F(ConfigTest, BadValuesNameTheFlagAndTheValue) {
  EXPECT_THAT(MustFail({"--workers", "0"}), HasSubstr("--workers: must be a whole number"));
  EXPECT_THAT(MustFail({"--workers", "many"}), HasSubstr("'many'"));
  EXPECT_THAT(MustFail({"--resync", "10"}), HasSubstr("--resync: not a duration"));
  EXPECT_THAT(MustFail({"--leader-ttl", "5s"}), HasSubstr("between 10s and 24h"));
  EXPECT_THAT(MustFail({"--leader-ttl", "10500ms"}), HasSubstr("whole seconds"));
  EXPECT_THAT(MustFail({"--lock-delay", "2m"}), HasSubstr("--lock-delay"));
  EXPECT_THAT(MustFail({"--metrics-addr", "localhost"}), HasSubstr("--metrics-addr"));
  EXPECT_THAT(MustFail({"--metrics-addr", "127.0.0.1:99999"}), HasSubstr("out of range"));
  EXPECT_THAT(MustFail({"--kv-prefix", "/rollouts"}), HasSubstr("must not start with '/'"));
  EXPECT_THAT(MustFail({"--allowed-jobs", "web"}), HasSubstr("namespace/job"));
  EXPECT_THAT(MustFail({"--allowed-jobs", " , "}), HasSubstr("at least one"));
  EXPECT_THAT(MustFail({"--log-level", "loud"}), HasSubstr("debug, info, warning, error"));
  EXPECT_THAT(MustFail({"--no-such-flag"}), HasSubstr("no-such-flag"));
}

TEST_F(ConfigTest, BadEnvironmentValueSaysWhereItCameFrom) {
  env_ = {{"ROLLOUTD_WORKERS", "100"}};
  EXPECT_THAT(MustFail({}), HasSubstr("--workers (from $ROLLOUTD_WORKERS)"));
}

TEST_F(ConfigTest, HelpListsEveryFlag) {
  ConfigParseResult r = Parse({"--help"});
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--consul-addr", "--nomad-addr", "--kv-prefix", "--workers", "--resync",
                           "--metrics-addr", "--router-timeout", "--allowed-jobs", "--leader-ttl",
                           "--lock-delay", "--log-level", "CONSUL_HTTP_TOKEN"}) {
    EXPECT_THAT(r.output, HasSubstr(flag));
  }
}

TEST_F(ConfigTest, AllowedJobsGlobsDoNotCrossTheNamespaceSlash) {
  ControllerConfig c = MustParse({"--allowed-jobs", "default/web-*, payments/*"});
  EXPECT_TRUE(c.JobAllowed("default", "web-frontend"));
  EXPECT_TRUE(c.JobAllowed("", "web-api"));  // empty namespace is "default"
  EXPECT_TRUE(c.JobAllowed("payments", "ledger"));
  EXPECT_FALSE(c.JobAllowed("default", "db"));
  EXPECT_FALSE(c.JobAllowed("other", "web-frontend"));
  // A bare "*" would look like "every job" but cannot match "namespace/job"; refuse it.
  EXPECT_THAT(MustFail({"--allowed-jobs", "*"}), HasSubstr("namespace/job"));
}

TEST(ParseDurationTest, Units) {
  EXPECT_EQ(ParseDuration("1h"), std::chrono::hours(1));
  EXPECT_EQ(ParseDuration("2m3s"), seconds(123));
  EXPECT_EQ(ParseDuration("750ms"), milliseconds(750));
  EXPECT_THROW(ParseDuration("5"), std::invalid_argument);
  EXPECT_THROW(ParseDuration("5d"), std::invalid_argument);
  EXPECT_THROW(ParseDuration("-5s"), std::invalid_argument);
  EXPECT_THROW(ParseDuration(""), std::invalid_argument);
}

}  // namespace
}  // namespace rollouts::controller
