// Shared helpers for the Nomad client tests: a client pointed at a FixtureServer that
// replays recorded exchanges, and the registry of fixture files the tests cover.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "clients/nomad/nomad_client.h"
#include "tests/support/fixture_server.h"

namespace rollouts::nomad::test {

// Every fixture file a test case serves. Registered at static-initialization time (see
// CoveredFixtures), so the coverage test sees all of them whichever single test a
// process runs.
std::set<std::string>& CoveredFixtureRegistry();

// Names the nomad/ fixture files one test case replays, and registers them as covered.
class CoveredFixtures {
 public:
  CoveredFixtures(std::initializer_list<std::string> files);
  std::vector<testing::Fixture> Load() const;
  const std::vector<std::string>& files() const { return files_; }

 private:
  std::vector<std::string> files_;  // "005-job.json"
};

// Client options that fail fast: one attempt, so an unmatched request (599) surfaces.
NomadClientOptions FastOptions(const std::string& base_url);

struct Replay {
  explicit Replay(const CoveredFixtures& fixtures);
  testing::FixtureServer server;
  HttpNomadClient client;
};

// The fixture's response body as plain nlohmann::json.
nlohmann::json ResponseJson(const testing::Fixture& f);
// The fixture's request body as plain nlohmann::json (null when none).
nlohmann::json RequestJson(const testing::Fixture& f);

}  // namespace rollouts::nomad::test
