#include "controller/runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "tests/controller/eventually.h"
#include "tests/controller/mock_consul_client.h"

namespace rollouts::controller {
namespace {

using std::chrono::milliseconds;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Invoke;
using testing::MockConsulClient;
using ::testing::NiceMock;

using testing::Eventually;

consul::KvPair Kv(const std::string& key, uint64_t modify_index) {
  consul::KvPair kv;
  kv.key = key;
  kv.modify_index = modify_index;
  return kv;
}

// Serves KvList for rollouts/spec/ and rollouts/control/ from a mutable listing whose
// index moves on every change, and blocks briefly (as Consul would) when nothing moved.
class FakeKv {
 public:
  void Set(const std::string& key, uint64_t modify_index) {
    std::lock_guard lock(mu_);
    data_[key] = modify_index;
    ++index_;
  }
  void Erase(const std::string& key) {
    std::lock_guard lock(mu_);
    data_.erase(key);
    ++index_;
  }
  clients::ApiResult<consul::QueryResult<std::vector<consul::KvPair>>> List(
      const std::string& prefix, const consul::QueryOptions& q) {
    for (int i = 0; i < 20; ++i) {
      {
        std::lock_guard lock(mu_);
        if (q.index < index_) break;
      }
      if (q.cancel && q.cancel->cancelled()) break;
      std::this_thread::sleep_for(milliseconds(1));
    }
    std::lock_guard lock(mu_);
    std::vector<consul::KvPair> out;
    for (const auto& [key, mi] : data_) {
      if (key.rfind(prefix, 0) == 0) out.push_back(Kv(key, mi));
    }
    return consul::QueryResult<std::vector<consul::KvPair>>{out, {index_, true, milliseconds(0)}};
  }

 private:
  std::mutex mu_;
  std::map<std::string, uint64_t> data_;
  uint64_t index_ = 1;
};

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ON_CALL(consul_, KvList(_, _)).WillByDefault(Invoke([this](auto& prefix, auto& q) {
      return kv_.List(prefix, q);
    }));
    options_.workers = 3;
    options_.resync = std::chrono::hours(1);
    options_.watch_wait = std::chrono::seconds(10);
    options_.watch_min_interval = milliseconds(1);
    options_.queue.backoff.base = milliseconds(1);
    options_.queue.bucket.qps = 0;
  }
  void TearDown() override {
    if (runtime_) runtime_->Stop(std::chrono::seconds(10));
  }

  void Start() {
    runtime_ = std::make_unique<ControllerRuntime>(
        consul_,
        [this](const std::string& name, const std::shared_ptr<http::CancelToken>&) {
          std::lock_guard lock(mu_);
          int n = ++calls_[name];
          auto it = failures_.find(name);
          if (it != failures_.end() && n <= it->second) {
            return ReconcileResult{true,  "unavailable", "agent down", milliseconds(0),
                                   false, std::nullopt};
          }
          return ReconcileResult{};
        },
        options_, &metrics_, [this] { return leader_.load(); });
    runtime_->Start();
  }

  int Calls(const std::string& name) {
    std::lock_guard lock(mu_);
    return calls_[name];
  }

  NiceMock<MockConsulClient> consul_;
  FakeKv kv_;
  RuntimeOptions options_;
  ControllerMetrics metrics_;
  std::atomic<bool> leader_{true};
  std::mutex mu_;
  std::map<std::string, int> calls_;
  std::map<std::string, int> failures_;
  std::unique_ptr<ControllerRuntime> runtime_;
};

TEST_F(RuntimeTest, SpecChangesEnqueueOnlyTheChangedRollouts) {
  kv_.Set("rollouts/spec/a", 1);
  kv_.Set("rollouts/spec/b", 1);
  Start();
  ASSERT_TRUE(Eventually([&] { return Calls("a") == 1 && Calls("b") == 1; }));
  kv_.Set("rollouts/spec/b", 7);
  ASSERT_TRUE(Eventually([&] { return Calls("b") == 2; }));
  kv_.Set("rollouts/control/a", 8);  // a control request reconciles its Rollout
  ASSERT_TRUE(Eventually([&] { return Calls("a") == 2; }));
  kv_.Erase("rollouts/spec/b");  // a deletion is reconciled too (to clean up)
  ASSERT_TRUE(Eventually([&] { return Calls("b") == 3; }));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(Calls("a"), 2);
  EXPECT_EQ(Calls("b"), 3);
  EXPECT_EQ(runtime_->KnownRollouts(), std::set<std::string>({"a"}));
}

TEST_F(RuntimeTest, FollowersDoNotReconcileAndANewLeaderResyncsEverything) {
  leader_ = false;
  kv_.Set("rollouts/spec/a", 1);
  kv_.Set("rollouts/spec/b", 1);
  Start();
  ASSERT_TRUE(Eventually([&] { return runtime_->KnownRollouts().size() == 2; }));
  ASSERT_TRUE(Eventually([&] { return runtime_->queue().Len() == 0; }));
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(Calls("a"), 0);
  EXPECT_EQ(Calls("b"), 0);
  leader_ = true;
  runtime_->EnqueueAll();
  ASSERT_TRUE(Eventually([&] { return Calls("a") == 1 && Calls("b") == 1; }));
}

TEST_F(RuntimeTest, FailedReconcilesAreRetriedWithBackoffAndCounted) {
  failures_["a"] = 2;
  kv_.Set("rollouts/spec/a", 1);
  Start();
  ASSERT_TRUE(Eventually([&] { return Calls("a") == 3; }));
  ASSERT_TRUE(Eventually([&] {
    return SerializeMetrics(*metrics_.registry())
               .find("rollouts_reconcile_total{result=\"success\"} 1") != std::string::npos;
  }));
  std::string text = SerializeMetrics(*metrics_.registry());
  EXPECT_THAT(text, HasSubstr("rollouts_reconcile_errors_total{kind=\"unavailable\"} 2"));
  EXPECT_THAT(text, HasSubstr("rollouts_workqueue_retries_total 2"));
  EXPECT_EQ(runtime_->queue().NumRequeues("a"), 0);  // forgotten after the success
}

TEST_F(RuntimeTest, WatchesAreLiveOnceBothAnswered) {
  EXPECT_FALSE(ControllerRuntime(consul_, {}, options_, nullptr, {}).WatchesLive().ready);
  Start();
  ASSERT_TRUE(Eventually([&] { return runtime_->WatchesLive().ready; }));
  EXPECT_THAT(SerializeMetrics(*metrics_.registry()),
              HasSubstr("rollouts_watch_last_success_timestamp_seconds{watch=\"spec\"}"));
}

TEST_F(RuntimeTest, StopWaitsForTheReconcileInFlight) {
  std::atomic<bool> inside{false};
  std::atomic<bool> finished{false};
  kv_.Set("rollouts/spec/slow", 1);
  runtime_ = std::make_unique<ControllerRuntime>(
      consul_,
      [&](const std::string&, const std::shared_ptr<http::CancelToken>&) {
        inside = true;
        std::this_thread::sleep_for(milliseconds(50));
        finished = true;
        return ReconcileResult{};
      },
      options_, &metrics_, [] { return true; });
  runtime_->Start();
  ASSERT_TRUE(Eventually([&] { return inside.load(); }));
  EXPECT_TRUE(runtime_->Stop(std::chrono::seconds(30)));
  EXPECT_TRUE(finished.load());
}

}  // namespace
}  // namespace rollouts::controller
