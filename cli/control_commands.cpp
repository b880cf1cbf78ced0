#include "cli/control_commands.h"

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <random>

#include "cli/show_commands.h"
#include "cli/spec_commands.h"
#include "cli/status_views.h"

namespace rollouts::cli {
namespace {

using reconcilers::ControlVerb;
using reconcilers::Phase;
using Ms = std::chrono::milliseconds;

// Consul caps a blocking query at 10 minutes; a shorter slice keeps a dead agent from
// hiding behind one long request.
constexpr Ms kMaxBlock = std::chrono::minutes(5);

std::string Seconds(Ms d) {
  return consul::FormatWait(d);
}

const reconcilers::ControlAck* FindAck(const reconcilers::RolloutStatus& st,
                                       const std::string& id) {
  for (auto it = st.acknowledged.rbegin(); it != st.acknowledged.rend(); ++it) {
    if (it->id == id) return &*it;
  }
  return nullptr;
}

// Time left before `deadline`, capped for one blocking query; 0 when it has passed.
Ms Remaining(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
  return std::clamp(left, Ms(0), kMaxBlock);
}

std::chrono::milliseconds ParseTimeout(const std::string& text) {
  auto d = reconcilers::ParseDuration(text);
  if (!d || d->count() <= 0) {
    throw CommandError{kExitUsage, "--timeout: \"" + text + "\" is not a duration like 60s or 5m"};
  }
  return *d;
}

}  // namespace

std::string NewRequestId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(gen()));
  auto ms = std::chrono::duration_cast<Ms>(std::chrono::system_clock::now().time_since_epoch());
  return std::to_string(ms.count()) + "-" + hex;
}

int RunControl(const Session& s, const std::string& name, ControlVerb verb,
               const ControlOptions& options) {
  RequireSpec(s, name);
  const std::string verb_name(reconcilers::ControlVerbName(verb));
  const std::string id = options.request_id.empty() ? NewRequestId() : options.request_id;
  const std::string key = s.kv.Control(name);
  auto cancel = options.cancel ? options.cancel : std::make_shared<http::CancelToken>();

  // CAS on what we read: two operators sending requests at once must not silently drop
  // one of them (the controller handles one request per key).
  auto current = s.consul->KvGet(key, {});
  if (!current.ok()) ThrowAgentError("reading " + key, current.error());
  const uint64_t cas = current.value().value ? current.value().value->modify_index : 0;
  const std::string body = nlohmann::json{{"id", id}, {"verb", verb_name}}.dump();
  auto put = s.consul->KvPut(key, body, consul::PutOptions{cas, std::nullopt, "", ""});
  if (!put.ok()) ThrowAgentError("writing " + key, put.error());
  if (!put.value()) {
    throw CommandError{kExitConflict, key + " was changed by someone else while " + verb_name +
                                          " was being written; nothing was sent: try again"};
  }
  if (!s.json) *s.out << verb_name << " requested (id " << id << "), waiting for the controller\n";

  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  uint64_t index = 0;  // first read answers at once: the ack may already be there
  while (!cancel->cancelled()) {
    // A wait of 0 would mean Consul's default (5 minutes): stop before that instead.
    const Ms wait = Remaining(deadline);
    if (index != 0 && wait.count() == 0) break;
    StoredStatus st = ReadStatusBlocking(s, name, index, std::max(wait, Ms(1)), cancel);
    if (const reconcilers::ControlAck* ack = FindAck(st.status, id)) {
      const bool rejected = ack->result.rfind("rejected", 0) == 0;
      if (s.json) {
        *s.out << nlohmann::json{{"name", name},
                                 {"id", id},
                                 {"verb", ack->verb},
                                 {"result", ack->result},
                                 {"time", reconcilers::FormatTime(ack->time)}}
                      .dump(2)
               << "\n";
      } else {
        *s.out << "rollout/" << name << ": " << verb_name << ": " << ack->result << "\n";
      }
      if (rejected) throw CommandError{kExitFailed, verb_name + " " + ack->result};
      return kExitOk;
    }
  }
  if (cancel->cancelled())
    throw CommandError{kExitInterrupted, "interrupted; request " + id + " stays in " + key};
  throw CommandError{kExitTimeout,
                     "controller did not acknowledge within " + Seconds(options.timeout) +
                         ": is rolloutd running and leading? (the request " + id + " stays in " +
                         key + " and is handled when the controller runs)"};
}

