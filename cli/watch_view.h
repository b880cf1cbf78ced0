// The screen of `rolloutctl get NAME --watch`, as a pure function: everything observed
// (status, spec, the Nomad job, the Consul instances, the clock) in, text out. The watch
// loop only gathers the inputs and prints; a golden test renders this once.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "reconcilers/rollout_spec.h"
#include "reconcilers/rollout_status.h"
#include "reconcilers/snapshot.h"

namespace rollouts::cli {

struct WatchInput {
  std::string name;
  std::optional<reconcilers::Rollout> spec;  // nullopt: missing or invalid (spec_note says)
  std::string spec_note;
  bool has_status = false;
  reconcilers::RolloutStatus status;
  std::optional<reconcilers::JobView> job;  // nullopt: not read (job_note says why)
  std::string job_note;
  std::vector<reconcilers::ServiceInstance> instances;
  std::string instances_note;  // set when Consul health could not be read
  reconcilers::TimePoint now{};
  bool color = false;  // ANSI colours (only on a TTY without NO_COLOR)
  size_t max_events = 8;
};

std::string RenderWatchView(const WatchInput& input);

}  // namespace rollouts::cli
