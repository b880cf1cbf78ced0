// Test harness for the sandbox's Consul agent: the agent in-process behind a real HTTP
// listener, a client, and a replayer that sends recorded fixture requests and compares
// the answers with the recorded ones (status, headers present, JSON shape and the
// non-volatile values), mapping recorded indexes and session IDs to the sandbox's own.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "clients/http/http.h"
#include "clients/http/server.h"
#include "sandbox/consul/consul_agent.h"
#include "tests/support/fixture_server.h"

namespace rollouts::sandbox::testing {

class TestConsul {
 public:
  explicit TestConsul(ConsulAgentOptions options = {});
  ~TestConsul();
  ConsulAgent& agent() { return *agent_; }
  std::string base_url() const { return server_->base_url(); }
  http::Response Send(const std::string& method, const std::string& target,
                      const std::string& body = "", http::Headers headers = {},
                      std::chrono::milliseconds timeout = std::chrono::seconds(90));

 private:
  std::unique_ptr<ConsulAgent> agent_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Client> client_;
};

// Differences between a recorded JSON body and the sandbox's, as readable lines. Keys in
// `volatile_keys` are compared by type only; arrays of strings compare as multisets.
std::vector<std::string> CompareJson(const nlohmann::ordered_json& recorded,
                                     const nlohmann::ordered_json& actual,
                                     const std::set<std::string>& volatile_keys,
                                     const std::string& where = "$");

struct ReplayResult {
  http::Response response;
  std::chrono::milliseconds elapsed{0};
};

class Replayer {
 public:
  Replayer(TestConsul& consul, std::set<std::string> volatile_keys);

  // Sends the fixture's request (indexes and session IDs translated).
  ReplayResult Send(const ::rollouts::testing::Fixture& fixture);
  // Compares with the recording (gtest failures name the file) and learns the index and
  // session-ID correspondences from it.
  void Check(const ::rollouts::testing::Fixture& fixture, const ReplayResult& result);
  ReplayResult SendAndCheck(const ::rollouts::testing::Fixture& fixture) {
    ReplayResult result = Send(fixture);
    Check(fixture, result);
    return result;
  }

  // A recorded index in the sandbox's numbering: known ones exactly, others by the
  // offset from the nearest known lower one (both agents use one index per write).
  uint64_t MapIndex(uint64_t recorded) const;
  std::string MapIds(std::string text) const;
  uint64_t LastIndexSeen() const { return last_index_; }

 private:
  void LearnIndexes(const nlohmann::ordered_json& recorded, const nlohmann::ordered_json& actual);

  TestConsul& consul_;
  std::set<std::string> volatile_keys_;
  std::map<uint64_t, uint64_t> indexes_;
  std::map<std::string, std::string> ids_;
  uint64_t last_index_ = 0;
};

// The fixtures whose file names start with a number in [first, last].
std::vector<::rollouts::testing::Fixture> ConsulFixtures(int first, int last);

}  // namespace rollouts::sandbox::testing
