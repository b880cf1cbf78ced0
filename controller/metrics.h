// Every Prometheus metric of the controller, on one registry (docs/metrics.md lists them).
//
// Label sets are bounded by construction: rollout names are bounded by the Rollouts in
// KV (ForgetRollout removes a deleted one's series), phases, gates, verdicts, steps, reason
// codes and API endpoints come from fixed vocabularies (anything else is recorded as
// "other"), analysis metric names are bounded by the Rollout spec, and version strings
// appear only on rollouts_rollout_info, whose old series is removed when a Rollout's
// versions change. Free text (status messages) is never a label.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller/process_metrics.h"  // SerializeMetrics
#include "controller/work_queue.h"

namespace rollouts::controller {

// The status phases of a Rollout (docs/design.md "Steps"), one 0/1 series each.
const std::vector<std::string>& KnownPhases();
// Gate kinds and verdicts.
const std::vector<std::string>& KnownGates();     // health, probe, metrics, manual
const std::vector<std::string>& KnownVerdicts();  // pass, fail, inconclusive, error
// The status reason codes of roll-backs and of an invalid spec (reconcilers/decide.h and
// the InvalidSpec reasons of decide.cpp); a reason label outside it is "other".
const std::vector<std::string>& KnownReasons();

class ControllerMetrics : public WorkQueueMetricsSink {
 public:
  explicit ControllerMetrics(std::shared_ptr<::prometheus::Registry> registry =
                                 std::make_shared<::prometheus::Registry>());

  std::shared_ptr<::prometheus::Registry> registry() const { return registry_; }

  // --- Rollouts ---
  // Where a phase comes from: a status this process wrote (kWritten), or one it only read
  // (kObserved: a resting Rollout after a restart or a leadership change).
  enum class PhaseSource { kWritten, kObserved };
  // Sets the phase gauge of `phase` to 1 and every other phase of the rollout to 0.
  // When the phase changed, also stamps phase-entered (unix seconds, `entered`) and, for a
  // written phase, counts the transition from the previous phase ("none" for the first).
  // An observed phase counts no transition: it happened before (another process or an
  // earlier run counted it), so a restart does not count it again.
  void SetRolloutPhase(const std::string& rollout, const std::string& phase,
                       std::chrono::system_clock::time_point entered,
                       PhaseSource source = PhaseSource::kWritten);
  // Unix time by which the Rollout's current step must end (the status's
  // currentStep.deadline); nullopt (exported as 0) when the step has none.
  void SetStepDeadline(const std::string& rollout,
                       std::optional<std::chrono::system_clock::time_point> deadline);
  void ObserveStepDuration(const std::string& step, double seconds);
  void RecordGateResult(const std::string& gate, const std::string& verdict);
  void SetAnalysisValue(const std::string& rollout, const std::string& metric, double value);
  // The bound of the metric's success condition ("< 0.01" -> 0.01), from its newest
  // measurement.
  void SetAnalysisThreshold(const std::string& rollout, const std::string& metric,
                            double threshold);
  // Measurements of one metric in the Rollout's newest analysis run that did not pass:
  // failed (the condition did not hold) and error (could not be evaluated), each with the
  // Unix time of the newest one (0: none). Exported with verdict="fail" / "error".
  struct AnalysisFailures {
    int failed = 0;
    double last_failed_unix = 0;
    int errors = 0;
    double last_error_unix = 0;
  };
  // Replaces the Rollout's failure series with those of its newest analysis run: a metric
  // that is not in `by_metric` loses its series.
  void SetAnalysisFailures(const std::string& rollout,
                           const std::map<std::string, AnalysisFailures>& by_metric);
  // 1 on {rollout, reason} while the Rollout waits for a person (phase Degraded or
  // InvalidSpec); nullopt removes the series. Only the current reason has a series.
  void SetDegradedReason(const std::string& rollout, const std::optional<std::string>& reason);
  // Keys of the Rollout that could not be read at its last observe, by kind ("spec",
  // "status", "control", "router_report"); a kind left out is 0.
  void SetInvalidInputs(const std::string& rollout, const std::map<std::string, int>& counts);
  void RecordFlip(const std::string& rollout);
  // reason: the status reason code; one outside KnownReasons() is recorded as "other".
  void RecordRollback(const std::string& rollout, const std::string& reason);
  void SetRolloutInfo(const std::string& rollout, const std::string& active_version,
                      const std::string& target_version);
  // The Rollout is gone from KV: drop all of its series.
  void ForgetRollout(const std::string& rollout);

  // --- Reconcile loop ---
  // error_kind empty = success; otherwise an ApiErrorKindName or "internal".
  void RecordReconcile(double seconds, const std::string& error_kind);

  // --- Work queue (WorkQueueMetricsSink) ---
  void SetDepth(int64_t depth) override;
  void Added() override;
  void ObserveWait(double seconds) override;
  void ObserveWorkDuration(double seconds) override;
  void Retried() override;

