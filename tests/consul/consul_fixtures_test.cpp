// Every recorded Consul exchange (tests/fixtures/api/consul) is replayed by the
// FixtureServer and decoded by the HttpConsulClient method that owns the endpoint. The
// expected values below are written out by hand from the recordings, so a decoder that
// drops or misreads a field fails here.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "clients/consul/consul_client.h"
#include "tests/support/fixture_server.h"

namespace rollouts::consul {
namespace {

using testing::Fixture;
using testing::FixtureServer;

constexpr char kSessionA[] = "d3640ec4-9f4e-b9fb-95b0-f2a33568e8b9";
constexpr char kSessionB[] = "85ee9346-5613-d855-ee5c-73199e601dce";
constexpr char kSessionDelete[] = "566c79ee-4fd7-2cc9-5cd8-789076ea2091";
constexpr char kSessionTtl[] = "a0078710-dcdf-7e89-9d75-c17b1b5ea61d";
constexpr char kFixtureToken[] = "00000000-0000-0000-0000-000000000000";

constexpr char kHelloSpecV1[] =
    R"({"name": "hello", "job": "hello", "targetVersion": "v1", "groups": {"blue": "hello-blue", "green": "hello-green"}})";
constexpr char kHelloSpecV2[] =
    R"({"name": "hello", "job": "hello", "targetVersion": "v2", "groups": {"blue": "hello-blue", "green": "hello-green"}})";
constexpr char kWebSpec[] = R"({"name": "web", "job": "web", "targetVersion": "v7"})";

// What a case gets: the recorded exchange (its request is the input) and a client
// pointed at a FixtureServer that serves only that exchange.
struct Harness {
  const Fixture& fixture;
  HttpConsulClient& client;
  http::Client& raw;  // for exchanges no typed call can produce (malformed requests)
};

using Case = std::function<void(Harness&)>;

QueryOptions NoBlock() {
  return QueryOptions{};
}
QueryOptions Blocking(uint64_t index, int wait_seconds) {
  QueryOptions q;
  q.index = index;
  q.wait = std::chrono::seconds(wait_seconds);
  return q;
}

void ExpectMeta(const QueryMeta& meta, uint64_t index, bool known_leader) {
  EXPECT_EQ(meta.index, index);
  EXPECT_EQ(meta.known_leader, known_leader);
  EXPECT_EQ(meta.last_contact.count(), 0);
}

void ExpectKv(const KvPair& kv, const std::string& key, const std::string& value, uint64_t flags,
              uint64_t create, uint64_t modify, uint64_t lock = 0,
              const std::string& session = "") {
  EXPECT_EQ(kv.key, key);
  EXPECT_EQ(kv.value, value);
  EXPECT_FALSE(kv.value_is_null);
  EXPECT_EQ(kv.flags, flags);
  EXPECT_EQ(kv.create_index, create);
  EXPECT_EQ(kv.modify_index, modify);
  EXPECT_EQ(kv.lock_index, lock);
  EXPECT_EQ(kv.session, session);
}

void ExpectPut(Harness& h, const std::string& key, const PutOptions& options, bool expected) {
  auto r = h.client.KvPut(key, h.fixture.RequestBodyBytes(), options);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, expected);
}

void ExpectGetSingle(Harness& h, const std::string& key, uint64_t index,
                     const std::function<void(const KvPair&)>& check,
                     const QueryOptions& q = QueryOptions{}) {
  auto r = h.client.KvGet(key, q);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ExpectMeta(r->meta, index, true);
  ASSERT_TRUE(r->value.has_value());
  check(*r->value);
}

void ExpectGetMissing(Harness& h, const std::string& key, uint64_t index,
                      const QueryOptions& q = QueryOptions{}) {
  auto r = h.client.KvGet(key, q);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_FALSE(r->value.has_value());
  ExpectMeta(r->meta, index, true);
}

void ExpectError(const ApiError& e, ApiErrorKind kind, int status, const std::string& message) {
  EXPECT_EQ(e.kind, kind) << e.ToString();
  EXPECT_EQ(e.status, status);
  EXPECT_EQ(e.message, message);
}

// One line per instance: "<alloc id prefix> <tags> <version> <port> <ready|not-ready>".
std::vector<std::string> Summarize(const std::vector<ServiceEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) {
    EXPECT_EQ(e.service.service, "hello");
    EXPECT_EQ(e.node.node, "vm");
    EXPECT_EQ(ServiceAddress(e), "127.0.0.1");
    EXPECT_EQ(e.service.meta.at("external-source"), "nomad");
    const std::string prefix = "_nomad-task-";
    EXPECT_EQ(e.service.id.rfind(prefix, 0), 0u) << e.service.id;
    std::string tags;
    for (const auto& t : e.service.tags) tags += (tags.empty() ? "" : ",") + t;
    out.push_back(e.service.id.substr(prefix.size(), 8) + " " + tags + " " +
                  e.service.meta.at("version") + " " + std::to_string(e.service.port) + " " +
                  (IsReady(e) ? "ready" : "not-ready"));
  }
  return out;
}

void ExpectHealth(Harness& h, const HealthServiceOptions& options, const QueryOptions& q,
                  uint64_t index, bool known_leader, const std::vector<std::string>& expected) {
  auto r = h.client.HealthService("hello", options, q);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ExpectMeta(r->meta, index, known_leader);
  EXPECT_EQ(Summarize(r->value), expected);
}

HealthServiceOptions Tag(const std::string& tag, bool passing = false) {
  return HealthServiceOptions{tag, passing};
}

// The four instances before the tag swap (080, 081, 088).
const std::vector<std::string> kBeforeSwap = {
    "2063bbf9 active v1 22187 ready", "30e44641 standby v2 27565 ready",
    "32093dde active v1 20763 ready", "9fbdfd77 standby v2 27528 ready"};

