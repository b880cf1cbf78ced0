#include "controller/config.h"

#include <fnmatch.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <map>
#include <sstream>
#include <stdexcept>

#include "api/text.h"

namespace rollouts::controller {
namespace {

std::string FormatDuration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 3600000 == 0 && ms != 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0 && ms != 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// One setting: its flag, its ROLLOUTD_* variable and the raw text that won.
struct Setting {
  std::string flag;
  std::string env_name;
  std::string value;
  std::string source;  // "--flag", "$VAR" or "default"
};

std::string Where(const Setting& s) {
  if (s.source == "default" || s.source == s.flag) return s.flag;
  return s.flag + " (from " + s.source + ")";
}

[[noreturn]] void Invalid(const Setting& s, const std::string& problem) {
  throw std::invalid_argument(Where(s) + ": " + problem + ", got '" + s.value + "'");
}

std::chrono::milliseconds DurationSetting(const Setting& s, std::chrono::milliseconds min,
                                          std::chrono::milliseconds max) {
  std::chrono::milliseconds d;
  try {
    d = ParseDuration(s.value);
  } catch (const std::invalid_argument& e) {
    Invalid(s, "not a duration like 30s, 5m or 500ms");
  }
  if (d < min || d > max) {
    Invalid(s, "must be between " + FormatDuration(min) + " and " + FormatDuration(max));
  }
  return d;
}

std::vector<std::string> SplitPatterns(const Setting& s) {
  std::vector<std::string> out;
  std::stringstream in(s.value);
  std::string item;
  while (std::getline(in, item, ',')) {
    item = std::string(api::TrimSpace(item));
    if (item.empty()) continue;
    auto slash = item.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == item.size() ||
        item.find('/', slash + 1) != std::string::npos) {
      throw std::invalid_argument(Where(s) + ": pattern '" + item +
                                  "' must have the form namespace/job (globs allowed, e.g. "
                                  "default/web-*)");
    }
    out.push_back(item);
  }
  if (out.empty()) {
    Invalid(s, "must list at least one namespace/job pattern ('*/*' allows every job)");
  }
  return out;
}

}  // namespace

std::chrono::milliseconds ParseDuration(const std::string& raw) {
  std::string text(api::TrimSpace(raw));
  if (text.empty()) throw std::invalid_argument("empty duration");
  if (text == "0") return std::chrono::milliseconds(0);
  std::chrono::milliseconds total{0};
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start || i - start > 9) {
      throw std::invalid_argument("invalid duration '" + text + "'");
    }
    int64_t n = std::stoll(text.substr(start, i - start));
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit = text.substr(unit_start, i - unit_start);
    if (unit == "ms") {
      total += std::chrono::milliseconds(n);
    } else if (unit == "s") {
      total += std::chrono::seconds(n);
    } else if (unit == "m") {
      total += std::chrono::minutes(n);
    } else if (unit == "h") {
      total += std::chrono::hours(n);
    } else {
      throw std::invalid_argument("invalid duration '" + text + "' (units: h, m, s, ms)");
    }
  }
  return total;
}

std::pair<std::string, uint16_t> ParseHostPort(const std::string& raw) {
  std::string text(api::TrimSpace(raw));
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    throw std::invalid_argument("'" + text + "' is not host:port");
  }
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "127.0.0.1";
  if (host.find_first_of(" /[]") != std::string::npos) {
    throw std::invalid_argument("invalid host in '" + text + "'");
  }
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos) {
    throw std::invalid_argument("invalid port in '" + text + "'");
  }
  int port = std::stoi(port_text);
  if (port < 1 || port > 65535) {
    throw std::invalid_argument("port out of range 1-65535 in '" + text + "'");
  }
  return {host, static_cast<uint16_t>(port)};
}

std::string NormalizeKvPrefix(const std::string& prefix) {
  if (prefix.empty()) throw std::invalid_argument("the KV prefix must not be empty");
  if (prefix.front() == '/') {
    throw std::invalid_argument("the KV prefix must not start with '/': '" + prefix + "'");
  }
  for (char c : prefix) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '?' || c == '#') {
      throw std::invalid_argument("the KV prefix contains whitespace, '?' or '#': '" + prefix +
                                  "'");
    }
  }
  return prefix.back() == '/' ? prefix : prefix + "/";
}

