#include "controller/leader_election.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "tests/controller/eventually.h"
#include "tests/controller/fake_clock.h"
#include "tests/controller/mock_consul_client.h"

namespace rollouts::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::_;
using ::testing::AnyNumber;
using ::testing::AtLeast;
using testing::FakeClock;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::Invoke;
using testing::MockConsulClient;
using ::testing::NiceMock;
using ::testing::Return;

constexpr char kKey[] = "rollouts/leader";

consul::QueryResult<std::optional<consul::KvPair>> Held(const std::string& session,
                                                        uint64_t index = 10) {
  consul::KvPair kv;
  kv.key = kKey;
  kv.session = session;
  kv.modify_index = index;
  return {kv, consul::QueryMeta{index, true, milliseconds(0)}};
}

clients::ApiError Err(clients::ApiErrorKind kind) {
  clients::ApiError e;
  e.kind = kind;
  e.status = kind == clients::ApiErrorKind::kNotFound ? 404 : 500;
  e.endpoint = "PUT /v1/session/renew/s1";
  e.message = "test failure";
  return e;
}

using testing::Eventually;

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.key = kKey;
    options_.holder = "host-a pid 1";
    options_.ttl = seconds(15);
    options_.lock_delay = seconds(15);
    options_.clock = &clock_;
    options_.uniform01 = [] { return 0.0; };
    options_.on_started_leading = [this] {
      std::lock_guard lock(mu_);
      started_.push_back(clock_.Now());
    };
    options_.on_stopped_leading = [this](const std::string& reason) {
      std::lock_guard lock(mu_);
      stopped_.push_back(clock_.Now());
      reasons_.push_back(reason);
    };
    ON_CALL(consul_, SessionCreate(_)).WillByDefault(Return(std::string("s1")));
    ON_CALL(consul_, SessionRenew(_)).WillByDefault(Return(consul::SessionEntry{}));
    ON_CALL(consul_, SessionDestroy(_)).WillByDefault(Return(true));
    ON_CALL(consul_, KvGet(_, _)).WillByDefault(Return(Held("s1")));
    ON_CALL(consul_, KvPut(_, _, _)).WillByDefault(Return(true));
  }

  void Start() {
    elector_ = std::make_unique<LeaderElector>(consul_, options_);
    thread_ = std::thread([this] { elector_->Run(stop_); });
  }
  void Stop() {
    stop_->Cancel();
    if (thread_.joinable()) thread_.join();
  }
  void TearDown() override { Stop(); }

  size_t Started() {
    std::lock_guard lock(mu_);
    return started_.size();
  }
  size_t Stopped() {
    std::lock_guard lock(mu_);
    return stopped_.size();
  }

  FakeClock clock_;
  NiceMock<MockConsulClient> consul_;
  LeaderElectionOptions options_;
  std::shared_ptr<http::CancelToken> stop_ = std::make_shared<http::CancelToken>();
  std::unique_ptr<LeaderElector> elector_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Clock::TimePoint> started_;
  std::vector<Clock::TimePoint> stopped_;
  std::vector<std::string> reasons_;
};

TEST_F(LeaderElectionTest, CreatesASessionAcquiresTheLockAndLeads) {
  EXPECT_CALL(consul_,
              SessionCreate(::testing::AllOf(Field(&consul::SessionRequest::ttl, seconds(15)),
                                             Field(&consul::SessionRequest::lock_delay,
                                                   std::optional<milliseconds>(seconds(15))),
                                             Field(&consul::SessionRequest::behavior, "release"))))
      .WillOnce(Return(std::string("s1")));
  EXPECT_CALL(consul_, KvPut(kKey, "host-a pid 1", Field(&consul::PutOptions::acquire, "s1")))
      .WillOnce(Return(true));
  EXPECT_CALL(consul_, KvPut(kKey, _, Field(&consul::PutOptions::release, "s1")))
      .Times(AnyNumber());
  std::atomic<int> renews{0};
  ON_CALL(consul_, SessionRenew("s1")).WillByDefault(Invoke([&](const std::string&) {
    ++renews;
    return clients::ApiResult<consul::SessionEntry>(consul::SessionEntry{});
  }));
  Start();
  ASSERT_TRUE(Eventually([&] { return elector_->IsLeader(); }));
  EXPECT_EQ(elector_->SessionId(), "s1");
  // Leadership is kept across many renew intervals (the fake clock moves on with each
  // of the elector's sleeps) while renews succeed.
  ASSERT_TRUE(Eventually([&] { return renews >= 6; }));
  EXPECT_TRUE(elector_->IsLeader());
  EXPECT_GE(clock_.sleeps(), 5);
  EXPECT_EQ(Started(), 1u);
  EXPECT_EQ(Stopped(), 0u);
}

