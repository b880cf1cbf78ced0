// The router's state machine without threads or sockets: it is fed Consul's view of each
// managed service and the Active version each Rollout declares, selects the routes,
// installs them through a RoutesApplier (nginx or HAProxy) and builds the report the router
// publishes to <prefix>routers/<id> (what it applied, so the controller can wait for convergence).
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "router/nginx_config.h"
#include "router/router_metrics.h"
#include "router/routes_applier.h"
#include "router/upstream_selection.h"

namespace rollouts::router {

struct RoutedService {
  std::string service;         // Consul service name
  std::string rollout;         // Rollout name (status key); defaults to the service name
  std::string listen;          // live traffic, "127.0.0.1:8080"
  std::string preview_listen;  // standby preview; empty = none
  std::string active_tag = "active";
  std::string standby_tag = "standby";
};

struct SyncOutcome {
  ApplyResult apply;
  bool report_changed = false;
};

class RouterCore {
 public:
  // metrics (optional): applies, what nginx runs per service, the last-good rule.
  RouterCore(std::string router_id, std::vector<RoutedService> services, RoutesApplier& applier,
             RouterMetrics* metrics = nullptr);

  // Consul's health view of one service (already converted, see ToInstances).
  void SetInstances(const std::string& service, std::vector<Instance> instances,
                    uint64_t consul_index);
  // activeVersion from rollouts/status/<rollout>; nullopt when there is no status yet.
  void SetDeclaredVersion(const std::string& rollout, std::optional<std::string> version);

  // Re-selects and applies. Only after the proxy accepted the routes does the report
  // claim the new versions.
  SyncOutcome Sync(std::chrono::system_clock::time_point now);

  // {"id":..., "services": {svc: {"version","backends","consulIndex","appliedAt",
  //  "keptLastGood","reason"}}, "lastError": ...}
  const nlohmann::json& report() const { return report_; }
  const std::vector<RoutedService>& services() const { return services_; }
  // The backends of the last applied live upstream of a service.
  std::vector<Backend> AppliedBackends(const std::string& service) const;

 private:
  struct ServiceState {
    std::vector<Instance> instances;
    uint64_t consul_index = 0;
    Selection applied;  // last good selection that the proxy runs
  };

  std::string id_;
  std::vector<RoutedService> services_;
  RoutesApplier& applier_;
  RouterMetrics* metrics_;
  std::map<std::string, ServiceState> state_;                   // by service
  std::map<std::string, std::optional<std::string>> declared_;  // by rollout
  nlohmann::json report_;
};

}  // namespace rollouts::router
