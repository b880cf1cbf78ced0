// How to reach a Consul or Nomad agent, configured the HashiCorp way: environment
// variables (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT, CONSUL_CLIENT_CERT,
// CONSUL_CLIENT_KEY; NOMAD_ADDR, NOMAD_TOKEN, NOMAD_CACERT, NOMAD_CLIENT_CERT,
// NOMAD_CLIENT_KEY, NOMAD_NAMESPACE, NOMAD_REGION), then flags on top.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "clients/http/http.h"

namespace rollouts::clients {

struct AgentConfig {
  std::string base_url;  // always with scheme, no trailing slash: "http://127.0.0.1:8500"
  std::string token;     // secret: never logged, never put in an error message
  http::TlsConfig tls;
  std::string namespace_;  // Nomad only (NOMAD_NAMESPACE); empty = agent default
  std::string region;      // Nomad only (NOMAD_REGION)
};

// Reads an env var; tests inject their own.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();
// A fixed environment: only the given variables are set (tests, embedding).
EnvLookup FixedEnv(std::map<std::string, std::string> vars);

// "127.0.0.1:8500" -> "http://127.0.0.1:8500"; "https://x:8501/" -> "https://x:8501";
// "unix://..." is rejected. default_scheme is "https" when CONSUL_HTTP_SSL=true.
// Throws std::invalid_argument with a message naming the bad value.
std::string NormalizeAddress(const std::string& address, const std::string& default_scheme);

AgentConfig ConsulConfigFromEnv(const EnvLookup& env);
AgentConfig NomadConfigFromEnv(const EnvLookup& env);

// Replaces every occurrence of token in text with "<redacted>" (for error messages and
// logs that may echo a request back).
std::string Redact(std::string text, const std::string& token);

}  // namespace rollouts::clients
