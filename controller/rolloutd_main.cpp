// rolloutd: the Nomad Rollouts controller.
#include <iostream>
#include <string>
#include <vector>

#include "controller/config.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  rollouts::controller::ConfigParseResult parsed =
      rollouts::controller::ParseConfig(args, rollouts::clients::ProcessEnv());
  if (!parsed.config) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.output;
    return parsed.exit_code;
  }
  std::cout << "rolloutd " << ROLLOUTS_VERSION
            << ": the reconciler is not built yet (see issue 4); nothing to do.\n";
  return 0;
}
