#include "router/router_metrics.h"

#include <algorithm>

namespace rollouts::router {
namespace {

using ::prometheus::BuildCounter;
using ::prometheus::BuildGauge;

double UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

const char* ReloadName(RouterMetrics::Reload r) {
  switch (r) {
    case RouterMetrics::Reload::kOk:
      return "ok";
    case RouterMetrics::Reload::kTestFailed:
      return "test_failed";
    case RouterMetrics::Reload::kReloadFailed:
      return "reload_failed";
  }
  return "ok";
}

const char* ApplyName(RouterMetrics::Apply a) {
  switch (a) {
    case RouterMetrics::Apply::kChanged:
      return "changed";
    case RouterMetrics::Apply::kUnchanged:
      return "unchanged";
    case RouterMetrics::Apply::kFailed:
      return "failed";
  }
  return "failed";
}

const char* ReportName(RouterMetrics::ReportWrite r) {
  switch (r) {
    case RouterMetrics::ReportWrite::kOk:
      return "ok";
    case RouterMetrics::ReportWrite::kLockHeld:
      return "lock_held";
    case RouterMetrics::ReportWrite::kError:
      return "error";
  }
  return "error";
}

// Keeps `op` inside its vocabulary.
std::string SessionOp(const std::string& op) {
  return op == "create" ? "create" : "renew";
}

}  // namespace

RouterMetrics::RouterMetrics(std::shared_ptr<::prometheus::Registry> registry)
    : registry_(std::move(registry)),
      reloads_(BuildCounter()
                   .Name("rollouts_router_nginx_reloads_total")
                   .Help("nginx -t + reload attempts by result (ok, test_failed, reload_failed)")
                   .Register(*registry_)),
      haproxy_exchanges_(BuildCounter()
                             .Name("rollouts_router_haproxy_exchanges_total")
                             .Help("Exchanges with HAProxy's runtime API by result (ok, error: "
                                   "no socket, refused, timed out)")
                             .Register(*registry_)),
      haproxy_switches_(BuildCounter()
                            .Name("rollouts_router_haproxy_switches_total")
                            .Help("Switches of a service's live HAProxy backend (one `set map` "
                                  "per applied change of its live set, no reload)")
                            .Register(*registry_)),
      applies_(BuildCounter()
                   .Name("rollouts_router_config_applies_total")
                   .Help("Applies of the selected routes to the proxy (nginx or HAProxy), by "
                         "result (changed, unchanged, failed)")
                   .Register(*registry_)),
      last_apply_success_(
          BuildGauge()
              .Name("rollouts_router_last_apply_success_timestamp_seconds")
              .Help("Unix time the proxy last ran the routes selected from the router's current "
                    "view (an apply that succeeded, or nothing to change); 0 = never")
              .Register(*registry_)
              .Add({})),
      last_apply_failed_(BuildGauge()
                             .Name("rollouts_router_last_apply_failed")
                             .Help("1 while the latest apply was refused by the proxy or did not "
                                   "get through (it serves older routes), else 0")
                             .Register(*registry_)
                             .Add({})),
      upstream_servers_(BuildGauge()
                            .Name("rollouts_router_upstream_servers")
                            .Help("Servers the proxy routes a service to (route: "
                                  "live or preview)")
                            .Register(*registry_)),
      active_version_info_(BuildGauge()
                               .Name("rollouts_router_active_version_info")
                               .Help("Always 1; the version the live upstream of a service runs")
                               .Register(*registry_)),
      kept_last_good_(BuildCounter()
                          .Name("rollouts_router_kept_last_good_total")
                          .Help("Syncs in which no instance matched the selection rule and the "
                                "last good set was kept instead of an empty upstream")
                          .Register(*registry_)),
      holding_last_good_(BuildGauge()
                             .Name("rollouts_router_holding_last_good")
                             .Help("1 while the live upstream of a service is the kept last good "
                                   "set (nothing matches the rule), else 0")
                             .Register(*registry_)),
      watch_errors_(BuildCounter()
                        .Name("rollouts_router_watch_errors_total")
                        .Help("Failed Consul blocking queries (watch: health per service, status)")
                        .Register(*registry_)),
      watch_last_success_(BuildGauge()
                              .Name("rollouts_router_watch_last_success_timestamp_seconds")
                              .Help("Unix time a Consul watch last answered")
                              .Register(*registry_)),
      watch_staleness_(BuildGauge()
                           .Name("rollouts_router_watch_staleness_seconds")
                           .Help("Seconds since a Consul watch last answered (at scrape time)")
                           .Register(*registry_)),
      report_writes_(BuildCounter()
                         .Name("rollouts_router_report_writes_total")
                         .Help("Writes of the report to <prefix>routers/<id> by result (ok, "
                               "lock_held, error)")
                         .Register(*registry_)),
      session_errors_(BuildCounter()
                          .Name("rollouts_router_session_errors_total")
                          .Help("Failed Consul session calls for the report key (op: create, "
                                "renew)")
                          .Register(*registry_)),
      verify_timeouts_(
          BuildCounter()
              .Name("rollouts_router_verify_timeouts_total")
              .Help("Applied changes after which the proxy did not answer from the new set "
                    "within the verify timeout")
              .Register(*registry_)),
      switch_latency_(
          ::prometheus::BuildHistogram()
              .Name("rollouts_router_switch_latency_seconds")
              .Help("From a Consul answer that changed the router's view to the proxy serving "
                    "the new routes (nginx: reload returned; HAProxy: map switched, read back)")
              .Register(*registry_)
              .Add({}, ::prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                 0.05, 0.1, 0.25, 0.5, 1, 2.5})),
      build_info_(BuildGauge()
                      .Name("rollouts_router_build_info")
                      .Help("Always 1; the router's version")
                      .Register(*registry_)) {
  build_info_.Add({{"version", ROLLOUTS_VERSION}}).Set(1);
  for (auto r : {Reload::kOk, Reload::kTestFailed, Reload::kReloadFailed}) {
    reloads_.Add({{"result", ReloadName(r)}});
  }
  for (auto a : {Apply::kChanged, Apply::kUnchanged, Apply::kFailed}) {
    applies_.Add({{"result", ApplyName(a)}});
  }
  for (const char* r : {"ok", "error"}) {
    haproxy_exchanges_.Add({{"result", r}});
  }
  for (auto w : {ReportWrite::kOk, ReportWrite::kLockHeld, ReportWrite::kError}) {
    report_writes_.Add({{"result", ReportName(w)}});
  }
  session_errors_.Add({{"op", "create"}});
  session_errors_.Add({{"op", "renew"}});
  watch_errors_.Add(WatchLabels({"status", ""}));
}

