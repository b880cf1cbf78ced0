// `rolloutctl validate FILE|DIR...`: checks Rollout documents offline (GitOps CI). No
// server is contacted; the rules are the controller's own parser (ParseRollout).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "reconcilers/rollout_spec.h"

namespace rollouts::cli {

enum class OutputFormat { kTable, kJson };

// Exit codes of `validate`, also printed by `rolloutctl validate --help`.
inline constexpr int kExitAllValid = 0;
inline constexpr int kExitSomeInvalid = 1;
inline constexpr int kExitUsageOrIo = 2;

struct FileVerdict {
  std::string file;  // as given, or joined under the directory given
  bool io_error = false;
  std::vector<reconcilers::SpecError> errors;  // empty: the file is a valid Rollout
};

struct ValidateReport {
  std::vector<FileVerdict> files;
  std::vector<std::string> usage_errors;  // e.g. a directory without .json files
};

// Expands directories (recursively, *.json, hidden entries skipped, sorted by path) and
// validates every file, in the order given.
ValidateReport ValidatePaths(const std::vector<std::string>& paths);

// One `FILE: POINTER: REASON` line per error (the root pointer shown as "(root)"),
// `FILE: OK` per valid file, then a summary line.
std::string RenderValidateTable(const ValidateReport& report);
// {"files":[{"file","valid","errors":[{"pointer","message"}]}],"summary":{...}}
std::string RenderValidateJson(const ValidateReport& report);
int ValidateExitCode(const ValidateReport& report);

// Registers the `validate` subcommand on `app`; it sets `exit_code` when it runs.
void AddValidateCommand(CLI::App& app, int& exit_code);

}  // namespace rollouts::cli
