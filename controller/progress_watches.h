// Blocking watches on what a rollout in progress waits for, so that a change reconciles it
// at once instead of at its next poll:
//  - Nomad  GET /v1/job/<job>/allocations?index=  (namespace of the spec): placements,
//    client status, deployment health, restarts;
//  - Consul GET /v1/health/service/<service>?index=  UNFILTERED (docs/design.md "Lessons": a
//    blocking ?tag= query kept stale matches on Consul 1.10): instances, tags, checks;
//  - Consul GET /v1/kv/<prefix>routers/?recurse&index=: the routers' reports, which the
//    flip and the drain wait for.
//
// One watch per target, shared by every rollout that points at it (two rollouts of one job
// share its allocations watch; the routers watch is shared by all). A watch starts when
// its first rollout enters progress (Track) and is cancelled and joined when the last one
// leaves it: finished, deleted, or leadership lost (Untrack / UntrackAll).
//
// A change is decided on content, not on the index alone (Nomad's allocation index is that
// of the whole table, and Consul's index is only a hint), and each change enqueues every
// rollout of the watch. The first answer of a new watch enqueues too: it closes the gap
// between the reconcile that started the watch and the watch's first read.
//
// Threads: one per watch. The HTTP layer is synchronous and a blocking query holds its
// caller for up to `wait` (5 min), so a pool smaller than the number of watches would
// starve some of them; instead the number of watches is capped (max_watches, default 64:
// each one also holds an HTTP connection open, and Consul allows 200 per client address
// by default, http_max_conns_per_client). A rollout whose watches could not all start is
// not Covered(): the runtime keeps polling it at the short interval, as before watches.
//
// Every query has a deadline (wait + wait/16 + the client's request timeout); errors back
// off with jitter (BlockingWatcher's policy) and are counted in rollouts_watch_errors_total
// {watch, kind} with watch = allocations | health | routers and kind = the ApiErrorKindName.
// rollouts_watch_last_success_timestamp_seconds{watch} is the oldest last answer among the
// running watches of that kind (one that has not answered yet counts from its start), so a
// stalled one shows; the series is removed when no watch of the kind runs, so an idle
// controller does not look stalled.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "clients/consul/consul_client.h"
#include "clients/http/cancel.h"
#include "clients/http/retry.h"
#include "clients/nomad/nomad_client.h"
#include "controller/metrics.h"

namespace rollouts::controller {

// What a rollout in progress points at (from its spec).
struct WatchTarget {
  std::string nomad_namespace;
  std::string nomad_job;
  std::string service;
  bool operator==(const WatchTarget&) const = default;
};

struct ProgressWatchOptions {
  std::string kv_prefix = "rollouts/";  // the routers watch lists <prefix>routers/
  std::chrono::milliseconds wait{std::chrono::minutes(5)};
  // Minimum gap between two queries of one watch (rate limit of wake-ups).
  std::chrono::milliseconds min_interval{std::chrono::milliseconds(100)};
  http::BackoffPolicy error_backoff{std::chrono::milliseconds(250), std::chrono::seconds(30), 2.0,
                                    0.5};
  size_t max_watches = 64;
  // Tests: the jitter source of the error backoff, and the sleep used for pacing and
  // backoff (it must return false once the watch is cancelled; default: the watch's
  // cancel token).
  std::function<double()> uniform01;
  std::function<bool(std::chrono::milliseconds, const http::CancelToken&)> sleep;
};

class ProgressWatches {
 public:
  using NomadFor = std::function<nomad::NomadClient&(const std::string& namespace_)>;
  using Enqueue = std::function<void(const std::string& rollout)>;

  // metrics may be null.
  ProgressWatches(consul::ConsulClient& consul, NomadFor nomad, Enqueue enqueue,
                  ProgressWatchOptions options, ControllerMetrics* metrics);
  ~ProgressWatches();  // UntrackAll
  ProgressWatches(const ProgressWatches&) = delete;
  ProgressWatches& operator=(const ProgressWatches&) = delete;

  // The rollout is in progress on target: subscribe it to the target's watches (starting
  // them as needed) and leave the watches of a previous target. Idempotent.
  void Track(const std::string& rollout, const WatchTarget& target);
  // The rollout finished, was deleted or is not ours: leave its watches; a watch left
  // without rollouts is cancelled and joined before this returns.
  void Untrack(const std::string& rollout);
  // Leadership lost or shutting down: stop every watch.
  void UntrackAll();

  // Every watch the rollout needs runs and its last query succeeded: a change will be
  // seen, so the rollout does not need the short poll.
  bool Covered(const std::string& rollout) const;

  // The first running watch whose last answer (or start, while it has none) is older than
  // `max_age` at `now`, described for /readyz ("health hello: no answer for 412 s");
  // nullopt when every watch answered in time. A blocking query answers at the latest
  // after its wait, so an older one is stuck (or failing and backing off).
  std::optional<std::string> Stalled(std::chrono::steady_clock::time_point now,
                                     std::chrono::milliseconds max_age) const;

  // Keys of the running watches ("allocations <namespace>/<job>", "health <service>",
  // "routers"), and the rollouts subscribed to one.
  std::vector<std::string> RunningWatches() const;
  std::set<std::string> Subscribers(const std::string& watch_key) const;

 private:
  struct Watch;
  struct Subscription {
    std::set<std::string> keys;  // watches this rollout is subscribed to
    bool complete = false;       // all the watches its target needs (none was capped)
  };

  void Run(Watch& w);
  template <typename T>
  void Loop(
      Watch& w,
      std::function<clients::ApiResult<consul::QueryResult<T>>(const consul::QueryOptions&)> fetch,
      const std::function<std::string(const T&)>& fingerprint);
  void OnAnswer(Watch& w, bool changed);
  void OnError(Watch& w, const clients::ApiError& error);
  // Leaves key; moves the watch into `retired` when nobody is left. Needs mu_.
  void UnsubscribeLocked(const std::string& rollout, const std::string& key,
                         std::vector<std::unique_ptr<Watch>>& retired);
  // Cancels and joins (without mu_), then refreshes the metrics of their kinds.
  void StopRetired(std::vector<std::unique_ptr<Watch>> retired);
  // Exports the oldest last answer of the running watches of `kind` (or forgets the
  // series when none runs). Needs mu_.
  void ExportFreshnessLocked(const std::string& kind);

  consul::ConsulClient& consul_;
  NomadFor nomad_;
  Enqueue enqueue_;
  ProgressWatchOptions options_;
  ControllerMetrics* metrics_;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Watch>> watches_;  // by key
  std::map<std::string, Subscription> subscriptions_;      // by rollout
  bool warned_cap_ = false;
};

}  // namespace rollouts::controller
