#include "controller/leader_election.h"

#include <glog/logging.h>

#include <algorithm>

namespace rollouts::controller {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

milliseconds Until(Clock::TimePoint from, Clock::TimePoint to) {
  return std::max(milliseconds(0), duration_cast<milliseconds>(to - from));
}

// Consul says a session is gone with a 404 on renew; an acquire with an unknown session
// is refused with a 500 "invalid session" (classified as a bad request).
bool SessionGone(const clients::ApiError& e) {
  return e.kind == clients::ApiErrorKind::kNotFound || e.kind == clients::ApiErrorKind::kBadRequest;
}

}  // namespace

LeaderElector::LeaderElector(consul::ConsulClient& consul, LeaderElectionOptions options)
    : consul_(consul),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : SystemClock()),
      backoff_(options_.error_backoff, options_.uniform01) {}

milliseconds LeaderElector::Margin() const {
  if (options_.margin > milliseconds(0)) return options_.margin;
  return std::max<milliseconds>(duration_cast<milliseconds>(options_.ttl) / 10,
                                std::chrono::seconds(1));
}

bool LeaderElector::IsLeader() const {
  std::lock_guard lock(mu_);
  return leader_ && clock_.Now() < lease_deadline_;
}

std::string LeaderElector::SessionId() const {
  std::lock_guard lock(mu_);
  return session_;
}

std::string LeaderElector::LastStepDownReason() const {
  std::lock_guard lock(mu_);
  return last_reason_;
}

bool LeaderElector::SleepFor(milliseconds d, const http::CancelToken& stop) {
  return clock_.SleepFor(d, &stop);
}

void LeaderElector::BecomeLeader(Clock::TimePoint lease_start) {
  {
    std::lock_guard lock(mu_);
    leader_ = true;
    lease_deadline_ = lease_start + options_.ttl - Margin();
  }
  next_renew_ = lease_start + options_.ttl / 2;
  LOG(INFO) << "leader election: acquired " << options_.key << " with session " << SessionId();
  if (options_.on_started_leading) options_.on_started_leading();
}

void LeaderElector::StepDown(const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    if (!leader_) return;
    leader_ = false;
    last_reason_ = reason;
  }
  LOG(WARNING) << "leader election: stepping down from " << options_.key << ": " << reason;
  if (options_.on_stopped_leading) options_.on_stopped_leading(reason);
}

void LeaderElector::ReleaseAndDestroy(bool release_lock) {
  std::string session = SessionId();
  if (session.empty()) return;
  if (release_lock) {
    consul::PutOptions put;
    put.release = session;
    auto released = consul_.KvPut(options_.key, options_.holder, put);
    if (!released.ok()) {
      LOG(WARNING) << "leader election: release failed: " << released.error().ToString();
    }
  }
  // Destroying the session also frees the lock (behavior "release") if the release
  // above did not get through.
  auto destroyed = consul_.SessionDestroy(session);
  if (!destroyed.ok()) {
    LOG(WARNING) << "leader election: session destroy failed: " << destroyed.error().ToString();
  }
  std::lock_guard lock(mu_);
  session_.clear();
}

LeaderElector::Round LeaderElector::EnsureSession(const http::CancelToken& stop) {
  if (!SessionId().empty()) return Round::kContinue;
  consul::SessionRequest request;
  request.name = options_.session_name;
  request.ttl = options_.ttl;
  request.lock_delay = options_.lock_delay;
  request.behavior = "release";
  auto created = consul_.SessionCreate(request);
  if (!created.ok()) {
    LOG(WARNING) << "leader election: session create failed: " << created.error().ToString();
    return SleepFor(backoff_.Next(), stop) ? Round::kContinue : Round::kStop;
  }
  std::lock_guard lock(mu_);
  session_ = created.value();
  return Round::kContinue;
}