  // --- Leader election, API calls, watches ---
  void SetLeader(bool leader);
  // backend: consul | nomad | prometheus | probe. endpoint: a template such as "kv_get"
  // (see api_endpoint.h); a raw path is refused and counted as "other". code: the HTTP
  // status, or the transport error kind ("timeout", "connect", ...).
  void ObserveApiRequest(const std::string& backend, const std::string& endpoint,
                         const std::string& code, double seconds);
  // watch: spec, control, allocations, health, resync.
  void RecordWatchSuccess(const std::string& watch, std::chrono::system_clock::time_point now);
  // Refreshes rollouts_watch_staleness_seconds from the last successes (call before a
  // scrape).
  void UpdateWatchStaleness(std::chrono::system_clock::time_point now);
  // A failed query of a watch (rollouts_watch_errors_total); kind: an ApiErrorKindName.
  void RecordWatchError(const std::string& watch, const std::string& kind);
  // The watch stopped on purpose (the progress watches stop when no rollout is in
  // progress): drops its last-success and staleness series so it does not look stalled.
  void ForgetWatch(const std::string& watch);

 private:
  struct RolloutSeries {
    std::string phase;
    std::map<std::string, ::prometheus::Gauge*> phase_gauges;
    ::prometheus::Gauge* phase_entered = nullptr;
    ::prometheus::Gauge* step_deadline = nullptr;
    std::map<std::pair<std::string, std::string>, ::prometheus::Counter*> transitions;
    std::map<std::string, ::prometheus::Gauge*> analysis;
    std::map<std::string, ::prometheus::Gauge*> thresholds;
    struct FailureSeries {
      ::prometheus::Gauge* failed = nullptr;
      ::prometheus::Gauge* last_failed = nullptr;
      ::prometheus::Gauge* errors = nullptr;
      ::prometheus::Gauge* last_error = nullptr;
    };
    std::map<std::string, FailureSeries> failures;
    ::prometheus::Gauge* degraded = nullptr;
    std::map<std::string, ::prometheus::Gauge*> invalid_inputs;
    ::prometheus::Counter* flips = nullptr;
    std::map<std::string, ::prometheus::Counter*> rollbacks;
    ::prometheus::Gauge* info = nullptr;
  };

  RolloutSeries& SeriesLocked(const std::string& rollout);
  void RemoveFailureSeriesLocked(const RolloutSeries::FailureSeries& series);

  std::shared_ptr<::prometheus::Registry> registry_;
  std::mutex mu_;
  std::map<std::string, RolloutSeries> rollouts_;
  std::map<std::string, std::chrono::system_clock::time_point> watch_success_;

  ::prometheus::Family<::prometheus::Gauge>& phase_;
  ::prometheus::Family<::prometheus::Gauge>& phase_entered_;
  ::prometheus::Family<::prometheus::Gauge>& step_deadline_;
  ::prometheus::Family<::prometheus::Counter>& transitions_;
  ::prometheus::Family<::prometheus::Histogram>& step_duration_;
  ::prometheus::Family<::prometheus::Counter>& gate_results_;
  ::prometheus::Family<::prometheus::Gauge>& analysis_value_;
  ::prometheus::Family<::prometheus::Gauge>& analysis_threshold_;
  ::prometheus::Family<::prometheus::Gauge>& analysis_failures_;
  ::prometheus::Family<::prometheus::Gauge>& analysis_last_failure_;
  ::prometheus::Family<::prometheus::Gauge>& degraded_;
  ::prometheus::Family<::prometheus::Gauge>& invalid_input_;
  ::prometheus::Family<::prometheus::Counter>& flips_;
  ::prometheus::Family<::prometheus::Counter>& rollbacks_;
  ::prometheus::Family<::prometheus::Gauge>& info_;
  ::prometheus::Family<::prometheus::Counter>& reconcile_total_;
  ::prometheus::Family<::prometheus::Counter>& reconcile_errors_;
  ::prometheus::Family<::prometheus::Histogram>& reconcile_duration_;
  ::prometheus::Gauge& queue_depth_;
  ::prometheus::Counter& queue_adds_;
  ::prometheus::Histogram& queue_wait_;
  ::prometheus::Histogram& queue_work_duration_;
  ::prometheus::Counter& queue_retries_;
  ::prometheus::Gauge& leader_;
  ::prometheus::Family<::prometheus::Counter>& api_requests_;
  ::prometheus::Family<::prometheus::Histogram>& api_duration_;
  ::prometheus::Family<::prometheus::Gauge>& watch_last_success_;
  ::prometheus::Family<::prometheus::Gauge>& watch_staleness_;
  ::prometheus::Family<::prometheus::Counter>& watch_errors_;
  ::prometheus::Family<::prometheus::Gauge>& build_info_;
};

}  // namespace rollouts::controller
