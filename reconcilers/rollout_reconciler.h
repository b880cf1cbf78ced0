// One reconcile of one Rollout: observe (Consul KV spec/status/control/routers, the Nomad
// job and its allocations, the service's Consul health), decide() (pure), act (one write
// or one measurement), and again, until decide() says there is nothing to do now. Every
// write is guarded: status with Consul CAS, the job with EnforceIndex, and both only while
// this controller still holds leadership.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clients/consul/consul_client.h"
#include "clients/nomad/nomad_client.h"
#include "clients/prometheus/prometheus_client.h"
#include "reconcilers/decide.h"
#include "reconcilers/prober.h"

namespace rollouts::reconcilers {

struct ReconcilerOptions {
  std::string kv_prefix = "rollouts/";
  std::vector<std::string> allowed_jobs = {"*"};  // fnmatch globs of "namespace/job"
  Duration router_timeout{std::chrono::seconds(60)};
  // Requeue while waiting on the cluster (decide()'s NoOp). A safety net only: rolloutd
  // watches the allocations, health and router reports of every rollout in progress
  // (controller/progress_watches.h), and a change there reconciles at once; the runtime
  // falls back to a 2 s poll for a rollout whose watches are not live. NoOp waits never
  // run past the current step's deadline (see Reconcile), so a longer interval does not
  // delay deadlines.
  Duration poll_interval{std::chrono::seconds(10)};
  // Bound on decide/act rounds in one reconcile; the key is requeued at once when hit.
  int max_actions = 32;
};

// What happened, for logs and metrics (the controller turns these into Prometheus series).
class ReconcileListener {
 public:
  virtual ~ReconcileListener() = default;
  virtual void OnAction(const std::string& /*rollout*/, const Action& /*action*/,
                        bool /*succeeded*/) {}
  // After a successful status write.
  virtual void OnStatusWritten(const std::string& /*rollout*/, const RolloutStatus& /*before*/,
                               const RolloutStatus& /*after*/) {}
  virtual void OnMeasurement(const std::string& /*rollout*/, const PendingMeasurement& /*m*/) {}
  // After every successful observe of a Rollout that has a status (phase set), before
  // decide(): also a status this process did not write (a resting Rollout after a restart
  // or a leadership change), so gauges can show it. Runs at every observe; keep it cheap.
  virtual void OnStatusObserved(const std::string& /*rollout*/, const RolloutStatus& /*status*/) {}
  // After every successful observe: the keys that could not be read, by kind (InvalidInputs).
  virtual void OnInputsObserved(const std::string& /*rollout*/,
                                const std::map<std::string, int>& /*invalid*/) {}
};

struct ReconcileOutcome {
  Duration requeue_after{0};  // 0 with error: back off; 0 without: nothing scheduled
  bool error = false;
  // With error: what failed, for the reconcile error metric: the ApiErrorKindName of the
  // Consul/Nomad error ("transport", "unavailable", "conflict", ...) or "not_leader".
  std::string error_kind;
  std::string message;
  std::optional<Phase> phase;
  int actions = 0;
  bool deleted = false;  // the spec key is gone
  // What the spec points at (empty when the spec is invalid), so the runtime can watch
  // the job's allocations and the service's health while a rollout is in progress.
  std::string nomad_namespace;
  std::string nomad_job;
  std::string service;

  // The rollout is mid-way (not Healthy, Degraded or InvalidSpec) and its spec names a
  // job: the runtime watches it while this holds.
  bool InProgress() const { return phase && reconcilers::InProgress(*phase) && !nomad_job.empty(); }
};

using NomadClientFor = std::function<nomad::NomadClient&(const std::string& namespace_)>;

class RolloutReconciler {
 public:
  RolloutReconciler(consul::ConsulClient& consul, NomadClientFor nomad,
                    prometheus::PrometheusClient* prometheus, Prober& prober,
                    std::function<TimePoint()> now, std::function<bool()> may_write,
                    ReconcilerOptions options, ReconcileListener* listener = nullptr);

  ReconcileOutcome Reconcile(const std::string& name,
                             const std::shared_ptr<http::CancelToken>& cancel = nullptr);

