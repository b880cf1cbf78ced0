// rolloutctl: the operator and GitOps command line of Nomad Rollouts.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/cli_common.h"
#include "cli/control_commands.h"
#include "cli/show_commands.h"
#include "cli/spec_commands.h"
#include "cli/validate_command.h"

namespace {

// The first call turns SIGINT/SIGTERM into a cancel token (a sigwait thread), so a
// blocking query in flight is cancelled cleanly and the verb decides its own exit code.
// Must be called before the verb starts threads (they inherit the blocked mask).
std::shared_ptr<rollouts::http::CancelToken> InterruptToken() {
  static std::shared_ptr<rollouts::http::CancelToken> token = [] {
    auto t = std::make_shared<rollouts::http::CancelToken>();
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    std::thread([t, stop] {
      int signal_number = 0;
      sigwait(&stop, &signal_number);
      t->Cancel();
    }).detach();
    return t;
  }();
  return token;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rollouts::cli;
  CLI::App app{"rolloutctl - inspect and steer Nomad Rollouts"};
  app.set_version_flag("--version", std::string("rolloutctl ") + ROLLOUTS_VERSION);
  app.require_subcommand(0, 1);
  app.fallthrough();  // global flags may also follow the verb
  app.footer(
      "Agents are reached like rolloutd does: CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN,\n"
      "CONSUL_HTTP_SSL, CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY, NOMAD_ADDR,\n"
      "NOMAD_TOKEN, NOMAD_CACERT, NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY, NOMAD_NAMESPACE,\n"
      "NOMAD_REGION; ROLLOUTD_KV_PREFIX; NO_COLOR. Flags win over variables; tokens only\n"
      "come from the environment.\n\n" +
      std::string(kExitCodesHelp));

  GlobalOptions global;
  AddGlobalOptions(app, global);
  int exit_code = 0;
  const bool stdout_tty = ::isatty(STDOUT_FILENO) == 1;
  Runner run = [&](const std::function<int(Session&)>& body) {
    try {
      Connections c = Connect(global, rollouts::clients::ProcessEnv(), std::cout, stdout_tty);
      exit_code = body(c.session);
    } catch (const CommandError& e) {
      std::cout.flush();
      std::cerr << "rolloutctl: " << e.message << std::endl;
      exit_code = e.exit_code;
    }
  };
  std::function<bool()> is_tty = [stdout_tty] { return stdout_tty; };
  std::function<std::shared_ptr<rollouts::http::CancelToken>()> interrupt = InterruptToken;

  AddValidateCommand(app, exit_code);
  AddSpecCommands(app, run);
  AddShowCommands(app, run, is_tty, interrupt);
  AddControlCommands(app, run, interrupt);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse failure is a usage error (2), so
    // scripts can tell "bad invocation" from "invalid Rollout" (1).
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsageOrIo;
  }
  if (app.get_subcommands().empty()) std::cout << app.help();
  std::cout.flush();
  return exit_code;
}
