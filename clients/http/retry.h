// Jittered exponential backoff and a retry loop with a deadline. Only safe requests are
// retried: reads, and writes the caller marks as guarded (Consul CAS, Nomad
// EnforceIndex), because a guarded write that did land turns into a visible conflict
// on the next try instead of a silent double write.
#pragma once

#include <chrono>
#include <functional>
#include <random>

#include "clients/http/http.h"

namespace rollouts::http {

struct BackoffPolicy {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{5000};
  double multiplier = 2.0;
  // Each delay is drawn uniformly from [d * (1 - jitter), d]; 0 disables jitter.
  double jitter = 0.5;
};

class Backoff {
 public:
  // uniform01 returns a value in [0, 1); tests pass a fixed one.
  explicit Backoff(BackoffPolicy policy, std::function<double()> uniform01 = {});
  std::chrono::milliseconds Next();
  void Reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  BackoffPolicy policy_;
  std::function<double()> uniform01_;
  int attempt_ = 0;
};

enum class Safety {
  kRead,          // idempotent: retry on transport errors, 429 and any 5xx
  kGuardedWrite,  // CAS / EnforceIndex: retry when it surely did not apply or the agent
                  // says it is unavailable (connect errors, 429, 502, 503, 504)
  kUnsafe,        // never retried
};

struct RetryOptions {
  Safety safety = Safety::kRead;
  std::chrono::milliseconds deadline{std::chrono::seconds(30)};  // total budget
  int max_attempts = 8;
  BackoffPolicy backoff;
  // Sleep used between attempts; returns false when cancelled. Tests replace it.
  std::function<bool(std::chrono::milliseconds)> sleep;
  // Called before each retry with the attempt number and what failed (for logs/metrics).
  std::function<void(int, const Result&)> on_retry;
};

bool ShouldRetry(Safety safety, const Result& result);

// Sends request until it succeeds, is not retryable, attempts or the deadline run out,
// or request.cancel fires. Returns the last result.
Result SendWithRetry(Client& client, const Request& request, const RetryOptions& options);

}  // namespace rollouts::http
