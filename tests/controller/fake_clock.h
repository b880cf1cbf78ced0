// A manually advanced Clock for tests. Waits poll in short real-time slices so a test
// thread advancing the clock wakes them without a lost-wakeup race; SleepFor advances the
// clock by the requested time (a sleeping component "lets time pass" instantly).
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "controller/clock.h"

namespace rollouts::controller::testing {

class FakeClock : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(std::chrono::nanoseconds(now_ns_.load())); }

  void Advance(std::chrono::nanoseconds d) { now_ns_ += d.count(); }

  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint /*deadline*/) const override {
    cv.wait_for(lock, std::chrono::milliseconds(1));
  }

  bool SleepFor(std::chrono::milliseconds d, const http::CancelToken* cancel) const override {
    if (cancel != nullptr && cancel->cancelled()) return false;
    sleeps_.fetch_add(1);
    const_cast<FakeClock*>(this)->Advance(d);
    // Yield real time so other threads (the test) get to run between iterations.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    return cancel == nullptr || !cancel->cancelled();
  }

  int sleeps() const { return sleeps_.load(); }

 private:
  // Starts far from zero so "time since epoch" arithmetic never goes negative.
  std::atomic<int64_t> now_ns_{std::chrono::nanoseconds(std::chrono::hours(1000)).count()};
  mutable std::atomic<int> sleeps_{0};
};

}  // namespace rollouts::controller::testing
