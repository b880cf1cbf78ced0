// Leader election on a Consul lock: a session (TTL, LockDelay, behavior "release") that
// acquires <prefix>leader. Only the leader reconciles.
//
// Safety rule: a leader stops acting before Consul could hand the lock to someone else.
// Consul invalidates a TTL session no earlier than TTL after its last renew, so the
// leadership lease ends at (start of the last successful renew) + TTL - margin. IsLeader()
// compares against that deadline on every call, so even a renew loop stuck in a hung
// request cannot keep a stale leader writing; the loop also steps down explicitly (and
// reports why) when it cannot renew in time.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "clients/consul/consul_client.h"
#include "clients/http/cancel.h"
#include "clients/http/retry.h"
#include "controller/clock.h"

namespace rollouts::controller {

struct LeaderElectionOptions {
  std::string key;                        // e.g. "rollouts/leader"
  std::string holder;                     // written into the key: who leads (host, pid)
  std::string session_name = "rolloutd";  // shown in Consul's session list
  std::chrono::seconds ttl{15};
  std::chrono::milliseconds lock_delay{std::chrono::seconds(15)};
  // Lease safety margin (request latency, clock rate differences). 0: ttl / 10, >= 1s.
  std::chrono::milliseconds margin{0};
  // Backoff after errors (create, acquire, renew, watch), jittered.
  http::BackoffPolicy error_backoff{std::chrono::milliseconds(500), std::chrono::seconds(5), 2.0,
                                    0.5};
  // When the key is free but the acquire is refused (LockDelay after a release or an
  // invalidated session), retry this often.
  std::chrono::milliseconds free_lock_retry{std::chrono::seconds(1)};
  // A follower's watch round lasts at least this long, so a watch that returns at once
  // (index moved, or a fake in tests) cannot spin.
  std::chrono::milliseconds min_follower_round{std::chrono::milliseconds(200)};
  const Clock* clock = nullptr;              // default: SystemClock()
  std::function<double()> uniform01;         // jitter source; default: random
  std::function<void()> on_started_leading;  // called from the Run() thread
  std::function<void(const std::string& reason)> on_stopped_leading;
};

class LeaderElector {
 public:
  LeaderElector(consul::ConsulClient& consul, LeaderElectionOptions options);

  // Campaigns, leads and renews until `stop` is cancelled; then steps down, releases the
  // lock and destroys the session. Call from one thread.
  void Run(const std::shared_ptr<http::CancelToken>& stop);

  // True only while this instance holds the lock and its lease has not run out. Check it
  // before every write.
  bool IsLeader() const;
  std::string SessionId() const;
  std::string LastStepDownReason() const;

 private:
  enum class Round { kContinue, kStop };

  Round EnsureSession(const http::CancelToken& stop);
  Round Campaign(const http::CancelToken& stop);
  Round Lead(const http::CancelToken& stop);
  void BecomeLeader(Clock::TimePoint lease_start);
  void StepDown(const std::string& reason);
  // Best effort: release the key (if held) and destroy the session.
  void ReleaseAndDestroy(bool release_lock);
  bool SleepFor(std::chrono::milliseconds d, const http::CancelToken& stop);
  std::chrono::milliseconds Margin() const;

  consul::ConsulClient& consul_;
  LeaderElectionOptions options_;
  const Clock& clock_;
  http::Backoff backoff_;

  mutable std::mutex mu_;
  std::string session_;
  bool leader_ = false;
  Clock::TimePoint lease_deadline_{};
  std::string last_reason_;

  // Owned by the Run() thread.
  Clock::TimePoint next_renew_{};
  uint64_t watch_index_ = 0;
  bool key_free_ = true;
};

}  // namespace rollouts::controller
