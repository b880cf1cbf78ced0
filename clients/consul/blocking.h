// Blocking-query loops done the way Consul documents ("Blocking Queries",
// implementation details):
//  - the returned X-Consul-Index is only a hint; a return is not proof of a change, so
//    callers compare indexes (and results) themselves;
//  - if the index goes backwards (a response index lower than the one we sent, e.g.
//    after a snapshot restore or a leader change), reset to 0 and read afresh;
//  - an index of 0 after the first read is a Consul bug that turns the loop into a busy
//    loop, so once any index was seen the next query uses at least 1;
//  - rate-limit wake-ups (a minimum gap between two queries) and back off, with jitter,
//    after errors.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "clients/common/api_error.h"
#include "clients/consul/consul_client.h"
#include "clients/http/cancel.h"
#include "clients/http/retry.h"

namespace rollouts::consul {

// Pure index bookkeeping; no I/O. One per watched resource.
class BlockingIndex {
 public:
  // The index to send with the next query (0 means "read now, do not block").
  uint64_t next() const { return next_; }
  // Records the index a response carried. Returns true when it differs from the
  // previous response's index (the resource may have changed), also on the first read.
  bool Observe(uint64_t response_index);
  // Forgets everything: the next query is a plain read. (Errors do not call this: after
  // an error the watcher keeps blocking on the index it last saw.)
  void Reset() {
    next_ = 0;
    seen_any_ = false;
    last_ = 0;
  }

 private:
  uint64_t next_ = 0;
  uint64_t last_ = 0;
  bool seen_any_ = false;
};

struct BlockingPolicy {
  std::chrono::milliseconds wait{std::chrono::minutes(5)};
  // Minimum time between the starts of two queries (rate limit of wake-ups).
  std::chrono::milliseconds min_interval{std::chrono::milliseconds(100)};
  http::BackoffPolicy error_backoff{std::chrono::milliseconds(250), std::chrono::seconds(30), 2.0,
                                    0.5};
};

// Drives one blocking query. `fetch` runs one query with the options it is given
// (index, wait, cancel); the watcher owns the index, the pacing and the error backoff.
template <typename T>
class BlockingWatcher {
 public:
  using Fetch = std::function<ApiResult<QueryResult<T>>(const QueryOptions&)>;
  // Sleeps up to d; returns false if cancelled. Defaults to cancel->SleepFor.
  using Sleep = std::function<bool(std::chrono::milliseconds)>;
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Poll {
    ApiResult<QueryResult<T>> result;
    bool changed = false;  // the index moved (or first read / reset); false on errors
  };

  BlockingWatcher(Fetch fetch, BlockingPolicy policy,
                  std::shared_ptr<http::CancelToken> cancel = nullptr, Sleep sleep = {},
                  Clock clock = {}, std::function<double()> uniform01 = {})
      : fetch_(std::move(fetch)),
        policy_(policy),
        cancel_(cancel ? std::move(cancel) : std::make_shared<http::CancelToken>()),
        sleep_(std::move(sleep)),
        clock_(clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); }),
        backoff_(policy.error_backoff, std::move(uniform01)) {
    if (!sleep_) {
      auto token = cancel_;
      sleep_ = [token](std::chrono::milliseconds d) { return token->SleepFor(d); };
    }
  }

  // One query: waits out the rate limit (or the error backoff), sends the current
  // index, and updates the index from the answer.
  Poll PollOnce() {
    std::chrono::milliseconds pause{0};
    if (pending_backoff_) {
      pause = backoff_.Next();
      pending_backoff_ = false;
    } else if (last_start_) {
      auto since = std::chrono::duration_cast<std::chrono::milliseconds>(clock_() - *last_start_);
      if (since < policy_.min_interval) pause = policy_.min_interval - since;
    }
    if (cancel_->cancelled() || (pause.count() > 0 && !sleep_(pause)) || cancel_->cancelled()) {
      return Poll{ApiError{clients::ApiErrorKind::kCancelled, 0, "", "watch cancelled"}, false};
    }
    last_start_ = clock_();
    QueryOptions q;
    q.index = index_.next();
    q.wait = policy_.wait;
    q.cancel = cancel_;
    auto result = fetch_(q);
    if (!result.ok()) {
      if (result.error().kind != clients::ApiErrorKind::kCancelled) pending_backoff_ = true;
      return Poll{std::move(result), false};
    }
    backoff_.Reset();
    bool changed = index_.Observe(result.value().meta.index);
    return Poll{std::move(result), changed};
  }

  // Polls until the index moves, an error happens or the watch is cancelled. At most
  // max_polls queries (bounded); returns the last poll.
  Poll Next(int max_polls = 1 << 20) {
    for (int i = 1;; ++i) {
      Poll p = PollOnce();
      if (!p.result.ok() || p.changed || i >= max_polls) return p;
    }
  }

  uint64_t index() const { return index_.next(); }
  const std::shared_ptr<http::CancelToken>& cancel_token() const { return cancel_; }

 private:
  Fetch fetch_;
  BlockingPolicy policy_;
  std::shared_ptr<http::CancelToken> cancel_;
  Sleep sleep_;
  Clock clock_;
  http::Backoff backoff_;
  BlockingIndex index_;
  std::optional<std::chrono::steady_clock::time_point> last_start_;
  bool pending_backoff_ = false;
};

}  // namespace rollouts::consul
