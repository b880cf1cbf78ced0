// Blocking queries against an in-process fake agent (wake on write, wait timeout, index
// going backwards, cancel) and the BlockingIndex / BlockingWatcher rules in isolation.
#include <gtest/gtest.h>

#include <future>

#include "clients/consul/blocking.h"
#include "clients/consul/consul_client.h"
#include "tests/consul/fake_consul_kv.h"
#include "tests/consul/mock_consul_client.h"

namespace rollouts::consul {
namespace {

using testing::FakeConsulKv;

std::unique_ptr<HttpConsulClient> ClientFor(const FakeConsulKv& fake) {
  clients::AgentConfig config;
  config.base_url = fake.base_url();
  HttpConsulClientOptions options;
  options.retry.max_attempts = 1;
  return std::make_unique<HttpConsulClient>(config, options);
}

// The query string of the i-th request the fake received.
std::string QueryOf(const FakeConsulKv& fake, size_t i) {
  auto received = fake.received();
  return i < received.size() ? received[i].query : "<no request " + std::to_string(i) + ">";
}

TEST(ConsulBlocking, WakesOnWrite) {
  FakeConsulKv fake;
  uint64_t first = fake.Write("rollouts/spec/hello", "v1");
  auto client = ClientFor(fake);

  QueryOptions q;
  q.index = first;
  q.wait = std::chrono::seconds(30);
  auto pending =
      std::async(std::launch::async, [&] { return client->KvGet("rollouts/spec/hello", q); });
  ASSERT_TRUE(fake.WaitForParked(1));
  EXPECT_EQ(QueryOf(fake, 0), "index=" + std::to_string(first) + "&wait=30s");

  auto put = client->KvPut("rollouts/spec/hello", "v2", {});
  ASSERT_TRUE(put.ok()) << put.error().ToString();
  EXPECT_TRUE(*put);

  auto r = pending.get();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_TRUE(r->value.has_value());
  EXPECT_EQ(r->value->value, "v2");
  EXPECT_EQ(r->meta.index, first + 1);
  EXPECT_EQ(r->value->modify_index, first + 1);
  EXPECT_EQ(fake.timeouts(), 0u);
}

TEST(ConsulBlocking, ReturnsUnchangedOnWaitTimeout) {
  FakeConsulKv fake;
  uint64_t first = fake.Write("rollouts/spec/hello", "v1");
  auto client = ClientFor(fake);

  QueryOptions q;
  q.index = first;
  q.wait = std::chrono::milliseconds(300);
  auto r = client->KvGet("rollouts/spec/hello", q);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(QueryOf(fake, 0), "index=" + std::to_string(first) + "&wait=300ms");
  EXPECT_EQ(fake.timeouts(), 1u);  // the agent answered because the wait ran out
  EXPECT_EQ(r->meta.index, first);
  ASSERT_TRUE(r->value.has_value());
  EXPECT_EQ(r->value->value, "v1");

  // The watcher sees the timeout as "no change" and keeps blocking on the same index.
  BlockingPolicy policy;
  policy.wait = std::chrono::milliseconds(200);
  policy.min_interval = std::chrono::milliseconds(0);
  BlockingWatcher<std::optional<KvPair>> watcher(
      [&](const QueryOptions& o) { return client->KvGet("rollouts/spec/hello", o); }, policy);
  auto initial = watcher.PollOnce();
  ASSERT_TRUE(initial.result.ok());
  EXPECT_TRUE(initial.changed);
  auto timed_out = watcher.PollOnce();
  ASSERT_TRUE(timed_out.result.ok());
  EXPECT_FALSE(timed_out.changed);
  EXPECT_EQ(watcher.index(), first);
  EXPECT_EQ(fake.timeouts(), 2u);
}

TEST(ConsulBlocking, WatcherResetsWhenTheIndexGoesBackwards) {
  FakeConsulKv fake;
  fake.Write("rollouts/spec/a", "1");
  uint64_t high = fake.Write("rollouts/spec/hello", "v1");
  auto client = ClientFor(fake);

  BlockingPolicy policy;
  policy.wait = std::chrono::seconds(30);
  policy.min_interval = std::chrono::milliseconds(0);
  BlockingWatcher<std::optional<KvPair>> watcher(
      [&](const QueryOptions& o) { return client->KvGet("rollouts/spec/hello", o); }, policy);

  auto first = watcher.Next();
  ASSERT_TRUE(first.result.ok());
  EXPECT_TRUE(first.changed);
  EXPECT_EQ(QueryOf(fake, 0), "");  // first read does not block
  EXPECT_EQ(watcher.index(), high);

  auto pending = std::async(std::launch::async, [&] { return watcher.Next(); });
  ASSERT_TRUE(fake.WaitForParked(1));
  EXPECT_EQ(QueryOf(fake, 1), "index=" + std::to_string(high) + "&wait=30s");
  fake.RestoreIndex(5);  // snapshot restore: the index is now lower than ours

  auto restored = pending.get();
  ASSERT_TRUE(restored.result.ok()) << restored.result.error().ToString();
  EXPECT_TRUE(restored.changed);
  EXPECT_EQ(restored.result->meta.index, 5u);
  EXPECT_EQ(watcher.index(), 0u);  // reset: the next query must not block on 13

  auto reread = watcher.PollOnce();
  ASSERT_TRUE(reread.result.ok());
  EXPECT_EQ(QueryOf(fake, 2), "");  // index 0 is not sent: a plain read
  EXPECT_FALSE(reread.changed);     // same index as the restored answer
  EXPECT_EQ(watcher.index(), 5u);
}

TEST(ConsulBlocking, CancelEndsABlockedWatch) {
  FakeConsulKv fake;
  fake.Write("k", "v");
  auto client = ClientFor(fake);
  auto cancel = std::make_shared<http::CancelToken>();
  BlockingPolicy policy;
  policy.wait = std::chrono::seconds(60);
  policy.min_interval = std::chrono::milliseconds(0);
  BlockingWatcher<std::optional<KvPair>> watcher(
      [&](const QueryOptions& o) { return client->KvGet("k", o); }, policy, cancel);
  ASSERT_TRUE(watcher.Next().result.ok());
  auto pending = std::async(std::launch::async, [&] { return watcher.Next(); });
  ASSERT_TRUE(fake.WaitForParked(1));
  cancel->Cancel();
  auto r = pending.get();
  ASSERT_FALSE(r.result.ok());
  EXPECT_EQ(r.result.error().kind, ApiErrorKind::kCancelled);
}

TEST(ConsulBlocking, CasPutAgainstTheAgent) {
  FakeConsulKv fake;
  auto client = ClientFor(fake);
  auto created = client->KvPut("rollouts/status/x", "a", PutOptions{0, {}, "", ""});
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(*created);
  auto again = client->KvPut("rollouts/status/x", "b", PutOptions{0, {}, "", ""});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);  // exists: cas=0 refused, not an error
  auto read = client->KvGet("rollouts/status/x", {});
  ASSERT_TRUE(read.ok() && read->value);
  uint64_t idx = read->value->modify_index;
  auto stale = client->KvPut("rollouts/status/x", "c", PutOptions{idx - 1, {}, "", ""});
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(*stale);
  auto fresh = client->KvPut("rollouts/status/x", "d", PutOptions{idx, {}, "", ""});
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(*fresh);
  EXPECT_EQ(client->KvGet("rollouts/status/x", {})->value->value, "d");
}

// ----------------------------------------------------------------- index rules alone

TEST(BlockingIndex, FirstReadThenFollowsTheIndex) {
  BlockingIndex idx;
  EXPECT_EQ(idx.next(), 0u);
  EXPECT_TRUE(idx.Observe(42));
  EXPECT_EQ(idx.next(), 42u);
  EXPECT_FALSE(idx.Observe(42));  // timeout or idempotent write
  EXPECT_TRUE(idx.Observe(50));
  EXPECT_EQ(idx.next(), 50u);
}

TEST(BlockingIndex, ZeroIndexBecomesOne) {
  BlockingIndex idx;
  EXPECT_TRUE(idx.Observe(0));
  EXPECT_EQ(idx.next(), 1u);  // never 0 again after a read: it would not block
  EXPECT_FALSE(idx.Observe(0));
  EXPECT_EQ(idx.next(), 1u);
  EXPECT_TRUE(idx.Observe(7));
  EXPECT_EQ(idx.next(), 7u);
}

TEST(BlockingIndex, BackwardsResetsToZeroOnce) {
  BlockingIndex idx;
  idx.Observe(100);
  EXPECT_TRUE(idx.Observe(60));
  EXPECT_EQ(idx.next(), 0u);
  EXPECT_FALSE(idx.Observe(60));
  EXPECT_EQ(idx.next(), 60u);
  EXPECT_TRUE(idx.Observe(61));
}

// ------------------------------------------------------------ watcher pacing and backoff

struct ScriptedFetch {
  std::vector<ApiResult<QueryResult<int>>> answers;
  std::vector<uint64_t> sent_indexes;
  size_t next = 0;
  ApiResult<QueryResult<int>> operator()(const QueryOptions& q) {
    sent_indexes.push_back(q.index);
    return answers.at(next++);
  }
};

QueryResult<int> At(uint64_t index, int value) {
  return QueryResult<int>{value, {index, true, {}}};
}

TEST(BlockingWatcher, RateLimitsWakeUps) {
  auto fetch = std::make_shared<ScriptedFetch>();
  fetch->answers = {At(5, 1), At(6, 2), At(7, 3)};
  std::vector<std::chrono::milliseconds> sleeps;
  auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  BlockingPolicy policy;
  policy.min_interval = std::chrono::milliseconds(500);
  BlockingWatcher<int> watcher([fetch](const QueryOptions& q) { return (*fetch)(q); }, policy,
                               nullptr,
                               [&](std::chrono::milliseconds d) {
                                 sleeps.push_back(d);
                                 now += d;
                                 return true;
                               },
                               [&] { return now; });
  EXPECT_TRUE(watcher.Next().changed);
  now += std::chrono::milliseconds(120);  // the answer came back 120 ms later
  EXPECT_TRUE(watcher.Next().changed);
  now += std::chrono::milliseconds(900);  // a long block: no pause needed
  EXPECT_TRUE(watcher.Next().changed);
  EXPECT_EQ(sleeps, std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(380)});
  EXPECT_EQ(fetch->sent_indexes, (std::vector<uint64_t>{0, 5, 6}));
}

