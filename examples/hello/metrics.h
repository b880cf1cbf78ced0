// The demo service's Prometheus metrics. Names and labels are what examples/hello/
// rollout.json queries during post-promotion analysis, so they are part of the demo's
// contract:
//   http_requests_total{service, version, code}            counter
//   http_request_duration_seconds{service, version}        histogram
//   http_requests_in_flight{service, version}              gauge
// Only application requests (/, /hello and unknown paths) are counted: /healthz and
// /metrics are polled by Consul and Prometheus, and counting them would dilute the error
// rate the rollout analysis relies on.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

namespace hello {

class HelloMetrics {
 public:
  HelloMetrics(const std::string& service, const std::string& version);

  // Not thread-safe for the per-code cache: called from the single server thread.
  void CountRequest(int status, std::chrono::steady_clock::duration elapsed);
  void RequestStarted() { in_flight_->Increment(); }
  void RequestFinished() { in_flight_->Decrement(); }

  // Prometheus text exposition format 0.0.4.
  std::string Render() const;

 private:
  prometheus::Counter& CounterFor(int status);

  std::string service_;
  std::string version_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Histogram* duration_;
  prometheus::Gauge* in_flight_;
  // Family::Add hashes the label set under a mutex; the set of codes is tiny, so keep
  // the counters we already made at hand.
  std::unordered_map<int, prometheus::Counter*> counters_by_code_;
};

}  // namespace hello