// A raw exchange: send the recorded request as is and classify the answer the way the
// client does for that endpoint.
ApiError RawError(Harness& h, Endpoint endpoint) {
  http::Request req;
  auto method = http::ParseMethod(h.fixture.method);
  EXPECT_TRUE(method.has_value());
  req.method = method.value_or(http::Method::kGet);
  req.target = h.fixture.path;
  req.body = h.fixture.RequestBodyBytes();
  auto result = h.raw.Send(req);
  EXPECT_TRUE(result.ok());
  if (!result.ok()) return ApiError{};
  std::string label = h.fixture.method + " " + h.fixture.path.substr(0, h.fixture.path.find('?'));
  auto error = ClassifyConsulResponse(endpoint, label, result.response(), "");
  EXPECT_TRUE(error.has_value()) << "HTTP " << result.response().status << " classified as success";
  return error.value_or(ApiError{});
}

const std::map<std::string, Case>& Cases() {
  static const std::map<std::string, Case> cases = {
      {"001-status-leader.json",
       [](Harness& h) {
         auto r = h.client.StatusLeader();
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_EQ(*r, "127.0.0.1:8300");
       }},
      {"002-status-peers.json",
       [](Harness& h) {
         auto r = h.client.StatusPeers();
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_EQ(*r, std::vector<std::string>{"127.0.0.1:8300"});
       }},
      {"003-kv-put-plain.json", [](Harness& h) { ExpectPut(h, "rollouts/spec/hello", {}, true); }},
      {"004-kv-put-flags.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/spec/web", PutOptions{{}, 42, "", ""}, true);
       }},
      {"005-kv-put-text.json", [](Harness& h) { ExpectPut(h, "rollouts/spec/api", {}, true); }},
      {"006-kv-put-cas0-create.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/status/hello", PutOptions{0, {}, "", ""}, true);
       }},
      {"007-kv-put-cas0-exists.json",
       [](Harness& h) {
         // cas=0 on an existing key: Consul's `false`, a value, not an error.
         ExpectPut(h, "rollouts/status/hello", PutOptions{0, {}, "", ""}, false);
       }},
      {"008-kv-get-single.json",
       [](Harness& h) {
         ExpectGetSingle(h, "rollouts/status/hello", 29, [](const KvPair& kv) {
           ExpectKv(kv, "rollouts/status/hello", R"({"phase": "Pending", "observedGeneration": 1})",
                    0, 29, 29);
         });
       }},
      {"009-kv-put-cas-ok.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/status/hello", PutOptions{29, {}, "", ""}, true);
       }},
      {"010-kv-put-cas-stale.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/status/hello", PutOptions{29, {}, "", ""}, false);
       }},
      {"011-kv-get-after-cas.json",
       [](Harness& h) {
         ExpectGetSingle(h, "rollouts/status/hello", 31, [](const KvPair& kv) {
           ExpectKv(kv, "rollouts/status/hello",
                    R"({"phase": "Progressing", "observedGeneration": 1})", 0, 29, 31);
         });
       }},
      {"012-kv-get-flags.json",
       [](Harness& h) {
         ExpectGetSingle(h, "rollouts/spec/web", 27, [](const KvPair& kv) {
           ExpectKv(kv, "rollouts/spec/web", kWebSpec, 42, 27, 27);
         });
       }},
      {"013-kv-get-missing.json",
       [](Harness& h) { ExpectGetMissing(h, "rollouts/spec/missing", 31); }},
      {"014-kv-get-raw.json",
       [](Harness& h) {
         auto r = h.client.KvGetRaw("rollouts/spec/hello", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_EQ(r->value, std::optional<std::string>(kHelloSpecV1));
         ExpectMeta(r->meta, 26, true);
       }},
      {"015-kv-get-raw-text.json",
       [](Harness& h) {
         auto r = h.client.KvGetRaw("rollouts/spec/api", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_EQ(r->value, std::optional<std::string>("plain text value, not JSON"));
         ExpectMeta(r->meta, 28, true);
       }},
      {"016-kv-put-control.json",
       [](Harness& h) { ExpectPut(h, "rollouts/control/hello", {}, true); }},
      {"017-kv-get-recurse.json",
       [](Harness& h) {
         auto r = h.client.KvList("rollouts/", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 33, true);
         ASSERT_EQ(r->value.size(), 5u);
         ExpectKv(r->value[0], "rollouts/control/hello",
                  R"({"action": "promote", "requestedBy": "rolloutctl"})", 0, 33, 33);
         ExpectKv(r->value[1], "rollouts/spec/api", "plain text value, not JSON", 0, 28, 28);
         ExpectKv(r->value[2], "rollouts/spec/hello", kHelloSpecV1, 0, 26, 26);
         ExpectKv(r->value[3], "rollouts/spec/web", kWebSpec, 42, 27, 27);
         ExpectKv(r->value[4], "rollouts/status/hello",
                  R"({"phase": "Progressing", "observedGeneration": 1})", 0, 29, 31);
       }},
      {"018-kv-get-recurse-subprefix.json",
       [](Harness& h) {
         auto r = h.client.KvList("rollouts/spec/", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 28, true);
         ASSERT_EQ(r->value.size(), 3u);
         ExpectKv(r->value[0], "rollouts/spec/api", "plain text value, not JSON", 0, 28, 28);
         ExpectKv(r->value[1], "rollouts/spec/hello", kHelloSpecV1, 0, 26, 26);
         ExpectKv(r->value[2], "rollouts/spec/web", kWebSpec, 42, 27, 27);
       }},
      {"019-kv-get-keys.json",
       [](Harness& h) {
         auto r = h.client.KvKeys("rollouts/", "", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 33, true);
         EXPECT_EQ(r->value,
                   (std::vector<std::string>{"rollouts/control/hello", "rollouts/spec/api",
                                             "rollouts/spec/hello", "rollouts/spec/web",
                                             "rollouts/status/hello"}));
       }},
      {"020-kv-get-keys-separator.json",
       [](Harness& h) {
         auto r = h.client.KvKeys("rollouts/", "/", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 33, true);
         EXPECT_EQ(r->value, (std::vector<std::string>{"rollouts/control/", "rollouts/spec/",
                                                       "rollouts/status/"}));
       }},
      {"021-kv-get-recurse-empty-prefix.json",
       [](Harness& h) {
         auto r = h.client.KvList("nothing-here/", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_TRUE(r->value.empty());
         ExpectMeta(r->meta, 33, true);
       }},
      {"022-kv-get-keys-empty-prefix.json",
       [](Harness& h) {
         auto r = h.client.KvKeys("nothing-here/", "", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_TRUE(r->value.empty());
         ExpectMeta(r->meta, 33, true);
       }},
      {"023-kv-get-with-token-header.json",
       [](Harness& h) {
         // The harness configures the fixture's token for this file; the check that it
         // arrived as X-Consul-Token is in the test body.
         ExpectGetSingle(h, "rollouts/spec/web", 27, [](const KvPair& kv) {
           ExpectKv(kv, "rollouts/spec/web", kWebSpec, 42, 27, 27);
         });
       }},
      {"024-kv-delete-single.json",
       [](Harness& h) {
         auto r = h.client.KvDelete("rollouts/spec/api", {});
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_TRUE(*r);
       }},
      {"025-kv-delete-missing.json",
       [](Harness& h) {
         auto r = h.client.KvDelete("rollouts/spec/does-not-exist", {});
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_TRUE(*r);
       }},
      {"026-kv-get-tmp-before-delete-recurse.json",
       [](Harness& h) {
         auto r = h.client.KvKeys("rollouts/tmp/", "", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 36, true);
         EXPECT_EQ(r->value, (std::vector<std::string>{"rollouts/tmp/a", "rollouts/tmp/b",
                                                       "rollouts/tmp/c/d"}));
       }},
      {"027-kv-delete-recurse.json",
       [](Harness& h) {
         auto r = h.client.KvDelete("rollouts/tmp/", DeleteOptions{true, std::nullopt});
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_TRUE(*r);
       }},
      {"028-kv-get-tmp-after-delete-recurse.json",
       [](Harness& h) {
         auto r = h.client.KvKeys("rollouts/tmp/", "", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_TRUE(r->value.empty());
         ExpectMeta(r->meta, 39, true);  // the delete's tombstone index
       }},
      {"029-kv-get-for-delete-cas.json",
       [](Harness& h) {
         ExpectGetSingle(h, "rollouts/spec/web", 27, [](const KvPair& kv) {
           ExpectKv(kv, "rollouts/spec/web", kWebSpec, 42, 27, 27);
         });
       }},
      {"030-kv-delete-cas-stale.json",
       [](Harness& h) {
         auto r = h.client.KvDelete("rollouts/spec/web", DeleteOptions{false, 26});
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_FALSE(*r);
       }},
      {"031-kv-delete-cas-ok.json",
       [](Harness& h) {
         auto r = h.client.KvDelete("rollouts/spec/web", DeleteOptions{false, 27});
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_TRUE(*r);
       }},
      {"032-kv-blocking-timeout.json",
       [](Harness& h) {
         ExpectGetSingle(
             h, "rollouts/spec/hello", 26,
             [](const KvPair& kv) { ExpectKv(kv, "rollouts/spec/hello", kHelloSpecV1, 0, 26, 26); },
             Blocking(26, 2));
       }},
      {"033-kv-blocking-woken.json",
       [](Harness& h) {
         ExpectGetSingle(
             h, "rollouts/spec/hello", 42,
             [](const KvPair& kv) { ExpectKv(kv, "rollouts/spec/hello", kHelloSpecV2, 0, 26, 42); },
             Blocking(26, 30));
       }},
      {"034-kv-blocking-woken-write.json",
       [](Harness& h) { ExpectPut(h, "rollouts/spec/hello", {}, true); }},
      {"035-kv-blocking-recurse-unrelated-write.json",
       [](Harness& h) {
         auto r = h.client.KvList("rollouts/spec/", Blocking(42, 3));
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 42, true);
         ASSERT_EQ(r->value.size(), 1u);
         ExpectKv(r->value[0], "rollouts/spec/hello", kHelloSpecV2, 0, 26, 42);
       }},
      {"036-kv-blocking-recurse-woken.json",
       [](Harness& h) {
         auto r = h.client.KvList("rollouts/spec/", Blocking(42, 30));
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 44, true);
         ASSERT_EQ(r->value.size(), 2u);
         ExpectKv(r->value[0], "rollouts/spec/hello", kHelloSpecV2, 0, 26, 42);
         ExpectKv(r->value[1], "rollouts/spec/newsvc",
                  R"({"name": "newsvc", "targetVersion": "v1"})", 0, 44, 44);
       }},
      {"037-kv-blocking-recurse-woken-write.json",
       [](Harness& h) { ExpectPut(h, "rollouts/spec/newsvc", {}, true); }},
      {"038-kv-blocking-missing-key-timeout.json",
       [](Harness& h) { ExpectGetMissing(h, "rollouts/spec/missing", 44, Blocking(44, 2)); }},
      {"039-txn-ok.json",
       [](Harness& h) {
         auto r = h.client.Txn({
             TxnOp{"set", "rollouts/status/web", R"({"phase":"Progressing"})", {}, {}, ""},
             TxnOp{"cas",
                   "rollouts/status/hello",
                   R"({"phase":"Healthy","observedGeneration":2})",
                   {},
                   31,
                   ""},
             TxnOp{"get", "rollouts/spec/hello", std::nullopt, {}, {}, ""},
         });
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ASSERT_EQ(r->results.size(), 3u);
         EXPECT_EQ(r->results[0].key, "rollouts/status/web");
         EXPECT_TRUE(r->results[0].value_is_null);
         EXPECT_EQ(r->results[0].create_index, 43u);
         EXPECT_EQ(r->results[0].modify_index, 45u);
         EXPECT_EQ(r->results[1].key, "rollouts/status/hello");
         EXPECT_TRUE(r->results[1].value_is_null);
         EXPECT_EQ(r->results[1].modify_index, 45u);
         ExpectKv(r->results[2], "rollouts/spec/hello", kHelloSpecV2, 0, 26, 42);
       }},
      {"040-txn-check-index-fail.json",
       [](Harness& h) {
         auto r = h.client.Txn({
             TxnOp{"check-index", "rollouts/status/hello", std::nullopt, {}, 1, ""},
             TxnOp{
                 "set", "rollouts/status/web", R"({"phase":"SHOULD-NOT-BE-WRITTEN"})", {}, {}, ""},
         });
         ASSERT_FALSE(r.ok());
         ExpectError(r.error(), ApiErrorKind::kConflict, 409,
                     "op 0: failed index check for key \"rollouts/status/hello\", current modify "
                     "index 45 != 1");
         EXPECT_EQ(r.error().endpoint, "PUT /v1/txn");
       }},
      {"041-txn-cas-and-check-not-exists-fail.json",
       [](Harness& h) {
         auto r = h.client.Txn({
             TxnOp{"cas", "rollouts/status/hello", "x", {}, 2, ""},
             TxnOp{"check-not-exists", "rollouts/spec/hello", std::nullopt, {}, {}, ""},
         });
         ASSERT_FALSE(r.ok());
         ExpectError(r.error(), ApiErrorKind::kConflict, 409,
                     "op 0: failed to set key \"rollouts/status/hello\", index is stale; op 1: key "
                     "\"rollouts/spec/hello\" exists");
       }},
      {"042-txn-after-failed-get.json",
       [](Harness& h) {
         // The failed txn in 040 did not apply its set: the value is the one from 039.
         ExpectGetSingle(h, "rollouts/status/web", 45, [](const KvPair& kv) {
           ExpectKv(kv, "rollouts/status/web", R"({"phase":"Progressing"})", 0, 43, 45);
         });
       }},
      {"043-session-create.json",
       [](Harness& h) {
         auto r = h.client.SessionCreate(SessionRequest{"rollouts-leader", std::chrono::seconds(15),
                                                        std::chrono::seconds(5), "release",
                                                        std::nullopt, ""});
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_EQ(*r, kSessionA);
       }},
      {"044-session-create-second.json",
       [](Harness& h) {
         auto r = h.client.SessionCreate(
             SessionRequest{"rollouts-leader-b", std::chrono::seconds(15), std::chrono::seconds(5),
                            "release", std::nullopt, ""});
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_EQ(*r, kSessionB);
       }},
      {"045-session-info.json",
       [](Harness& h) {
         auto r = h.client.SessionInfo(kSessionA, NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 49, true);
         ASSERT_TRUE(r->value.has_value());
         const SessionEntry& s = *r->value;
         EXPECT_EQ(s.id, kSessionA);
         EXPECT_EQ(s.name, "rollouts-leader");
         EXPECT_EQ(s.node, "vm");
         EXPECT_EQ(s.lock_delay, std::chrono::seconds(5));
         EXPECT_EQ(s.behavior, "release");
         EXPECT_EQ(s.ttl, "15s");
         EXPECT_EQ(s.node_checks, std::vector<std::string>{"serfHealth"});
         EXPECT_TRUE(s.service_checks.empty());
         EXPECT_EQ(s.create_index, 48u);
         EXPECT_EQ(s.modify_index, 48u);
       }},
      {"046-session-renew.json",
       [](Harness& h) {
         auto r = h.client.SessionRenew(kSessionA);
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_EQ(r->id, kSessionA);
         EXPECT_EQ(r->ttl, "15s");
         EXPECT_EQ(r->lock_delay, std::chrono::seconds(5));
       }},
      {"047-session-list.json",
       [](Harness& h) {
         auto r = h.client.SessionList(NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 49, true);
         ASSERT_EQ(r->value.size(), 2u);
         EXPECT_EQ(r->value[0].id, kSessionB);
         EXPECT_EQ(r->value[0].name, "rollouts-leader-b");
         EXPECT_EQ(r->value[0].create_index, 49u);
         EXPECT_EQ(r->value[1].id, kSessionA);
         EXPECT_EQ(r->value[1].name, "rollouts-leader");
       }},
      {"048-kv-acquire-ok.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/leader", PutOptions{{}, {}, kSessionA, ""}, true);
       }},
      {"049-kv-get-locked.json",
       [](Harness& h) {
         ExpectGetSingle(h, "rollouts/leader", 50, [](const KvPair& kv) {
           ExpectKv(kv, "rollouts/leader", R"({"holder": "controller-a", "since": "capture"})", 0,
                    50, 50, 1, kSessionA);
         });
       }},
      {"050-kv-acquire-again-same-session.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/leader", PutOptions{{}, {}, kSessionA, ""}, true);
       }},
      {"051-kv-acquire-contended.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/leader", PutOptions{{}, {}, kSessionB, ""}, false);
       }},
      {"052-kv-release-wrong-session.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/leader", PutOptions{{}, {}, "", kSessionB}, false);
       }},
      {"053-kv-release-ok.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/leader", PutOptions{{}, {}, "", kSessionA}, true);
       }},
      {"054-kv-get-released.json",
       [](Harness& h) {
         ExpectGetSingle(h, "rollouts/leader", 54, [](const KvPair& kv) {
           EXPECT_EQ(kv.key, "rollouts/leader");
           EXPECT_TRUE(kv.value_is_null);  // release with an empty body
           EXPECT_EQ(kv.value, "");
           EXPECT_EQ(kv.lock_index, 1u);
           EXPECT_EQ(kv.session, "");
           EXPECT_EQ(kv.modify_index, 54u);
         });
       }},
      {"055-kv-acquire-after-release.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/leader", PutOptions{{}, {}, kSessionA, ""}, true);
       }},
      {"056-session-destroy.json",
       [](Harness& h) {
         auto r = h.client.SessionDestroy(kSessionA);
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_TRUE(*r);
       }},
      {"057-kv-get-after-session-destroy.json",
       [](Harness& h) {
         ExpectGetSingle(h, "rollouts/leader", 56, [](const KvPair& kv) {
           // Behavior=release: the key and value stay, the Session is gone.
           ExpectKv(kv, "rollouts/leader", R"({"holder": "controller-a", "term": 2})", 0, 50, 56, 2,
                    "");
         });
       }},
      {"058-kv-acquire-during-lock-delay.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/leader", PutOptions{{}, {}, kSessionB, ""}, false);
       }},
      {"059-kv-acquire-after-lock-delay.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/leader", PutOptions{{}, {}, kSessionB, ""}, true);
       }},
      {"060-session-info-destroyed.json",
       [](Harness& h) {
         auto r = h.client.SessionInfo(kSessionA, NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_FALSE(r->value.has_value());
         ExpectMeta(r->meta, 56, true);
       }},
      {"061-session-renew-destroyed.json",
       [](Harness& h) {
         auto r = h.client.SessionRenew(kSessionA);
         ASSERT_FALSE(r.ok());
         ExpectError(r.error(), ApiErrorKind::kNotFound, 404,
                     "Session id 'd3640ec4-9f4e-b9fb-95b0-f2a33568e8b9' not found");
       }},
      {"062-session-create-behavior-delete.json",
       [](Harness& h) {
         auto r = h.client.SessionCreate(SessionRequest{"ephemeral", std::chrono::seconds(15),
                                                        std::chrono::seconds(0), "delete",
                                                        std::nullopt, ""});
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_EQ(*r, kSessionDelete);
       }},
      {"063-kv-acquire-behavior-delete.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/routers/r1", PutOptions{{}, {}, kSessionDelete, ""}, true);
       }},
      {"064-session-destroy-behavior-delete.json",
       [](Harness& h) {
         auto r = h.client.SessionDestroy(kSessionDelete);
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_TRUE(*r);
       }},
      {"065-kv-get-after-behavior-delete.json",
       [](Harness& h) { ExpectGetMissing(h, "rollouts/routers/r1", 61); }},
      {"066-session-create-ttl10.json",
       [](Harness& h) {
         auto r = h.client.SessionCreate(SessionRequest{"ttl-expiry", std::chrono::seconds(10),
                                                        std::chrono::seconds(0), "release",
                                                        std::nullopt, ""});
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_EQ(*r, kSessionTtl);
       }},
      {"067-kv-acquire-ttl10.json",
       [](Harness& h) {
         ExpectPut(h, "rollouts/ttl-lock", PutOptions{{}, {}, kSessionTtl, ""}, true);
       }},
      {"068-kv-blocking-woken-by-ttl-expiry.json",
       [](Harness& h) {
         ExpectGetSingle(
             h, "rollouts/ttl-lock", 65,
             [](const KvPair& kv) { ExpectKv(kv, "rollouts/ttl-lock", "held", 0, 63, 65, 1, ""); },
             Blocking(63, 60));
       }},
      {"069-session-info-expired.json",
       [](Harness& h) {
         auto r = h.client.SessionInfo(kSessionTtl, NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_FALSE(r->value.has_value());
         ExpectMeta(r->meta, 65, true);
       }},
      {"070-error-bad-index.json",
       [](Harness& h) {
         ExpectError(RawError(h, Endpoint::kKvRead), ApiErrorKind::kBadRequest, 400,
                     "Invalid index");
       }},
      {"071-error-bad-wait.json",
       [](Harness& h) {
         ExpectError(RawError(h, Endpoint::kKvRead), ApiErrorKind::kBadRequest, 400,
                     "Invalid wait time");
       }},
      {"072-error-session-create-bad-json.json",
       [](Harness& h) {
         ExpectError(RawError(h, Endpoint::kSessionCreate), ApiErrorKind::kBadRequest, 400,
                     "Request decode failed: unexpected EOF");
       }},
      {"073-error-session-create-bad-ttl.json",
       [](Harness& h) {
         SessionRequest req;
         req.name = "short";
         req.ttl = std::chrono::seconds(1);
         auto r = h.client.SessionCreate(req);
         ASSERT_FALSE(r.ok());
         ExpectError(r.error(), ApiErrorKind::kBadRequest, 500,
                     "Invalid Session TTL '1000000000', must be between [10s=24h0m0s]");
       }},
      {"074-error-kv-bad-cas.json",
       [](Harness& h) {
         ApiError e = RawError(h, Endpoint::kKvWrite);
         ExpectError(e, ApiErrorKind::kBadRequest, 500,
                     "strconv.ParseUint: parsing \"abc\": invalid syntax");
         EXPECT_EQ(e.endpoint, "PUT /v1/kv/rollouts/x");
       }},
      {"075-error-kv-acquire-unknown-session.json",
       [](Harness& h) {
         auto r = h.client.KvPut("rollouts/x", "v",
                                 PutOptions{{}, {}, "11111111-2222-3333-4444-555555555555", ""});
         ASSERT_FALSE(r.ok());
         ExpectError(r.error(), ApiErrorKind::kBadRequest, 500,
                     "raft apply failed: invalid session \"11111111-2222-3333-4444-555555555555\"");
       }},
      {"076-error-txn-bad-verb.json",
       [](Harness& h) {
         auto r = h.client.Txn({TxnOp{"frobnicate", "rollouts/x", std::nullopt, {}, {}, ""}});
         ASSERT_FALSE(r.ok());
         ExpectError(r.error(), ApiErrorKind::kConflict, 409,
                     "op 0: unknown KV verb \"frobnicate\"");
       }},
      {"077-error-method-not-allowed.json",
       [](Harness& h) {
         ExpectError(RawError(h, Endpoint::kRead), ApiErrorKind::kBadRequest, 405,
                     "method POST not allowed");
       }},
      {"078-error-unknown-endpoint.json",
       [](Harness& h) {
         ExpectError(RawError(h, Endpoint::kRead), ApiErrorKind::kNotFound, 404,
                     "HTTP 404 with an empty body");
       }},
      {"079-catalog-services.json",
       [](Harness& h) {
         auto r = h.client.CatalogServices(NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 74, true);
         std::map<std::string, std::vector<std::string>> expected = {
             {"consul", {}},
             {"hello", {"active", "standby"}},
             {"nomad", {"http", "serf", "rpc"}},
             {"nomad-client", {"http"}}};
         EXPECT_EQ(r->value, expected);
       }},
      {"080-health-service-all.json",
       [](Harness& h) { ExpectHealth(h, {}, NoBlock(), 79, true, kBeforeSwap); }},
      {"081-health-service-passing.json",
       [](Harness& h) { ExpectHealth(h, Tag("", true), NoBlock(), 79, true, kBeforeSwap); }},
      {"082-health-service-tag-active.json",
       [](Harness& h) {
         ExpectHealth(h, Tag("active"), NoBlock(), 79, true,
                      {"2063bbf9 active v1 22187 ready", "32093dde active v1 20763 ready"});
       }},
      {"083-health-service-tag-standby.json",
       [](Harness& h) {
         ExpectHealth(h, Tag("standby"), NoBlock(), 79, true,
                      {"30e44641 standby v2 27565 ready", "9fbdfd77 standby v2 27528 ready"});
       }},
      {"084-health-service-tag-active-passing.json",
       [](Harness& h) {
         ExpectHealth(h, Tag("active", true), NoBlock(), 79, true,
                      {"2063bbf9 active v1 22187 ready", "32093dde active v1 20763 ready"});
       }},
      {"085-catalog-service.json",
       [](Harness& h) {
         auto r = h.client.CatalogService("hello", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 79, true);
         ASSERT_EQ(r->value.size(), 4u);
         std::vector<std::string> got;
         for (const auto& e : r->value) {
           EXPECT_EQ(e.node, "vm");
           EXPECT_EQ(e.address, "127.0.0.1");
           EXPECT_EQ(e.service_name, "hello");
           EXPECT_EQ(e.service_address, "127.0.0.1");
           got.push_back(e.service_id.substr(12, 8) + " " + e.service_tags.at(0) + " " +
                         e.service_meta.at("version") + " " + std::to_string(e.service_port));
         }
         EXPECT_EQ(got, (std::vector<std::string>{
                            "2063bbf9 active v1 22187", "30e44641 standby v2 27565",
                            "32093dde active v1 20763", "9fbdfd77 standby v2 27528"}));
       }},
      {"086-health-service-missing.json",
       [](Harness& h) {
         auto r = h.client.HealthService("nosuch", {}, NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_TRUE(r->value.empty());
         ExpectMeta(r->meta, 79, true);
       }},
      {"087-health-checks-service.json",
       [](Harness& h) {
         auto r = h.client.HealthChecks("hello", NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 79, true);
         ASSERT_EQ(r->value.size(), 4u);
         const HealthCheck& c = r->value[0];
         EXPECT_EQ(c.check_id, "_nomad-check-609b88029812bc52ff8aa9eebb95963fbb1e3017");
         EXPECT_EQ(c.name, "hello-http");
         EXPECT_EQ(c.status, "passing");
         EXPECT_EQ(c.node, "vm");
         EXPECT_EQ(c.type, "http");
         EXPECT_EQ(c.service_name, "hello");
         EXPECT_EQ(c.service_id,
                   "_nomad-task-2063bbf9-4a1b-e2e2-ccc8-7902607ece6a-group-hello-blue-hello-http");
         EXPECT_EQ(c.service_tags, std::vector<std::string>{"active"});
         EXPECT_EQ(c.output.rfind("HTTP GET http://127.0.0.1:22187/: 200 OK", 0), 0u);
         std::vector<std::string> tags;
         for (const auto& check : r->value) tags.push_back(check.service_tags.at(0));
         EXPECT_EQ(tags, (std::vector<std::string>{"active", "active", "standby", "standby"}));
       }},
      {"088-health-blocking-timeout.json",
       [](Harness& h) { ExpectHealth(h, {}, Blocking(79, 2), 79, false, kBeforeSwap); }},
      {"089-health-blocking-woken-by-tag-swap.json",
       [](Harness& h) {
         // Streaming keeps 32093dde under ?tag=active in this state: blocking tag filters
         // are not trusted, HasTag on the unfiltered list is.
         ExpectHealth(h, Tag("active"), Blocking(79, 60), 82, false,
                      {"2063bbf9 active v1 22187 ready", "30e44641 active v2 27565 ready",
                       "32093dde active v1 20763 ready"});
       }},
      {"090-health-chain-tag-swap-1.json",
       [](Harness& h) {
         ExpectHealth(h, {}, Blocking(79, 20), 82, false,
                      {"2063bbf9 active v1 22187 ready", "30e44641 active v2 27565 ready",
                       "32093dde active v1 20763 ready", "9fbdfd77 standby v2 27528 ready"});
       }},
      {"091-health-chain-tag-swap-2.json",
       [](Harness& h) {
         ExpectHealth(h, {}, Blocking(82, 20), 83, false,
                      {"2063bbf9 active v1 22187 ready", "30e44641 active v2 27565 ready",
                       "32093dde standby v1 20763 ready", "9fbdfd77 standby v2 27528 ready"});
       }},
      {"092-health-chain-tag-swap-3.json",
       [](Harness& h) {
         ExpectHealth(h, {}, Blocking(83, 20), 84, false,
                      {"2063bbf9 active v1 22187 ready", "30e44641 active v2 27565 ready",
                       "32093dde standby v1 20763 ready", "9fbdfd77 active v2 27528 ready"});
       }},
      {"093-health-chain-tag-swap-4.json",
       [](Harness& h) {
         ExpectHealth(h, {}, Blocking(84, 20), 85, false,
                      {"2063bbf9 standby v1 22187 ready", "30e44641 active v2 27565 ready",
                       "32093dde standby v1 20763 ready", "9fbdfd77 active v2 27528 ready"});
       }},
      {"094-health-service-tag-active-after-swap.json",
       [](Harness& h) {
         ExpectHealth(h, Tag("active", true), NoBlock(), 85, true,
                      {"30e44641 active v2 27565 ready", "9fbdfd77 active v2 27528 ready"});
       }},
      {"095-health-streaming-tag-active-stale.json",
       [](Harness& h) {
         // Consul 1.10 bug: all four come back under ?tag=active although two are standby
         // now; the decoder reports what Consul said (the tags are not rewritten).
         ExpectHealth(h, Tag("active"), Blocking(1, 5), 85, false,
                      {"2063bbf9 active v1 22187 ready", "30e44641 active v2 27565 ready",
                       "32093dde active v1 20763 ready", "9fbdfd77 active v2 27528 ready"});
       }},
      {"096-health-streaming-tag-active-passing-stale.json",
       [](Harness& h) {
         ExpectHealth(h, Tag("active", true), Blocking(1, 5), 85, false,
                      {"2063bbf9 active v1 22187 ready", "30e44641 active v2 27565 ready",
                       "32093dde active v1 20763 ready", "9fbdfd77 active v2 27528 ready"});
       }},
      {"097-health-streaming-tag-standby-fresh.json",
       [](Harness& h) {
         ExpectHealth(h, Tag("standby"), Blocking(1, 5), 85, false,
                      {"2063bbf9 standby v1 22187 ready", "32093dde standby v1 20763 ready"});
       }},
      {"098-health-chain-destructive-1.json",
       [](Harness& h) {
         ExpectHealth(h, {}, Blocking(85, 30), 86, false,
                      {"2063bbf9 standby v1 22187 ready", "32093dde standby v1 20763 ready",
                       "9fbdfd77 active v2 27528 ready"});
       }},
      {"099-health-chain-destructive-2.json",
       [](Harness& h) {
         // 843f01f6 has only serfHealth: passing for ?passing, but not ready.
         ExpectHealth(h, {}, Blocking(86, 30), 87, false,
                      {"2063bbf9 standby v1 22187 ready", "32093dde standby v1 20763 ready",
                       "843f01f6 active v3 27677 not-ready", "9fbdfd77 active v2 27528 ready"});
       }},
      {"100-health-chain-destructive-3.json",
       [](Harness& h) {
         ExpectHealth(h, {}, Blocking(87, 30), 88, false,
                      {"2063bbf9 standby v1 22187 ready", "32093dde standby v1 20763 ready",
                       "843f01f6 active v3 27677 not-ready", "9fbdfd77 active v2 27528 ready"});
       }},
      {"101-health-chain-destructive-4.json",
       [](Harness& h) {
         ExpectHealth(h, {}, Blocking(88, 30), 90, false,
                      {"2063bbf9 standby v1 22187 ready", "32093dde standby v1 20763 ready",
                       "843f01f6 active v3 27677 ready", "9fbdfd77 active v2 27528 ready"});
       }},
      {"102-health-chain-destructive-5.json",
       [](Harness& h) {
         ExpectHealth(h, {}, Blocking(90, 30), 91, false,
                      {"2063bbf9 standby v1 22187 ready", "32093dde standby v1 20763 ready",
                       "843f01f6 active v3 27677 ready"});
       }},
      {"103-health-chain-destructive-6.json",
       [](Harness& h) {
         ExpectHealth(h, {}, Blocking(91, 30), 92, false,
                      {"03f1a223 active v3 20077 not-ready", "2063bbf9 standby v1 22187 ready",
                       "32093dde standby v1 20763 ready", "843f01f6 active v3 27677 ready"});
       }},
      {"104-health-streaming-tag-active-stale-after-destructive.json",
       [](Harness& h) {
         ExpectHealth(h, Tag("active"), Blocking(1, 5), 93, false,
                      {"03f1a223 active v3 20077 not-ready", "2063bbf9 active v1 22187 ready",
                       "32093dde active v1 20763 ready", "843f01f6 active v3 27677 ready"});
       }},
      {"105-health-service-tag-active-nonblocking-after-destructive.json",
       [](Harness& h) {
         ExpectHealth(h, Tag("active"), NoBlock(), 93, true,
                      {"03f1a223 active v3 20077 not-ready", "843f01f6 active v3 27677 ready"});
       }},
      {"106-health-service-after-purge.json",
       [](Harness& h) {
         auto r = h.client.HealthService("hello", {}, NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         EXPECT_TRUE(r->value.empty());
         ExpectMeta(r->meta, 101, true);
       }},
      {"107-catalog-services-after-purge.json",
       [](Harness& h) {
         auto r = h.client.CatalogServices(NoBlock());
         ASSERT_TRUE(r.ok()) << r.error().ToString();
         ExpectMeta(r->meta, 101, true);
         std::map<std::string, std::vector<std::string>> expected = {
             {"consul", {}}, {"nomad", {"serf", "rpc", "http"}}, {"nomad-client", {"http"}}};
         EXPECT_EQ(r->value, expected);
       }},
  };
  return cases;
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  for (const auto& [name, unused] : Cases()) names.push_back(name);
  return names;
}

class ConsulFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConsulFixtureTest, ServedAndDecoded) {
  const std::string file = GetParam();
  Fixture fixture = testing::LoadFixture("consul/" + file);
  FixtureServer server({fixture});

