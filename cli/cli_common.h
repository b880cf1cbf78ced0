// What every server-talking verb of rolloutctl shares: how to reach the agents (the same
// flags and environment variables as rolloutd), the KV layout, the exit codes, and reading
// a Rollout's spec and status from Consul.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "clients/common/agent_config.h"
#include "clients/consul/consul_client.h"
#include "clients/nomad/nomad_client.h"
#include "reconcilers/rollout_spec.h"
#include "reconcilers/rollout_status.h"

namespace rollouts::cli {

// Exit codes of every verb (also in `rolloutctl --help` and docs/gitops.md). 0-2 are the
// ones `validate` has always used.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;         // invalid file, request rejected, unwanted phase
inline constexpr int kExitUsage = 2;          // bad flags, unreadable file
inline constexpr int kExitNotFound = 3;       // no such Rollout in KV
inline constexpr int kExitConflict = 4;       // a concurrent change won the CAS
inline constexpr int kExitTimeout = 5;        // no acknowledgement / phase within --timeout
inline constexpr int kExitAgentError = 6;     // Consul or Nomad unreachable, ACL denied, ...
inline constexpr int kExitInterrupted = 130;  // Ctrl-C while waiting (shell convention)

inline constexpr const char* kExitCodesHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  failed: invalid Rollout file, request rejected by the controller, or the rollout\n"
    "     reached another phase than the one waited for\n"
    "  2  usage or I/O error (bad flags, unreadable file)\n"
    "  3  unknown rollout (no spec key in Consul KV)\n"
    "  4  conflict: someone else changed the key between our read and our write (CAS)\n"
    "  5  timeout: the controller did not acknowledge / the phase was not reached in time\n"
    "  6  Consul or Nomad error (unreachable, ACL token denied, ...)\n"
    "  130  interrupted (Ctrl-C) while waiting\n";

// Flags shared by the server verbs; registered on the top-level app so they may be given
// before or after the verb.
struct GlobalOptions {
  std::string consul_addr;  // --consul-addr, else CONSUL_HTTP_ADDR, else 127.0.0.1:8500
  std::string nomad_addr;   // --nomad-addr, else NOMAD_ADDR, else 127.0.0.1:4646
  std::string kv_prefix;    // --kv-prefix, else ROLLOUTD_KV_PREFIX, else "rollouts/"
  std::string output = "table";
  bool no_color = false;  // --no-color (NO_COLOR in the environment does the same)
};

void AddGlobalOptions(CLI::App& app, GlobalOptions& options);

// A verb failed in a way that decides the exit code; main prints message to stderr.
struct CommandError {
  int exit_code = kExitFailed;
  std::string message;
};

// The agent configurations (env first, flags on top) and the normalized KV prefix.
// Throws CommandError(kExitUsage) for a bad address or prefix.
clients::AgentConfig ConsulConfig(const GlobalOptions& options, const clients::EnvLookup& env);
clients::AgentConfig NomadConfig(const GlobalOptions& options, const clients::EnvLookup& env);
std::string KvPrefix(const GlobalOptions& options, const clients::EnvLookup& env);

struct KvLayout {
  std::string prefix = "rollouts/";
  std::string Spec(const std::string& name) const { return prefix + "spec/" + name; }
  std::string Status(const std::string& name) const { return prefix + "status/" + name; }
  std::string Control(const std::string& name) const { return prefix + "control/" + name; }
  std::string SpecDir() const { return prefix + "spec/"; }
  std::string StatusDir() const { return prefix + "status/"; }
};

// The connections a server verb works with; tests build one over the sandbox.
struct Session {
  consul::ConsulClient* consul = nullptr;
  // Only `get --watch` reads Nomad: the client for a Rollout's spec.nomad.namespace (as
  // the controller does). Empty means "not configured" (the view says so).
  std::function<nomad::NomadClient*(const std::string& nomad_namespace)> nomad;
  KvLayout kv;
  bool json = false;  // --output json
  bool color = false;
  std::ostream* out = nullptr;
};

// Owns the real clients behind a Session.
struct Connections {
  std::unique_ptr<consul::HttpConsulClient> consul;
  Session session;
};
Connections Connect(const GlobalOptions& options, const clients::EnvLookup& env, std::ostream& out,
                    bool stdout_is_tty);

// Runs a verb's body over the connections main() built, turning a CommandError into its
// message on stderr and its exit code. Verbs register their callbacks with it.
using Runner = std::function<void(const std::function<int(Session&)>& body)>;

// Throws CommandError(kExitAgentError) naming what was being done.
[[noreturn]] void ThrowAgentError(const std::string& doing, const clients::ApiError& error);

struct StoredSpec {
  uint64_t modify_index = 0;
  std::string text;                             // as stored
  std::optional<reconcilers::Rollout> rollout;  // set when it parses
  std::vector<reconcilers::SpecError> errors;   // why it does not
};

struct StoredStatus {
  uint64_t modify_index = 0;  // 0: the controller has not written one yet
  reconcilers::RolloutStatus status;
};

// nullopt when the key does not exist.
std::optional<StoredSpec> ReadSpec(const Session& s, const std::string& name);
// Throws CommandError(kExitNotFound, "unknown rollout ...") when the spec key is absent.
StoredSpec RequireSpec(const Session& s, const std::string& name);
StoredStatus ReadStatus(const Session& s, const std::string& name,
                        const consul::QueryOptions& q = {});
// Like ReadStatus, also returns the X-Consul-Index to block on next.
StoredStatus ReadStatusBlocking(const Session& s, const std::string& name, uint64_t& index,
                                std::chrono::milliseconds wait,
                                const std::shared_ptr<http::CancelToken>& cancel);

// Names of every Rollout with a spec key, sorted.
std::vector<std::string> ListRolloutNames(const Session& s);

// "3s", "4m10s", "2h5m", "3d4h": a compact age for tables.
std::string FormatAge(std::chrono::milliseconds age);

}  // namespace rollouts::cli