TEST_F(LeaderElectionTest, ReleasesTheLockAndDestroysTheSessionOnShutdown) {
  Start();
  ASSERT_TRUE(Eventually([&] { return elector_->IsLeader(); }));
  ::testing::Mock::VerifyAndClearExpectations(&consul_);
  EXPECT_CALL(consul_, KvPut(kKey, _, Field(&consul::PutOptions::release, "s1")))
      .WillOnce(Return(true));
  EXPECT_CALL(consul_, SessionDestroy("s1")).WillOnce(Return(true));
  Stop();
  EXPECT_FALSE(elector_->IsLeader());
  EXPECT_EQ(elector_->SessionId(), "");
  EXPECT_EQ(Stopped(), 1u);
  EXPECT_EQ(elector_->LastStepDownReason(), "shutting down");
}

TEST_F(LeaderElectionTest, StepsDownBeforeTheTtlWhenRenewsFail) {
  ON_CALL(consul_, SessionRenew(_)).WillByDefault(Return(Err(clients::ApiErrorKind::kUnavailable)));
  // After stepping down it must not immediately win again with the broken agent.
  std::atomic<int> acquires{0};
  ON_CALL(consul_, KvPut(_, _, Field(&consul::PutOptions::acquire, "s1")))
      .WillByDefault(
          Invoke([&](auto&, auto&, auto&) -> clients::ApiResult<bool> { return ++acquires == 1; }));
  Start();
  ASSERT_TRUE(Eventually([&] { return Stopped() >= 1; }));
  std::lock_guard lock(mu_);
  ASSERT_EQ(started_.size(), 1u);
  // The lease was counted from before the acquire; stepping down happened strictly
  // before TTL had passed since then.
  EXPECT_LT(stopped_[0] - started_[0], seconds(15));
  EXPECT_GE(stopped_[0] - started_[0], seconds(13));  // and not needlessly early (margin 1.5s)
  EXPECT_THAT(reasons_[0], HasSubstr("lease deadline"));
  EXPECT_FALSE(elector_->IsLeader());
}

TEST_F(LeaderElectionTest, IsLeaderTurnsFalseAtTheDeadlineEvenWhileARenewHangs) {
  std::mutex gate;
  gate.lock();  // renews block until the test lets them go
  std::atomic<bool> renew_started{false};
  ON_CALL(consul_, SessionRenew(_)).WillByDefault(Invoke([&](const std::string&) {
    renew_started = true;
    std::lock_guard hold(gate);
    return clients::ApiResult<consul::SessionEntry>(Err(clients::ApiErrorKind::kTransport));
  }));
  options_.margin = seconds(2);
  Start();
  ASSERT_TRUE(Eventually([&] { return renew_started.load(); }));
  EXPECT_TRUE(elector_->IsLeader());
  clock_.Advance(seconds(12));  // 13 - 2 margin... still inside: lease = 15 - 2 = 13s
  EXPECT_TRUE(elector_->IsLeader());
  clock_.Advance(seconds(1));
  EXPECT_FALSE(elector_->IsLeader());  // no callback yet: the loop is stuck, writes stop
  gate.unlock();
  ASSERT_TRUE(Eventually([&] { return Stopped() >= 1; }));
}

