#include "controller/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "tests/controller/fake_clock.h"

namespace rollouts::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;

class RecordingSink : public WorkQueueMetricsSink {
 public:
  void SetDepth(int64_t depth) override { depth_ = depth; }
  void Added() override { ++adds_; }
  void ObserveWait(double seconds) override { waits_.push_back(seconds); }
  void ObserveWorkDuration(double seconds) override { durations_.push_back(seconds); }
  void Retried() override { ++retries_; }

  std::atomic<int64_t> depth_{0};
  std::atomic<int> adds_{0};
  std::atomic<int> retries_{0};
  std::vector<double> waits_;
  std::vector<double> durations_;
};

WorkQueueOptions NoJitterOptions() {
  WorkQueueOptions options;
  options.uniform01 = [] { return 0.0; };
  options.bucket.qps = 0;  // only the per-key backoff, unless a test sets it
  return options;
}

TEST(WorkQueueTest, AddingAQueuedKeyIsANoOp) {
  FakeClock clock;
  RecordingSink sink;
  WorkQueue queue(NoJitterOptions(), &clock, &sink);
  queue.Add("a");
  queue.Add("b");
  queue.Add("a");
  EXPECT_EQ(queue.Len(), 2u);
  EXPECT_EQ(sink.adds_.load(), 2);
  EXPECT_EQ(sink.depth_.load(), 2);
  EXPECT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(sink.depth_.load(), 0);
}

TEST(WorkQueueTest, BackgroundKeysWaitBehindOrdinaryOnes) {
  FakeClock clock;
  RecordingSink sink;
  WorkQueue queue(NoJitterOptions(), &clock, &sink);
  // A resync queued three keys, then a spec change arrived for another one.
  queue.AddBackground("r1");
  queue.AddBackground("r2");
  queue.AddBackground("r3");
  queue.Add("changed");
  EXPECT_EQ(queue.Len(), 4u);
  EXPECT_EQ(sink.depth_.load(), 4);
  EXPECT_EQ(queue.Get(), "changed");
  EXPECT_EQ(queue.Get(), "r1");
  EXPECT_EQ(queue.Get(), "r2");
  EXPECT_EQ(queue.Get(), "r3");
  EXPECT_EQ(queue.Len(), 0u);
}

TEST(WorkQueueTest, OrdinaryAddMovesABackgroundKeyForwardOnce) {
  FakeClock clock;
  RecordingSink sink;
  WorkQueue queue(NoJitterOptions(), &clock, &sink);
  queue.AddBackground("r1");
  queue.AddBackground("r2");
  queue.AddBackground("r3");
  queue.Add("r3");            // a watch saw r3 change
  queue.AddBackground("r3");  // and the resync does not push it back
  EXPECT_EQ(queue.Len(), 3u);
  EXPECT_EQ(sink.adds_.load(), 3);
  EXPECT_EQ(queue.Get(), "r3");
  EXPECT_EQ(queue.Get(), "r1");
  EXPECT_EQ(queue.Get(), "r2");
  EXPECT_EQ(queue.Len(), 0u);
  // Handed out once each: nothing left over in either lane.
  queue.Done("r1");
  queue.Done("r2");
  queue.Done("r3");
  EXPECT_EQ(queue.Len(), 0u);
}

TEST(WorkQueueTest, BackgroundAddWhileProcessingIsRequeuedAfterDone) {
  FakeClock clock;
  WorkQueue queue(NoJitterOptions(), &clock);
  queue.Add("a");
  ASSERT_EQ(queue.Get(), "a");
  queue.AddBackground("a");
  EXPECT_EQ(queue.Len(), 0u);
  queue.Done("a");
  EXPECT_EQ(queue.Get(), "a");
}

TEST(WorkQueueTest, ShutDownDropsBackgroundKeys) {
  FakeClock clock;
  WorkQueue queue(NoJitterOptions(), &clock);
  queue.AddBackground("a");
  queue.ShutDown();
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.Get(), std::nullopt);
  queue.AddBackground("b");
  EXPECT_EQ(queue.Len(), 0u);
}

TEST(WorkQueueTest, KeyAddedWhileProcessingIsRequeuedOnceAfterDone) {
  FakeClock clock;
  WorkQueue queue(NoJitterOptions(), &clock);
  queue.Add("a");
  ASSERT_EQ(queue.Get(), "a");
  queue.Add("a");
  queue.Add("a");
  // Not handed out again while the first worker holds it.
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.NumProcessing(), 1u);
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 1u);
  EXPECT_EQ(queue.Get(), "a");
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.NumProcessing(), 0u);
}

