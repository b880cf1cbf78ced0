// rolloutd's configuration: flags (CLI11) on top of environment variables. Agent
// addresses, tokens and TLS come the HashiCorp way (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN,
// CONSUL_CACERT, ..., NOMAD_ADDR, NOMAD_TOKEN, NOMAD_NAMESPACE, ...); each controller
// setting also has a ROLLOUTD_* variable. A flag given on the command line wins over its
// variable. Tokens are accepted only from the environment: flags show up in `ps`.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clients/common/agent_config.h"

namespace rollouts::controller {

struct ControllerConfig {
  clients::AgentConfig consul;
  clients::AgentConfig nomad;
  std::string kv_prefix = "rollouts/";  // always ends with '/'
  int workers = 4;
  std::chrono::milliseconds resync{std::chrono::minutes(5)};
  std::string metrics_host = "127.0.0.1";
  uint16_t metrics_port = 9464;
  std::chrono::milliseconds router_timeout{std::chrono::seconds(60)};
  // Globs over "namespace/job"; '*' does not cross the '/'.
  std::vector<std::string> allowed_jobs = {"*/*"};
  std::chrono::seconds leader_ttl{15};
  std::chrono::milliseconds lock_delay{std::chrono::seconds(15)};
  std::string log_level = "info";  // debug, info, warning, error
  // Base URL of the Prometheus that analysis queries go to; empty: none configured (a
  // metric gate then reports an error, never a pass).
  std::string prometheus_url;

  std::string LeaderKey() const { return kv_prefix + "leader"; }
  // Whether the controller may touch Nomad job `job` in `nomad_namespace` ("" = "default").
  bool JobAllowed(const std::string& nomad_namespace, const std::string& job) const;
};

struct ConfigParseResult {
  // Set when the controller should run. Otherwise exit with exit_code after printing
  // `output` (help, version, or the error message).
  std::optional<ControllerConfig> config;
  int exit_code = 0;
  std::string output;
};

// args[0] is the program name. env supplies the environment (tests inject one).
ConfigParseResult ParseConfig(const std::vector<std::string>& args, const clients::EnvLookup& env);

// "1h2m3s", "500ms", "15s" (Go's time.ParseDuration subset: h, m, s, ms). Throws
// std::invalid_argument naming the value.
std::chrono::milliseconds ParseDuration(const std::string& text);

// "127.0.0.1:9464", "[::1]:9464", ":9464" (host defaults to 127.0.0.1). Throws
// std::invalid_argument.
std::pair<std::string, uint16_t> ParseHostPort(const std::string& text);

// Appends '/' when missing. Throws std::invalid_argument for an empty prefix, a leading
// '/' or whitespace.
std::string NormalizeKvPrefix(const std::string& prefix);

}  // namespace rollouts::controller
