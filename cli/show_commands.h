// Read-only verbs: `list`, `get NAME [--watch]`, `describe NAME`, `history NAME`.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "cli/cli_common.h"
#include "cli/status_views.h"
#include "cli/watch_view.h"
#include "clients/http/cancel.h"

namespace rollouts::cli {

reconcilers::TimePoint Now();

// Spec + status of one Rollout (spec key required: kExitNotFound otherwise).
RolloutSummary ReadSummary(const Session& s, const std::string& name);

int RunList(const Session& s);
int RunGet(const Session& s, const std::string& name);
int RunDescribe(const Session& s, const std::string& name);
int RunHistory(const Session& s, const std::string& name);

// Reads everything the watch screen shows (spec, status, Nomad job, Consul instances).
// Nomad / Consul health failures become notes on the screen, not errors.
WatchInput GatherWatchInput(const Session& s, const std::string& name);

struct WatchOptions {
  bool tty = false;  // redraw in place (and tick the clocks); else one block per change
  std::shared_ptr<http::CancelToken> cancel;  // Ctrl-C / SIGTERM
  // Stop after this many blocks (0: until cancelled). For tests and `--count`.
  int max_blocks = 0;
  std::chrono::milliseconds blocking_wait{std::chrono::minutes(5)};
};

// Blocks (Consul and Nomad blocking queries, no polling) on the spec and status keys, the
// service's health and the job's allocations; redraws when any of them changes.
int RunWatch(const Session& s, const std::string& name, const WatchOptions& options);

void AddShowCommands(CLI::App& app, const Runner& run, const std::function<bool()>& stdout_is_tty,
                     const std::function<std::shared_ptr<http::CancelToken>()>& interrupt);

}  // namespace rollouts::cli
