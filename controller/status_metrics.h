// Turns a Rollout status change (before -> after, as written to Consul) into metrics:
// phase and transitions, step durations, flips, roll-backs, gate results, analysis values,
// thresholds and failures, the reason of a Degraded/InvalidSpec Rollout and the info
// series. Deriving them from the status diff keeps the metrics true to what
// the controller recorded, also after a restart mid-rollout.
#pragma once

#include <chrono>
#include <string>

#include "controller/metrics.h"
#include "reconcilers/rollout_status.h"

namespace rollouts::controller {

void RecordStatusChange(ControllerMetrics& metrics, const std::string& rollout,
                        const reconcilers::RolloutStatus& before,
                        const reconcilers::RolloutStatus& after,
                        std::chrono::system_clock::time_point now);

// The gauges of a status this process observed but did not write (a resting Degraded or
// Healthy Rollout after rolloutd restarted or became leader): phase (entered when its
// current step started), step deadline, info, degraded reason, analysis values, thresholds
// and failures. Counts nothing: no transition, flip, roll-back, gate result or step
// duration, which were counted when the status was written. Cheap enough to run at every
// observe; a status without a phase (never written) sets nothing.
void SeedStatusGauges(ControllerMetrics& metrics, const std::string& rollout,
                      const reconcilers::RolloutStatus& status,
                      std::chrono::system_clock::time_point now);

// pass | fail | inconclusive | error
std::string VerdictLabel(reconcilers::Verdict verdict);

}  // namespace rollouts::controller
