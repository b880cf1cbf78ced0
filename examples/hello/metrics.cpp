#include "examples/hello/metrics.h"

#include <prometheus/text_serializer.h>

namespace hello {

HelloMetrics::HelloMetrics(const std::string& service, const std::string& version)
    : service_(service), version_(version), registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("http_requests_total")
                   .Help("HTTP requests answered, by status code (application paths only)")
                   .Register(*registry_);
  // Buckets from 0.5 ms to 5 s: loopback answers land in the first buckets, LATENCY_MS
  // experiments and overload in the upper ones.
  duration_ =
      &prometheus::BuildHistogram()
           .Name("http_request_duration_seconds")
           .Help("Time from a parsed request to its response being queued")
           .Register(*registry_)
           .Add({{"service", service_}, {"version", version_}},
                prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
  in_flight_ = &prometheus::BuildGauge()
                    .Name("http_requests_in_flight")
                    .Help("Application requests received and not yet answered")
                    .Register(*registry_)
                    .Add({{"service", service_}, {"version", version_}});
  // Pre-create the common codes so a dashboard sees 0 instead of no series.
  CounterFor(200);
  CounterFor(500);
}

prometheus::Counter& HelloMetrics::CounterFor(int status) {
  auto it = counters_by_code_.find(status);
  if (it != counters_by_code_.end()) return *it->second;
  prometheus::Counter& counter = requests_->Add(
      {{"code", std::to_string(status)}, {"service", service_}, {"version", version_}});
  counters_by_code_.emplace(status, &counter);
  return counter;
}

void HelloMetrics::CountRequest(int status, std::chrono::steady_clock::duration elapsed) {
  CounterFor(status).Increment();
  duration_->Observe(std::chrono::duration<double>(elapsed).count());
}

std::string HelloMetrics::Render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace hello
