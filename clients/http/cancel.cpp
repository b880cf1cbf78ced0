#include "clients/http/cancel.h"

#include <vector>

namespace rollouts::http {

void CancelToken::Cancel() {
  std::map<int, std::function<void()>> callbacks;
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    callbacks.swap(callbacks_);
    running_callbacks_ = true;
    canceller_ = std::this_thread::get_id();
  }
  cv_.notify_all();
  for (auto& [id, fn] : callbacks) fn();
  {
    std::lock_guard lock(mu_);
    running_callbacks_ = false;
  }
  cv_.notify_all();
}

bool CancelToken::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

int CancelToken::Subscribe(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (!cancelled_) {
      int id = next_id_++;
      callbacks_.emplace(id, std::move(fn));
      return id;
    }
  }
  fn();
  return -1;
}

void CancelToken::Unsubscribe(int id) {
  std::unique_lock lock(mu_);
  callbacks_.erase(id);
  if (canceller_ != std::this_thread::get_id()) {
    cv_.wait(lock, [this] { return !running_callbacks_; });
  }
}

bool CancelToken::SleepFor(std::chrono::milliseconds d) const {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return cancelled_; });
}

}  // namespace rollouts::http