TEST(BlockingWatcher, BacksOffAfterErrorsAndResetsOnSuccess) {
  auto fetch = std::make_shared<ScriptedFetch>();
  ApiError unavailable{ApiErrorKind::kUnavailable, 500, "GET /v1/kv/k", "No cluster leader"};
  fetch->answers = {At(5, 1), unavailable, unavailable, At(9, 2), unavailable};
  std::vector<std::chrono::milliseconds> sleeps;
  BlockingPolicy policy;
  policy.min_interval = std::chrono::milliseconds(0);
  policy.error_backoff = http::BackoffPolicy{std::chrono::milliseconds(100),
                                             std::chrono::milliseconds(1000), 2.0, 0.5};
  BlockingWatcher<int> watcher(
      [fetch](const QueryOptions& q) { return (*fetch)(q); }, policy, nullptr,
      [&](std::chrono::milliseconds d) {
        sleeps.push_back(d);
        return true;
      },
      {}, [] { return 0.5; });  // jitter fixed: delays are 75% of the nominal ones
  EXPECT_TRUE(watcher.Next().changed);
  auto e1 = watcher.Next();
  ASSERT_FALSE(e1.result.ok());
  EXPECT_EQ(e1.result.error().kind, ApiErrorKind::kUnavailable);
  EXPECT_FALSE(watcher.Next().result.ok());
  auto ok = watcher.Next();
  ASSERT_TRUE(ok.result.ok());
  EXPECT_TRUE(ok.changed);
  EXPECT_FALSE(watcher.Next().result.ok());
  // After the errors: 75 ms then 150 ms before the retries; the success reset it.
  EXPECT_EQ(sleeps, (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(75),
                                                            std::chrono::milliseconds(150)}));
  // The index survives errors: the retry blocks on what was last seen.
  EXPECT_EQ(fetch->sent_indexes, (std::vector<uint64_t>{0, 5, 5, 5, 9}));
}

