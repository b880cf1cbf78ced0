// Opt-in: the same client calls against a real Consul agent. Runs only when
// CONSUL_HTTP_ADDR is set (CONSUL_HTTP_TOKEN, CONSUL_CACERT, ... are honoured), and works
// under a random prefix that it deletes afterwards.
#include <gtest/gtest.h>

#include <cstdlib>
#include <future>
#include <random>

#include "clients/common/agent_config.h"
#include "clients/consul/consul_client.h"

namespace rollouts::consul {
namespace {

class ConsulLive : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* addr = std::getenv("CONSUL_HTTP_ADDR");
    if (addr == nullptr || *addr == 0) {
      GTEST_SKIP() << "CONSUL_HTTP_ADDR is not set: the live Consul suite runs only against a "
                      "real agent (e.g. CONSUL_HTTP_ADDR=127.0.0.1:8500 with `consul agent -dev`)";
    }
    client_ =
        std::make_unique<HttpConsulClient>(clients::ConsulConfigFromEnv(clients::ProcessEnv()));
    std::random_device rd;
    std::uniform_int_distribution<uint64_t> dist;
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(dist(rd)));
    prefix_ = std::string("rollouts-live-test/") + buf + "/";
  }

  void TearDown() override {
    if (!client_) return;
    if (!session_.empty()) client_->SessionDestroy(session_);
    auto cleaned = client_->KvDelete(prefix_, DeleteOptions{true, std::nullopt});
    EXPECT_TRUE(cleaned.ok()) << cleaned.error().ToString();
  }

  std::unique_ptr<HttpConsulClient> client_;
  std::string prefix_;
  std::string session_;
};

TEST_F(ConsulLive, StatusLeader) {
  auto leader = client_->StatusLeader();
  ASSERT_TRUE(leader.ok()) << leader.error().ToString();
  EXPECT_FALSE(leader->empty());
}

TEST_F(ConsulLive, KvPutGetCasDelete) {
  const std::string key = prefix_ + "status/hello";
  auto created = client_->KvPut(key, "v1", PutOptions{0, 7, "", ""});
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_TRUE(*created);
  auto again = client_->KvPut(key, "v1-again", PutOptions{0, {}, "", ""});
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_FALSE(*again);

  auto read = client_->KvGet(key, {});
  ASSERT_TRUE(read.ok()) << read.error().ToString();
  ASSERT_TRUE(read->value.has_value());
  EXPECT_EQ(read->value->value, "v1");
  EXPECT_EQ(read->value->flags, 7u);
  EXPECT_GT(read->meta.index, 0u);
  uint64_t modify = read->value->modify_index;

  auto stale = client_->KvPut(key, "stale", PutOptions{modify - 1, {}, "", ""});
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(*stale);
  auto fresh = client_->KvPut(key, "v2", PutOptions{modify, {}, "", ""});
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(*fresh);

  auto keys = client_->KvKeys(prefix_, "/", {});
  ASSERT_TRUE(keys.ok()) << keys.error().ToString();
  EXPECT_EQ(keys->value, std::vector<std::string>{prefix_ + "status/"});

  auto txn = client_->Txn({TxnOp{"check-index", key, std::nullopt, {}, 1, ""}});
  ASSERT_FALSE(txn.ok());
  EXPECT_EQ(txn.error().kind, ApiErrorKind::kConflict);

  auto current = client_->KvGet(key, {});
  ASSERT_TRUE(current.ok() && current->value);
  // What the controller's spec/control watches read: names and ModifyIndex only.
  auto indexes = client_->KvListIndexes(prefix_, {});
  ASSERT_TRUE(indexes.ok()) << indexes.error().ToString();
  EXPECT_EQ(indexes->value, (std::vector<KvIndex>{{key, current->value->modify_index}}));
  auto del_stale = client_->KvDelete(key, DeleteOptions{false, current->value->modify_index - 1});
  ASSERT_TRUE(del_stale.ok());
  EXPECT_FALSE(*del_stale);
  auto del = client_->KvDelete(key, DeleteOptions{false, current->value->modify_index});
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(*del);
  auto gone = client_->KvGet(key, {});
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->value.has_value());
}

TEST_F(ConsulLive, SessionLockLifecycle) {
  SessionRequest req;
  req.name = "rollouts-live-test";
  req.ttl = std::chrono::seconds(15);
  req.lock_delay = std::chrono::milliseconds(0);
  req.behavior = "release";
  auto created = client_->SessionCreate(req);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  session_ = *created;

  auto info = client_->SessionInfo(session_, {});
  ASSERT_TRUE(info.ok() && info->value) << (info.ok() ? "missing" : info.error().ToString());
  EXPECT_EQ(info->value->name, "rollouts-live-test");
  EXPECT_EQ(info->value->behavior, "release");
  auto renewed = client_->SessionRenew(session_);
  ASSERT_TRUE(renewed.ok()) << renewed.error().ToString();
  EXPECT_EQ(renewed->id, session_);

  const std::string lock = prefix_ + "leader";
  auto acquired = client_->KvPut(lock, "me", PutOptions{{}, {}, session_, ""});
  ASSERT_TRUE(acquired.ok()) << acquired.error().ToString();
  EXPECT_TRUE(*acquired);
  auto held = client_->KvGet(lock, {});
  ASSERT_TRUE(held.ok() && held->value);
  EXPECT_EQ(held->value->session, session_);
  auto released = client_->KvPut(lock, "", PutOptions{{}, {}, "", session_});
  ASSERT_TRUE(released.ok());
  EXPECT_TRUE(*released);

  auto destroyed = client_->SessionDestroy(session_);
  ASSERT_TRUE(destroyed.ok()) << destroyed.error().ToString();
  EXPECT_TRUE(*destroyed);
  auto after = client_->SessionInfo(session_, {});
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->value.has_value());
  auto renew_gone = client_->SessionRenew(session_);
  ASSERT_FALSE(renew_gone.ok());
  EXPECT_EQ(renew_gone.error().kind, ApiErrorKind::kNotFound);
  session_.clear();
}

TEST_F(ConsulLive, BlockingQueryWakesOnWrite) {
  const std::string key = prefix_ + "spec/hello";
  ASSERT_TRUE(client_->KvPut(key, "v1", {}).ok());
  auto first = client_->KvGet(key, {});
  ASSERT_TRUE(first.ok() && first->value);
  QueryOptions q;
  q.index = first->meta.index;
  q.wait = std::chrono::seconds(60);
  auto pending = std::async(std::launch::async, [&] { return client_->KvGet(key, q); });
  // Whether the write lands before or after the query parks, the answer must carry it:
  // Consul answers at once when the index already moved past q.index.
  auto put = client_->KvPut(key, "v2", {});
  ASSERT_TRUE(put.ok() && *put);
  auto woken = pending.get();
  ASSERT_TRUE(woken.ok()) << woken.error().ToString();
  ASSERT_TRUE(woken->value.has_value());
  EXPECT_EQ(woken->value->value, "v2");
  EXPECT_GT(woken->meta.index, first->meta.index);
}

}  // namespace
}  // namespace rollouts::consul
