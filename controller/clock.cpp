#include "controller/clock.h"

#include <thread>

namespace rollouts::controller {

bool SteadyClock::SleepFor(std::chrono::milliseconds d, const http::CancelToken* cancel) const {
  if (cancel != nullptr) return cancel->SleepFor(d);
  std::this_thread::sleep_for(d);
  return true;
}

Clock& SystemClock() {
  static SteadyClock clock;
  return clock;
}

}  // namespace rollouts::controller
