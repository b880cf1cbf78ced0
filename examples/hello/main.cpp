// hello: the demo service rolled by the controller. Knobs and endpoints: README.md.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "examples/hello/config.h"
#include "examples/hello/server.h"

int main(int argc, char** argv) {
  CLI::App cli{"hello: demo HTTP service for Nomad Rollouts (knobs are environment variables)"};
  hello::CommandLine flags;
  cli.add_option("--host", flags.host, "listen address (else NOMAD_IP_http, HOST, 127.0.0.1)");
  cli.add_option("--port", flags.port, "listen port, 0 = any (else NOMAD_PORT_http, PORT, 8080)");
  cli.add_option("--shutdown-timeout-ms", flags.shutdown_timeout_ms,
                 "longest drain after SIGTERM/SIGINT (else SHUTDOWN_TIMEOUT_MS, 8000)");
  CLI11_PARSE(cli, argc, argv);

  hello::HelloConfig config;
  try {
    config = hello::LoadConfig(flags, [](const std::string& name) -> std::optional<std::string> {
      const char* value = std::getenv(name.c_str());
      if (value == nullptr) return std::nullopt;
      return std::string(value);
    });
  } catch (const std::invalid_argument& e) {
    std::cerr << "hello: " << e.what() << "\n";
    return 2;
  }
  if (config.crash_on_start) {
    // A version that never comes up: the rollout must notice and keep the old one.
    std::cerr << "hello: CRASH_ON_START is set, exiting with 1\n";
    return 1;
  }
  try {
    return hello::RunServer(config, [&config](const std::string& host, uint16_t port) {
      // The one stdout line: tests and scripts read the bound port from it.
      std::cout << "hello " << config.version << " listening on http://" << host << ":" << port
                << std::endl;
    });
  } catch (const std::exception& e) {
    std::cerr << "hello: " << e.what() << "\n";
    return 1;
  }
}
