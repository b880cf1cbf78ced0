// Builders shared by the reconciler tests: a Rollout for the fixture job
// (tests/fixtures/api/nomad/hello-job.json: groups hello-blue / hello-green, service hello,
// task app) constructed directly, without the spec parser.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "reconcilers/rollout_spec.h"

namespace rollouts::reconcilers::testing {

inline Rollout HelloRollout(const std::string& version) {
  Rollout r;
  r.api_version = "rollouts.nomad.io/v1";
  r.kind = "Rollout";
  r.name = "hello";
  r.spec.version = version;
  r.spec.nomad.namespace_ = "default";
  r.spec.nomad.job = "hello";
  r.spec.nomad.groups = {"hello-blue", "hello-green"};
  r.spec.nomad.service = "hello";
  r.spec.template_.task = "app";
  r.spec.template_.set = {{"/Config/image", "registry.local/hello:{{version}}"},
                          {"/Env/APP_VERSION", "{{version}}"}};
  r.spec.blue_green.auto_promote = true;
  r.spec.blue_green.scale_down_delay = std::chrono::seconds(30);
  r.spec.health.min_healthy_time = std::chrono::seconds(5);
  r.spec.health.healthy_deadline = std::chrono::minutes(2);
  r.spec.health.progress_deadline = std::chrono::minutes(10);
  return r;
}

inline AnalysisSpec ErrorRateAnalysis(int count) {
  AnalysisSpec a;
  a.interval = std::chrono::seconds(10);
  a.count = count;
  a.failure_limit = 0;
  a.inconclusive_limit = 0;
  MetricSpec m;
  m.name = "error-rate";
  m.query = "sum(rate(errors{service=\"{{service}}\",version=\"{{version}}\"}[1m]))";
  m.success_condition = "< 0.01";
  a.metrics.push_back(m);
  return a;
}

// The Job object of the fixture, as Nomad would return it after the register in 003.
inline nlohmann::json HelloJob() {
  std::ifstream in(std::string(ROLLOUTS_FIXTURES_DIR) + "/nomad/hello-job.json");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json job = nlohmann::json::parse(text.str())["Job"];
  job["Namespace"] = "default";
  job["Version"] = 0;
  job["JobModifyIndex"] = 10;
  job["Stop"] = false;
  return job;
}

}  // namespace rollouts::reconcilers::testing