LeaderElector::Round LeaderElector::Campaign(const http::CancelToken& stop) {
  const Clock::TimePoint round_start = clock_.Now();
  const std::string session = SessionId();
  if (key_free_) {
    consul::PutOptions put;
    put.acquire = session;
    auto acquired = consul_.KvPut(options_.key, options_.holder, put);
    if (!acquired.ok()) {
      LOG(WARNING) << "leader election: acquire failed: " << acquired.error().ToString();
      if (SessionGone(acquired.error())) ReleaseAndDestroy(false);
      return SleepFor(backoff_.Next(), stop) ? Round::kContinue : Round::kStop;
    }
    if (acquired.value()) {
      backoff_.Reset();
      // Count the lease from before the acquire and renew at once: the session's own TTL
      // clock may have started up to one renew interval earlier.
      BecomeLeader(round_start);
      next_renew_ = round_start;
      return Round::kContinue;
    }
    // Refused: another session holds it, or LockDelay is still running. Look (without
    // blocking) at who holds it.
    key_free_ = false;
    watch_index_ = 0;
  }
  // Follower: keep our session alive, then wait for the lock to change hands.
  auto renewed = consul_.SessionRenew(session);
  if (!renewed.ok()) {
    LOG(WARNING) << "leader election: follower renew failed: " << renewed.error().ToString();
    if (SessionGone(renewed.error())) {
      std::lock_guard lock(mu_);
      session_.clear();
    }
    key_free_ = true;
    return SleepFor(backoff_.Next(), stop) ? Round::kContinue : Round::kStop;
  }
  consul::QueryOptions q;
  q.index = watch_index_;
  q.wait = duration_cast<milliseconds>(options_.ttl) / 2;
  auto holder = consul_.KvGet(options_.key, q);
  if (!holder.ok()) {
    if (holder.error().kind == clients::ApiErrorKind::kCancelled) return Round::kStop;
    LOG(WARNING) << "leader election: watch failed: " << holder.error().ToString();
    watch_index_ = 0;
    return SleepFor(backoff_.Next(), stop) ? Round::kContinue : Round::kStop;
  }
  backoff_.Reset();
  const auto& result = holder.value();
  // An index that goes backwards means Consul's state was reset: start over.
  watch_index_ = result.meta.index < watch_index_ ? 0 : result.meta.index;
  key_free_ = !result.value.has_value() || result.value->session.empty();
  // A free key whose acquire was refused is in LockDelay: retry at a gentle pace.
  milliseconds min_round = key_free_ ? options_.free_lock_retry : options_.min_follower_round;
  milliseconds elapsed = Until(round_start, clock_.Now());
  if (elapsed < min_round) {
    if (!SleepFor(min_round - elapsed, stop)) return Round::kStop;
  }
  return Round::kContinue;
}

LeaderElector::Round LeaderElector::Lead(const http::CancelToken& stop) {
  Clock::TimePoint deadline;
  {
    std::lock_guard lock(mu_);
    deadline = lease_deadline_;
  }
  // Wake for the next renew, or at the lease deadline when renewing keeps failing.
  Clock::TimePoint wake = std::min(next_renew_, deadline);
  if (!SleepFor(Until(clock_.Now(), wake), stop)) return Round::kStop;
  if (clock_.Now() >= deadline) {
    StepDown("could not renew the session before the lease deadline");
    ReleaseAndDestroy(true);
    key_free_ = true;
    return Round::kContinue;
  }
  if (clock_.Now() < next_renew_) return Round::kContinue;

  const Clock::TimePoint sent = clock_.Now();
  const std::string session = SessionId();
  auto renewed = consul_.SessionRenew(session);
  if (!renewed.ok()) {
    if (renewed.error().kind == clients::ApiErrorKind::kNotFound) {
      // Consul already invalidated the session, and with it our hold on the lock.
      StepDown("session " + session + " was invalidated");
      key_free_ = true;
      std::lock_guard lock(mu_);
      session_.clear();
      return Round::kContinue;
    }
    LOG(WARNING) << "leader election: renew failed: " << renewed.error().ToString();
    next_renew_ = clock_.Now() + backoff_.Next();  // Lead() caps the wait at the deadline
    return Round::kContinue;
  }
  backoff_.Reset();
  {
    std::lock_guard lock(mu_);
    lease_deadline_ = sent + options_.ttl - Margin();
  }
  next_renew_ = sent + options_.ttl / 2;
  // The lock belongs to the session, but someone may have deleted or overwritten the key
  // (an operator, a bad script). Confirm we still hold it.
  auto holder = consul_.KvGet(options_.key, consul::QueryOptions{});
  if (holder.ok()) {
    const auto& kv = holder.value().value;
    if (!kv.has_value() || kv->session != session) {
      StepDown("the lock on " + options_.key + " is no longer held by our session");
      key_free_ = !kv.has_value() || kv->session.empty();
      watch_index_ = 0;
    }
  }
  return Round::kContinue;
}

void LeaderElector::Run(const std::shared_ptr<http::CancelToken>& stop) {
  while (!stop->cancelled()) {
    if (EnsureSession(*stop) == Round::kStop) break;
    if (SessionId().empty()) continue;
    bool leading;
    {
      std::lock_guard lock(mu_);
      leading = leader_;
    }
    Round round = leading ? Lead(*stop) : Campaign(*stop);
    if (round == Round::kStop) break;
  }
  bool was_leader;
  {
    std::lock_guard lock(mu_);
    was_leader = leader_;
  }
  StepDown("shutting down");
  ReleaseAndDestroy(was_leader);
}

}  // namespace rollouts::controller
