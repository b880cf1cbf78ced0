#include "sandbox/nomad/nomad_agent.h"

#include "sandbox/nomad/nomad_state.h"

namespace rollouts::sandbox {

NomadAgent::NomadAgent(Catalog& catalog, NomadAgentOptions options)
    : state_(std::make_unique<NomadState>(catalog, std::move(options))) {}

NomadAgent::~NomadAgent() {
  Shutdown();
}

void NomadAgent::Handle(http::ServerRequest request, http::Responder respond) {
  state_->Handle(std::move(request), std::move(respond));
}

void NomadAgent::Shutdown() {
  state_->Shutdown();
}

}  // namespace rollouts::sandbox
