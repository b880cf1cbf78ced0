// The controller's event loop: watches feed the work queue, workers reconcile.
//
// - One recursive blocking query each on <prefix>spec/ and <prefix>control/. A change
//   enqueues only the Rollouts whose key was added, modified or deleted (compared by
//   ModifyIndex), so one edit does not reconcile all of them.
// - A periodic resync enqueues every known Rollout (level-triggered safety net).
// - Workers run the reconcile function only while this instance is the leader; a key
//   taken by a non-leader is dropped, and becoming leader enqueues everything again.
// - Errors retry with the queue's per-key backoff; requeue_after schedules a revisit.
// - While a reconcile says its Rollout is in progress (ReconcileResult::progress), the
//   Rollout is tracked by ProgressWatches (blocking queries on its job's allocations, its
//   service's health and the router reports; progress_watches.h): a change there enqueues
//   it. Its requeue_after is then only a safety net; when its watches are not live (not
//   started yet, failing, or over the cap) the requeue is shortened to unwatched_poll, the
//   poll interval of the time before watches. Tracking ends when the Rollout finishes, is
//   deleted, or this instance is not the leader.
// The spec/control watches run on followers too, so a standby is warm and /readyz reflects
// them; the progress watches run only on the leader.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "clients/consul/consul_client.h"
#include "clients/http/cancel.h"
#include "controller/http_endpoints.h"
#include "controller/metrics.h"
#include "controller/progress_watches.h"
#include "controller/work_queue.h"

namespace rollouts::reconcilers {
struct ReconcileOutcome;
}  // namespace rollouts::reconcilers

namespace rollouts::controller {

struct ReconcileResult {
  bool error = false;
  std::string error_kind;  // for metrics: an ApiErrorKindName, "internal", ...
  std::string message;
  std::chrono::milliseconds requeue_after{0};
  bool deleted = false;  // the Rollout is gone: drop its metric series
  // Set while the Rollout is in progress: what to watch for it.
  std::optional<WatchTarget> progress;
};

// The runtime's view of a reconciler outcome (error kind, requeue, deletion, progress).
ReconcileResult ResultOf(const reconcilers::ReconcileOutcome& outcome);

using ReconcileFn = std::function<ReconcileResult(
    const std::string& name, const std::shared_ptr<http::CancelToken>& cancel)>;

struct RuntimeOptions {
  std::string kv_prefix = "rollouts/";
  int workers = 4;
  std::chrono::milliseconds resync{std::chrono::minutes(5)};
  std::chrono::milliseconds watch_wait{std::chrono::minutes(5)};
  // Minimum gap between two queries of one watch.
  std::chrono::milliseconds watch_min_interval{std::chrono::milliseconds(100)};
  // /readyz: a watch is live while its last answer is younger than its wait + wait/16 (the
  // latest a blocking query answers) + this (latency and an error backoff).
  std::chrono::milliseconds watch_slack{std::chrono::seconds(30)};
  WorkQueueOptions queue;
  // Watches of rollouts in progress (kv_prefix is taken from above).
  ProgressWatchOptions progress;
  // The requeue of a rollout in progress whose watches are not live.
  std::chrono::milliseconds unwatched_poll{std::chrono::seconds(2)};
};

class ControllerRuntime {
 public:
  // Without nomad (empty), no progress watches run: rollouts in progress are polled at
  // unwatched_poll.
  ControllerRuntime(consul::ConsulClient& consul, ReconcileFn reconcile, RuntimeOptions options,
                    ControllerMetrics* metrics, std::function<bool()> is_leader,
                    ProgressWatches::NomadFor nomad = {});
  ~ControllerRuntime();

  void Start();
  // Stops the watches, lets in-flight reconciles finish (bounded by drain_timeout) and
  // joins every thread. Returns true when nothing was cut short.
  bool Stop(std::chrono::milliseconds drain_timeout);

  // Enqueues every known Rollout (called when leadership is gained).
  void EnqueueAll();
  // The periodic resync: every known Rollout in the queue's background lane, so that
  // watch events and control requests are not held behind it.
  void ResyncAll();
  void Enqueue(const std::string& name) { queue_.Add(name); }
  // Stops the progress watches (call when leadership is lost; they restart with the
  // reconciles of the next leader term).
  void LeadershipLost();

  // Watches live: the spec and control watches, and the progress watches of rollouts in
  // progress, have each answered within their wait plus slack.
  Readiness WatchesLive() const;
  std::set<std::string> KnownRollouts() const;
  WorkQueue& queue() { return queue_; }
  ProgressWatches* progress_watches() { return progress_.get(); }

 private:
  void WatchLoop(const std::string& watch, const std::string& prefix);
  void WorkerLoop();
  void ResyncLoop();
  // After a reconcile: track or untrack the Rollout; may shorten result.requeue_after.
  void FollowProgress(const std::string& name, ReconcileResult& result);

  consul::ConsulClient& consul_;
  ReconcileFn reconcile_;
  RuntimeOptions options_;
  ControllerMetrics* metrics_;
  std::function<bool()> is_leader_;
  WorkQueue queue_;
  std::unique_ptr<ProgressWatches> progress_;  // null without a Nomad client
  std::shared_ptr<http::CancelToken> stop_ = std::make_shared<http::CancelToken>();
  // Given to reconciles; cancelled only when a drain runs out of time, so a SIGTERM lets
  // the current step finish.
  std::shared_ptr<http::CancelToken> work_cancel_ = std::make_shared<http::CancelToken>();
  std::vector<std::thread> threads_;
  std::vector<std::thread> workers_;

  mutable std::mutex mu_;
  // watch -> (rollout -> ModifyIndex) of the last listing.
  std::map<std::string, std::map<std::string, uint64_t>> seen_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_success_;
  std::set<std::string> known_;  // names under spec/
};

}  // namespace rollouts::controller