bool ControllerConfig::JobAllowed(const std::string& nomad_namespace,
                                  const std::string& job) const {
  const std::string subject = (nomad_namespace.empty() ? "default" : nomad_namespace) + "/" + job;
  for (const auto& pattern : allowed_jobs) {
    if (fnmatch(pattern.c_str(), subject.c_str(), FNM_PATHNAME) == 0) return true;
  }
  return false;
}

ConfigParseResult ParseConfig(const std::vector<std::string>& args, const clients::EnvLookup& env) {
  ControllerConfig defaults;
  // Order = order in --help.
  std::vector<Setting> settings = {
      {"--consul-addr", "CONSUL_HTTP_ADDR", "", ""},
      {"--nomad-addr", "NOMAD_ADDR", "", ""},
      {"--kv-prefix", "ROLLOUTD_KV_PREFIX", defaults.kv_prefix, ""},
      {"--workers", "ROLLOUTD_WORKERS", std::to_string(defaults.workers), ""},
      {"--resync", "ROLLOUTD_RESYNC", FormatDuration(defaults.resync), ""},
      {"--metrics-addr", "ROLLOUTD_METRICS_ADDR", "127.0.0.1:9464", ""},
      {"--router-timeout", "ROLLOUTD_ROUTER_TIMEOUT", FormatDuration(defaults.router_timeout), ""},
      {"--allowed-jobs", "ROLLOUTD_ALLOWED_JOBS", "*/*", ""},
      {"--leader-ttl", "ROLLOUTD_LEADER_TTL", FormatDuration(defaults.leader_ttl), ""},
      {"--lock-delay", "ROLLOUTD_LOCK_DELAY", FormatDuration(defaults.lock_delay), ""},
      {"--log-level", "ROLLOUTD_LOG_LEVEL", defaults.log_level, ""},
      {"--prometheus-addr", "ROLLOUTD_PROMETHEUS_ADDR", "", ""},
  };
  const std::map<std::string, std::string> help = {
      {"--consul-addr", "Consul HTTP address, e.g. 127.0.0.1:8500 or https://consul:8501"},
      {"--nomad-addr", "Nomad HTTP address, e.g. http://127.0.0.1:4646"},
      {"--kv-prefix", "Consul KV prefix of spec/, status/, control/, leader ('/' appended)"},
      {"--workers", "Rollouts reconciled in parallel (1-64)"},
      {"--resync", "Re-reconcile every Rollout this often even without events"},
      {"--metrics-addr", "host:port of /metrics, /healthz and /readyz"},
      {"--router-timeout", "How long a flip waits for every router to converge"},
      {"--allowed-jobs",
       "Comma-separated globs of namespace/job the controller may touch; others are refused"},
      {"--leader-ttl", "Consul session TTL of the leader lock (10s-24h, whole seconds)"},
      {"--lock-delay", "Consul LockDelay: how long a released lock stays blocked (0-60s)"},
      {"--log-level", "debug, info, warning or error"},
      {"--prometheus-addr", "Prometheus HTTP address for analysis queries, e.g. 127.0.0.1:9090"},
  };

  CLI::App app{"rolloutd - rolls Nomad services to a new version with zero downtime"};
  app.set_version_flag("--version", std::string("rolloutd ") + ROLLOUTS_VERSION);
  app.footer(
      "Agent access also follows the HashiCorp environment variables: CONSUL_HTTP_ADDR, "
      "CONSUL_HTTP_TOKEN, CONSUL_HTTP_SSL, CONSUL_CACERT, CONSUL_CLIENT_CERT, "
      "CONSUL_CLIENT_KEY, CONSUL_TLS_SERVER_NAME, NOMAD_ADDR, NOMAD_TOKEN, NOMAD_CACERT, "
      "NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY, NOMAD_NAMESPACE, NOMAD_REGION. A flag wins over "
      "its environment variable.");
  std::vector<CLI::Option*> options;
  for (auto& s : settings) {
    std::string description = help.at(s.flag) + " [env " + s.env_name + "]";
    CLI::Option* opt = app.add_option(s.flag, s.value, description);
    if (!s.value.empty()) opt->default_str(s.value);
    options.push_back(opt);
  }

  ConfigParseResult result;
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out;
  std::ostringstream err;
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    result.exit_code = app.exit(e, out, err);
    result.output = out.str() + err.str();
    return result;
  }

  try {
    for (size_t i = 0; i < settings.size(); ++i) {
      Setting& s = settings[i];
      if (options[i]->count() > 0) {
        s.source = s.flag;
        continue;
      }
      auto from_env = env(s.env_name);
      if (from_env && !api::TrimSpace(*from_env).empty()) {
        s.value = std::string(api::TrimSpace(*from_env));
        s.source = "$" + s.env_name;
      } else {
        s.source = "default";
      }
    }
    std::map<std::string, const Setting*> by_flag;
    for (const auto& s : settings) by_flag[s.flag] = &s;

    ControllerConfig config;
    // A flag replaces its address variable entirely, so a bad value there is not an error.
    auto without = [&env](std::string hidden) -> clients::EnvLookup {
      return [&env, hidden](const std::string& name) -> std::optional<std::string> {
        if (name == hidden) return std::nullopt;
        return env(name);
      };
    };
    const bool consul_flag = by_flag["--consul-addr"]->source == "--consul-addr";
    const bool nomad_flag = by_flag["--nomad-addr"]->source == "--nomad-addr";
    config.consul = clients::ConsulConfigFromEnv(consul_flag ? without("CONSUL_HTTP_ADDR") : env);
    config.nomad = clients::NomadConfigFromEnv(nomad_flag ? without("NOMAD_ADDR") : env);
    auto agent_addr = [](const Setting& s, clients::AgentConfig& agent) {
      if (s.source != s.flag) return;  // the env var was already read by *FromEnv
      try {
        const bool https = agent.base_url.rfind("https://", 0) == 0;
        agent.base_url = clients::NormalizeAddress(s.value, https ? "https" : "http");
      } catch (const std::invalid_argument& e) {
        Invalid(s, e.what());
      }
    };
    agent_addr(*by_flag["--consul-addr"], config.consul);
    agent_addr(*by_flag["--nomad-addr"], config.nomad);

    const Setting& prefix = *by_flag["--kv-prefix"];
    try {
      config.kv_prefix = NormalizeKvPrefix(std::string(api::TrimSpace(prefix.value)));
    } catch (const std::invalid_argument& e) {
      Invalid(prefix, e.what());
    }

    const Setting& workers = *by_flag["--workers"];
    const std::string& w = workers.value;
    if (w.empty() || w.size() > 3 || w.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(w) < 1 || std::stoi(w) > 64) {
      Invalid(workers, "must be a whole number from 1 to 64");
    }
    config.workers = std::stoi(w);

    using std::chrono::hours;
    using std::chrono::milliseconds;
    using std::chrono::seconds;
    config.resync = DurationSetting(*by_flag["--resync"], seconds(1), hours(24));
    config.router_timeout = DurationSetting(*by_flag["--router-timeout"], seconds(1), hours(1));
    const Setting& ttl = *by_flag["--leader-ttl"];
    milliseconds ttl_ms = DurationSetting(ttl, seconds(10), hours(24));
    if (ttl_ms.count() % 1000 != 0) Invalid(ttl, "must be whole seconds (Consul's session TTL)");
    config.leader_ttl = std::chrono::duration_cast<seconds>(ttl_ms);
    config.lock_delay = DurationSetting(*by_flag["--lock-delay"], milliseconds(0), seconds(60));

    const Setting& addr = *by_flag["--metrics-addr"];
    try {
      std::tie(config.metrics_host, config.metrics_port) = ParseHostPort(addr.value);
    } catch (const std::invalid_argument& e) {
      Invalid(addr, e.what());
    }

    config.allowed_jobs = SplitPatterns(*by_flag["--allowed-jobs"]);

    const Setting& level = *by_flag["--log-level"];
    if (level.value != "debug" && level.value != "info" && level.value != "warning" &&
        level.value != "error") {
      Invalid(level, "must be one of debug, info, warning, error");
    }
    config.log_level = level.value;

    const Setting& prometheus = *by_flag["--prometheus-addr"];
    if (!prometheus.value.empty()) {
      try {
        config.prometheus_url = clients::NormalizeAddress(prometheus.value, "http");
      } catch (const std::invalid_argument& e) {
        Invalid(prometheus, e.what());
      }
    }
    result.config = std::move(config);
  } catch (const std::invalid_argument& e) {
    result.exit_code = 2;
    result.output = std::string("rolloutd: invalid configuration: ") + e.what() + "\n";
  }
  return result;
}

}  // namespace rollouts::controller
