// What the hello demo service is told by its environment (Nomad sets NOMAD_*; the demo
// and the tests set the knobs) and its command line. Parsing is separate from the server
// so a bad knob fails before anything listens.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace hello {

struct HelloConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;                  // 0: let the kernel pick (the tests do this)
  std::string version = "dev";           // APP_VERSION
  std::string service = "hello";         // SERVICE_NAME: the Consul service, a metrics label
  std::string instance;                  // NOMAD_ALLOC_ID; empty: hostname:port once bound
  double error_rate = 0.0;               // ERROR_RATE: fraction of / and /hello answered 500
  std::chrono::milliseconds latency{0};  // LATENCY_MS: added to / and /hello
  bool fail_health = false;              // FAIL_HEALTH: /healthz answers 503
  bool crash_on_start = false;           // CRASH_ON_START: exit 1 before listening
  // How long a SIGTERM/SIGINT drain may take before the remaining connections are cut.
  // Below Nomad's KillTimeout (10s in hello.nomad.json) so we exit before SIGKILL.
  std::chrono::milliseconds shutdown_timeout{8000};
  // How long an idle keep-alive connection is kept open.
  std::chrono::milliseconds idle_timeout{60000};
};

// Reads one environment variable; nullopt when unset. Injected so parsing is testable.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Flags (--host, --port, --shutdown-timeout-ms) win over NOMAD_IP_http/NOMAD_PORT_http,
// which win over HOST/PORT. Throws std::invalid_argument with a message naming the knob
// when a value is malformed (ERROR_RATE outside 0..1, a port that is not a number...).
struct CommandLine {
  std::optional<std::string> host;
  std::optional<std::string> port;
  std::optional<std::string> shutdown_timeout_ms;
};
HelloConfig LoadConfig(const CommandLine& flags, const EnvLookup& env);

}  // namespace hello
