// Replays the recorded Consul catalog/health exchanges (fixtures 079-107). In the
// recording the services were registered by Nomad; here the same instances (same
// service and check IDs, tags and meta, taken from the fixtures) are registered through
// the Catalog seam, each with a real local HTTP listener its check probes, and the
// recorded events (tag swap one instance at a time, destructive update, purge) are made
// one by one while a chain of blocking queries watches, like the recording did.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "sandbox/common/go_duration.h"
#include "tests/sandbox_consul/sandbox_harness.h"

namespace rollouts::sandbox::testing {
namespace {

using ::rollouts::testing::Fixture;
using ::rollouts::testing::LoadFixture;
using ojson = nlohmann::ordered_json;
using namespace std::chrono_literals;

const std::set<std::string> kHealthVolatile = {"CreateIndex", "ModifyIndex", "Port", "ServicePort",
                                               "Output"};

// A task's HTTP endpoint: answers 200 while healthy, 503 otherwise.
struct Endpoint {
  std::shared_ptr<std::atomic<bool>> healthy = std::make_shared<std::atomic<bool>>(true);
  std::unique_ptr<http::Server> server;
};

Endpoint StartEndpoint(bool healthy) {
  Endpoint endpoint;
  endpoint.healthy->store(healthy);
  auto flag = endpoint.healthy;
  endpoint.server = http::StartServer({}, [flag](http::ServerRequest, http::Responder respond) {
    respond(flag->load() ? http::Response{200, {{"Content-Type", "text/html"}}, "<html>ok</html>"}
                         : http::Response{503, {}, "not ready"});
  });
  return endpoint;
}

// The recorded health entry of the instance whose service ID contains `alloc_prefix`.
ojson RecordedEntry(const std::string& file, const std::string& alloc_prefix) {
  Fixture fixture = LoadFixture("consul/" + file);
  for (const auto& entry : fixture.response_body) {
    if (entry["Service"]["ID"].get<std::string>().find(alloc_prefix) != std::string::npos)
      return entry;
  }
  ADD_FAILURE() << alloc_prefix << " not in " << file;
  return ojson::object();
}

// What Nomad registered for that instance, pointing its check at `endpoint`.
ServiceRegistration RegistrationFor(const ojson& entry, const ojson& check_entry,
                                    const Endpoint& endpoint) {
  const ojson& service = entry["Service"];
  ServiceRegistration reg;
  reg.id = service["ID"];
  reg.name = service["Service"];
  reg.address = "127.0.0.1";
  reg.port = endpoint.server->port();
  reg.tags = service["Tags"].get<std::vector<std::string>>();
  for (auto it = service["Meta"].begin(); it != service["Meta"].end(); ++it) {
    if (it.key() != "external-source") reg.meta[it.key()] = it.value().get<std::string>();
  }
  for (const auto& check : check_entry["Checks"]) {
    if (check["CheckID"] == "serfHealth") continue;
    CheckDefinition def;
    def.id = check["CheckID"];
    def.name = check["Name"];
    def.type = check["Type"];
    def.http = endpoint.server->base_url() + "/";
    def.interval = std::chrono::duration_cast<std::chrono::milliseconds>(
        *ParseGoDuration(check["Interval"].get<std::string>()));
    def.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        *ParseGoDuration(check["Timeout"].get<std::string>()));
    reg.checks.push_back(def);
  }
  return reg;
}

std::vector<std::string> TagsOf(const ojson& entry) {
  return entry["Service"]["Tags"].get<std::vector<std::string>>();
}

class HealthConformance : public ::testing::Test {
 protected:
  HealthConformance()
      : consul_(ConsulAgentOptions{"", /*stale_tag_filter=*/true, /*check_delay=*/150ms}),
        replayer_(consul_, kHealthVolatile) {}

  Catalog& catalog() { return consul_.agent().catalog(); }

  void RegisterInstance(const std::string& alloc, const std::string& entry_file,
                        const std::string& check_file, bool healthy) {
    endpoints_[alloc] = StartEndpoint(healthy);
    ServiceRegistration reg = RegistrationFor(RecordedEntry(entry_file, alloc),
                                              RecordedEntry(check_file, alloc), endpoints_[alloc]);
    ids_[alloc] = reg.id;
    catalog().Register(reg);
  }

