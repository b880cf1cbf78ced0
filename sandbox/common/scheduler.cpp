#include "sandbox/common/scheduler.h"

namespace rollouts::sandbox {

Scheduler::Scheduler() : thread_([this] { Run(); }) {}

Scheduler::~Scheduler() {
  Stop();
}

Scheduler::TimerId Scheduler::At(Clock::time_point when, std::function<void()> callback) {
  std::lock_guard<std::mutex> lock(mu_);
  TimerId id = next_id_++;
  if (stopping_) return id;
  by_time_.emplace(when, id);
  timers_.emplace(id, std::make_pair(when, std::move(callback)));
  cv_.notify_one();
  return id;
}

bool Scheduler::Cancel(TimerId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = timers_.find(id);
  if (it == timers_.end()) return false;
  auto [first, last] = by_time_.equal_range(it->second.first);
  for (auto t = first; t != last; ++t) {
    if (t->second == id) {
      by_time_.erase(t);
      break;
    }
  }
  timers_.erase(it);
  return true;
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    by_time_.clear();
    timers_.clear();
    cv_.notify_one();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Scheduler::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (by_time_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto next = by_time_.begin();
    if (next->first > Clock::now()) {
      // A copy: wait_until reads its deadline again after waking, and a Cancel while the
      // lock is released frees the map node the key lives in.
      const Clock::time_point deadline = next->first;
      cv_.wait_until(lock, deadline);
      continue;
    }
    TimerId id = next->second;
    by_time_.erase(next);
    auto node = timers_.extract(id);
    lock.unlock();
    if (!node.empty()) node.mapped().second();
    lock.lock();
  }
}

}  // namespace rollouts::sandbox
