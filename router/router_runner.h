// Runs a RouterCore against Consul: one blocking health query per managed service
// (unfiltered: tags are filtered by us, see docs/design.md), one blocking query on the Rollout
// status prefix, a session-held report key so a dead router disappears from
// <prefix>routers/, and a verification that the proxy (nginx or HAProxy) really serves
// what it reports.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "clients/consul/consul_client.h"
#include "clients/http/cancel.h"
#include "router/router_core.h"
#include "router/router_metrics.h"

namespace rollouts::router {

struct RouterRunnerOptions {
  std::string kv_prefix = "rollouts/";
  std::string router_id;
  std::chrono::seconds session_ttl{10};
  std::chrono::milliseconds blocking_wait{std::chrono::seconds(30)};
  // How long to wait for the proxy to answer from the new set (nginx: its new workers)
  // before the report claims it.
  std::chrono::milliseconds verify_timeout{std::chrono::seconds(3)};
  // Re-apply with nothing changed in Consul this often: the applier compares with what
  // the proxy runs, so a restarted proxy or a failed apply is put right within it.
  std::chrono::milliseconds resync_interval{std::chrono::seconds(2)};
};

// Converts Consul health entries to router instances (version from Service.Meta.version,
// ready = the service's own checks present and passing).
std::vector<Instance> ToInstances(const std::vector<consul::ServiceEntry>& entries);

class RouterRunner {
 public:
  // metrics (optional): watch errors and freshness, report writes, session errors,
  // verify timeouts.
  RouterRunner(consul::ConsulClient& consul, RouterCore& core, RouterRunnerOptions options,
               RouterMetrics* metrics = nullptr);
  // Blocks until stop is cancelled; then deletes its report and destroys its session.
  void Run(const std::shared_ptr<http::CancelToken>& stop);
  // True once the report has been written to <prefix>routers/<id> and while the latest
  // apply succeeded (for /readyz); false again after Run returns.
  bool ready() const { return ready_.load() && !apply_failing_.load(); }
  // Why ready() is false, for /readyz.
  std::string not_ready_reason() const;

 private:
  consul::ConsulClient& consul_;
  RouterCore& core_;
  RouterRunnerOptions options_;
  RouterMetrics* metrics_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> apply_failing_{false};
  mutable std::mutex reason_mu_;
  std::string apply_error_;
};

}  // namespace rollouts::router
