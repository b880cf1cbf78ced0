// decide(): the pure heart of the Rollout reconciler. From one observed Snapshot it returns
// the ONE next action; the runtime performs it (act), observes again and calls decide()
// again. No I/O, no clock, no memory: a restarted controller resumes from what the
// snapshot says.
//
// Phase machine (docs/design.md "Steps"):
//   Healthy --spec.version differs--> DeployingStandby -> WaitingHealthy -> [Analyzing]
//   -> [Paused until promote] -> Promoting (flip + convergence) -> [Verifying] -> Draining
//   -> ScalingDown -> Healthy.  Any gate failure or deadline -> RollingBack -> Degraded.
//
// Supersede rules (a new spec.version while a rollout runs):
//   - before the flip (DeployingStandby, WaitingHealthy, Analyzing, Paused before the
//     flip): the standby group is redeployed with the newer version (the superseded one is
//     recorded in history); if the new spec.version is the Active version, the rollout is
//     cancelled (standby stopped) and ends Healthy.
//   - after the flip (Promoting, Verifying, Draining, ScalingDown, Paused after the flip):
//     if the new spec.version is the version still running in the old group, that is an
//     instant roll back (flip back, reason SpecReverted). Any other version waits: the
//     current rollout finishes first (the old group is the only roll back target and must
//     not be overwritten while it may still be needed), then the newer version starts from
//     Healthy.
//   - while RollingBack: the roll back finishes first.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "reconcilers/job_edit.h"
#include "reconcilers/rollout_spec.h"
#include "reconcilers/rollout_status.h"
#include "reconcilers/snapshot.h"

namespace rollouts::reconcilers {

// Nothing to do now; observe again after requeue_after (or on a watch event).
struct NoOp {
  Duration requeue_after{0};
  std::string reason;
};

// Write the status with CAS. A lost CAS means someone else wrote: observe again.
struct WriteStatus {
  RolloutStatus status;
  uint64_t cas_index = 0;  // = Snapshot::status_modify_index (0: create)
  std::string reason;
};

// Register the edited job (POST /v1/job/<id>) with EnforceIndex.
struct RegisterJob {
  JobEdit edit;
  nlohmann::json job;          // the complete Job object after the edit
  uint64_t enforce_index = 0;  // the JobModifyIndex the edit was based on
  std::string reason;

  // {"Job": job, "EnforceIndex": true, "JobModifyIndex": enforce_index}
  nlohmann::json RegisterBody() const;
};

struct ProbeTarget {
  std::string instance_id;
  std::string address;
  int port = 0;
};

// The built-in probe: spec.requests HTTP GETs of spec.path to each target. act() reports
// a PendingMeasurement kProbeErrorRate (failed/total, 0..1) and, when the spec has a
// latency limit, kProbeP99Latency (milliseconds), both with `run` and `version`.
struct RunProbe {
  std::string run;
  std::string version;
  std::vector<ProbeTarget> targets;
  ProbeSpec probe;
};

// One Prometheus instant query. act() reports a PendingMeasurement named metric.name:
// value = the single sample (nullopt when the result is empty), error = the failure text.
struct RunMetricQuery {
  std::string run;
  std::string version;
  MetricSpec metric;
  std::string query;  // rendered: {{service}} {{version}} {{job}} {{group}} replaced
};

using Action = std::variant<NoOp, WriteStatus, RegisterJob, RunProbe, RunMetricQuery>;

Action Decide(const Snapshot& snapshot);

// "NoOp", "WriteStatus", "RegisterJob", "RunProbe", "RunMetricQuery".
std::string_view ActionName(const Action& action);

// Reason codes used in conditions, events, roll backs and history.
namespace reason {
inline constexpr std::string_view kStandbyUnhealthy = "StandbyUnhealthy";
inline constexpr std::string_view kCrashLoop = "CrashLoop";
inline constexpr std::string_view kProgressDeadlineExceeded = "ProgressDeadlineExceeded";
inline constexpr std::string_view kProbeFailed = "ProbeFailed";
inline constexpr std::string_view kAnalysisFailed = "AnalysisFailed";
inline constexpr std::string_view kRouterTimeout = "RouterTimeout";
inline constexpr std::string_view kAborted = "Aborted";
inline constexpr std::string_view kUndo = "Undo";
inline constexpr std::string_view kCancelled = "Cancelled";
inline constexpr std::string_view kSpecReverted = "SpecReverted";
inline constexpr std::string_view kNewVersionUnhealthy = "NewVersionUnhealthy";
inline constexpr std::string_view kJobNotAllowed = "JobNotAllowed";
// Why a Rollout is Paused (status.pause.reason).
inline constexpr std::string_view kAwaitingPromotion = "AwaitingPromotion";
inline constexpr std::string_view kManualPause = "Manual";
inline constexpr std::string_view kAnalysisInconclusive = "AnalysisInconclusive";
// A control command that cannot be executed as written (event; the ack says why).
inline constexpr std::string_view kControlRejected = "ControlRejected";
}  // namespace reason

// Failures (failed allocations + task restarts) of one version that count as a crash loop.
inline constexpr int kCrashLoopFailures = 3;

}  // namespace rollouts::reconcilers
