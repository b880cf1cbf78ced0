#include "clients/http/retry.h"

#include <algorithm>
#include <thread>

namespace rollouts::http {

Backoff::Backoff(BackoffPolicy policy, std::function<double()> uniform01)
    : policy_(policy), uniform01_(std::move(uniform01)) {
  if (!uniform01_) {
    auto gen = std::make_shared<std::mt19937_64>(std::random_device{}());
    uniform01_ = [gen] { return std::uniform_real_distribution<double>(0.0, 1.0)(*gen); };
  }
}

std::chrono::milliseconds Backoff::Next() {
  double base = static_cast<double>(policy_.initial.count());
  for (int i = 0; i < attempt_; ++i) {
    base *= policy_.multiplier;
    if (base >= static_cast<double>(policy_.max.count())) break;
  }
  base = std::min(base, static_cast<double>(policy_.max.count()));
  ++attempt_;
  double jitter = std::clamp(policy_.jitter, 0.0, 1.0);
  double d = base * (1.0 - jitter * uniform01_());
  return std::chrono::milliseconds(static_cast<int64_t>(d));
}

bool ShouldRetry(Safety safety, const Result& result) {
  if (safety == Safety::kUnsafe) return false;
  if (!result.ok()) {
    ErrorKind k = result.error().kind;
    if (k == ErrorKind::kCancelled || k == ErrorKind::kTls) return false;
    if (safety == Safety::kGuardedWrite)
      return k == ErrorKind::kConnect || k == ErrorKind::kTimeout;
    return true;
  }
  int s = result.response().status;
  if (s == 429) return true;
  if (safety == Safety::kRead) return s >= 500;
  return s == 502 || s == 503 || s == 504;
}

Result SendWithRetry(Client& client, const Request& request, const RetryOptions& options) {
  auto start = std::chrono::steady_clock::now();
  Backoff backoff(options.backoff);
  for (int attempt = 1;; ++attempt) {
    Result result = client.Send(request);
    if (!ShouldRetry(options.safety, result) || attempt >= options.max_attempts) return result;
    auto delay = backoff.Next();
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    if (elapsed + delay >= options.deadline) return result;
    if (options.on_retry) options.on_retry(attempt, result);
    bool slept = true;
    if (options.sleep) {
      slept = options.sleep(delay);
    } else if (request.cancel) {
      slept = request.cancel->SleepFor(delay);
    } else {
      std::this_thread::sleep_for(delay);
    }
    if (!slept || (request.cancel && request.cancel->cancelled())) {
      return Error{ErrorKind::kCancelled, "cancelled while waiting to retry"};
    }
  }
}

}  // namespace rollouts::http