TEST(BlockingWatcher, NextIsBoundedAndSkipsUnchangedAnswers) {
  auto fetch = std::make_shared<ScriptedFetch>();
  fetch->answers = {At(5, 1), At(5, 1), At(5, 1), At(8, 2), At(8, 2), At(8, 2)};
  BlockingPolicy policy;
  policy.min_interval = std::chrono::milliseconds(0);
  BlockingWatcher<int> watcher([fetch](const QueryOptions& q) { return (*fetch)(q); }, policy,
                               nullptr, [](std::chrono::milliseconds) { return true; });
  EXPECT_EQ(watcher.Next().result->value, 1);
  auto changed = watcher.Next();
  EXPECT_TRUE(changed.changed);
  EXPECT_EQ(changed.result->value, 2);
  EXPECT_EQ(fetch->next, 4u);
  auto bounded = watcher.Next(2);  // two unchanged answers, then give the caller control
  EXPECT_FALSE(bounded.changed);
  EXPECT_EQ(fetch->next, 6u);
}

// The watcher drives any ConsulClient, e.g. the mock code under test is given.
TEST(BlockingWatcher, DrivesAClientBehindTheInterface) {
  using ::testing::_;
  using ::testing::Field;
  using ::testing::Return;
  testing::MockConsulClient mock;
  auto entry = [](const std::string& tag) {
    ServiceEntry e;
    e.service.id = "a";
    e.service.tags = {tag};
    return e;
  };
  QueryResult<std::vector<ServiceEntry>> before{{entry("standby")}, {7, true, {}}};
  QueryResult<std::vector<ServiceEntry>> after{{entry("active")}, {9, false, {}}};
  {
    ::testing::InSequence order;
    EXPECT_CALL(mock, HealthService("hello", _, Field(&QueryOptions::index, 0u)))
        .WillOnce(Return(before));
    EXPECT_CALL(mock, HealthService("hello", _, Field(&QueryOptions::index, 7u)))
        .WillOnce(Return(before))  // wait timeout: same index
        .WillOnce(Return(after));
  }
  BlockingPolicy policy;
  policy.min_interval = std::chrono::milliseconds(0);
  BlockingWatcher<std::vector<ServiceEntry>> watcher(
      [&](const QueryOptions& q) { return mock.HealthService("hello", {}, q); }, policy);
  EXPECT_TRUE(HasTag(watcher.Next().result->value.at(0), "standby"));
  auto flipped = watcher.Next();
  ASSERT_TRUE(flipped.changed);
  EXPECT_TRUE(HasTag(flipped.result->value.at(0), "active"));
  EXPECT_EQ(watcher.index(), 9u);
}

}  // namespace
}  // namespace rollouts::consul
