// rolloutctl: the operator and GitOps command line of Nomad Rollouts.
#include <CLI/CLI.hpp>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"rolloutctl - inspect and steer Nomad Rollouts"};
  app.set_version_flag("--version", std::string("rolloutctl ") + ROLLOUTS_VERSION);
  app.require_subcommand(0);
  CLI11_PARSE(app, argc, argv);
  std::cout << app.help();
  return 0;
}