TEST(WorkQueueTest, WaitAndWorkDurationAreMeasuredOnTheClock) {
  FakeClock clock;
  RecordingSink sink;
  WorkQueue queue(NoJitterOptions(), &clock, &sink);
  queue.Add("a");
  clock.Advance(seconds(3));
  ASSERT_EQ(queue.Get(), "a");
  clock.Advance(seconds(2));
  queue.Done("a");
  ASSERT_EQ(sink.waits_.size(), 1u);
  EXPECT_DOUBLE_EQ(sink.waits_[0], 3.0);
  ASSERT_EQ(sink.durations_.size(), 1u);
  EXPECT_DOUBLE_EQ(sink.durations_[0], 2.0);
}

TEST(WorkQueueTest, AtMostOneWorkerPerKeyUnderConcurrency) {
  WorkQueue queue(NoJitterOptions());
  const std::vector<std::string> keys = {"a", "b", "c"};
  std::mutex mu;
  std::map<std::string, int> active;
  std::map<std::string, int> max_active;
  std::atomic<int> processed{0};

  std::vector<std::thread> workers;
  for (int w = 0; w < 6; ++w) {
    workers.emplace_back([&] {
      while (auto key = queue.Get()) {
        {
          std::lock_guard lock(mu);
          int now = ++active[*key];
          max_active[*key] = std::max(max_active[*key], now);
        }
        std::this_thread::sleep_for(std::chrono::microseconds(300));
        {
          std::lock_guard lock(mu);
          --active[*key];
        }
        ++processed;
        queue.Done(*key);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < 3; ++p) {
    producers.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        queue.Add(keys[i % keys.size()]);
        if (i % 10 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  for (auto& t : producers) t.join();
  // Let the last re-queued keys run, bounded.
  for (int i = 0; i < 2000 && (queue.Len() > 0 || queue.NumProcessing() > 0); ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_TRUE(queue.ShutDownWithDrain(seconds(10)));
  for (auto& t : workers) t.join();

  EXPECT_GT(processed.load(), 0);
  for (const auto& key : keys) EXPECT_EQ(max_active[key], 1) << key;
}

TEST(WorkQueueTest, BackoffGrowsPerKeyAndResetsOnForget) {
  ItemBackoffOptions options;
  options.base = milliseconds(100);
  options.max = milliseconds(1000);
  options.jitter = 0.0;
  ItemBackoff backoff(options, [] { return 0.5; });
  EXPECT_EQ(backoff.When("a"), milliseconds(100));
  EXPECT_EQ(backoff.When("a"), milliseconds(200));
  EXPECT_EQ(backoff.When("a"), milliseconds(400));
  EXPECT_EQ(backoff.When("a"), milliseconds(800));
  EXPECT_EQ(backoff.When("a"), milliseconds(1000));  // capped
  EXPECT_EQ(backoff.When("a"), milliseconds(1000));
  EXPECT_EQ(backoff.When("b"), milliseconds(100));  // independent per key
  EXPECT_EQ(backoff.Failures("a"), 6);
  backoff.Forget("a");
  EXPECT_EQ(backoff.Failures("a"), 0);
  EXPECT_EQ(backoff.When("a"), milliseconds(100));
}

TEST(WorkQueueTest, BackoffJitterStaysWithinItsBand) {
  ItemBackoffOptions options;
  options.base = milliseconds(1000);
  options.jitter = 0.5;
  double u = 0.0;
  ItemBackoff backoff(options, [&u] { return u; });
  u = 0.0;
  EXPECT_EQ(backoff.When("x"), milliseconds(1000));
  backoff.Forget("x");
  u = 0.999;
  auto low = backoff.When("x");
  EXPECT_GE(low, milliseconds(500));
  EXPECT_LT(low, milliseconds(502));
}

TEST(WorkQueueTest, AddRateLimitedHoldsTheKeyForItsBackoff) {
  FakeClock clock;
  RecordingSink sink;
  WorkQueueOptions options = NoJitterOptions();
  options.backoff.base = milliseconds(100);
  WorkQueue queue(options, &clock, &sink);

  queue.AddRateLimited("a");  // 100ms
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.NumWaiting(), 1u);
  clock.Advance(milliseconds(99));
  std::atomic<bool> got{false};
  std::thread worker([&] {
    if (queue.Get()) got = true;
  });
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(got.load());
  clock.Advance(milliseconds(1));
  worker.join();  // Get() returns once the fake clock reaches the ready time
  EXPECT_TRUE(got.load());
  queue.Done("a");

  queue.AddRateLimited("a");  // 200ms now
  clock.Advance(milliseconds(199));
  // Promotion happens inside Get(); probe with a short-lived worker.
  EXPECT_EQ(queue.NumWaiting(), 1u);
  clock.Advance(milliseconds(1));
  EXPECT_EQ(queue.Get(), "a");
  queue.Done("a");
  EXPECT_EQ(queue.NumRequeues("a"), 2);
  EXPECT_EQ(sink.retries_.load(), 2);
  queue.Forget("a");
  EXPECT_EQ(queue.NumRequeues("a"), 0);
}

TEST(WorkQueueTest, TokenBucketAllowsBurstThenPacesAtQps) {
  FakeClock clock;
  TokenBucket bucket({.qps = 10.0, .burst = 3}, clock.Now());
  EXPECT_EQ(bucket.Reserve(clock.Now()), std::chrono::nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(clock.Now()), std::chrono::nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(clock.Now()), std::chrono::nanoseconds(0));
  // Empty: each further reservation waits one more token period (100ms at 10 qps).
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(bucket.Reserve(clock.Now())),
            milliseconds(100));
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(bucket.Reserve(clock.Now())),
            milliseconds(200));
  // Time refills the bucket: after 1s the debt of 2 tokens is paid and 3 are back
  // (capped at burst).
  clock.Advance(seconds(1));
  EXPECT_EQ(bucket.Reserve(clock.Now()), std::chrono::nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(clock.Now()), std::chrono::nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(clock.Now()), std::chrono::nanoseconds(0));
  EXPECT_GT(bucket.Reserve(clock.Now()), std::chrono::nanoseconds(0));
}

TEST(WorkQueueTest, GlobalRateLimitDelaysRateLimitedAddsAcrossKeys) {
  FakeClock clock;
  WorkQueueOptions options = NoJitterOptions();
  options.backoff.base = milliseconds(1);
  options.bucket = {.qps = 1.0, .burst = 2};
  WorkQueue queue(options, &clock);
  for (std::string key : {"a", "b", "c", "d"}) queue.AddRateLimited(key);
  clock.Advance(milliseconds(1));
  // The burst of two passes after the 1ms backoff; c and d wait for tokens.
  EXPECT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.NumWaiting(), 2u);
  clock.Advance(seconds(1));
  EXPECT_EQ(queue.Get(), "c");
  EXPECT_EQ(queue.NumWaiting(), 1u);
  clock.Advance(seconds(1));
  EXPECT_EQ(queue.Get(), "d");
}

TEST(WorkQueueTest, AddAfterKeepsTheEarliestTime) {
  FakeClock clock;
  WorkQueue queue(NoJitterOptions(), &clock);
  queue.AddAfter("a", seconds(10));
  queue.AddAfter("a", seconds(2));
  queue.AddAfter("a", seconds(5));
  EXPECT_EQ(queue.NumWaiting(), 1u);
  clock.Advance(seconds(2));
  EXPECT_EQ(queue.Get(), "a");
  queue.Done("a");
  clock.Advance(seconds(20));
  queue.Add("b");
  // The superseded 10s and 5s entries for "a" do not bring it back.
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_EQ(queue.Len(), 0u);
}

TEST(WorkQueueTest, AddAfterWithoutDelayAddsAtOnce) {
  FakeClock clock;
  WorkQueue queue(NoJitterOptions(), &clock);
  queue.AddAfter("a", std::chrono::nanoseconds(0));
  EXPECT_EQ(queue.Len(), 1u);
}

TEST(WorkQueueTest, ShutDownWithDrainWaitsForInFlightAndRefusesNewWork) {
  WorkQueue queue(NoJitterOptions());
  queue.Add("a");
  queue.Add("b");
  ASSERT_EQ(queue.Get(), "a");
  std::atomic<bool> finished{false};
  std::thread worker([&] {
    std::this_thread::sleep_for(milliseconds(50));
    finished = true;
    queue.Done("a");
  });
  EXPECT_TRUE(queue.ShutDownWithDrain(seconds(30)));
  EXPECT_TRUE(finished.load());  // returned only after the in-flight key was done
  worker.join();
  EXPECT_TRUE(queue.ShuttingDown());
  EXPECT_EQ(queue.Get(), std::nullopt);  // "b" is not started after shutdown
  queue.Add("c");
  EXPECT_EQ(queue.Len(), 0u);
}

TEST(WorkQueueTest, DrainGivesUpAtItsDeadline) {
  FakeClock clock;
  WorkQueue queue(NoJitterOptions(), &clock);
  queue.Add("stuck");
  ASSERT_EQ(queue.Get(), "stuck");
  std::thread advancer([&] {
    for (int i = 0; i < 50; ++i) {
      std::this_thread::sleep_for(milliseconds(2));
      clock.Advance(seconds(1));
    }
  });
  EXPECT_FALSE(queue.ShutDownWithDrain(seconds(5)));
  advancer.join();
  EXPECT_EQ(queue.NumProcessing(), 1u);
  queue.Done("stuck");
  EXPECT_EQ(queue.NumProcessing(), 0u);
}

TEST(WorkQueueTest, ShutDownWakesBlockedWorkers) {
  WorkQueue queue(NoJitterOptions());
  std::thread worker([&] { EXPECT_EQ(queue.Get(), std::nullopt); });
  std::this_thread::sleep_for(milliseconds(10));
  queue.ShutDown();
  worker.join();
}

}  // namespace
}  // namespace rollouts::controller
