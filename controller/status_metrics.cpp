#include "controller/status_metrics.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>

#include "reconcilers/condition.h"

namespace rollouts::controller {
namespace {

using reconcilers::Phase;

bool SameRun(const reconcilers::AnalysisRun& a, const reconcilers::AnalysisRun& b) {
  return a.name == b.name && a.version == b.version && a.started_at == b.started_at;
}

// Gates that are phases rather than measurements: leaving WaitingHealthy forward means
// the health gate passed, into RollingBack that it failed; the same for Paused (manual).
void RecordPhaseGates(ControllerMetrics& metrics, Phase from, Phase to) {
  const bool forward = to != Phase::kRollingBack && to != Phase::kDegraded;
  if (from == Phase::kWaitingHealthy && to != Phase::kWaitingHealthy) {
    metrics.RecordGateResult("health", forward ? "pass" : "fail");
  }
  if (from == Phase::kPaused && to == Phase::kPromoting) metrics.RecordGateResult("manual", "pass");
}

double UnixSeconds(reconcilers::TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// The reason a Rollout waits for a person: the reason of the condition named after its
// phase (Degraded: the roll-back's reason; InvalidSpec: what is wrong with the document).
// nullopt in every other phase.
std::optional<std::string> DegradedReason(const reconcilers::RolloutStatus& status) {
  if (!status.phase) return std::nullopt;
  if (*status.phase != Phase::kDegraded && *status.phase != Phase::kInvalidSpec) {
    return std::nullopt;
  }
  const std::string_view type = reconcilers::PhaseName(*status.phase);
  const reconcilers::StatusCondition* condition = reconcilers::FindCondition(status, type);
  if (condition && condition->status == "True" && !condition->reason.empty()) {
    return condition->reason;
  }
  if (*status.phase == Phase::kDegraded && !status.rollback_reason.empty()) {
    return status.rollback_reason;
  }
  return std::string(type);
}

// Failed and error measurements per metric of the newest analysis run (every metric it
// measured has an entry, with zeros when all passed).
std::map<std::string, ControllerMetrics::AnalysisFailures> NewestRunFailures(
    const reconcilers::RolloutStatus& status) {
  std::map<std::string, ControllerMetrics::AnalysisFailures> out;
  if (status.analysis_runs.empty()) return out;
  for (const auto& [metric, t] : status.analysis_runs.back().tallies) {
    auto& f = out[metric];
    f.failed = t.failed;
    f.errors = t.errors;
    if (t.last_failed) f.last_failed_unix = UnixSeconds(*t.last_failed);
    if (t.last_error) f.last_error_unix = UnixSeconds(*t.last_error);
  }
  return out;
}

// Per analysis metric: the value of its newest measurement that has one, and the
// threshold of its newest measurement with a valid condition.
struct LatestPerMetric {
  std::map<std::string, double> values;
  std::map<std::string, double> thresholds;
};
LatestPerMetric Latest(const reconcilers::RolloutStatus& status) {
  LatestPerMetric out;
  for (const auto& run : status.analysis_runs) {
    for (const auto& m : run.measurements) {
      if (m.value) out.values[m.metric] = *m.value;
      if (auto condition = reconcilers::ParseCondition(m.condition)) {
        out.thresholds[m.metric] = condition->threshold;
      }
    }
  }
  return out;
}

// The gauges that describe the whole status rather than a change: the current step's
// deadline, each analysis metric's last value and threshold, the newest run's failures,
// the reason of a Degraded/InvalidSpec Rollout and the info series. Recomputed at every
// write and every observation, so they are exact whichever process wrote the status.
void SetWholeStatusGauges(ControllerMetrics& metrics, const std::string& rollout,
                          const reconcilers::RolloutStatus& status) {
  std::optional<std::chrono::system_clock::time_point> deadline;
  if (status.current_step && status.current_step->deadline) {
    deadline = std::chrono::system_clock::time_point(*status.current_step->deadline);
  }
  metrics.SetStepDeadline(rollout, deadline);

  const LatestPerMetric latest = Latest(status);
  for (const auto& [metric, value] : latest.values) {
    metrics.SetAnalysisValue(rollout, metric, value);
  }
  for (const auto& [metric, threshold] : latest.thresholds) {
    metrics.SetAnalysisThreshold(rollout, metric, threshold);
  }
  metrics.SetAnalysisFailures(rollout, NewestRunFailures(status));
  metrics.SetDegradedReason(rollout, DegradedReason(status));

  if (!status.active_version.empty() || !status.target_version.empty()) {
    metrics.SetRolloutInfo(rollout, status.active_version, status.target_version);
  }
}

// When the Rollout entered its current phase, by its status: every phase entry starts a
// step named after the phase, so the step's start; `fallback` for a status without one.
std::chrono::system_clock::time_point PhaseEnteredAt(
    const reconcilers::RolloutStatus& status, std::chrono::system_clock::time_point fallback) {
  if (status.phase && status.current_step &&
      status.current_step->name == reconcilers::PhaseName(*status.phase)) {
    return std::chrono::system_clock::time_point(status.current_step->started_at);
  }
  return fallback;
}

}  // namespace

std::string VerdictLabel(reconcilers::Verdict verdict) {
  switch (verdict) {
    case reconcilers::Verdict::kSuccessful:
      return "pass";
    case reconcilers::Verdict::kFailed:
      return "fail";
    case reconcilers::Verdict::kInconclusive:
      return "inconclusive";
    case reconcilers::Verdict::kError:
      return "error";
  }
  return "error";
}

void RecordStatusChange(ControllerMetrics& metrics, const std::string& rollout,
                        const reconcilers::RolloutStatus& before,
                        const reconcilers::RolloutStatus& after,
                        std::chrono::system_clock::time_point now) {
  if (after.phase) {
    metrics.SetRolloutPhase(rollout, std::string(reconcilers::PhaseName(*after.phase)), now);
    if (before.phase && *before.phase != *after.phase) {
      RecordPhaseGates(metrics, *before.phase, *after.phase);
    }
  }

  // A step ended when the current step changed (name or start time).
  if (before.current_step) {
    const auto& old_step = *before.current_step;
    const bool ended = !after.current_step || after.current_step->name != old_step.name ||
                       after.current_step->started_at != old_step.started_at;
    if (ended) {
      auto took = std::chrono::duration<double>(now.time_since_epoch()) -
                  std::chrono::duration<double>(old_step.started_at.time_since_epoch());
      if (took.count() >= 0) metrics.ObserveStepDuration(old_step.name, took.count());
    }
  }

  // The declared Active version moved: a flip (or a flip back).
  if (!before.active_version.empty() && !after.active_version.empty() &&
      before.active_version != after.active_version) {
    metrics.RecordFlip(rollout);
  }
  if (!after.rollback_reason.empty() && after.rollback_reason != before.rollback_reason) {
    metrics.RecordRollback(rollout, after.rollback_reason);
  }

  // Measurements added by this write: by the tallies (the run keeps only the newest
  // measurements of each metric), the verdicts from the newest kept ones.
  for (const auto& run : after.analysis_runs) {
    const reconcilers::AnalysisRun* old_run = nullptr;
    for (const auto& r : before.analysis_runs) {
      if (SameRun(r, run)) old_run = &r;
    }
    for (const auto& [metric, tally] : run.tallies) {
      int added = tally.taken;
      if (old_run != nullptr) {
        auto it = old_run->tallies.find(metric);
        if (it != old_run->tallies.end()) added -= it->second.taken;
      }
      const bool probe = std::string_view(metric).starts_with("probe-");
      for (auto m = run.measurements.rbegin(); m != run.measurements.rend() && added > 0; ++m) {
        if (m->metric != metric) continue;
        metrics.RecordGateResult(probe ? "probe" : "metrics", VerdictLabel(m->verdict));
        --added;
      }
    }
  }

  SetWholeStatusGauges(metrics, rollout, after);
}

void SeedStatusGauges(ControllerMetrics& metrics, const std::string& rollout,
                      const reconcilers::RolloutStatus& status,
                      std::chrono::system_clock::time_point now) {
  if (!status.phase) return;  // never written: nothing to show yet
  metrics.SetRolloutPhase(rollout, std::string(reconcilers::PhaseName(*status.phase)),
                          PhaseEnteredAt(status, now), ControllerMetrics::PhaseSource::kObserved);
  SetWholeStatusGauges(metrics, rollout, status);
}

}  // namespace rollouts::controller
