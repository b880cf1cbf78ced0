// The time source of the runtime. The work queue and the leader elector read time and
// wait only through a Clock, so tests drive backoff, rate limits and lease deadlines
// with a fake one instead of sleeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "clients/http/cancel.h"

namespace rollouts::controller {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // Blocks on cv (lock held by the caller) until it is notified or `deadline`, measured
  // on this clock, has passed. May return early (spuriously); callers re-check.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         TimePoint deadline) const = 0;
  // Sleeps for d or until cancel (may be null) fires. Returns false when cancelled.
  virtual bool SleepFor(std::chrono::milliseconds d, const http::CancelToken* cancel) const = 0;
};

// The monotonic process clock.
class SteadyClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline) const override {
    cv.wait_until(lock, deadline);
  }
  bool SleepFor(std::chrono::milliseconds d, const http::CancelToken* cancel) const override;
};

// A process-wide SteadyClock for callers that take a Clock&.
Clock& SystemClock();

}  // namespace rollouts::controller
