// Replays the recorded Consul 1.10 KV / txn / session / error exchanges (fixtures
// 001-078) against the sandbox and compares status, headers and body with the recording.
// The recording was one sequential run; it is replayed in four independent segments
// (each on a fresh agent, so ctest can run them in parallel), with the concurrent
// requests of the recording (a blocking query and the write that wakes it) made
// concurrently here too.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "tests/sandbox_consul/sandbox_harness.h"

namespace rollouts::sandbox::testing {
namespace {

using ::rollouts::testing::Fixture;
using namespace std::chrono_literals;

const std::set<std::string> kVolatile = {"ID", "Session", "CreateIndex", "ModifyIndex"};

bool NameHas(const Fixture& fixture, const std::string& part) {
  return fixture.file.find(part) != std::string::npos;
}

// Wait time of a blocking fixture request (?wait=Ns), 0 when not blocking.
std::chrono::milliseconds RequestedWait(const Fixture& fixture) {
  auto at = fixture.path.find("wait=");
  if (at == std::string::npos) return 0ms;
  return std::chrono::seconds(std::stoi(fixture.path.substr(at + 5)));
}

void ReplaySegment(int first, int last) {
  TestConsul consul;
  Replayer replayer(consul, kVolatile);
  std::vector<Fixture> fixtures = ConsulFixtures(first, last);
  ASSERT_EQ(fixtures.size(), static_cast<size_t>(last - first + 1));
  for (size_t i = 0; i < fixtures.size(); ++i) {
    const Fixture& fixture = fixtures[i];
    SCOPED_TRACE(fixture.file);
    if (i + 1 < fixtures.size() && NameHas(fixtures[i + 1], "woken-write")) {
      // A blocking query woken by the write recorded in the next file.
      auto blocked = std::async(std::launch::async, [&] { return replayer.Send(fixture); });
      std::this_thread::sleep_for(300ms);
      EXPECT_EQ(blocked.wait_for(0ms), std::future_status::timeout) << "returned before the write";
      ReplayResult write = replayer.Send(fixtures[i + 1]);
      ReplayResult woken = blocked.get();
      EXPECT_LT(woken.elapsed, RequestedWait(fixture)) << "not woken by the write";
      replayer.Check(fixture, woken);
      replayer.Check(fixtures[i + 1], write);
      ++i;
      continue;
    }
    if (NameHas(fixture, "unrelated-write")) {
      // The recording wrote rollouts/status/web from another thread meanwhile.
      auto blocked = std::async(std::launch::async, [&] { return replayer.Send(fixture); });
      std::this_thread::sleep_for(300ms);
      http::Response write =
          consul.Send("PUT", "/v1/kv/rollouts/status/web", R"({"phase": "Pending"})");
      EXPECT_EQ(write.status, 200);
      ReplayResult result = blocked.get();
      EXPECT_GE(result.elapsed, RequestedWait(fixture)) << "an unrelated write woke it";
      replayer.Check(fixture, result);
      continue;
    }
    if (NameHas(fixture, "after-lock-delay")) std::this_thread::sleep_for(5500ms);
    if (NameHas(fixture, "tmp-before-delete-recurse")) {
      // The keys the recording created (without recording it) for the recursive delete.
      for (const char* key : {"a", "b", "c/d"}) {
        EXPECT_EQ(consul.Send("PUT", std::string("/v1/kv/rollouts/tmp/") + key, "x").status, 200);
      }
    }
    ReplayResult result = replayer.SendAndCheck(fixture);
    if (NameHas(fixture, "timeout")) {
      EXPECT_GE(result.elapsed, RequestedWait(fixture));
      EXPECT_LT(result.elapsed, RequestedWait(fixture) + 5s);
    }
    if (NameHas(fixture, "woken-by-ttl-expiry")) {
      // TTL 10s: invalidated 2x TTL after the session was created.
      EXPECT_GE(result.elapsed, 19s);
      EXPECT_LT(result.elapsed, 40s);
    }
  }
}

TEST(ConsulConformance, StatusKvAndTxn) {
  ReplaySegment(1, 42);
}
TEST(ConsulConformance, SessionsAndLocks) {
  ReplaySegment(43, 61);
}
TEST(ConsulConformance, SessionBehaviorDeleteAndTtlExpiry) {
  ReplaySegment(62, 69);
}
TEST(ConsulConformance, Errors) {
  ReplaySegment(70, 78);
}

}  // namespace
}  // namespace rollouts::sandbox::testing
