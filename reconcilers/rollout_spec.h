// The Rollout document (spec) as the controller reads it. crd-schemas/rollout.schema.json
// is the contract; ParseRollout must accept exactly what the schema accepts (a test
// checks both against every example).
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace rollouts::reconcilers {

using Duration = std::chrono::milliseconds;

struct NomadTarget {
  std::string namespace_ = "default";
  std::string job;
  std::vector<std::string> groups;  // exactly two: the blue/green pair
  std::string service;              // Consul service name the groups register
};

struct TemplateSpec {
  std::string task;  // the task inside each group whose fields "set" rewrites
  // JSON-pointer-like path inside the task (e.g. "/Config/image", "/Env/APP_VERSION")
  // -> value template; "{{version}}" is replaced by the target version.
  std::map<std::string, std::string> set;
};

struct BlueGreenStrategy {
  bool auto_promote = true;
  Duration scale_down_delay{std::chrono::seconds(30)};
  std::string active_tag = "active";
  std::string standby_tag = "standby";
};

struct HealthSpec {
  Duration min_healthy_time{std::chrono::seconds(5)};
  Duration healthy_deadline{std::chrono::minutes(2)};
  Duration progress_deadline{std::chrono::minutes(10)};
};

struct ProbeSpec {
  std::string path = "/healthz";
  int requests = 100;
  double max_error_rate = 0.0;                // fraction, 0..1
  std::optional<Duration> max_p99_latency;    // none = no latency gate
  Duration timeout{std::chrono::seconds(2)};  // per request
};

struct MetricSpec {
  std::string name;
  std::string provider = "prometheus";
  std::string query;              // template: {{service}} {{version}} {{job}} {{group}}
  std::string success_condition;  // "< 0.01", "<= 5", "> 0", ">= 0.99", "== 0"
};

struct AnalysisSpec {
  Duration interval{std::chrono::seconds(10)};
  int count = 1;               // measurements to take
  int failure_limit = 0;       // failed measurements tolerated
  int inconclusive_limit = 0;  // inconclusive measurements tolerated
  std::optional<ProbeSpec> probe;
  std::vector<MetricSpec> metrics;
};

struct RolloutSpec {
  std::string version;
  NomadTarget nomad;
  TemplateSpec template_;
  BlueGreenStrategy blue_green;
  HealthSpec health;
  std::optional<AnalysisSpec> pre_promotion;
  std::optional<AnalysisSpec> post_promotion;
};

struct Rollout {
  std::string api_version;  // "rollouts.nomad.io/v1"
  std::string kind;         // "Rollout"
  std::string name;
  std::map<std::string, std::string> labels;
  RolloutSpec spec;
};

// One problem found in a document: where (RFC 6901 JSON pointer) and why.
struct SpecError {
  std::string pointer;  // "/spec/strategy/blueGreen/scaleDownDelay"
  std::string message;  // "must be a duration like \"30s\" or \"2m\""
};

struct ParseResult {
  std::optional<Rollout> rollout;  // set when errors is empty
  std::vector<SpecError> errors;
};

// Parses and validates a Rollout document from its JSON text. Never throws.
ParseResult ParseRollout(const std::string& text);
ParseResult ParseRollout(const nlohmann::json& doc);

// "30s", "2m", "1h30m", "500ms" -> duration (Go/Nomad style). nullopt if malformed.
std::optional<Duration> ParseDuration(const std::string& text);
std::string FormatDuration(Duration d);

// The canonical document of a parsed Rollout: every default filled in, durations in
// FormatDuration form. ParseRollout(RolloutToJson(r)) yields r again; `rolloutctl apply`
// diffs these, and tests check the schema's "default" values against it.
nlohmann::json RolloutToJson(const Rollout& rollout);

}  // namespace rollouts::reconcilers