int RunWait(const Session& s, const std::string& name, const WaitOptions& options) {
  StoredSpec spec = RequireSpec(s, name);
  const bool want_healthy = options.wanted == WaitFor::kHealthy;
  const std::string wanted = want_healthy ? "Healthy" : "Degraded";
  if (!spec.rollout && want_healthy) {
    throw CommandError{kExitFailed, "rollout/" + name + " cannot become Healthy: its spec is " +
                                        "invalid: " + spec.errors.front().pointer + ": " +
                                        spec.errors.front().message};
  }
  const std::string version = spec.rollout ? spec.rollout->spec.version : "";
  auto cancel = options.cancel ? options.cancel : std::make_shared<http::CancelToken>();
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  uint64_t index = 0;
  RolloutSummary last;
  last.name = name;
  last.spec = spec.rollout;
  while (!cancel->cancelled()) {
    // A wait of 0 would mean Consul's default (5 minutes): stop before that instead.
    const Ms wait = Remaining(deadline);
    if (index != 0 && wait.count() == 0) break;
    StoredStatus st = ReadStatusBlocking(s, name, index, std::max(wait, Ms(1)), cancel);
    last.has_status = st.modify_index != 0;
    last.status = st.status;
    const auto& status = st.status;
    // Until the controller has seen this spec, the phase describes an older one.
    const bool observed =
        st.modify_index != 0 && status.phase && status.observed_spec_index >= spec.modify_index;
    if (observed) {
      const Phase phase = *status.phase;
      const bool healthy = phase == Phase::kHealthy && status.active_version == version;
      const bool failed = phase == Phase::kDegraded || phase == Phase::kInvalidSpec;
      if ((want_healthy && healthy) || (!want_healthy && phase == Phase::kDegraded)) {
        if (s.json) {
          *s.out << SummaryJson(last, Now()).dump(2) << "\n";
        } else {
          *s.out << "rollout/" << name << " is " << wanted << " (active "
                 << (status.active_version.empty() ? "-" : status.active_version) << ")\n";
        }
        return kExitOk;
      }
      if (want_healthy && failed) {
        std::string why = LastFailure(status);
        if (const auto* c = reconcilers::FindCondition(status, "InvalidSpec");
            c && phase == Phase::kInvalidSpec) {
          why = c->reason + ": " + c->message;
        }
        throw CommandError{kExitFailed, "rollout/" + name + " became " +
                                            std::string(reconcilers::PhaseName(phase)) +
                                            " instead of Healthy: " + (why.empty() ? "-" : why)};
      }
      if (!want_healthy && healthy) {
        throw CommandError{kExitFailed, "rollout/" + name + " became Healthy (" + version +
                                            " active) instead of Degraded"};
      }
    }
  }
  if (cancel->cancelled()) throw CommandError{kExitInterrupted, "interrupted"};
  std::string where = "the controller has not written a status yet (is rolloutd running?)";
  if (last.has_status && last.status.phase) {
    where = "phase " + std::string(reconcilers::PhaseName(*last.status.phase));
    if (last.status.current_step) where += ", step " + last.status.current_step->name;
    if (last.status.observed_spec_index < spec.modify_index) {
      where += ", spec change not yet observed by the controller";
    }
  }
  throw CommandError{kExitTimeout, "rollout/" + name + " not " + wanted + " after " +
                                       Seconds(options.timeout) + ": " + where};
}

