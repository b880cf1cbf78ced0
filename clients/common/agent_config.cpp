#include "clients/common/agent_config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "api/text.h"

namespace rollouts::clients {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Go's strconv.ParseBool, which is what the Consul CLI uses for CONSUL_HTTP_SSL.
std::optional<bool> ParseBool(const std::string& raw) {
  static const char* kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
  static const char* kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (const char* t : kTrue)
    if (raw == t) return true;
  for (const char* f : kFalse)
    if (raw == f) return false;
  return std::nullopt;
}

std::string Get(const EnvLookup& env, const std::string& name) {
  auto v = env(name);
  return v ? std::string(api::TrimSpace(*v)) : std::string();
}

http::TlsConfig TlsFromEnv(const EnvLookup& env, const std::string& prefix) {
  http::TlsConfig tls;
  tls.ca_file = Get(env, prefix + "_CACERT");
  tls.cert_file = Get(env, prefix + "_CLIENT_CERT");
  tls.key_file = Get(env, prefix + "_CLIENT_KEY");
  tls.server_name = Get(env, prefix + "_TLS_SERVER_NAME");
  // A client certificate without its key (or the reverse) cannot work; say so now
  // instead of failing later inside the TLS handshake.
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    throw std::invalid_argument(prefix + "_CLIENT_CERT and " + prefix +
                                "_CLIENT_KEY must be set together");
  }
  return tls;
}

}  // namespace

EnvLookup FixedEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    // Read-only use; nothing in this program calls setenv after startup.
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string NormalizeAddress(const std::string& address, const std::string& default_scheme) {
  std::string addr(api::TrimSpace(address));
  if (addr.empty()) throw std::invalid_argument("empty agent address");
  std::string scheme = default_scheme;
  std::string rest = addr;
  size_t sep = addr.find("://");
  if (sep != std::string::npos) {
    scheme = Lower(addr.substr(0, sep));
    rest = addr.substr(sep + 3);
  }
  if (scheme == "unix") {
    throw std::invalid_argument("unix socket addresses are not supported: '" + addr + "'");
  }
  if (scheme != "http" && scheme != "https") {
    throw std::invalid_argument("unsupported scheme in agent address '" + addr + "'");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.front() == '/' || rest.find_first_of(" \t?#") != std::string::npos) {
    throw std::invalid_argument("invalid agent address '" + addr + "'");
  }
  return scheme + "://" + rest;
}

AgentConfig ConsulConfigFromEnv(const EnvLookup& env) {
  AgentConfig config;
  std::string scheme = "http";
  std::string ssl = Get(env, "CONSUL_HTTP_SSL");
  if (!ssl.empty()) {
    auto b = ParseBool(ssl);
    if (!b) throw std::invalid_argument("CONSUL_HTTP_SSL is not a boolean: '" + ssl + "'");
    if (*b) scheme = "https";
  }
  std::string addr = Get(env, "CONSUL_HTTP_ADDR");
  config.base_url = NormalizeAddress(addr.empty() ? "127.0.0.1:8500" : addr, scheme);
  config.token = Get(env, "CONSUL_HTTP_TOKEN");
  config.tls = TlsFromEnv(env, "CONSUL");
  return config;
}

AgentConfig NomadConfigFromEnv(const EnvLookup& env) {
  AgentConfig config;
  std::string addr = Get(env, "NOMAD_ADDR");
  config.base_url = NormalizeAddress(addr.empty() ? "http://127.0.0.1:4646" : addr, "http");
  config.token = Get(env, "NOMAD_TOKEN");
  config.tls = TlsFromEnv(env, "NOMAD");
  config.namespace_ = Get(env, "NOMAD_NAMESPACE");
  config.region = Get(env, "NOMAD_REGION");
  return config;
}

std::string Redact(std::string text, const std::string& token) {
  if (token.empty()) return text;
  static const std::string kMask = "<redacted>";
  size_t pos = 0;
  while ((pos = text.find(token, pos)) != std::string::npos) {
    text.replace(pos, token.size(), kMask);
    pos += kMask.size();
  }
  return text;
}

}  // namespace rollouts::clients
