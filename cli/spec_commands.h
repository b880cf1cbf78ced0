// Verbs that write the desired state (<prefix>spec/<name>): `apply` and `set-version`
// (also used by `undo --to VERSION`). Every write is a Consul CAS on the ModifyIndex that
// was read (0 to create), so a concurrent change is never overwritten silently.
#pragma once

#include <string>
#include <vector>

#include "cli/cli_common.h"

namespace rollouts::cli {

struct ApplyOptions {
  std::vector<std::string> paths;  // files or directories (*.json, recursive)
  bool dry_run = false;
};

// Validates every file first (nothing is written when one is invalid: exit 1), then per
// Rollout prints the diff against KV and writes it with CAS. Returns the exit code:
// 0, or kExitConflict when a concurrent change won for at least one Rollout (the others
// are still applied). Throws CommandError for agent and usage errors.
int RunApply(const Session& s, const ApplyOptions& options);

struct SetVersionResult {
  std::string old_version;
  std::string new_version;
  bool changed = false;
  int attempts = 0;  // CAS writes tried (2 when the first lost a race)
};

// Reads the spec, sets spec.version, writes with CAS; on a lost CAS re-reads and tries
// once more. Throws CommandError: kExitNotFound, kExitFailed (stored spec invalid or the
// version is not valid), kExitConflict (lost twice), kExitAgentError.
SetVersionResult SetVersion(const Session& s, const std::string& name, const std::string& version);
int RunSetVersion(const Session& s, const std::string& name, const std::string& version);

// Registers `apply` and `set-version` (`undo` lives with the control verbs).
void AddSpecCommands(CLI::App& app, const Runner& run);

}  // namespace rollouts::cli
