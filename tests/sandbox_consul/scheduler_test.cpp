#include "sandbox/common/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace rollouts::sandbox {
namespace {

using namespace std::chrono_literals;

// The timer thread waits until the earliest deadline with the lock released; cancelling that
// very timer meanwhile frees the entry the deadline was read from (a session renew does this
// to its TTL timer). The wait must not read it again: the sanitizer build
// (scripts/test-sanitizers.sh) reports such a read as a heap-use-after-free.
TEST(Scheduler, CancellingTheTimerItWaitsOnLeavesTheOthersOnTime) {
  Scheduler scheduler;
  std::atomic<bool> cancelled_ran{false};
  const Scheduler::TimerId far = scheduler.After(30s, [&] { cancelled_ran = true; });
  std::this_thread::sleep_for(100ms);  // the timer thread is now waiting on `far`
  EXPECT_TRUE(scheduler.Cancel(far));

  std::promise<void> ran;
  scheduler.After(50ms, [&] { ran.set_value(); });  // wakes the timer thread
  EXPECT_EQ(ran.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(scheduler.Cancel(far));
  EXPECT_FALSE(cancelled_ran.load());
}

}  // namespace
}  // namespace rollouts::sandbox
