// One timer thread that runs short callbacks at a given time. The sandbox parks blocking
// queries and session TTLs on it instead of holding a thread per waiter, so thousands of
// parked queries cost nothing but an entry in a map.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace rollouts::sandbox {

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = uint64_t;

  Scheduler();
  ~Scheduler();  // Stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Runs `callback` on the timer thread at `when` (callbacks must be short and must not
  // call Stop). Returns an id for Cancel.
  TimerId At(Clock::time_point when, std::function<void()> callback);
  TimerId After(Clock::duration delay, std::function<void()> callback) {
    return At(Clock::now() + delay, std::move(callback));
  }
  // True when the timer was still pending (and will now never run).
  bool Cancel(TimerId id);
  // Drops every pending timer and joins the thread. Idempotent.
  void Stop();

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  TimerId next_id_ = 1;
  std::multimap<Clock::time_point, TimerId> by_time_;
  std::map<TimerId, std::pair<Clock::time_point, std::function<void()>>> timers_;
  std::thread thread_;
};

}  // namespace rollouts::sandbox
