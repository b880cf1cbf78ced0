// A cancellation flag that blocking operations (HTTP requests, waits, backoff sleeps)
// observe. Cancelling runs the registered callbacks once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace rollouts::http {

class CancelToken {
 public:
  void Cancel();
  bool cancelled() const;
  // Runs fn at cancellation (immediately if already cancelled). Returns an id for
  // Unsubscribe.
  int Subscribe(std::function<void()> fn);
  // After Unsubscribe returns, the callback is not running and will not run: a Cancel()
  // on another thread that already took it is waited for, since the callback usually
  // refers to the subscriber's stack. (Called from within a callback, it does not wait.)
  void Unsubscribe(int id);
  // Sleeps up to d; returns false if cancelled first.
  bool SleepFor(std::chrono::milliseconds d) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool cancelled_ = false;
  bool running_callbacks_ = false;  // Cancel() is running the callbacks it took
  std::thread::id canceller_;
  int next_id_ = 0;
  std::map<int, std::function<void()>> callbacks_;
};

}  // namespace rollouts::http