TEST_F(LeaderElectionTest, InvalidatedSessionStepsDownAtOnceAndStartsOver) {
  std::atomic<int> renews{0};
  ON_CALL(consul_, SessionRenew(_)).WillByDefault(Invoke([&](const std::string&) {
    if (++renews == 2) {
      return clients::ApiResult<consul::SessionEntry>(Err(clients::ApiErrorKind::kNotFound));
    }
    return clients::ApiResult<consul::SessionEntry>(consul::SessionEntry{});
  }));
  EXPECT_CALL(consul_, SessionCreate(_))
      .WillOnce(Return(std::string("s1")))
      .WillRepeatedly(Return(std::string("s2")));
  ON_CALL(consul_, KvGet(_, _)).WillByDefault(Invoke([&](auto&, auto&) {
    return clients::ApiResult<consul::QueryResult<std::optional<consul::KvPair>>>(
        Held(elector_->SessionId()));
  }));
  Start();
  ASSERT_TRUE(Eventually([&] { return Stopped() >= 1; }));
  EXPECT_THAT(elector_->LastStepDownReason(), HasSubstr("invalidated"));
  // IsLeader() turns true just before on_started_leading runs: wait for the callback.
  ASSERT_TRUE(Eventually([&] { return Started() >= 2; }));
  EXPECT_TRUE(elector_->IsLeader());
  EXPECT_EQ(elector_->SessionId(), "s2");
  EXPECT_EQ(Started(), 2u);
}

TEST_F(LeaderElectionTest, ContendedLockMakesAFollowerThatKeepsItsSessionAlive) {
  ON_CALL(consul_, KvPut(_, _, _)).WillByDefault(Return(false));
  ON_CALL(consul_, KvGet(_, _)).WillByDefault(Return(Held("other-session")));
  EXPECT_CALL(consul_, KvPut(kKey, _, Field(&consul::PutOptions::acquire, "s1"))).Times(AtLeast(1));
  EXPECT_CALL(consul_, KvPut(kKey, _, Field(&consul::PutOptions::release, "s1"))).Times(0);
  EXPECT_CALL(consul_, SessionRenew("s1")).Times(AtLeast(3));
  EXPECT_CALL(consul_, KvGet(kKey, _)).Times(AtLeast(3));
  EXPECT_CALL(consul_, SessionDestroy("s1")).Times(1);
  Start();
  ASSERT_TRUE(Eventually([&] { return clock_.sleeps() >= 5; }));
  EXPECT_FALSE(elector_->IsLeader());
  EXPECT_EQ(Started(), 0u);
  Stop();
  EXPECT_EQ(Stopped(), 0u);
}

TEST_F(LeaderElectionTest, FollowerTakesOverWhenTheHolderReleases) {
  std::atomic<bool> released{false};
  std::atomic<bool> acquired{false};
  ON_CALL(consul_, KvPut(_, _, Field(&consul::PutOptions::acquire, "s1")))
      .WillByDefault(Invoke([&](auto&, auto&, auto&) {
        acquired = released.load();
        return clients::ApiResult<bool>(acquired.load());
      }));
  ON_CALL(consul_, KvGet(_, _)).WillByDefault(Invoke([&](auto&, auto&) {
    return clients::ApiResult<consul::QueryResult<std::optional<consul::KvPair>>>(
        acquired   ? Held("s1", 12)
        : released ? Held("", 11)
                   : Held("other-session", 10));
  }));
  Start();
  ASSERT_TRUE(Eventually([&] { return clock_.sleeps() >= 3; }));
  EXPECT_FALSE(elector_->IsLeader());
  released = true;
  ASSERT_TRUE(Eventually([&] { return elector_->IsLeader(); }));
  ASSERT_TRUE(Eventually([&] { return clock_.sleeps() >= 10; }));  // a few renews later
  EXPECT_TRUE(elector_->IsLeader());
  EXPECT_EQ(Started(), 1u);
  EXPECT_EQ(Stopped(), 0u);
}

}  // namespace
}  // namespace rollouts::controller
