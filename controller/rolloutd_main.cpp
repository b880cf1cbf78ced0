// rolloutd: the Nomad Rollouts controller.
#include <CLI/CLI.hpp>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"rolloutd - rolls Nomad services to a new version with zero downtime"};
  app.set_version_flag("--version", std::string("rolloutd ") + ROLLOUTS_VERSION);
  CLI11_PARSE(app, argc, argv);
  std::cout << "rolloutd " << ROLLOUTS_VERSION
            << ": the reconciler is not built yet (see issue 4); nothing to do.\n";
  return 0;
}
