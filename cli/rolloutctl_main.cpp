// rolloutctl: the operator and GitOps command line of Nomad Rollouts.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/validate_command.h"

int main(int argc, char** argv) {
  CLI::App app{"rolloutctl - inspect and steer Nomad Rollouts"};
  app.set_version_flag("--version", std::string("rolloutctl ") + ROLLOUTS_VERSION);
  app.require_subcommand(0, 1);
  int exit_code = 0;
  rollouts::cli::AddValidateCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse failure is a usage error (2), so
    // scripts can tell "bad invocation" from "invalid Rollout" (1).
    int code = app.exit(e);
    return code == 0 ? 0 : rollouts::cli::kExitUsageOrIo;
  }
  if (app.get_subcommands().empty()) std::cout << app.help();
  return exit_code;
}
