// The standard process_* series (the names the Prometheus Go and Python clients export)
// for this process, read from /proc at scrape time. prometheus-cpp has no process
// collector, and the controller dashboard and sizing guidance need memory, CPU and fds.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

namespace rollouts::controller {

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds. Series that cannot be read are left out.
std::vector<::prometheus::MetricFamily> CollectProcessMetrics();

}  // namespace rollouts::controller
