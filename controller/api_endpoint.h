// Maps HTTP requests to Consul, Nomad and Prometheus onto bounded endpoint templates
// ("kv_get", "job_register", ...) for the API request metrics, and an http::Client
// decorator that records every request. Raw paths carry Rollout names, job IDs and
// allocation IDs; as labels they would make the series unbounded.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "clients/http/http.h"
#include "controller/metrics.h"

namespace rollouts::controller {

// Blocking queries (a non-zero ?index=) get a "_watch" suffix so their long waits do not
// pollute the latency of ordinary calls.
std::string ConsulEndpointTemplate(http::Method method, const std::string& target);
std::string NomadEndpointTemplate(http::Method method, const std::string& target);
std::string PrometheusEndpointTemplate(http::Method method, const std::string& target);

// Records rollouts_api_requests_total / _duration_seconds for every request sent
// through it, then forwards to the wrapped client unchanged.
class InstrumentedClient : public http::Client {
 public:
  using Classifier = std::function<std::string(http::Method, const std::string&)>;
  InstrumentedClient(std::shared_ptr<http::Client> inner, std::string backend,
                     Classifier classifier, ControllerMetrics& metrics);
  http::Result Send(const http::Request& request) override;

 private:
  std::shared_ptr<http::Client> inner_;
  std::string backend_;
  Classifier classifier_;
  ControllerMetrics& metrics_;
};

}  // namespace rollouts::controller
