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

// pass | fail | inconclusive | error
std::string VerdictLabel(reconcilers::Verdict verdict);

}  // namespace rollouts::controller