  // Builds the snapshot (public for tests and for `rolloutd --once`).
  clients::ApiResult<Snapshot> Observe(const std::string& name);

 private:
  // What a Rollout's spec pointed at when it was last observed. Observe starts the
  // cluster reads for it together with the KV reads (one round trip instead of two) and
  // uses them only when the spec it reads names the same target: a hint, never state.
  struct ClusterTarget {
    std::string nomad_namespace;
    std::string job;
    std::string service;
    bool operator==(const ClusterTarget&) const = default;
  };
  struct ClusterReads;
  ClusterReads StartClusterReads(const ClusterTarget& target);
  std::optional<ClusterTarget> LastTarget(const std::string& name);
  void RememberTarget(const std::string& name, std::optional<ClusterTarget> target);

  struct ActResult {
    bool ok = true;
    bool conflict = false;   // lost a CAS / EnforceIndex race: observe again at once
    std::string error_kind;  // when !ok && !conflict: see ReconcileOutcome::error_kind
    std::string message;
    std::vector<PendingMeasurement> measurements;
  };
  static ActResult Failed(std::string kind, std::string message) {
    ActResult r;
    r.ok = false;
    r.error_kind = std::move(kind);
    r.message = std::move(message);
    return r;
  }
  static ActResult Conflict(std::string message) {
    ActResult r;
    r.ok = false;
    r.conflict = true;
    r.message = std::move(message);
    return r;
  }
  ActResult Act(const Snapshot& snapshot, const Action& action,
                const std::shared_ptr<http::CancelToken>& cancel);
  ActResult ActOn(const Snapshot& s, const NoOp& noop,
                  const std::shared_ptr<http::CancelToken>& cancel);
  ActResult ActOn(const Snapshot& s, const WriteStatus& write,
                  const std::shared_ptr<http::CancelToken>& cancel);
  ActResult ActOn(const Snapshot& s, const RegisterJob& reg,
                  const std::shared_ptr<http::CancelToken>& cancel);
  ActResult ActOn(const Snapshot& s, const RunProbe& probe,
                  const std::shared_ptr<http::CancelToken>& cancel);
  ActResult ActOn(const Snapshot& s, const RunMetricQuery& query,
                  const std::shared_ptr<http::CancelToken>& cancel);

  consul::ConsulClient& consul_;
  NomadClientFor nomad_;
  prometheus::PrometheusClient* prometheus_;
  Prober& prober_;
  std::function<TimePoint()> now_;
  std::function<bool()> may_write_;
  ReconcilerOptions options_;
  ReconcileListener* listener_;

  std::mutex targets_mu_;
  std::map<std::string, ClusterTarget> last_target_;  // by Rollout; erased when its spec is
                                                      // gone or invalid

  // Logs the keys of a snapshot that could not be read, once per change (not at every
  // observe of a key that stays bad).
  void LogInvalidInputs(const Snapshot& s);
  std::mutex invalid_mu_;
  std::map<std::string, std::string> last_invalid_;  // by Rollout: what was last logged
};

// A NoOp's requeue, shortened so that it does not sleep past the next deadline of a
// rollout in progress (its current step's or its progress deadline): a deadline passing is
// not a change any watch sees, and the poll interval is long now that watches exist.
// A 0 (nothing scheduled) becomes the time to that deadline.
Duration CapAtDeadline(const Snapshot& snapshot, Duration requeue_after);

// fnmatch over "namespace/job".
bool JobAllowed(const std::vector<std::string>& globs, const std::string& namespace_,
                const std::string& job);

// "_nomad-task-<allocID>-group-<group>-<service>-<port>" -> allocID ("" if not that form).
std::string AllocIdFromServiceId(const std::string& service_id);

// The instances of a service from its unfiltered Consul health entries; the Nomad group of
// each comes from its allocation (alloc ID -> task group).
std::vector<ServiceInstance> InstancesFromHealth(
    const std::vector<consul::ServiceEntry>& entries,
    const std::map<std::string, std::string>& group_of_alloc);

}  // namespace rollouts::reconcilers
