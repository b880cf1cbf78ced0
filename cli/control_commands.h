// Imperative verbs: `promote`, `abort`, `retry`, `pause`, `resume`, `undo [--to VERSION]`
// write {"id", "verb"} to <prefix>control/<name> and wait (a blocking query on the status
// key, bounded by --timeout) until the controller lists the id in status.acknowledged.
// `wait NAME --for PHASE` blocks the same way until the rollout reaches a phase.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "cli/cli_common.h"
#include "clients/http/cancel.h"
#include "reconcilers/snapshot.h"

namespace rollouts::cli {

// A fresh request id: "<unix ms>-<16 random hex digits>", unique across machines.
std::string NewRequestId();

struct ControlOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::string request_id;  // empty: NewRequestId()
  std::shared_ptr<http::CancelToken> cancel;
};

// Exit 0 when the controller accepted (or ignored as already done) the request, 1 when
// it rejected it, kExitTimeout without acknowledgement, kExitNotFound for an unknown
// rollout, kExitConflict when another request was written between our read and write.
int RunControl(const Session& s, const std::string& name, reconcilers::ControlVerb verb,
               const ControlOptions& options);

enum class WaitFor { kHealthy, kDegraded };

struct WaitOptions {
  WaitFor wanted = WaitFor::kHealthy;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::shared_ptr<http::CancelToken> cancel;
};

// Waits until the controller has observed the current spec and the rollout is in the
// wanted phase (Healthy additionally needs activeVersion == spec.version). Returns 0 then;
// 1 at once when it reached the other end state (Degraded / InvalidSpec, or Healthy when
// waiting for Degraded), with the reason; kExitTimeout when the time ran out.
int RunWait(const Session& s, const std::string& name, const WaitOptions& options);

void AddControlCommands(CLI::App& app, const Runner& run,
                        const std::function<std::shared_ptr<http::CancelToken>()>& interrupt);

}  // namespace rollouts::cli
