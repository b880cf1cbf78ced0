#include "controller/metrics.h"

#include <algorithm>

namespace rollouts::controller {
namespace {

using ::prometheus::BuildCounter;
using ::prometheus::BuildGauge;
using ::prometheus::BuildHistogram;
using ::prometheus::Histogram;

bool Contains(const std::vector<std::string>& set, const std::string& value) {
  return std::find(set.begin(), set.end(), value) != set.end();
}

// Keeps a label inside its vocabulary: an unexpected value is folded into "other"
// instead of creating a new series.
std::string Bounded(const std::vector<std::string>& set, const std::string& value) {
  return Contains(set, value) ? value : "other";
}

const std::vector<std::string>& KnownBackends() {
  static const std::vector<std::string> v = {"consul", "nomad", "prometheus", "probe"};
  return v;
}

const std::vector<std::string>& KnownWatches() {
  static const std::vector<std::string> v = {"spec",        "control", "allocations", "health",
                                             "deployments", "routers", "resync"};
  return v;
}

const std::vector<std::string>& KnownErrorKinds() {
  static const std::vector<std::string> v = {
      "transport", "cancelled",   "unauthorized", "not_found", "bad_request", "validation",
      "conflict",  "unavailable", "decode",       "internal",  "not_leader"};
  return v;
}

// An endpoint template is a short snake_case word; anything with other characters (a
// path, an ID) would make the series unbounded.
bool IsEndpointTemplate(const std::string& s) {
  if (s.empty() || s.size() > 40) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

// A status code ("200") or a transport error kind word.
std::string BoundedCode(const std::string& code) {
  if (code.size() == 3 && std::all_of(code.begin(), code.end(), ::isdigit)) return code;
  static const std::vector<std::string> kinds = {"connect", "timeout", "tls", "cancelled",
                                                 "protocol"};
  return Bounded(kinds, code);
}

Histogram::BucketBoundaries StepBuckets() {
  return {1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600};
}
Histogram::BucketBoundaries LatencyBuckets() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}
Histogram::BucketBoundaries QueueBuckets() {
  return {0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300};
}

// A phase outside docs/design.md's list still gets a 0/1 series, the "Unknown" one.
std::string BoundedPhase(const std::string& phase);

double UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

const std::vector<std::string>& KnownPhases() {
  static const std::vector<std::string> v = {
      "Healthy",   "DeployingStandby", "WaitingHealthy", "Analyzing",   "Paused",
      "Promoting", "Verifying",        "Draining",       "ScalingDown", "RollingBack",
      "Degraded",  "InvalidSpec",      "Unknown"};
  return v;
}

const std::vector<std::string>& KnownGates() {
  static const std::vector<std::string> v = {"health", "probe", "metrics", "manual"};
  return v;
}

const std::vector<std::string>& KnownVerdicts() {
  static const std::vector<std::string> v = {"pass", "fail", "inconclusive", "error"};
  return v;
}

const std::vector<std::string>& KnownReasons() {
  static const std::vector<std::string> v = {
      // Roll-backs (reconcilers/decide.h, namespace reason).
      "StandbyUnhealthy", "CrashLoop", "ProgressDeadlineExceeded", "ProbeFailed", "AnalysisFailed",
      "RouterTimeout", "Aborted", "Undo", "Cancelled", "SpecReverted", "NewVersionUnhealthy",
      "JobNotAllowed",
      // InvalidSpec (reconcilers/decide.cpp, Decide and Invalid).
      "InvalidSpec", "InvalidGroups", "UnknownJob", "UnknownGroup", "UnknownService", "UnknownTask",
      "JobNotBlueGreen"};
  return v;
}

namespace {
std::string BoundedPhase(const std::string& phase) {
  return Contains(KnownPhases(), phase) ? phase : "Unknown";
}

// Points `slot` at the series with `labels`, set to 1. The new series is added before the
// old one is removed, and an unchanged one is never removed: a scrape between the two
// steps would otherwise see the Rollout without a series (every observed status re-seeds
// these gauges, so a remove-then-add gap made them flicker under scrapes).
void ReplaceInfoSeries(::prometheus::Family<::prometheus::Gauge>& family,
                       ::prometheus::Gauge*& slot, const ::prometheus::Labels& labels) {
  ::prometheus::Gauge* next = &family.Add(labels);
  next->Set(1);
  if (slot != nullptr && slot != next) family.Remove(slot);
  slot = next;
}
}  // namespace

ControllerMetrics::ControllerMetrics(std::shared_ptr<::prometheus::Registry> registry)
    : registry_(std::move(registry)),
      phase_(BuildGauge()
                 .Name("rollouts_rollout_phase")
                 .Help("1 for the Rollout's current status phase, 0 for every other phase")
                 .Register(*registry_)),
      phase_entered_(BuildGauge()
                         .Name("rollouts_rollout_phase_entered_timestamp_seconds")
                         .Help("Unix time the Rollout entered its current phase")
                         .Register(*registry_)),
      step_deadline_(BuildGauge()
                         .Name("rollouts_rollout_step_deadline_timestamp_seconds")
                         .Help("Unix time by which the Rollout's current step must end (0: none)")
                         .Register(*registry_)),
      transitions_(BuildCounter()
                       .Name("rollouts_rollout_transitions_total")
                       .Help("Phase transitions observed by the controller")
                       .Register(*registry_)),
      step_duration_(BuildHistogram()
                         .Name("rollouts_step_duration_seconds")
                         .Help("Time spent in a rollout step, observed when the step ends")
                         .Register(*registry_)),
      gate_results_(BuildCounter()
                        .Name("rollouts_gate_results_total")
                        .Help("Gate evaluations by gate kind and verdict")
                        .Register(*registry_)),
      analysis_value_(BuildGauge()
                          .Name("rollouts_analysis_last_value")
                          .Help("Last measured value of an analysis metric")
                          .Register(*registry_)),
      analysis_threshold_(BuildGauge()
                              .Name("rollouts_analysis_threshold")
                              .Help("Bound of an analysis metric's success condition "
                                    "(\"< 0.01\" -> 0.01)")
                              .Register(*registry_)),
      analysis_failures_(BuildGauge()
                             .Name("rollouts_analysis_failures")
                             .Help("Measurements of a metric in the Rollout's newest analysis "
                                   "run that failed (verdict fail) or could not be evaluated "
                                   "(verdict error)")
                             .Register(*registry_)),
      analysis_last_failure_(BuildGauge()
                                 .Name("rollouts_analysis_last_failure_timestamp_seconds")
                                 .Help("Unix time of the newest measurement of a metric with "
                                       "that verdict in the Rollout's newest analysis run (0: "
                                       "none)")
                                 .Register(*registry_)),
      degraded_(BuildGauge()
                    .Name("rollouts_rollout_degraded")
                    .Help("1 on the status reason code while the Rollout is Degraded or "
                          "InvalidSpec (no series otherwise)")
                    .Register(*registry_)),
      invalid_input_(BuildGauge()
                         .Name("rollouts_invalid_input")
                         .Help("Keys of the Rollout that could not be read at its last "
                               "observe, by kind: spec, status, control, router_report "
                               "(the status, an event or an acknowledgement says why)")
                         .Register(*registry_)),
      flips_(BuildCounter()
                 .Name("rollouts_flips_total")
                 .Help("Active/standby tag flips written to Nomad (including flip-backs)")
                 .Register(*registry_)),
      rollbacks_(BuildCounter()
                     .Name("rollouts_rollbacks_total")
                     .Help("Rollouts rolled back, by reason code")
                     .Register(*registry_)),
      info_(BuildGauge()
                .Name("rollouts_rollout_info")
                .Help("Always 1; carries the Rollout's active and target versions as labels")
                .Register(*registry_)),
      reconcile_total_(BuildCounter()
                           .Name("rollouts_reconcile_total")
                           .Help("Reconciles run, by result (success or error)")
                           .Register(*registry_)),
      reconcile_errors_(BuildCounter()
                            .Name("rollouts_reconcile_errors_total")
                            .Help("Reconciles that failed, by error kind")
                            .Register(*registry_)),
      reconcile_duration_(BuildHistogram()
                              .Name("rollouts_reconcile_duration_seconds")
                              .Help("Time of one reconcile (observe, decide, act)")
                              .Register(*registry_)),
      queue_depth_(BuildGauge()
                       .Name("rollouts_workqueue_depth")
                       .Help("Keys ready in the work queue")
                       .Register(*registry_)
                       .Add({})),
      queue_adds_(BuildCounter()
                      .Name("rollouts_workqueue_adds_total")
                      .Help("Keys added to the work queue (after deduplication)")
                      .Register(*registry_)
                      .Add({})),
      queue_wait_(BuildHistogram()
                      .Name("rollouts_workqueue_wait_seconds")
                      .Help("Time a key waited in the queue before a worker took it")
                      .Register(*registry_)
                      .Add({}, QueueBuckets())),
      queue_work_duration_(BuildHistogram()
                               .Name("rollouts_workqueue_work_duration_seconds")
                               .Help("Time a worker held a key")
                               .Register(*registry_)
                               .Add({}, QueueBuckets())),
      queue_retries_(BuildCounter()
                         .Name("rollouts_workqueue_retries_total")
                         .Help("Rate-limited re-adds after a failed reconcile")
                         .Register(*registry_)
                         .Add({})),
      leader_(BuildGauge()
                  .Name("rollouts_leader")
                  .Help("1 while this controller holds the leader lock")
                  .Register(*registry_)
                  .Add({})),
      api_requests_(BuildCounter()
                        .Name("rollouts_api_requests_total")
                        .Help("HTTP requests to Consul, Nomad, Prometheus and probes")
                        .Register(*registry_)),
      api_duration_(BuildHistogram()
                        .Name("rollouts_api_request_duration_seconds")
                        .Help("HTTP request latency (blocking queries have their own "
                              "*_watch endpoints)")
                        .Register(*registry_)),
      watch_last_success_(BuildGauge()
                              .Name("rollouts_watch_last_success_timestamp_seconds")
                              .Help("Unix time a watch last returned successfully")
                              .Register(*registry_)),
      watch_staleness_(BuildGauge()
                           .Name("rollouts_watch_staleness_seconds")
                           .Help("Seconds since a watch last returned successfully")
                           .Register(*registry_)),
      watch_errors_(BuildCounter()
                        .Name("rollouts_watch_errors_total")
                        .Help("Failed queries of a watch, by API error kind")
                        .Register(*registry_)),
      build_info_(BuildGauge()
                      .Name("rollouts_build_info")
                      .Help("Always 1; the controller's version")
                      .Register(*registry_)) {
  build_info_.Add({{"version", ROLLOUTS_VERSION}}).Set(1);
  // Pre-create the series that have a fixed label set so dashboards see 0, not nothing.
  for (const auto& gate : KnownGates()) {
    for (const auto& verdict : KnownVerdicts()) {
      gate_results_.Add({{"gate", gate}, {"verdict", verdict}});
    }
  }
  reconcile_total_.Add({{"result", "success"}});
  reconcile_total_.Add({{"result", "error"}});
}

ControllerMetrics::RolloutSeries& ControllerMetrics::SeriesLocked(const std::string& rollout) {
  auto [it, inserted] = rollouts_.try_emplace(rollout);
  if (inserted) {
    for (const auto& phase : KnownPhases()) {
      it->second.phase_gauges[phase] = &phase_.Add({{"rollout", rollout}, {"phase", phase}});
    }
    it->second.flips = &flips_.Add({{"rollout", rollout}});
    for (const char* key : {"spec", "status", "control", "router_report"}) {
      it->second.invalid_inputs[key] = &invalid_input_.Add({{"rollout", rollout}, {"key", key}});
    }
  }
  return it->second;
}

void ControllerMetrics::SetRolloutPhase(const std::string& rollout, const std::string& phase,
                                        std::chrono::system_clock::time_point entered,
                                        PhaseSource source) {
  const std::string bounded = BoundedPhase(phase);
  std::lock_guard lock(mu_);
  RolloutSeries& series = SeriesLocked(rollout);
  for (auto& [name, gauge] : series.phase_gauges) gauge->Set(name == bounded ? 1 : 0);
  if (series.phase == bounded) return;
  if (source == PhaseSource::kWritten) {
    const std::string from = series.phase.empty() ? "none" : series.phase;
    auto key = std::make_pair(from, bounded);
    auto it = series.transitions.find(key);
    if (it == series.transitions.end()) {
      it = series.transitions
               .emplace(key,
                        &transitions_.Add({{"rollout", rollout}, {"from", from}, {"to", bounded}}))
               .first;
    }
    it->second->Increment();
  }
  if (series.phase_entered == nullptr) {
    series.phase_entered = &phase_entered_.Add({{"rollout", rollout}});
  }
  series.phase_entered->Set(UnixSeconds(entered));
  series.phase = bounded;
}

void ControllerMetrics::SetStepDeadline(
    const std::string& rollout, std::optional<std::chrono::system_clock::time_point> deadline) {
  std::lock_guard lock(mu_);
  RolloutSeries& series = SeriesLocked(rollout);
  if (series.step_deadline == nullptr) {
    series.step_deadline = &step_deadline_.Add({{"rollout", rollout}});
  }
  series.step_deadline->Set(deadline ? UnixSeconds(*deadline) : 0.0);
}

void ControllerMetrics::ObserveStepDuration(const std::string& step, double seconds) {
  step_duration_.Add({{"step", BoundedPhase(step)}}, StepBuckets()).Observe(seconds);
}

void ControllerMetrics::RecordGateResult(const std::string& gate, const std::string& verdict) {
  gate_results_
      .Add({{"gate", Bounded(KnownGates(), gate)}, {"verdict", Bounded(KnownVerdicts(), verdict)}})
      .Increment();
}

void ControllerMetrics::SetAnalysisValue(const std::string& rollout, const std::string& metric,
                                         double value) {
  std::lock_guard lock(mu_);
  RolloutSeries& series = SeriesLocked(rollout);
  auto it = series.analysis.find(metric);
  if (it == series.analysis.end()) {
    it = series.analysis
             .emplace(metric, &analysis_value_.Add({{"rollout", rollout}, {"metric", metric}}))
             .first;
  }
  it->second->Set(value);
}

void ControllerMetrics::SetAnalysisThreshold(const std::string& rollout, const std::string& metric,
                                             double threshold) {
  std::lock_guard lock(mu_);
  RolloutSeries& series = SeriesLocked(rollout);
  auto it = series.thresholds.find(metric);
  if (it == series.thresholds.end()) {
    it = series.thresholds
             .emplace(metric, &analysis_threshold_.Add({{"rollout", rollout}, {"metric", metric}}))
             .first;
  }
  it->second->Set(threshold);
}

void ControllerMetrics::SetAnalysisFailures(
    const std::string& rollout, const std::map<std::string, AnalysisFailures>& by_metric) {
  std::lock_guard lock(mu_);
  RolloutSeries& series = SeriesLocked(rollout);
  for (auto it = series.failures.begin(); it != series.failures.end();) {
    if (by_metric.count(it->first)) {
      ++it;
      continue;
    }
    RemoveFailureSeriesLocked(it->second);
    it = series.failures.erase(it);
  }
  for (const auto& [metric, f] : by_metric) {
    auto [it, inserted] = series.failures.try_emplace(metric);
    RolloutSeries::FailureSeries& g = it->second;
    if (inserted) {
      const ::prometheus::Labels fail = {
          {"rollout", rollout}, {"metric", metric}, {"verdict", "fail"}};
      const ::prometheus::Labels error = {
          {"rollout", rollout}, {"metric", metric}, {"verdict", "error"}};
      g.failed = &analysis_failures_.Add(fail);
      g.last_failed = &analysis_last_failure_.Add(fail);
      g.errors = &analysis_failures_.Add(error);
      g.last_error = &analysis_last_failure_.Add(error);
    }
    g.failed->Set(f.failed);
    g.last_failed->Set(f.last_failed_unix);
    g.errors->Set(f.errors);
    g.last_error->Set(f.last_error_unix);
  }
}

void ControllerMetrics::RemoveFailureSeriesLocked(const RolloutSeries::FailureSeries& g) {
  analysis_failures_.Remove(g.failed);
  analysis_last_failure_.Remove(g.last_failed);
  analysis_failures_.Remove(g.errors);
  analysis_last_failure_.Remove(g.last_error);
}

void ControllerMetrics::SetDegradedReason(const std::string& rollout,
                                          const std::optional<std::string>& reason) {
  std::lock_guard lock(mu_);
  RolloutSeries& series = SeriesLocked(rollout);
  // Only the current reason has a series: a reason that changed or cleared is removed, so
  // `rollouts_rollout_degraded == 1` never names an old reason.
  if (!reason) {
    if (series.degraded != nullptr) degraded_.Remove(series.degraded);
    series.degraded = nullptr;
    return;
  }
  ReplaceInfoSeries(degraded_, series.degraded,
                    {{"rollout", rollout}, {"reason", Bounded(KnownReasons(), *reason)}});
}

void ControllerMetrics::SetInvalidInputs(const std::string& rollout,
                                         const std::map<std::string, int>& counts) {
  std::lock_guard lock(mu_);
  for (auto& [key, gauge] : SeriesLocked(rollout).invalid_inputs) {
    auto it = counts.find(key);
    gauge->Set(it == counts.end() ? 0 : it->second);
  }
}

void ControllerMetrics::RecordFlip(const std::string& rollout) {
  std::lock_guard lock(mu_);
  SeriesLocked(rollout).flips->Increment();
}

void ControllerMetrics::RecordRollback(const std::string& rollout, const std::string& reason) {
  const std::string bounded = Bounded(KnownReasons(), reason);
  std::lock_guard lock(mu_);
  RolloutSeries& series = SeriesLocked(rollout);
  auto it = series.rollbacks.find(bounded);
  if (it == series.rollbacks.end()) {
    it = series.rollbacks
             .emplace(bounded, &rollbacks_.Add({{"rollout", rollout}, {"reason", bounded}}))
             .first;
  }
  it->second->Increment();
}

void ControllerMetrics::SetRolloutInfo(const std::string& rollout,
                                       const std::string& active_version,
                                       const std::string& target_version) {
  std::lock_guard lock(mu_);
  RolloutSeries& series = SeriesLocked(rollout);
  // Only one series per Rollout: the previous versions' series is removed, so version
  // values never accumulate.
  ReplaceInfoSeries(info_, series.info,
                    {{"rollout", rollout},
                     {"active_version", active_version},
                     {"target_version", target_version}});
}

void ControllerMetrics::ForgetRollout(const std::string& rollout) {
  std::lock_guard lock(mu_);
  auto it = rollouts_.find(rollout);
  if (it == rollouts_.end()) return;
  RolloutSeries& s = it->second;
  for (auto& [_, g] : s.phase_gauges) phase_.Remove(g);
  if (s.phase_entered != nullptr) phase_entered_.Remove(s.phase_entered);
  if (s.step_deadline != nullptr) step_deadline_.Remove(s.step_deadline);
  for (auto& [_, c] : s.transitions) transitions_.Remove(c);
  for (auto& [_, g] : s.analysis) analysis_value_.Remove(g);
  for (auto& [_, g] : s.thresholds) analysis_threshold_.Remove(g);
  for (auto& [_, g] : s.failures) RemoveFailureSeriesLocked(g);
  if (s.degraded != nullptr) degraded_.Remove(s.degraded);
  for (auto& [_, g] : s.invalid_inputs) invalid_input_.Remove(g);
  if (s.flips != nullptr) flips_.Remove(s.flips);
  for (auto& [_, c] : s.rollbacks) rollbacks_.Remove(c);
  if (s.info != nullptr) info_.Remove(s.info);
  rollouts_.erase(it);
}

void ControllerMetrics::RecordReconcile(double seconds, const std::string& error_kind) {
  reconcile_total_.Add({{"result", error_kind.empty() ? "success" : "error"}}).Increment();
  if (!error_kind.empty()) {
    reconcile_errors_.Add({{"kind", Bounded(KnownErrorKinds(), error_kind)}}).Increment();
  }
  reconcile_duration_.Add({}, LatencyBuckets()).Observe(seconds);
}

void ControllerMetrics::SetDepth(int64_t depth) {
  queue_depth_.Set(static_cast<double>(depth));
}
void ControllerMetrics::Added() {
  queue_adds_.Increment();
}
void ControllerMetrics::ObserveWait(double seconds) {
  queue_wait_.Observe(seconds);
}
void ControllerMetrics::ObserveWorkDuration(double seconds) {
  queue_work_duration_.Observe(seconds);
}
void ControllerMetrics::Retried() {
  queue_retries_.Increment();
}

void ControllerMetrics::SetLeader(bool leader) {
  leader_.Set(leader ? 1 : 0);
}

void ControllerMetrics::ObserveApiRequest(const std::string& backend, const std::string& endpoint,
                                          const std::string& code, double seconds) {
  const std::string b = Bounded(KnownBackends(), backend);
  const std::string e = IsEndpointTemplate(endpoint) ? endpoint : "other";
  api_requests_.Add({{"backend", b}, {"endpoint", e}, {"code", BoundedCode(code)}}).Increment();
  api_duration_.Add({{"backend", b}, {"endpoint", e}}, LatencyBuckets()).Observe(seconds);
}

void ControllerMetrics::RecordWatchSuccess(const std::string& watch,
                                           std::chrono::system_clock::time_point now) {
  const std::string w = Bounded(KnownWatches(), watch);
  watch_last_success_.Add({{"watch", w}}).Set(UnixSeconds(now));
  watch_staleness_.Add({{"watch", w}}).Set(0);
  std::lock_guard lock(mu_);
  watch_success_[w] = now;
}

void ControllerMetrics::UpdateWatchStaleness(std::chrono::system_clock::time_point now) {
  std::lock_guard lock(mu_);
  for (const auto& [watch, last] : watch_success_) {
    watch_staleness_.Add({{"watch", watch}})
        .Set(std::max(0.0, std::chrono::duration<double>(now - last).count()));
  }
}

void ControllerMetrics::RecordWatchError(const std::string& watch, const std::string& kind) {
  watch_errors_
      .Add({{"watch", Bounded(KnownWatches(), watch)}, {"kind", Bounded(KnownErrorKinds(), kind)}})
      .Increment();
}

void ControllerMetrics::ForgetWatch(const std::string& watch) {
  const std::string w = Bounded(KnownWatches(), watch);
  std::lock_guard lock(mu_);
  if (watch_success_.erase(w) == 0) return;
  watch_last_success_.Remove(&watch_last_success_.Add({{"watch", w}}));
  watch_staleness_.Remove(&watch_staleness_.Add({{"watch", w}}));
}

}  // namespace rollouts::controller