  clients::AgentConfig config;
  config.base_url = server.base_url();
  const bool sends_token = fixture.request_headers.contains("X-Consul-Token");
  if (sends_token) config.token = kFixtureToken;
  HttpConsulClientOptions options;
  options.retry.max_attempts = 1;  // each recording is served once
  auto transport = std::shared_ptr<http::Client>(http::MakeClient({server.base_url(), {}}));
  HttpConsulClient client(config, transport, options);

  Harness harness{fixture, client, *transport};
  Cases().at(file)(harness);

  // Exactly the recorded request went out (FixtureServer matched method + path + query;
  // anything else would have been a 599 and failed the case above).
  auto received = server.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].method, fixture.method);
  EXPECT_EQ(received[0].target, fixture.path);
  if (sends_token) {
    EXPECT_EQ(received[0].headers.at("X-Consul-Token"), kFixtureToken);
  } else {
    EXPECT_EQ(received[0].headers.count("X-Consul-Token"), 0u);
  }
  // Same request body: JSON documents compare as JSON (our key order and spacing may
  // differ from Python's), KV values byte for byte.
  if (fixture.request_body.is_object() || fixture.request_body.is_array()) {
    if (fixture.path.rfind("/v1/kv/", 0) == 0) {
      EXPECT_EQ(received[0].body, fixture.RequestBodyBytes());
    } else {
      EXPECT_EQ(nlohmann::json::parse(received[0].body),
                nlohmann::json::parse(fixture.request_body.dump()));
    }
  } else if (fixture.request_body.is_string()) {
    EXPECT_EQ(received[0].body, fixture.request_body.get<std::string>());
  } else {
    EXPECT_EQ(received[0].body, "");
  }
}