void AddControlCommands(CLI::App& app, const Runner& run,
                        const std::function<std::shared_ptr<http::CancelToken>()>& interrupt) {
  struct Args {
    std::string name;
    std::string timeout = "60s";
    std::string to;
  };
  const std::vector<std::pair<ControlVerb, const char*>> verbs = {
      {ControlVerb::kPromote, "Promote the standby now (skips a manual approval gate)"},
      {ControlVerb::kAbort, "Abort the rollout in progress and roll back"},
      {ControlVerb::kRetry, "Retry a Degraded rollout of the current spec.version"},
      {ControlVerb::kPause, "Pause the rollout at its current step"},
      {ControlVerb::kResume, "Resume a paused rollout"},
      {ControlVerb::kUndo,
       "Flip back to the previous Active version (after a flip); --to VERSION rolls out an "
       "older version instead"},
  };
  for (const auto& [verb, help] : verbs) {
    auto args = std::make_shared<Args>();
    const std::string verb_name(reconcilers::ControlVerbName(verb));
    CLI::App* cmd = app.add_subcommand(verb_name, help);
    cmd->add_option("name", args->name, "Rollout name")->required();
    cmd->add_option("--timeout", args->timeout,
                    "How long to wait for the controller's acknowledgement")
        ->capture_default_str();
    if (verb == ControlVerb::kUndo) {
      cmd->add_option("--to", args->to,
                      "Roll out this version instead: writes spec.version (CAS) like "
                      "set-version; no control request");
    }
    cmd->footer(
        "Writes {\"id\", \"verb\"} to <prefix>control/<name> and waits for the id in\n"
        "status.acknowledged.\n\n" +
        std::string(kExitCodesHelp));
    cmd->callback([args, verb, &run, &interrupt] {
      run([args, verb, &interrupt](Session& s) {
        if (verb == ControlVerb::kUndo && !args->to.empty()) {
          // The controller's undo has no target: it flips back to the version that was
          // Active before the last flip. Going back further is a new rollout of the old
          // version, so --to changes the desired state instead.
          SetVersionResult r = SetVersion(s, args->name, args->to);
          if (s.json) {
            *s.out << nlohmann::json{{"name", args->name},
                                     {"oldVersion", r.old_version},
                                     {"newVersion", r.new_version},
                                     {"changed", r.changed}}
                          .dump(2)
                   << "\n";
          } else if (r.changed) {
            *s.out << "rollout/" << args->name << ": undo to " << r.new_version
                   << " by setting spec.version (" << r.old_version << " -> " << r.new_version
                   << "); follow it with `rolloutctl wait " << args->name << " --for Healthy`\n";
          } else {
            *s.out << "rollout/" << args->name << ": spec.version is already " << r.old_version
                   << " (nothing written)\n";
          }
          return kExitOk;
        }
        ControlOptions o;
        o.timeout = ParseTimeout(args->timeout);
        o.cancel = interrupt();
        return RunControl(s, args->name, verb, o);
      });
    });
  }

  struct WaitArgs {
    std::string name;
    std::string phase;
    std::string timeout = "10m";
  };
  auto wait_args = std::make_shared<WaitArgs>();
  CLI::App* wait =
      app.add_subcommand("wait", "Block until the rollout is Healthy (or Degraded): for pipelines");
  wait->add_option("name", wait_args->name, "Rollout name")->required();
  wait->add_option("--for", wait_args->phase, "The phase to wait for")
      ->required()
      ->check(CLI::IsMember({"Healthy", "Degraded"}));
  wait->add_option("--timeout", wait_args->timeout, "Give up after this long")
      ->capture_default_str();
  wait->footer(
      "Healthy means: the controller observed the current spec and runs spec.version as\n"
      "Active. Waiting for Healthy ends at once with exit 1 when the rollout becomes\n"
      "Degraded or InvalidSpec (the reason is printed).\n\n" +
      std::string(kExitCodesHelp));
  wait->callback([wait_args, &run, &interrupt] {
    run([wait_args, &interrupt](Session& s) {
      WaitOptions o;
      o.wanted = wait_args->phase == "Degraded" ? WaitFor::kDegraded : WaitFor::kHealthy;
      o.timeout = ParseTimeout(wait_args->timeout);
      o.cancel = interrupt();
      return RunWait(s, wait_args->name, o);
    });
  });
}

}  // namespace rollouts::cli
