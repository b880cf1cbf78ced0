#include "cli/cli_common.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <ostream>
#include <stdexcept>

namespace rollouts::cli {
namespace {

// The env lookup with one variable hidden: a flag replaces its address variable
// entirely, so a bad value there must not fail the command (same rule as rolloutd).
clients::EnvLookup Without(const clients::EnvLookup& env, std::string hidden) {
  return [env, hidden](const std::string& name) -> std::optional<std::string> {
    if (name == hidden) return std::nullopt;
    return env(name);
  };
}

clients::AgentConfig AgentFrom(const std::string& flag_value, const std::string& env_name,
                               const clients::EnvLookup& env, bool nomad) {
  try {
    clients::EnvLookup lookup = flag_value.empty() ? env : Without(env, env_name);
    clients::AgentConfig config =
        nomad ? clients::NomadConfigFromEnv(lookup) : clients::ConsulConfigFromEnv(lookup);
    if (!flag_value.empty()) {
      const bool https = config.base_url.rfind("https://", 0) == 0;
      config.base_url = clients::NormalizeAddress(flag_value, https ? "https" : "http");
    }
    return config;
  } catch (const std::invalid_argument& e) {
    throw CommandError{kExitUsage, e.what()};
  }
}

}  // namespace

void AddGlobalOptions(CLI::App& app, GlobalOptions& options) {
  app.add_option("--consul-addr", options.consul_addr,
                 "Consul HTTP address, e.g. 127.0.0.1:8500 [env CONSUL_HTTP_ADDR]")
      ->type_name("ADDR");
  app.add_option("--nomad-addr", options.nomad_addr,
                 "Nomad HTTP address, e.g. http://127.0.0.1:4646 [env NOMAD_ADDR]")
      ->type_name("ADDR");
  app.add_option("--kv-prefix", options.kv_prefix,
                 "Consul KV prefix of spec/, status/, control/ [env ROLLOUTD_KV_PREFIX, "
                 "default rollouts/]")
      ->type_name("PREFIX");
  app.add_option("-o,--output", options.output, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_flag("--no-color", options.no_color, "No ANSI colours (NO_COLOR does the same)");
}

clients::AgentConfig ConsulConfig(const GlobalOptions& options, const clients::EnvLookup& env) {
  return AgentFrom(options.consul_addr, "CONSUL_HTTP_ADDR", env, false);
}

clients::AgentConfig NomadConfig(const GlobalOptions& options, const clients::EnvLookup& env) {
  return AgentFrom(options.nomad_addr, "NOMAD_ADDR", env, true);
}

std::string KvPrefix(const GlobalOptions& options, const clients::EnvLookup& env) {
  std::string prefix = options.kv_prefix;
  if (prefix.empty()) prefix = env("ROLLOUTD_KV_PREFIX").value_or("");
  if (prefix.empty()) prefix = "rollouts/";
  if (prefix.front() == '/' ||
      std::any_of(prefix.begin(), prefix.end(), [](unsigned char c) { return std::isspace(c); })) {
    throw CommandError{kExitUsage, "--kv-prefix: \"" + prefix +
                                       "\" must not start with '/' or contain whitespace"};
  }
  if (prefix.back() != '/') prefix += '/';
  return prefix;
}

Connections Connect(const GlobalOptions& options, const clients::EnvLookup& env, std::ostream& out,
                    bool stdout_is_tty) {
  Connections c;
  // A command line fails fast instead of retrying for the daemon's 30 s: a person or a
  // pipeline is waiting, and a redraw of `get --watch` must not stall on a dead agent.
  consul::HttpConsulClientOptions consul_options;
  consul_options.retry.max_attempts = 3;
  consul_options.retry.deadline = std::chrono::seconds(5);
  c.consul = std::make_unique<consul::HttpConsulClient>(ConsulConfig(options, env), consul_options);
  nomad::NomadClientOptions nomad_options;
  nomad_options.agent = NomadConfig(options, env);
  nomad_options.request_timeout = std::chrono::seconds(5);
  // Nomad is only read for the watch screen, which shows an unreachable Nomad as a note.
  nomad_options.retry.max_attempts = 1;
  c.session.consul = c.consul.get();
  // One client per namespace, made on first use; the watch threads share them.
  struct NomadClients {
    std::mutex mu;
    std::map<std::string, std::unique_ptr<nomad::HttpNomadClient>> by_namespace;
  };
  auto clients = std::make_shared<NomadClients>();
  c.session.nomad = [clients, nomad_options](const std::string& ns) -> nomad::NomadClient* {
    std::lock_guard<std::mutex> lock(clients->mu);
    auto& client = clients->by_namespace[ns];
    if (!client) {
      nomad::NomadClientOptions o = nomad_options;
      if (!ns.empty()) o.agent.namespace_ = ns;
      client = std::make_unique<nomad::HttpNomadClient>(o);
    }
    return client.get();
  };
  c.session.kv.prefix = KvPrefix(options, env);
  c.session.json = options.output == "json";
  // https://no-color.org: any non-empty NO_COLOR disables colour.
  const bool no_color_env = !env("NO_COLOR").value_or("").empty();
  c.session.color = stdout_is_tty && !options.no_color && !no_color_env;
  c.session.out = &out;
  return c;
}

void ThrowAgentError(const std::string& doing, const clients::ApiError& error) {
  if (error.kind == clients::ApiErrorKind::kCancelled) {
    throw CommandError{kExitInterrupted, "interrupted while " + doing};
  }
  std::string hint;
  if (error.kind == clients::ApiErrorKind::kTransport) {
    hint = " (is the agent running? check --consul-addr / CONSUL_HTTP_ADDR)";
  } else if (error.kind == clients::ApiErrorKind::kUnauthorized) {
    hint = " (check CONSUL_HTTP_TOKEN / NOMAD_TOKEN)";
  }
  throw CommandError{kExitAgentError, doing + ": " + error.ToString() + hint};
}

std::optional<StoredSpec> ReadSpec(const Session& s, const std::string& name) {
  auto got = s.consul->KvGet(s.kv.Spec(name), {});
  if (!got.ok()) ThrowAgentError("reading " + s.kv.Spec(name), got.error());
  if (!got.value().value) return std::nullopt;
  StoredSpec spec;
  spec.modify_index = got.value().value->modify_index;
  spec.text = got.value().value->value;
  reconcilers::ParseResult parsed = reconcilers::ParseRollout(spec.text);
  spec.rollout = std::move(parsed.rollout);
  spec.errors = std::move(parsed.errors);
  return spec;
}

StoredSpec RequireSpec(const Session& s, const std::string& name) {
  std::optional<StoredSpec> spec = ReadSpec(s, name);
  if (!spec) {
    throw CommandError{kExitNotFound, "unknown rollout \"" + name + "\": no key " +
                                          s.kv.Spec(name) +
                                          " in Consul KV (see `rolloutctl list`)"};
  }
  return std::move(*spec);
}

namespace {
StoredStatus StatusFrom(const std::optional<consul::KvPair>& kv) {
  StoredStatus out;
  if (!kv) return out;
  out.modify_index = kv->modify_index;
  auto doc = nlohmann::json::parse(kv->value, nullptr, false);
  out.status = reconcilers::StatusFromJson(doc.is_discarded() ? nlohmann::json::object() : doc);
  return out;
}
}  // namespace

StoredStatus ReadStatus(const Session& s, const std::string& name, const consul::QueryOptions& q) {
  auto got = s.consul->KvGet(s.kv.Status(name), q);
  if (!got.ok()) ThrowAgentError("reading " + s.kv.Status(name), got.error());
  return StatusFrom(got.value().value);
}

StoredStatus ReadStatusBlocking(const Session& s, const std::string& name, uint64_t& index,
                                std::chrono::milliseconds wait,
                                const std::shared_ptr<http::CancelToken>& cancel) {
  consul::QueryOptions q;
  q.index = index;
  q.wait = wait;
  q.cancel = cancel;
  auto got = s.consul->KvGet(s.kv.Status(name), q);
  if (!got.ok()) ThrowAgentError("watching " + s.kv.Status(name), got.error());
  // An index that went backwards (snapshot restore) or a 0 would make the next query
  // return at once forever; fall back to 1 so we still block.
  index = std::max<uint64_t>(got.value().meta.index, 1);
  return StatusFrom(got.value().value);
}

std::vector<std::string> ListRolloutNames(const Session& s) {
  auto keys = s.consul->KvKeys(s.kv.SpecDir(), "/", {});
  if (!keys.ok()) ThrowAgentError("listing " + s.kv.SpecDir(), keys.error());
  std::vector<std::string> names;
  for (const std::string& key : keys.value().value) {
    if (key.size() <= s.kv.SpecDir().size() || key.back() == '/') continue;
    names.push_back(key.substr(s.kv.SpecDir().size()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string FormatAge(std::chrono::milliseconds age) {
  long long secs = std::max<long long>(0, age.count() / 1000);
  auto two = [](long long a, const char* ua, long long b, const char* ub) {
    std::string out = std::to_string(a) + ua;
    if (b > 0) out += std::to_string(b) + ub;
    return out;
  };
  if (secs < 60) return std::to_string(secs) + "s";
  if (secs < 3600) return two(secs / 60, "m", secs % 60, "s");
  if (secs < 86400) return two(secs / 3600, "h", (secs % 3600) / 60, "m");
  return two(secs / 86400, "d", (secs % 86400) / 3600, "h");
}

}  // namespace rollouts::cli
