// LoadConfig: where the listen address comes from (flags, Nomad, plain env) and which
// knob values are refused.
#include "examples/hello/config.h"

#include <gtest/gtest.h>

#include <map>

namespace hello {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(HelloConfigTest, DefaultsWithEmptyEnvironment) {
  HelloConfig config = LoadConfig({}, FakeEnv({}));
  EXPECT_EQ(config.host, "127.0.0.1");
  EXPECT_EQ(config.port, 8080);
  EXPECT_EQ(config.version, "dev");
  EXPECT_EQ(config.service, "hello");
  EXPECT_EQ(config.instance, "");
  EXPECT_EQ(config.error_rate, 0.0);
  EXPECT_EQ(config.latency.count(), 0);
  EXPECT_FALSE(config.fail_health);
  EXPECT_FALSE(config.crash_on_start);
}

TEST(HelloConfigTest, NomadAddressWinsOverPlainEnvironment) {
  HelloConfig config = LoadConfig({}, FakeEnv({{"NOMAD_IP_http", "10.0.0.7"},
                                               {"NOMAD_PORT_http", "23456"},
                                               {"HOST", "0.0.0.0"},
                                               {"PORT", "9000"},
                                               {"NOMAD_ALLOC_ID", "a1b2"}}));
  EXPECT_EQ(config.host, "10.0.0.7");
  EXPECT_EQ(config.port, 23456);
  EXPECT_EQ(config.instance, "a1b2");
}

TEST(HelloConfigTest, PlainEnvironmentWhenNomadIsAbsent) {
  HelloConfig config = LoadConfig({}, FakeEnv({{"HOST", "0.0.0.0"}, {"PORT", "9000"}}));
  EXPECT_EQ(config.host, "0.0.0.0");
  EXPECT_EQ(config.port, 9000);
}

TEST(HelloConfigTest, FlagsWinOverEverything) {
  CommandLine flags;
  flags.host = "127.0.0.2";
  flags.port = "0";
  flags.shutdown_timeout_ms = "250";
  HelloConfig config = LoadConfig(flags, FakeEnv({{"NOMAD_IP_http", "10.0.0.7"},
                                                  {"NOMAD_PORT_http", "23456"},
                                                  {"SHUTDOWN_TIMEOUT_MS", "9999"}}));
  EXPECT_EQ(config.host, "127.0.0.2");
  EXPECT_EQ(config.port, 0);
  EXPECT_EQ(config.shutdown_timeout.count(), 250);
}

TEST(HelloConfigTest, KnobsAreRead) {
  HelloConfig config = LoadConfig({}, FakeEnv({{"APP_VERSION", "v9"},
                                               {"SERVICE_NAME", "greeter"},
                                               {"ERROR_RATE", "0.05"},
                                               {"LATENCY_MS", "250"},
                                               {"FAIL_HEALTH", "true"},
                                               {"CRASH_ON_START", "1"}}));
  EXPECT_EQ(config.version, "v9");
  EXPECT_EQ(config.service, "greeter");
  EXPECT_DOUBLE_EQ(config.error_rate, 0.05);
  EXPECT_EQ(config.latency.count(), 250);
  EXPECT_TRUE(config.fail_health);
  EXPECT_TRUE(config.crash_on_start);
}

TEST(HelloConfigTest, ErrorRateByVersionOverridesForTheListedVersionOnly) {
  const std::string table = "v3=0.05,v4=1";
  HelloConfig bad = LoadConfig(
      {},
      FakeEnv({{"APP_VERSION", "v3"}, {"ERROR_RATE", "0.5"}, {"ERROR_RATE_BY_VERSION", table}}));
  EXPECT_DOUBLE_EQ(bad.error_rate, 0.05);
  HelloConfig worst =
      LoadConfig({}, FakeEnv({{"APP_VERSION", "v4"}, {"ERROR_RATE_BY_VERSION", table}}));
  EXPECT_DOUBLE_EQ(worst.error_rate, 1.0);
  HelloConfig good = LoadConfig(
      {},
      FakeEnv({{"APP_VERSION", "v2"}, {"ERROR_RATE", "0.25"}, {"ERROR_RATE_BY_VERSION", table}}));
  EXPECT_DOUBLE_EQ(good.error_rate, 0.25);
  // A prefix is not a match.
  HelloConfig other =
      LoadConfig({}, FakeEnv({{"APP_VERSION", "v33"}, {"ERROR_RATE_BY_VERSION", table}}));
  EXPECT_DOUBLE_EQ(other.error_rate, 0.0);
}

TEST(HelloConfigTest, FalseSpellingsAreFalse) {
  for (const char* value : {"0", "false", "FALSE", "no", "off", ""}) {
    HelloConfig config = LoadConfig({}, FakeEnv({{"FAIL_HEALTH", value}}));
    EXPECT_FALSE(config.fail_health) << value;
  }
}

TEST(HelloConfigTest, MalformedValuesAreRefusedWithTheirName) {
  const std::map<std::string, std::string> bad[] = {{{"ERROR_RATE", "1.01"}},
                                                    {{"ERROR_RATE", "-0.1"}},
                                                    {{"ERROR_RATE", "x"}},
                                                    {{"ERROR_RATE", "0.3x"}},
                                                    {{"LATENCY_MS", "-1"}},
                                                    {{"LATENCY_MS", "1.5"}},
                                                    {{"PORT", "65536"}},
                                                    {{"NOMAD_PORT_http", "ab"}},
                                                    {{"CRASH_ON_START", "sure"}},
                                                    {{"ERROR_RATE_BY_VERSION", "v3"}},
                                                    {{"ERROR_RATE_BY_VERSION", "=0.1"}},
                                                    {{"ERROR_RATE_BY_VERSION", "v1=0.1,v3=2"}},
                                                    {{"ERROR_RATE_BY_VERSION", "v1=0.1,"}}};
  for (const auto& env : bad) {
    const std::string& name = env.begin()->first;
    try {
      LoadConfig({}, FakeEnv(env));
      ADD_FAILURE() << name << "=" << env.begin()->second << " was accepted";
    } catch (const std::invalid_argument& e) {
      std::string message = e.what();
      std::string expected = name == "PORT" || name == "NOMAD_PORT_http" ? "port" : name;
      EXPECT_NE(message.find(expected), std::string::npos) << message;
    }
  }
}

}  // namespace
}  // namespace hello