INSTANTIATE_TEST_SUITE_P(Recorded, ConsulFixtureTest, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.size() - 5);
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return "f" + name;
                         });

// KvListIndexes sends the request KvList sends and keeps, of each recorded entry, exactly
// the key and ModifyIndex KvList decodes (it never builds the values).
TEST(ConsulFixtureKvListIndexes, GivesTheKeysAndIndexesOfKvList) {
  struct Recursive {
    std::string file;
    std::string prefix;
    QueryOptions q;
  };
  const std::vector<Recursive> recorded = {
      {"017-kv-get-recurse.json", "rollouts/", NoBlock()},
      {"018-kv-get-recurse-subprefix.json", "rollouts/spec/", NoBlock()},
      {"021-kv-get-recurse-empty-prefix.json", "nothing-here/", NoBlock()},
      {"035-kv-blocking-recurse-unrelated-write.json", "rollouts/spec/", Blocking(42, 3)},
      {"036-kv-blocking-recurse-woken.json", "rollouts/spec/", Blocking(42, 30)},
  };
  for (const auto& rec : recorded) {
    SCOPED_TRACE(rec.file);
    Fixture fixture = testing::LoadFixture("consul/" + rec.file);
    auto client_for = [](const FixtureServer& server) {
      clients::AgentConfig config;
      config.base_url = server.base_url();
      HttpConsulClientOptions options;
      options.retry.max_attempts = 1;
      return std::make_unique<HttpConsulClient>(config, options);
    };
    FixtureServer full_server({fixture});
    auto full = client_for(full_server)->KvList(rec.prefix, rec.q);
    ASSERT_TRUE(full.ok()) << full.error().ToString();
    FixtureServer index_server({fixture});
    auto indexes = client_for(index_server)->KvListIndexes(rec.prefix, rec.q);
    ASSERT_TRUE(indexes.ok()) << indexes.error().ToString();
    ASSERT_EQ(index_server.received().size(), 1u);
    EXPECT_EQ(index_server.received()[0].target, fixture.path);
    EXPECT_EQ(indexes->meta.index, full->meta.index);
    std::vector<KvIndex> expected;
    for (const auto& kv : full->value) expected.push_back({kv.key, kv.modify_index});
    EXPECT_EQ(indexes->value, expected);
  }
}

// A recording added to the fixtures folder must get a case here, and a case must not
// outlive its recording.
TEST(ConsulFixtureCoverage, EveryRecordingHasACaseAndEveryCaseARecording) {
  std::set<std::string> files;
  for (const auto& f : testing::LoadFixtures("consul")) {
    files.insert(f.file.substr(f.file.find('/') + 1));
  }
  ASSERT_FALSE(files.empty()) << "no fixtures found in " << testing::FixturesDir();
  for (const auto& file : files) {
    EXPECT_TRUE(Cases().count(file)) << "no test case decodes consul/" << file;
  }
  for (const auto& [name, unused] : Cases()) {
    EXPECT_TRUE(files.count(name)) << "case for a missing recording: consul/" << name;
  }
}

}  // namespace
}  // namespace rollouts::consul
