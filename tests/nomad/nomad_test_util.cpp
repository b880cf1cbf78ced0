#include "tests/nomad/nomad_test_util.h"

namespace rollouts::nomad::test {

std::set<std::string>& CoveredFixtureRegistry() {
  static std::set<std::string> registry;
  return registry;
}

CoveredFixtures::CoveredFixtures(std::initializer_list<std::string> files) : files_(files) {
  for (const auto& f : files_) CoveredFixtureRegistry().insert(f);
}

std::vector<testing::Fixture> CoveredFixtures::Load() const {
  std::vector<testing::Fixture> out;
  for (const auto& f : files_) out.push_back(testing::LoadFixture("nomad/" + f));
  return out;
}

NomadClientOptions FastOptions(const std::string& base_url) {
  NomadClientOptions options;
  options.agent.base_url = base_url;
  options.request_timeout = std::chrono::seconds(10);
  options.retry.max_attempts = 1;
  return options;
}

Replay::Replay(const CoveredFixtures& fixtures)
    : server(fixtures.Load()), client(FastOptions(server.base_url())) {}

nlohmann::json ResponseJson(const testing::Fixture& f) {
  return nlohmann::json::parse(f.response_body_raw);
}

nlohmann::json RequestJson(const testing::Fixture& f) {
  if (f.request_body.is_null()) return nullptr;
  return nlohmann::json::parse(f.request_body.dump());
}

}  // namespace rollouts::nomad::test
