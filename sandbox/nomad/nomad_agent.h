// The Nomad half of rollout-sandbox: a stand-in for `nomad agent -dev` with the raw_exec
// driver, on the HTTP API subset the project uses. Jobs run as real local processes;
// their services are registered in the sandbox's Consul catalog (the Catalog seam).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "clients/http/server.h"
#include "sandbox/consul/catalog.h"

namespace rollouts::sandbox {

struct NomadAgentOptions {
  // Task logs go to <data_dir>/alloc/<allocID>/<task>.stdout/.stderr.
  std::string data_dir;
  // Dynamic ports are picked from [port_min, port_max] and checked to be free.
  int port_min = 20000;
  int port_max = 32000;
  // Delay between two allocations' Consul registration updates during an in-place
  // update (reproduces the window where both or neither group look active).
  std::chrono::milliseconds stagger{50};
  bool random_stagger_order = true;
  // Reproduces Nomad 1.0's bug where a scale request rejected during an active
  // deployment (400) still changes the group count. Off: a rejected scale changes nothing.
  bool apply_rejected_scale = false;
};

class NomadState;

class NomadAgent {
 public:
  // `catalog` must outlive the agent.
  NomadAgent(Catalog& catalog, NomadAgentOptions options);
  ~NomadAgent();
  NomadAgent(const NomadAgent&) = delete;
  NomadAgent& operator=(const NomadAgent&) = delete;

  // Serves one /v1/... Nomad API request; may answer later (blocking queries).
  void Handle(http::ServerRequest request, http::Responder respond);

  // Stops every task (KillSignal, then SIGKILL after KillTimeout), deregisters their
  // services, answers pending blocking queries. Idempotent; also run by the destructor.
  void Shutdown();

 private:
  std::unique_ptr<NomadState> state_;
};

}  // namespace rollouts::sandbox
