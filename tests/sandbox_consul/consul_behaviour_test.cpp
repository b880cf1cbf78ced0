// Behaviours of the sandbox's Consul agent beyond single recorded exchanges: blocking
// query wake-up, timeout and isolation, TTL expiry, txn atomicity, scale, real checks,
// ACLs and fault injection.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "sandbox/common/blocking_params.h"
#include "sandbox/common/faults.h"
#include "sandbox/common/go_duration.h"
#include "tests/sandbox_consul/sandbox_harness.h"

namespace rollouts::sandbox::testing {
namespace {

using ojson = nlohmann::ordered_json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

uint64_t IndexOf(const http::Response& response) {
  return std::stoull(response.headers.at("X-Consul-Index"));
}

TEST(ConsulBlocking, KeyQueryWakesOnWriteWithNewValueAndIndex) {
  TestConsul consul;
  ASSERT_EQ(consul.Send("PUT", "/v1/kv/app/key", "v1").body, "true");
  uint64_t index = IndexOf(consul.Send("GET", "/v1/kv/app/key"));
  auto start = Clock::now();
  auto blocked = std::async(std::launch::async, [&] {
    return consul.Send("GET", "/v1/kv/app/key?index=" + std::to_string(index) + "&wait=30s");
  });
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(blocked.wait_for(0ms), std::future_status::timeout);
  consul.Send("PUT", "/v1/kv/app/key", "v2");
  http::Response woken = blocked.get();
  EXPECT_LT(Since(start), 30s);
  EXPECT_GT(IndexOf(woken), index);
  EXPECT_EQ(ojson::parse(woken.body)[0]["Value"], "djI=");  // base64("v2")
}

TEST(ConsulBlocking, PrefixQueryIgnoresWritesOutsideAndWakesOnNewChild) {
  TestConsul consul;
  consul.Send("PUT", "/v1/kv/watched/a", "1");
  uint64_t index = IndexOf(consul.Send("GET", "/v1/kv/watched/?recurse"));
  auto query = [&](const std::string& wait) {
    return consul.Send("GET",
                       "/v1/kv/watched/?recurse&index=" + std::to_string(index) + "&wait=" + wait);
  };
  auto start = Clock::now();
  auto unrelated = std::async(std::launch::async, [&] { return query("1s"); });
  std::this_thread::sleep_for(200ms);
  consul.Send("PUT", "/v1/kv/other/x", "1");
  consul.Send("PUT", "/v1/kv/watched", "not under watched/");
  http::Response timed_out = unrelated.get();
  EXPECT_GE(Since(start), 1s);
  EXPECT_EQ(IndexOf(timed_out), index);

  auto woken = std::async(std::launch::async, [&] { return query("30s"); });
  std::this_thread::sleep_for(200ms);
  ASSERT_EQ(woken.wait_for(0ms), std::future_status::timeout);
  consul.Send("PUT", "/v1/kv/watched/b", "2");
  http::Response result = woken.get();
  EXPECT_GT(IndexOf(result), index);
  EXPECT_EQ(ojson::parse(result.body).size(), 2u);
}

TEST(ConsulBlocking, TimeoutReturnsSameBodyAndIndexAfterTheWait) {
  TestConsul consul;
  consul.Send("PUT", "/v1/kv/k", "v");
  http::Response first = consul.Send("GET", "/v1/kv/k");
  auto start = Clock::now();
  http::Response again =
      consul.Send("GET", "/v1/kv/k?index=" + std::to_string(IndexOf(first)) + "&wait=1s");
  EXPECT_GE(Since(start), 1s);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(IndexOf(again), IndexOf(first));
}

TEST(ConsulBlocking, DeleteWakesMissingKeyAnswer) {
  TestConsul consul;
  consul.Send("PUT", "/v1/kv/gone", "v");
  uint64_t index = IndexOf(consul.Send("GET", "/v1/kv/gone"));
  auto blocked = std::async(std::launch::async, [&] {
    return consul.Send("GET", "/v1/kv/gone?index=" + std::to_string(index) + "&wait=30s");
  });
  std::this_thread::sleep_for(200ms);
  consul.Send("DELETE", "/v1/kv/gone");
  http::Response response = blocked.get();
  EXPECT_EQ(response.status, 404);
  EXPECT_GT(IndexOf(response), index);
  EXPECT_EQ(response.headers.count("Content-Type"), 0u);
}

TEST(BlockingParams, DefaultsCapAndJitter) {
  auto parse = [](std::vector<std::pair<std::string, std::string>> query) {
    return ParseBlockingParams(query);
  };
  auto defaulted = std::get<BlockingParams>(parse({{"index", "5"}}));
  EXPECT_TRUE(defaulted.blocking);
  EXPECT_EQ(defaulted.wait, std::chrono::minutes(5));
  EXPECT_EQ(std::get<BlockingParams>(parse({{"index", "5"}, {"wait", "20m"}})).wait,
            std::chrono::minutes(10));
  EXPECT_EQ(std::get<std::string>(parse({{"index", "-1"}})), "Invalid index");
  EXPECT_EQ(std::get<std::string>(parse({{"index", "1"}, {"wait", "10"}})), "Invalid wait time");
  EXPECT_FALSE(std::get<BlockingParams>(parse({{"wait", "1s"}})).blocking);
  for (int i = 0; i < 1000; ++i) {
    auto wait = WaitWithJitter(1600ms);
    ASSERT_GE(wait, 1600ms);
    ASSERT_LE(wait, 1700ms);
  }
}

TEST(GoDuration, ParsesAndFormatsLikeGo) {
  EXPECT_EQ(ParseGoDuration("1m30s"), std::chrono::seconds(90));
  EXPECT_EQ(ParseGoDuration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_EQ(ParseGoDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(ParseGoDuration("0"), std::chrono::seconds(0));
  EXPECT_FALSE(ParseGoDuration("forever"));
  EXPECT_FALSE(ParseGoDuration("10"));
  EXPECT_EQ(FormatGoDuration(std::chrono::seconds(2)), "2s");
  EXPECT_EQ(FormatGoDuration(std::chrono::seconds(60)), "1m0s");
  EXPECT_EQ(FormatGoDuration(std::chrono::seconds(3690)), "1h1m30s");
  EXPECT_EQ(FormatGoDuration(std::chrono::milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatGoDuration(std::chrono::milliseconds(500)), "500ms");
}

// TTL 10s: invalidated 20s after the last renew; Behavior=delete deletes the held key,
// and the session's LockDelay then blocks other sessions from the key.
TEST(ConsulSessions, TtlExpiryDeletesHeldKeyAndStartsLockDelay) {
  TestConsul consul;
  auto create = [&](const std::string& body) {
    http::Response r = consul.Send("PUT", "/v1/session/create", body);
    EXPECT_EQ(r.status, 200) << r.body;
    return ojson::parse(r.body)["ID"].get<std::string>();
  };
  std::string expiring = create(R"({"TTL": "10s", "LockDelay": "2s", "Behavior": "delete"})");
  std::string other = create(R"({"TTL": "60s"})");
  ASSERT_EQ(consul.Send("PUT", "/v1/kv/lock?acquire=" + expiring, "me").body, "true");
  uint64_t index = IndexOf(consul.Send("GET", "/v1/kv/lock"));
  auto start = Clock::now();
  http::Response woken =
      consul.Send("GET", "/v1/kv/lock?index=" + std::to_string(index) + "&wait=60s");
  EXPECT_GE(Since(start), 19s);
  EXPECT_LT(Since(start), 40s);
  EXPECT_EQ(woken.status, 404);
  EXPECT_EQ(consul.Send("GET", "/v1/session/info/" + expiring).body, "[]");
  EXPECT_EQ(consul.Send("PUT", "/v1/session/renew/" + expiring).status, 404);
  EXPECT_EQ(consul.Send("PUT", "/v1/kv/lock?acquire=" + other, "you").body, "false");
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(consul.Send("PUT", "/v1/kv/lock?acquire=" + other, "you").body, "true");
}

TEST(ConsulSessions, RenewKeepsSessionAliveAndReleaseNeedsHolder) {
  TestConsul consul;
  std::string id = ojson::parse(consul.Send("PUT", "/v1/session/create", "").body)["ID"];
  ojson info = ojson::parse(consul.Send("GET", "/v1/session/info/" + id).body);
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0]["LockDelay"], 15000000000LL);  // default 15s
  EXPECT_EQ(info[0]["Behavior"], "release");
  EXPECT_EQ(consul.Send("PUT", "/v1/kv/l?acquire=" + id, "a").body, "true");
  EXPECT_EQ(consul.Send("PUT", "/v1/kv/l?acquire=" + id, "b").body, "true");
  ojson entry = ojson::parse(consul.Send("GET", "/v1/kv/l").body)[0];
  EXPECT_EQ(entry["LockIndex"], 1);  // the holder acquiring again is not a new lock
  EXPECT_EQ(entry["Session"], id);
  EXPECT_EQ(consul.Send("PUT", "/v1/kv/l?release=" + id).body, "true");
  entry = ojson::parse(consul.Send("GET", "/v1/kv/l").body)[0];
  EXPECT_FALSE(entry.contains("Session"));
  EXPECT_TRUE(entry["Value"].is_null());
  // A voluntary release starts no lock-delay.
  std::string other = ojson::parse(consul.Send("PUT", "/v1/session/create", "").body)["ID"];
  EXPECT_EQ(consul.Send("PUT", "/v1/kv/l?acquire=" + other, "c").body, "true");
  EXPECT_EQ(ojson::parse(consul.Send("GET", "/v1/kv/l").body)[0]["LockIndex"], 2);
}

TEST(ConsulTxn, FailedCheckAppliesNothingAndReadOnlyCarriesQueryMeta) {
  TestConsul consul;
  consul.Send("PUT", "/v1/kv/a", "1");
  uint64_t a_index = ojson::parse(consul.Send("GET", "/v1/kv/a").body)[0]["ModifyIndex"];
  http::Response failed = consul.Send(
      "PUT", "/v1/txn",
      R"([{"KV":{"Verb":"set","Key":"b","Value":"Mg=="}},{"KV":{"Verb":"delete","Key":"a"}},)"
      R"({"KV":{"Verb":"cas","Key":"a","Index":1,"Value":"Mw=="}}])");
  EXPECT_EQ(failed.status, 409);
  EXPECT_EQ(consul.Send("GET", "/v1/kv/b").status, 404);
  EXPECT_EQ(ojson::parse(consul.Send("GET", "/v1/kv/a").body)[0]["ModifyIndex"], a_index);

  http::Response ok =
      consul.Send("PUT", "/v1/txn",
                  R"([{"KV":{"Verb":"cas","Key":"a","Index":)" + std::to_string(a_index) +
                      R"(,"Value":"Mw=="}},{"KV":{"Verb":"delete-tree","Key":"zzz/"}}])");
  EXPECT_EQ(ok.status, 200) << ok.body;
  ojson body = ojson::parse(ok.body);
  EXPECT_TRUE(body["Results"][0]["KV"]["Value"].is_null());
  EXPECT_FALSE(body.contains("Index"));

  http::Response read = consul.Send("PUT", "/v1/txn", R"([{"KV":{"Verb":"get","Key":"a"}}])");
  EXPECT_EQ(read.status, 200);
  ojson read_body = ojson::parse(read.body);
  EXPECT_EQ(read_body["Results"][0]["KV"]["Value"], "Mw==");
  EXPECT_TRUE(read_body.contains("KnownLeader"));
}

TEST(ConsulKv, HoldsTenThousandKeysAndStillWakesOneWatcher) {
  TestConsul consul;
  constexpr int kKeys = 10000;
  for (int batch = 0; batch < kKeys / 50; ++batch) {
    ojson ops = ojson::array();
    for (int i = 0; i < 50; ++i) {
      ops.push_back({{"KV",
                      {{"Verb", "set"},
                       {"Key", "bulk/" + std::to_string(batch * 50 + i)},
                       {"Value", "dmFsdWU="}}}});
    }
    ASSERT_EQ(consul.Send("PUT", "/v1/txn", ops.dump()).status, 200);
  }
  http::Response keys = consul.Send("GET", "/v1/kv/bulk/?keys");
  EXPECT_EQ(ojson::parse(keys.body).size(), static_cast<size_t>(kKeys));
  uint64_t index = IndexOf(consul.Send("GET", "/v1/kv/bulk/1234"));
  auto blocked = std::async(std::launch::async, [&] {
    return consul.Send("GET", "/v1/kv/bulk/1234?index=" + std::to_string(index) + "&wait=30s");
  });
  std::this_thread::sleep_for(200ms);
  consul.Send("PUT", "/v1/kv/bulk/9999", "unrelated");
  ASSERT_EQ(blocked.wait_for(200ms), std::future_status::timeout);
  consul.Send("PUT", "/v1/kv/bulk/1234", "changed");
  EXPECT_GT(IndexOf(blocked.get()), index);
}

// Reads answer from a rendering cached per entry: every kind of change must show in the
// next read, and a failed txn (undone) must not leave its values behind.
TEST(ConsulKv, ReadsShowEveryKindOfChangeAfterACachedRendering) {
  TestConsul consul;
  consul.Send("PUT", "/v1/kv/app/a", "one");
  consul.Send("PUT", "/v1/kv/app/b", "bee");
  auto entry = [&](const std::string& key) {
    const ojson listing = ojson::parse(consul.Send("GET", "/v1/kv/app/?recurse").body);
    const http::Response single = consul.Send("GET", "/v1/kv/" + key);
    for (const ojson& e : listing) {
      if (e["Key"] == key) {
        EXPECT_EQ(single.status, 200);
        if (single.status == 200) {
          EXPECT_EQ(e, ojson::parse(single.body)[0]);
        }
        return e;
      }
    }
    EXPECT_EQ(single.status, 404);
    return ojson();
  };
  EXPECT_EQ(entry("app/a")["Value"], "b25l");  // "one", now rendered (and cached)
  consul.Send("PUT", "/v1/kv/app/a?flags=7", "two");
  EXPECT_EQ(entry("app/a")["Value"], "dHdv");
  EXPECT_EQ(entry("app/a")["Flags"], 7);
  const std::string session =
      ojson::parse(consul.Send("PUT", "/v1/session/create", "{}").body)["ID"];
  ASSERT_EQ(consul.Send("PUT", "/v1/kv/app/a?acquire=" + session, "held").body, "true");
  EXPECT_EQ(entry("app/a")["Session"], session);
  EXPECT_EQ(entry("app/a")["LockIndex"], 1);
  ASSERT_EQ(consul.Send("PUT", "/v1/kv/app/a?release=" + session, "free").body, "true");
  EXPECT_FALSE(entry("app/a").contains("Session"));
  EXPECT_EQ(entry("app/a")["Value"], "ZnJlZQ==");
  // A txn that sets app/b and then fails a check changes nothing.
  const std::string txn =
      R"([{"KV": {"Verb": "set", "Key": "app/b", "Value": "bmV3"}},
          {"KV": {"Verb": "check-index", "Key": "app/a", "Index": 1}}])";
  EXPECT_EQ(consul.Send("PUT", "/v1/txn", txn).status, 409);
  EXPECT_EQ(entry("app/b")["Value"], "YmVl");  // "bee"
  consul.Send("DELETE", "/v1/kv/app/b");
  EXPECT_TRUE(entry("app/b").is_null());
}

TEST(ConsulCatalog, NewInstanceShowsSerfOnlyThenCriticalThenPassing) {
  TestConsul consul(ConsulAgentOptions{"", false, 300ms});
  auto healthy = std::make_shared<std::atomic<bool>>(false);
  auto server = http::StartServer({}, [healthy](http::ServerRequest, http::Responder respond) {
    respond(healthy->load() ? http::Response{200, {}, "fine"} : http::Response{500, {}, "no"});
  });
  ServiceRegistration reg{"svc-1", "web", "127.0.0.1", server->port(), {"blue"}, {{"v", "1"}}, {}};
  reg.checks.push_back(
      {"_nomad-check-1", "web-http", "http", server->base_url() + "/health", "", 200ms, 1s});
  Catalog& catalog = consul.agent().catalog();
  catalog.Register(reg);
  ojson first = ojson::parse(consul.Send("GET", "/v1/health/service/web").body);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["Checks"].size(), 1u);  // serfHealth only, so ?passing counts it
  EXPECT_EQ(first[0]["Service"]["Meta"]["external-source"], "nomad");
  EXPECT_EQ(ojson::parse(consul.Send("GET", "/v1/health/service/web?passing").body).size(), 1u);
  EXPECT_FALSE(catalog.PassingSince("svc-1"));

