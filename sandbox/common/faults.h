// Fault injection shared by both agents of the sandbox, for reliability tests: per path
// pattern and rate, answer with an error status, add latency, or make the index go
// backwards (as after a Consul snapshot restore or a leader change). Off until rules are
// set through PUT /_sandbox/faults (on either agent's port) or --faults FILE.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "clients/http/server.h"
#include "sandbox/common/scheduler.h"

namespace rollouts::sandbox {

struct FaultRule {
  std::string agent;         // "consul", "nomad" or "" for both
  std::string path;          // ECMAScript regex searched in the request target (path?query)
  std::string method;        // "" for any
  double rate = 1.0;         // probability in [0, 1]
  int status = 0;            // 0: no error answer; else this status with a plain-text body
  int latency_ms = 0;        // added before the request is served (or failed)
  bool reset = false;        // close without an answer (see README: approximated by a 502)
  bool index_reset = false;  // answer at once with the index header set to 1
};

nlohmann::json FaultRuleToJson(const FaultRule& rule);
// Throws std::invalid_argument with a readable message on a bad document.
std::vector<FaultRule> FaultRulesFromJson(const nlohmann::json& document);

class FaultInjector {
 public:
  explicit FaultInjector(Scheduler& scheduler);

  void SetRules(std::vector<FaultRule> rules);
  std::vector<FaultRule> Rules() const;
  // Reads a JSON array of rules; throws std::runtime_error naming the file on failure.
  void LoadFile(const std::string& path);

  // Serves /_sandbox/faults itself and applies the rules to every other request before
  // handing it to `inner`.
  http::Handler Wrap(std::string agent, http::Handler inner);

 private:
  struct Compiled {
    FaultRule rule;
    std::regex pattern;
  };
  void HandleAdmin(const http::ServerRequest& request, const http::Responder& respond);
  // The rule that fires for this request, if any (each matching rule rolls its rate).
  std::optional<FaultRule> Pick(const std::string& agent, const http::ServerRequest& request);

  Scheduler& scheduler_;
  mutable std::mutex mu_;
  std::vector<Compiled> rules_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace rollouts::sandbox
