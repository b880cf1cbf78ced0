#include "controller/work_queue.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

namespace rollouts::controller {
namespace {

std::function<double()> DefaultUniform01() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

double Seconds(Clock::TimePoint from, Clock::TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

// ---------------------------------------------------------------------------------------

ItemBackoff::ItemBackoff(ItemBackoffOptions options, std::function<double()> uniform01)
    : options_(options), uniform01_(uniform01 ? std::move(uniform01) : DefaultUniform01()) {}

std::chrono::milliseconds ItemBackoff::When(const std::string& key) {
  int failures = failures_[key]++;
  // Computed in floating point: 2^failures overflows integers long before the cap.
  double capped =
      std::min(static_cast<double>(options_.base.count()) * std::pow(2.0, std::min(failures, 64)),
               static_cast<double>(options_.max.count()));
  double jitter = std::clamp(options_.jitter, 0.0, 1.0);
  double delay = capped * (1.0 - jitter * uniform01_());
  return std::chrono::milliseconds(static_cast<int64_t>(delay));
}

void ItemBackoff::Forget(const std::string& key) {
  failures_.erase(key);
}

int ItemBackoff::Failures(const std::string& key) const {
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

// ---------------------------------------------------------------------------------------

TokenBucket::TokenBucket(TokenBucketOptions options, Clock::TimePoint now)
    : options_(options), tokens_(std::max(options.burst, 1)), last_(now) {}

std::chrono::nanoseconds TokenBucket::Reserve(Clock::TimePoint now) {
  if (options_.qps <= 0) return std::chrono::nanoseconds(0);
  if (now > last_) {
    tokens_ = std::min(static_cast<double>(std::max(options_.burst, 1)),
                       tokens_ + Seconds(last_, now) * options_.qps);
    last_ = now;
  }
  // Reservations may drive the balance negative: each caller waits for its own token,
  // in order, rather than all retrying at the same refill instant.
  tokens_ -= 1.0;
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(-tokens_ / options_.qps));
}

// ---------------------------------------------------------------------------------------

WorkQueue::WorkQueue(WorkQueueOptions options, const Clock* clock, WorkQueueMetricsSink* metrics)
    : clock_(clock != nullptr ? *clock : SystemClock()),
      metrics_(metrics != nullptr ? metrics : &no_metrics_),
      backoff_(options.backoff, options.uniform01),
      bucket_(options.bucket, clock_.Now()) {}

WorkQueue::~WorkQueue() {
  ShutDown();
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  AddLocked(key, clock_.Now());
}

void WorkQueue::AddBackground(const std::string& key) {
  std::lock_guard lock(mu_);
  if (shutting_down_ || dirty_.contains(key)) return;
  dirty_.insert(key);
  metrics_->Added();
  if (processing_.contains(key)) return;  // Done() re-queues it
  background_.push_back(key);
  in_background_.insert(key);
  queued_at_[key] = clock_.Now();
  ReportDepthLocked();
  cv_.notify_all();
}

void WorkQueue::AddLocked(const std::string& key, Clock::TimePoint now) {
  if (in_background_.erase(key) > 0) {
    // Queued by a resync: move it forward, keeping the time it has waited.
    background_.erase(std::find(background_.begin(), background_.end(), key));
    queue_.push_back(key);
    cv_.notify_all();
    return;
  }
  if (dirty_.contains(key)) return;  // already queued, or re-queued after Done
  dirty_.insert(key);
  metrics_->Added();
  if (processing_.contains(key)) return;  // Done() re-queues it
  queue_.push_back(key);
  queued_at_[key] = now;
  ReportDepthLocked();
  cv_.notify_all();
}

void WorkQueue::AddAfter(const std::string& key, std::chrono::nanoseconds delay) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  Clock::TimePoint now = clock_.Now();
  if (delay <= std::chrono::nanoseconds(0)) {
    AddLocked(key, now);
    return;
  }
  Clock::TimePoint ready_at = now + std::chrono::duration_cast<Clock::TimePoint::duration>(delay);
  auto it = waiting_until_.find(key);
  if (it != waiting_until_.end() && it->second <= ready_at) return;  // earlier one wins
  waiting_until_[key] = ready_at;
  waiting_.push(Waiting{ready_at, key});
  cv_.notify_all();  // a Get() may be sleeping until a later ready time
}

void WorkQueue::AddRateLimited(const std::string& key) {
  std::chrono::nanoseconds delay;
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    metrics_->Retried();
    delay = std::max<std::chrono::nanoseconds>(backoff_.When(key), bucket_.Reserve(clock_.Now()));
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  backoff_.Forget(key);
}

int WorkQueue::NumRequeues(const std::string& key) const {
  std::lock_guard lock(mu_);
  return backoff_.Failures(key);
}

void WorkQueue::PromoteReadyLocked(Clock::TimePoint now) {
  while (!waiting_.empty() && waiting_.top().ready_at <= now) {
    Waiting top = waiting_.top();
    waiting_.pop();
    auto it = waiting_until_.find(top.key);
    if (it == waiting_until_.end() || it->second != top.ready_at) continue;  // superseded
    waiting_until_.erase(it);
    AddLocked(top.key, now);
  }
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock lock(mu_);
  while (true) {
    if (shutting_down_) return std::nullopt;
    Clock::TimePoint now = clock_.Now();
    PromoteReadyLocked(now);
    if (!queue_.empty() || !background_.empty()) {
      auto& lane = queue_.empty() ? background_ : queue_;
      std::string key = std::move(lane.front());
      lane.pop_front();
      in_background_.erase(key);
      dirty_.erase(key);
      processing_.insert(key);
      auto queued = queued_at_.find(key);
      if (queued != queued_at_.end()) {
        metrics_->ObserveWait(Seconds(queued->second, now));
        queued_at_.erase(queued);
      }
      started_at_[key] = now;
      ReportDepthLocked();
      return key;
    }
    if (!waiting_.empty()) {
      clock_.WaitUntil(cv_, lock, waiting_.top().ready_at);
    } else {
      cv_.wait(lock);
    }
  }
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard lock(mu_);
  if (processing_.erase(key) == 0) return;  // not handed out: nothing to finish
  Clock::TimePoint now = clock_.Now();
  auto started = started_at_.find(key);
  if (started != started_at_.end()) {
    metrics_->ObserveWorkDuration(Seconds(started->second, now));
    started_at_.erase(started);
  }
  if (dirty_.contains(key)) {
    if (shutting_down_) {
      dirty_.erase(key);
    } else {
      queue_.push_back(key);
      queued_at_[key] = now;
      ReportDepthLocked();
    }
  }
  cv_.notify_all();  // a worker may take the re-queued key; a drain may be waiting
}

void WorkQueue::ShutDown() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  queue_.clear();
  background_.clear();
  in_background_.clear();
  queued_at_.clear();
  // Keys in flight stay in processing_ until Done; nothing is re-queued after this.
  dirty_.clear();
  waiting_ = {};
  waiting_until_.clear();
  ReportDepthLocked();
  cv_.notify_all();
}

bool WorkQueue::ShutDownWithDrain(std::chrono::nanoseconds timeout) {
  ShutDown();
  std::unique_lock lock(mu_);
  Clock::TimePoint deadline =
      clock_.Now() + std::chrono::duration_cast<Clock::TimePoint::duration>(timeout);
  while (!processing_.empty()) {
    if (clock_.Now() >= deadline) return false;
    clock_.WaitUntil(cv_, lock, deadline);
  }
  return true;
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

size_t WorkQueue::Len() const {
  std::lock_guard lock(mu_);
  return queue_.size() + background_.size();
}

size_t WorkQueue::NumWaiting() const {
  std::lock_guard lock(mu_);
  return waiting_until_.size();
}

size_t WorkQueue::NumProcessing() const {
  std::lock_guard lock(mu_);
  return processing_.size();
}

void WorkQueue::ReportDepthLocked() {
  metrics_->SetDepth(static_cast<int64_t>(queue_.size() + background_.size()));
}

}  // namespace rollouts::controller