  uint64_t index = IndexOf(consul.Send("GET", "/v1/health/service/web"));
  ojson second = ojson::parse(
      consul.Send("GET", "/v1/health/service/web?index=" + std::to_string(index) + "&wait=10s")
          .body);
  ASSERT_EQ(second[0]["Checks"].size(), 2u);
  EXPECT_EQ(second[0]["Checks"][1]["Status"], "critical");
  EXPECT_EQ(ojson::parse(consul.Send("GET", "/v1/health/service/web?passing").body).size(), 0u);

  healthy->store(true);
  for (int i = 0; i < 100 && !catalog.PassingSince("svc-1"); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(catalog.PassingSince("svc-1"));
  ojson checks = ojson::parse(consul.Send("GET", "/v1/health/checks/web").body);
  EXPECT_EQ(checks[0]["Status"], "passing");
  EXPECT_EQ(checks[0]["Output"], "HTTP GET " + server->base_url() + "/health: 200 OK Output: fine");
  EXPECT_EQ(checks[0]["Interval"], "200ms");

  catalog.Deregister("svc-1");
  EXPECT_EQ(consul.Send("GET", "/v1/health/service/web").body, "[]");
  EXPECT_FALSE(catalog.PassingSince("svc-1"));
}

TEST(ConsulCatalog, TcpCheckFollowsTheListener) {
  TestConsul consul(ConsulAgentOptions{"", false, 10ms});
  // A bare listening socket: the TCP check only needs the connect to succeed.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 64), 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  std::string address = "127.0.0.1:" + std::to_string(port);
  ServiceRegistration reg{"tcp-1", "db", "127.0.0.1", port, {}, {}, {}};
  reg.checks.push_back({"_nomad-check-tcp", "db-tcp", "tcp", "", address, 100ms, 500ms});
  Catalog& catalog = consul.agent().catalog();
  catalog.Register(reg);
  for (int i = 0; i < 100 && !catalog.PassingSince("tcp-1"); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(catalog.PassingSince("tcp-1"));
  ::close(listener);
  for (int i = 0; i < 100 && catalog.PassingSince("tcp-1"); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(catalog.PassingSince("tcp-1"));
  ojson checks = ojson::parse(consul.Send("GET", "/v1/health/checks/db").body);
  EXPECT_EQ(checks[0]["Status"], "critical");
  EXPECT_EQ(checks[0]["Output"], "dial tcp " + address + ": connect: connection refused");
}

TEST(ConsulAcl, RequestsWithoutTheTokenAreDenied) {
  TestConsul consul(ConsulAgentOptions{"s3cret", false, 15ms});
  http::Response anonymous = consul.Send("GET", "/v1/kv/x");
  EXPECT_EQ(anonymous.status, 403);
  EXPECT_EQ(anonymous.body, "Permission denied");
  http::Response wrong = consul.Send("GET", "/v1/kv/x", "", {{"X-Consul-Token", "nope"}});
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(wrong.body, "ACL not found");
  EXPECT_EQ(consul.Send("PUT", "/v1/kv/x", "v", {{"X-Consul-Token", "s3cret"}}).status, 200);
  EXPECT_EQ(consul.Send("GET", "/v1/kv/x?token=s3cret").status, 200);
  EXPECT_EQ(consul.Send("GET", "/v1/status/leader").status, 200);
}

TEST(Faults, AdminEndpointInjectsErrorsLatencyAndIndexResets) {
  Scheduler scheduler;
  FaultInjector faults(scheduler);
  ConsulAgent agent(ConsulAgentOptions{});
  auto server = http::StartServer(
      {}, faults.Wrap("consul", [&agent](http::ServerRequest request, http::Responder respond) {
        agent.Handle(std::move(request), std::move(respond));
      }));
  auto client = http::MakeClient({server->base_url(), {}});
  auto send = [&](http::Method method, const std::string& target, const std::string& body = "") {
    http::Request request;
    request.method = method;
    request.target = target;
    request.body = body;
    http::Result result = client->Send(request);
    EXPECT_TRUE(result.ok());
    return result.ok() ? result.response() : http::Response{};
  };
  send(http::Method::kPut, "/v1/kv/k", "v");
  EXPECT_EQ(send(http::Method::kPut, "/_sandbox/faults", R"([{"path": "bad(regex"}])").status, 400);

  ASSERT_EQ(send(http::Method::kPut, "/_sandbox/faults",
                 R"([{"path": "^/v1/kv/", "method": "GET", "status": 503}])")
                .status,
            200);
  EXPECT_EQ(send(http::Method::kGet, "/v1/kv/k").status, 503);
  EXPECT_EQ(send(http::Method::kPut, "/v1/kv/k", "w").status, 200);  // other method
  EXPECT_EQ(ojson::parse(send(http::Method::kGet, "/_sandbox/faults").body).size(), 1u);

  send(http::Method::kPut, "/_sandbox/faults", R"([{"path": "^/v1/kv/k", "latency_ms": 400}])");
  auto start = Clock::now();
  EXPECT_EQ(send(http::Method::kGet, "/v1/kv/k").status, 200);
  EXPECT_GE(Since(start), 400ms);

  send(http::Method::kPut, "/_sandbox/faults", R"([{"path": "index=", "index_reset": true}])");
  http::Response reset = send(http::Method::kGet, "/v1/kv/k?index=999999&wait=30s");
  EXPECT_EQ(reset.status, 200);
  EXPECT_EQ(reset.headers["X-Consul-Index"], "1");

  send(http::Method::kPut, "/_sandbox/faults", R"([{"path": ".", "rate": 0.0, "status": 500}])");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(send(http::Method::kGet, "/v1/kv/k").status, 200);
  send(http::Method::kDelete, "/_sandbox/faults");
  EXPECT_EQ(send(http::Method::kGet, "/_sandbox/faults").body, "[]");
  agent.Shutdown();
  server->Stop();
}

}  // namespace
}  // namespace rollouts::sandbox::testing