  void WaitPassing(const std::vector<std::string>& service_ids) {
    for (int i = 0; i < 300; ++i) {
      bool all = std::all_of(service_ids.begin(), service_ids.end(), [&](const std::string& id) {
        return catalog().PassingSince(id).has_value();
      });
      if (all) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "instances did not pass their checks within 15s";
  }

  // A blocking fixture request, answered after `action` made the change it waits for.
  ReplayResult Step(const Fixture& fixture, const std::function<void()>& action) {
    auto blocked = std::async(std::launch::async, [&] { return replayer_.Send(fixture); });
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(blocked.wait_for(0ms), std::future_status::timeout)
        << fixture.file << " answered before the change";
    action();
    ReplayResult result = blocked.get();
    replayer_.Check(fixture, result);
    return result;
  }

  TestConsul consul_;
  Replayer replayer_;
  std::map<std::string, Endpoint> endpoints_;
  std::map<std::string, std::string> ids_;
};

TEST_F(HealthConformance, ReplaysRecordedCatalogAndHealthExchanges) {
  // The Nomad agent's own services, as in the recorded catalog.
  Endpoint nomad = StartEndpoint(true);
  for (auto [id, name, tags] : {std::tuple<std::string, std::string, std::vector<std::string>>{
                                    "_nomad-server-http", "nomad", {"http", "serf", "rpc"}},
                                {"_nomad-client-http", "nomad-client", {"http"}}}) {
    ServiceRegistration reg{id, name, "127.0.0.1", nomad.server->port(), tags, {}, {}};
    reg.checks.push_back({"_nomad-check-" + id, name + " check", "tcp", "",
                          "127.0.0.1:" + std::to_string(nomad.server->port()), 500ms, 1s});
    catalog().Register(reg);
  }
  for (const char* alloc : {"2063bbf9", "30e44641", "32093dde", "9fbdfd77"}) {
    RegisterInstance(alloc, "080-health-service-all.json", "080-health-service-all.json", true);
  }
  WaitPassing({ids_["2063bbf9"], ids_["30e44641"], ids_["32093dde"], ids_["9fbdfd77"],
               "_nomad-server-http", "_nomad-client-http"});

  // Steady state: plain reads and a blocking query that times out.
  for (const auto& fixture : ConsulFixtures(79, 88)) {
    ReplayResult result = replayer_.SendAndCheck(fixture);
    if (fixture.file.find("timeout") != std::string::npos) {
      EXPECT_GE(result.elapsed, 2s);
    }
  }

  // Tag swap, one instance per raft index (090-093), watched by a chain of blocking
  // queries and by a ?tag=active blocking query that wakes at the first event (089).
  std::vector<Fixture> swap = ConsulFixtures(89, 93);
  auto tag_query = std::async(std::launch::async, [&] { return replayer_.Send(swap[0]); });
  struct Flip {
    const char* alloc;
    const char* tag;
    const char* version;
  };
  const Flip flips[] = {{"30e44641", "active", "v2"},
                        {"32093dde", "standby", "v1"},
                        {"9fbdfd77", "active", "v2"},
                        {"2063bbf9", "standby", "v1"}};
  for (int i = 0; i < 4; ++i) {
    Step(swap[i + 1], [&] {
      catalog().UpdateTagsAndMeta(ids_[flips[i].alloc], {flips[i].tag},
                                  {{"version", flips[i].version}});
    });
    if (i == 0) replayer_.Check(swap[0], tag_query.get());
  }

  // After the swap: plain reads are right; blocking ?tag= views keep stale entries
  // (--consul-stale-tag-filter reproduces Consul 1.10.3 here).
  for (const auto& fixture : ConsulFixtures(94, 97)) replayer_.SendAndCheck(fixture);

  // Destructive update of the green group (098-103).
  std::vector<Fixture> destructive = ConsulFixtures(98, 103);
  Step(destructive[0], [&] { catalog().Deregister(ids_["30e44641"]); });
  Step(destructive[1], [&] {
    RegisterInstance("843f01f6", "099-health-chain-destructive-2.json",
                     "100-health-chain-destructive-3.json", false);
  });
  Step(destructive[2], [] {});  // its check appears, critical
  Step(destructive[3], [&] { endpoints_["843f01f6"].healthy->store(true); });
  Step(destructive[4], [&] { catalog().Deregister(ids_["9fbdfd77"]); });
  Step(destructive[5], [&] {
    RegisterInstance("03f1a223", "103-health-chain-destructive-6.json",
                     "104-health-streaming-tag-active-stale-after-destructive.json", false);
  });
  // Wait for the new instance's check to show up (critical) as in the recording.
  http::Response critical = consul_.Send(
      "GET",
      "/v1/health/service/hello?index=" + std::to_string(replayer_.LastIndexSeen()) + "&wait=10s");
  EXPECT_NE(critical.headers["X-Consul-Index"], std::to_string(replayer_.LastIndexSeen()));
  for (const auto& fixture : ConsulFixtures(104, 105)) replayer_.SendAndCheck(fixture);

  // Purge: Nomad deregisters every instance.
  for (const char* alloc : {"2063bbf9", "32093dde", "843f01f6", "03f1a223"}) {
    catalog().Deregister(ids_[alloc]);
  }
  for (const auto& fixture : ConsulFixtures(106, 107)) replayer_.SendAndCheck(fixture);
}

// Without the switch the sandbox answers blocking ?tag= queries correctly.
TEST(HealthTagFilter, BlockingTagQueryIsCorrectWithoutStaleSwitch) {
  for (bool stale : {false, true}) {
    SCOPED_TRACE(stale ? "stale switch on" : "stale switch off");
    TestConsul consul(ConsulAgentOptions{"", stale, 10ms});
    Catalog& catalog = consul.agent().catalog();
    catalog.Register({"a", "web", "127.0.0.1", 1001, {"active"}, {}, {}});
    catalog.Register({"b", "web", "127.0.0.1", 1002, {"standby"}, {}, {}});
    auto active = [&] {
      http::Response r = consul.Send("GET", "/v1/health/service/web?tag=active&index=1&wait=5s");
      EXPECT_EQ(r.headers["X-Consul-Knownleader"], "false");
      std::vector<std::string> ids;
      for (const auto& entry : ojson::parse(r.body)) ids.push_back(entry["Service"]["ID"]);
      return ids;
    };
    EXPECT_EQ(active(), std::vector<std::string>({"a"}));
    catalog.UpdateTagsAndMeta("b", {"active"}, {});
    catalog.UpdateTagsAndMeta("a", {"standby"}, {});
    if (stale) {
      EXPECT_EQ(active(), std::vector<std::string>({"a", "b"}));
    } else {
      EXPECT_EQ(active(), std::vector<std::string>({"b"}));
    }
    // Non-blocking reads are always correct.
    http::Response plain = consul.Send("GET", "/v1/health/service/web?tag=active");
    ojson body = ojson::parse(plain.body);
    ASSERT_EQ(body.size(), 1u);
    EXPECT_EQ(body[0]["Service"]["ID"], "b");
    EXPECT_EQ(TagsOf(body[0]), std::vector<std::string>({"active"}));
  }
}

}  // namespace
}  // namespace rollouts::sandbox::testing
