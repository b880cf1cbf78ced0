// Polls a condition in real time, for tests of components that run their own threads
// (elector, runtime, watches). Bounded: gives up after about five seconds.
#pragma once

#include <chrono>
#include <thread>

namespace rollouts::controller::testing {

template <typename F>
bool Eventually(F f) {
  for (int i = 0; i < 5000; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return f();
}

}  // namespace rollouts::controller::testing