::prometheus::Labels RouterMetrics::WatchLabels(const WatchKey& key) {
  ::prometheus::Labels labels{{"watch", key.first}};
  if (!key.second.empty()) labels["service"] = key.second;
  return labels;
}

void RouterMetrics::AddService(const std::string& service) {
  upstream_servers_.Add({{"service", service}, {"route", "live"}});
  upstream_servers_.Add({{"service", service}, {"route", "preview"}});
  kept_last_good_.Add({{"service", service}});
  holding_last_good_.Add({{"service", service}});
  watch_errors_.Add(WatchLabels({"health", service}));
  verify_timeouts_.Add({{"service", service}});
}

void RouterMetrics::RecordReload(Reload result) {
  reloads_.Add({{"result", ReloadName(result)}}).Increment();
}

void RouterMetrics::RecordHaproxyExchange(bool ok) {
  haproxy_exchanges_.Add({{"result", ok ? "ok" : "error"}}).Increment();
}

void RouterMetrics::RecordHaproxySwitch(const std::string& service) {
  haproxy_switches_.Add({{"service", service}}).Increment();
}

void RouterMetrics::RecordApply(Apply result, std::chrono::system_clock::time_point now) {
  applies_.Add({{"result", ApplyName(result)}}).Increment();
  if (result != Apply::kFailed) last_apply_success_.Set(UnixSeconds(now));
  last_apply_failed_.Set(result == Apply::kFailed ? 1 : 0);
}

void RouterMetrics::SetApplied(const std::string& service, size_t live_servers,
                               size_t preview_servers, const std::string& version) {
  upstream_servers_.Add({{"service", service}, {"route", "live"}})
      .Set(static_cast<double>(live_servers));
  upstream_servers_.Add({{"service", service}, {"route", "preview"}})
      .Set(static_cast<double>(preview_servers));
  std::lock_guard lock(mu_);
  auto it = version_info_.find(service);
  ::prometheus::Gauge* want =
      version.empty() ? nullptr
                      : &active_version_info_.Add({{"service", service}, {"version", version}});
  if (it != version_info_.end() && it->second != want) {
    active_version_info_.Remove(it->second);
    version_info_.erase(it);
  }
  if (want != nullptr) {
    want->Set(1);
    version_info_[service] = want;
  }
}

void RouterMetrics::RecordSelection(const std::string& service, bool kept_last_good) {
  if (kept_last_good) kept_last_good_.Add({{"service", service}}).Increment();
  holding_last_good_.Add({{"service", service}}).Set(kept_last_good ? 1 : 0);
}

void RouterMetrics::RecordWatchError(const std::string& watch, const std::string& service) {
  watch_errors_.Add(WatchLabels({watch, service})).Increment();
}

void RouterMetrics::RecordWatchSuccess(const std::string& watch, const std::string& service,
                                       std::chrono::system_clock::time_point now) {
  WatchKey key{watch, service};
  watch_last_success_.Add(WatchLabels(key)).Set(UnixSeconds(now));
  std::lock_guard lock(mu_);
  watch_success_[key] = now;
}

void RouterMetrics::UpdateWatchStaleness(std::chrono::system_clock::time_point now) {
  std::lock_guard lock(mu_);
  for (const auto& [key, last] : watch_success_) {
    watch_staleness_.Add(WatchLabels(key))
        .Set(std::max(0.0, std::chrono::duration<double>(now - last).count()));
  }
}

void RouterMetrics::RecordReportWrite(ReportWrite result) {
  report_writes_.Add({{"result", ReportName(result)}}).Increment();
}

void RouterMetrics::RecordSessionError(const std::string& op) {
  session_errors_.Add({{"op", SessionOp(op)}}).Increment();
}

void RouterMetrics::RecordSwitchLatency(std::chrono::microseconds latency) {
  switch_latency_.Observe(static_cast<double>(latency.count()) / 1e6);
}

void RouterMetrics::RecordVerifyTimeout(const std::string& service) {
  verify_timeouts_.Add({{"service", service}}).Increment();
}

}  // namespace rollouts::router
