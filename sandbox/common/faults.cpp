#include "sandbox/common/faults.h"

#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace rollouts::sandbox {
namespace {

http::Response Text(int status, std::string body) {
  return http::Response{status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
}

// The query without its blocking parameters, so an index-reset answer comes at once.
std::string WithoutBlockingParams(const std::string& query) {
  std::string out;
  std::stringstream in(query);
  std::string part;
  while (std::getline(in, part, '&')) {
    std::string key = part.substr(0, part.find('='));
    if (key == "index" || key == "wait") continue;
    if (!out.empty()) out += '&';
    out += part;
  }
  return out;
}

}  // namespace

nlohmann::json FaultRuleToJson(const FaultRule& rule) {
  return {{"agent", rule.agent},   {"path", rule.path},
          {"method", rule.method}, {"rate", rule.rate},
          {"status", rule.status}, {"latency_ms", rule.latency_ms},
          {"reset", rule.reset},   {"index_reset", rule.index_reset}};
}

std::vector<FaultRule> FaultRulesFromJson(const nlohmann::json& document) {
  if (!document.is_array()) throw std::invalid_argument("faults must be a JSON array of rules");
  std::vector<FaultRule> rules;
  for (const auto& item : document) {
    if (!item.is_object()) throw std::invalid_argument("each fault rule must be an object");
    FaultRule rule;
    try {
      rule.agent = item.value("agent", "");
      rule.path = item.value("path", "");
      rule.method = item.value("method", "");
      rule.rate = item.value("rate", 1.0);
      rule.status = item.value("status", 0);
      rule.latency_ms = item.value("latency_ms", 0);
      rule.reset = item.value("reset", false);
      rule.index_reset = item.value("index_reset", false);
    } catch (const nlohmann::json::exception& e) {
      throw std::invalid_argument(std::string("bad fault rule field: ") + e.what());
    }
    if (rule.agent != "" && rule.agent != "consul" && rule.agent != "nomad")
      throw std::invalid_argument("agent must be \"consul\", \"nomad\" or empty");
    if (rule.rate < 0 || rule.rate > 1) throw std::invalid_argument("rate must be in [0, 1]");
    if (rule.status != 0 && (rule.status < 100 || rule.status > 599))
      throw std::invalid_argument("status must be an HTTP status code");
    if (rule.latency_ms < 0 || rule.latency_ms > 600000)
      throw std::invalid_argument("latency_ms must be in [0, 600000]");
    try {
      std::regex check(rule.path);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument("bad path regex \"" + rule.path + "\": " + e.what());
    }
    rules.push_back(rule);
  }
  return rules;
}

FaultInjector::FaultInjector(Scheduler& scheduler) : scheduler_(scheduler) {}

void FaultInjector::SetRules(std::vector<FaultRule> rules) {
  std::vector<Compiled> compiled;
  for (auto& rule : rules) compiled.push_back({rule, std::regex(rule.path)});
  std::lock_guard<std::mutex> lock(mu_);
  rules_ = std::move(compiled);
}

std::vector<FaultRule> FaultInjector::Rules() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<FaultRule> out;
  for (const auto& c : rules_) out.push_back(c.rule);
  return out;
}

void FaultInjector::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read faults file " + path);
  try {
    SetRules(FaultRulesFromJson(nlohmann::json::parse(in)));
  } catch (const std::exception& e) {
    throw std::runtime_error("faults file " + path + ": " + e.what());
  }
}

std::optional<FaultRule> FaultInjector::Pick(const std::string& agent,
                                             const http::ServerRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : rules_) {
    if (!c.rule.agent.empty() && c.rule.agent != agent) continue;
    if (!c.rule.method.empty() && c.rule.method != request.method) continue;
    if (!std::regex_search(request.target, c.pattern)) continue;
    std::uniform_real_distribution<double> roll(0.0, 1.0);
    if (c.rule.rate >= 1.0 || roll(rng_) < c.rule.rate) return c.rule;
  }
  return std::nullopt;
}

void FaultInjector::HandleAdmin(const http::ServerRequest& request,
                                const http::Responder& respond) {
  auto rules_json = [this] {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& rule : Rules()) out.push_back(FaultRuleToJson(rule));
    return http::Response{200, {{"Content-Type", "application/json"}}, out.dump()};
  };
  if (request.method == "GET") return respond(rules_json());
  if (request.method == "DELETE") {
    SetRules({});
    return respond(rules_json());
  }
  if (request.method == "PUT" || request.method == "POST") {
    try {
      SetRules(FaultRulesFromJson(nlohmann::json::parse(request.body)));
    } catch (const std::exception& e) {
      return respond(Text(400, e.what()));
    }
    return respond(rules_json());
  }
  respond(Text(405, "method " + request.method + " not allowed"));
}

http::Handler FaultInjector::Wrap(std::string agent, http::Handler inner) {
  return [this, agent = std::move(agent), inner = std::move(inner)](http::ServerRequest request,
                                                                    http::Responder respond) {
    if (request.path == "/_sandbox/faults") return HandleAdmin(request, respond);
    std::optional<FaultRule> rule = Pick(agent, request);
    if (!rule) return inner(std::move(request), std::move(respond));
    auto act = [rule = *rule, inner, request = std::move(request),
                respond = std::move(respond)]() mutable {
      if (rule.reset) {
        // The HTTP layer cannot drop a connection mid-request; a 502 with an empty body
        // is what a client sees through a proxy whose upstream reset the connection.
        return respond(http::Response{502, {}, ""});
      }
      if (rule.status != 0) {
        return respond(Text(rule.status, "sandbox injected fault: " + std::to_string(rule.status)));
      }
      if (rule.index_reset) {
        request.query = WithoutBlockingParams(request.query);
        request.target = request.path + (request.query.empty() ? "" : "?" + request.query);
        http::Responder original = std::move(respond);
        return inner(std::move(request), [original](http::Response response) {
          for (const char* name : {"X-Consul-Index", "X-Nomad-Index"}) {
            if (response.headers.count(name)) response.headers[name] = "1";
          }
          original(std::move(response));
        });
      }
      inner(std::move(request), std::move(respond));
    };
    if (rule->latency_ms > 0) {
      auto shared = std::make_shared<decltype(act)>(std::move(act));
      scheduler_.After(std::chrono::milliseconds(rule->latency_ms), [shared] { (*shared)(); });
    } else {
      act();
    }
  };
}

}  // namespace rollouts::sandbox
