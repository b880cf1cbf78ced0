// The standard process_* series (the names the Prometheus Go and Python clients export)
// for this process, read from /proc at scrape time. prometheus-cpp has no process
// collector, and the dashboards and sizing guidance need memory, CPU and fds.
//
// Part of the small rollouts_metrics_http library (with http_endpoints.h), shared by
// rolloutd and rollout-router.
#pragma once

#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <string>
#include <vector>

namespace rollouts::controller {

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds. Series that cannot be read are left out.
std::vector<::prometheus::MetricFamily> CollectProcessMetrics();

// Renders the registry, followed by the process_* series, in the Prometheus text
// exposition format (what /metrics serves).
std::string SerializeMetrics(::prometheus::Registry& registry);

}  // namespace rollouts::controller
