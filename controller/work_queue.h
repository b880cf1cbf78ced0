// A controller-runtime style work queue of string keys (Rollout names).
//
// - Deduplicated: adding a key that is already queued is a no-op.
// - At most one worker per key: a key handed out by Get() is "processing" until Done();
//   adding it meanwhile marks it dirty, and Done() re-queues it once. Reconcilers are
//   level-triggered, so several events collapse into one reconcile of the latest state.
// - Two lanes: keys added with AddBackground (the periodic resync) are handed out only
//   when no ordinary key is ready, and an ordinary Add of a key waiting in the background
//   lane moves it forward. A resync of 1,000 idle Rollouts then cannot delay a spec
//   change or a control request behind it (bench/controller measured 60-118 s before).
// - AddAfter(key, delay) holds a key back (requeue-after, resync); the earliest pending
//   time of a key wins.
// - AddRateLimited(key): the delay is the larger of the key's exponential backoff (with
//   jitter, grows per failure until Forget) and a global token bucket shared by all keys,
//   so a storm of failing Rollouts cannot hammer Consul and Nomad.
// - ShutDownWithDrain: stop accepting and handing out keys, wait for in-flight work to
//   finish (bounded by a deadline). Queued keys are dropped on purpose: the state lives in
//   Consul and Nomad, and the next leader resyncs everything.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "controller/clock.h"

namespace rollouts::controller {

// Receives the queue's measurements (the Prometheus binding lives in metrics.h).
class WorkQueueMetricsSink {
 public:
  virtual ~WorkQueueMetricsSink() = default;
  virtual void SetDepth(int64_t /*depth*/) {}
  virtual void Added() {}
  // Time from the key becoming ready in the queue to a worker taking it.
  virtual void ObserveWait(double /*seconds*/) {}
  // Time from Get() to Done().
  virtual void ObserveWorkDuration(double /*seconds*/) {}
  virtual void Retried() {}
};

struct ItemBackoffOptions {
  std::chrono::milliseconds base{200};
  std::chrono::milliseconds max{std::chrono::seconds(300)};
  // Each delay is drawn uniformly from [d * (1 - jitter), d]: retries of many keys that
  // failed together spread out instead of arriving together.
  double jitter = 0.2;
};

struct TokenBucketOptions {
  double qps = 10.0;  // sustained rate of rate-limited adds; <= 0 disables the bucket
  int burst = 100;    // tokens available at once
};

struct WorkQueueOptions {
  ItemBackoffOptions backoff;
  TokenBucketOptions bucket;
  // Returns a value in [0, 1) for the jitter; tests pass a fixed one.
  std::function<double()> uniform01;
};

// Per-key exponential backoff: base * 2^failures, capped, jittered.
class ItemBackoff {
 public:
  ItemBackoff(ItemBackoffOptions options, std::function<double()> uniform01);
  // The delay for the key's next retry; counts one more failure.
  std::chrono::milliseconds When(const std::string& key);
  void Forget(const std::string& key);
  int Failures(const std::string& key) const;

 private:
  ItemBackoffOptions options_;
  std::function<double()> uniform01_;
  std::unordered_map<std::string, int> failures_;
};

// A token bucket that hands out reservations: when empty, the caller is told how long to
// wait for its token instead of being refused.
class TokenBucket {
 public:
  TokenBucket(TokenBucketOptions options, Clock::TimePoint now);
  std::chrono::nanoseconds Reserve(Clock::TimePoint now);

 private:
  TokenBucketOptions options_;
  double tokens_;
  Clock::TimePoint last_;
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {}, const Clock* clock = nullptr,
                     WorkQueueMetricsSink* metrics = nullptr);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& key);
  // Low priority: handed out after every ordinary key (see the lanes above).
  void AddBackground(const std::string& key);
  void AddAfter(const std::string& key, std::chrono::nanoseconds delay);
  // After a failed reconcile: retry with the key's backoff and the global rate limit.
  void AddRateLimited(const std::string& key);
  // After a successful reconcile: reset the key's backoff.
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;

  // Blocks until a key is ready (returns it, marked processing) or the queue shuts down
  // (returns nullopt). Every returned key must be passed to Done().
  std::optional<std::string> Get();
  void Done(const std::string& key);

  // Stops accepting and handing out keys; does not wait for in-flight work.
  void ShutDown();
  // ShutDown, then waits until no key is processing or `timeout` passes (on the queue's
  // clock). Returns true when everything in flight finished.
  bool ShutDownWithDrain(std::chrono::nanoseconds timeout);
  bool ShuttingDown() const;

  size_t Len() const;            // keys ready to be handed out (both lanes)
  size_t NumWaiting() const;     // keys held back by AddAfter
  size_t NumProcessing() const;  // keys handed out and not Done yet

 private:
  struct Waiting {
    Clock::TimePoint ready_at;
    std::string key;
    bool operator>(const Waiting& o) const { return ready_at > o.ready_at; }
  };

  void AddLocked(const std::string& key, Clock::TimePoint now);
  void PromoteReadyLocked(Clock::TimePoint now);
  void ReportDepthLocked();

  const Clock& clock_;
  WorkQueueMetricsSink* metrics_;
  WorkQueueMetricsSink no_metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::deque<std::string> background_;             // the low-priority lane
  std::unordered_set<std::string> in_background_;  // keys queued in background_
  std::unordered_set<std::string> dirty_;          // queued or to re-queue after Done
  std::unordered_set<std::string> processing_;     // handed out, not Done yet
  std::unordered_map<std::string, Clock::TimePoint> queued_at_;
  std::unordered_map<std::string, Clock::TimePoint> started_at_;
  // Delayed keys: a min-heap by ready time plus the earliest time per key, so a key
  // delayed twice is held once (stale heap entries are skipped).
  std::priority_queue<Waiting, std::vector<Waiting>, std::greater<>> waiting_;
  std::unordered_map<std::string, Clock::TimePoint> waiting_until_;
  ItemBackoff backoff_;
  TokenBucket bucket_;
  bool shutting_down_ = false;
};

}  // namespace rollouts::controller
