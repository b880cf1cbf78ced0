#include "clients/http/retry.h"

#include <gtest/gtest.h>

#include <deque>

namespace rollouts::http {
namespace {

class ScriptedClient : public Client {
 public:
  explicit ScriptedClient(std::deque<Result> script) : script_(std::move(script)) {}
  Result Send(const Request&) override {
    ++calls;
    Result r = script_.front();
    if (script_.size() > 1) script_.pop_front();
    return r;
  }
  int calls = 0;

 private:
  std::deque<Result> script_;
};

Response Status(int code) {
  return Response{code, {}, ""};
}

TEST(Backoff, GrowsExponentiallyUpToTheCap) {
  Backoff b({std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 2.0, 0.0});
  EXPECT_EQ(b.Next().count(), 100);
  EXPECT_EQ(b.Next().count(), 200);
  EXPECT_EQ(b.Next().count(), 400);
  EXPECT_EQ(b.Next().count(), 800);
  EXPECT_EQ(b.Next().count(), 1000);
  EXPECT_EQ(b.Next().count(), 1000);
  b.Reset();
  EXPECT_EQ(b.Next().count(), 100);
}

TEST(Backoff, JitterStaysWithinItsBand) {
  double u = 0.999;
  Backoff b({std::chrono::milliseconds(1000), std::chrono::milliseconds(1000), 2.0, 0.5},
            [&u] { return u; });
  auto d = b.Next().count();
  EXPECT_GE(d, 500);
  EXPECT_LE(d, 501);
  u = 0.0;
  EXPECT_EQ(b.Next().count(), 1000);
}

TEST(ShouldRetry, ReadsRetryServerErrorsAndTransportFailures) {
  EXPECT_TRUE(ShouldRetry(Safety::kRead, Status(500)));
  EXPECT_TRUE(ShouldRetry(Safety::kRead, Status(503)));
  EXPECT_TRUE(ShouldRetry(Safety::kRead, Status(429)));
  EXPECT_FALSE(ShouldRetry(Safety::kRead, Status(404)));
  EXPECT_FALSE(ShouldRetry(Safety::kRead, Status(200)));
  EXPECT_TRUE(ShouldRetry(Safety::kRead, Error{ErrorKind::kTimeout, ""}));
  EXPECT_FALSE(ShouldRetry(Safety::kRead, Error{ErrorKind::kCancelled, ""}));
  EXPECT_FALSE(ShouldRetry(Safety::kRead, Error{ErrorKind::kTls, ""}));
}

TEST(ShouldRetry, GuardedWritesDoNotRetryA500BecauseItMayBeAValidationError) {
  // Nomad answers 500 for validation errors and EnforceIndex conflicts.
  EXPECT_FALSE(ShouldRetry(Safety::kGuardedWrite, Status(500)));
  EXPECT_TRUE(ShouldRetry(Safety::kGuardedWrite, Status(503)));
  EXPECT_TRUE(ShouldRetry(Safety::kGuardedWrite, Error{ErrorKind::kConnect, ""}));
  EXPECT_FALSE(ShouldRetry(Safety::kUnsafe, Error{ErrorKind::kConnect, ""}));
}

TEST(SendWithRetry, RetriesUntilSuccessAndReportsEachRetry) {
  ScriptedClient client({Status(503), Error{ErrorKind::kConnect, "refused"}, Status(200)});
  std::vector<std::chrono::milliseconds> slept;
  int retries = 0;
  RetryOptions opts;
  opts.sleep = [&](std::chrono::milliseconds d) {
    slept.push_back(d);
    return true;
  };
  opts.on_retry = [&](int, const Result&) { ++retries; };
  Result r = SendWithRetry(client, Request{}, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.response().status, 200);
  EXPECT_EQ(client.calls, 3);
  EXPECT_EQ(retries, 2);
  EXPECT_EQ(slept.size(), 2u);
}

TEST(SendWithRetry, StopsAtMaxAttempts) {
  ScriptedClient client({Status(503)});
  RetryOptions opts;
  opts.max_attempts = 4;
  opts.sleep = [](std::chrono::milliseconds) { return true; };
  Result r = SendWithRetry(client, Request{}, opts);
  EXPECT_EQ(r.response().status, 503);
  EXPECT_EQ(client.calls, 4);
}

TEST(SendWithRetry, StopsWhenTheNextSleepWouldPassTheDeadline) {
  ScriptedClient client({Status(503)});
  RetryOptions opts;
  opts.deadline = std::chrono::milliseconds(250);
  opts.backoff = {std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 2.0, 0.0};
  opts.sleep = [](std::chrono::milliseconds) { return true; };  // time does not pass
  SendWithRetry(client, Request{}, opts);
  // 100 + 200 fit in the budget only if no time passes: first sleep 100 (<250), second
  // 200 (<250), third 400 (>=250) stops.
  EXPECT_EQ(client.calls, 3);
}

TEST(SendWithRetry, NeverRetriesUnsafeRequests) {
  ScriptedClient client({Status(503)});
  RetryOptions opts;
  opts.safety = Safety::kUnsafe;
  opts.sleep = [](std::chrono::milliseconds) { return true; };
  SendWithRetry(client, Request{}, opts);
  EXPECT_EQ(client.calls, 1);
}

TEST(SendWithRetry, CancelDuringBackoffEndsWithCancelled) {
  ScriptedClient client({Status(503)});
  auto token = std::make_shared<CancelToken>();
  Request req;
  req.cancel = token;
  RetryOptions opts;
  opts.sleep = [&](std::chrono::milliseconds) {
    token->Cancel();
    return false;
  };
  Result r = SendWithRetry(client, req, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kCancelled);
  EXPECT_EQ(client.calls, 1);
}

}  // namespace
}  // namespace rollouts::http
