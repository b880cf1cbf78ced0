// rollout-router's Prometheus metrics (docs/metrics.md, section "rollout-router"), on one
// registry served by --metrics-addr.
//
// Labels stay bounded: `service` is one of the --service flags, `watch`, `result`, `route`
// and `op` come from fixed vocabularies, and a version string appears only on
// rollouts_router_active_version_info, whose old series is removed when the version
// changes (one series per service).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace rollouts::router {

class RouterMetrics {
 public:
  explicit RouterMetrics(std::shared_ptr<::prometheus::Registry> registry =
                             std::make_shared<::prometheus::Registry>());

  std::shared_ptr<::prometheus::Registry> registry() const { return registry_; }

  // Creates a managed service's series at 0, so dashboards show 0 rather than nothing.
  void AddService(const std::string& service);

  // --- NginxApplier ---
  // One per `nginx -t` + `nginx -s reload` attempt: ok, test_failed (the new file was
  // refused and the previous one put back), reload_failed (the signal did not get through).
  enum class Reload { kOk, kTestFailed, kReloadFailed };
  void RecordReload(Reload result);

  // --- HaproxyApplier ---
  // One per runtime API exchange (ok: connected and answered; error: no socket, timeout).
  void RecordHaproxyExchange(bool ok);
  // One per switch of a service's live buffer (`set map`), i.e. per applied change of
  // its live set.
  void RecordHaproxySwitch(const std::string& service);

  // --- RouterCore ---
  // One per Sync: changed (nginx reloaded with new routes), unchanged (nginx already
  // runs exactly the rendered routes), failed (nginx refused them or did not reload).
  // Also stamps the last success, or flags that nginx runs an older config than rendered.
  enum class Apply { kChanged, kUnchanged, kFailed };
  void RecordApply(Apply result, std::chrono::system_clock::time_point now);
  // What nginx runs for a service after a successful apply: servers in the live and
  // preview upstreams and the version of the live one ("" = none yet: no info series).
  void SetApplied(const std::string& service, size_t live_servers, size_t preview_servers,
                  const std::string& version);
  // The live selection of a service in one Sync: kept_last_good = no ready instance
  // matched the rule and the last good set was kept (counted, and held in a 0/1 gauge).
  void RecordSelection(const std::string& service, bool kept_last_good);

  // --- RouterRunner ---
  // watch: "health" (one per service) or "status" (service empty).
  void RecordWatchError(const std::string& watch, const std::string& service);
  void RecordWatchSuccess(const std::string& watch, const std::string& service,
                          std::chrono::system_clock::time_point now);
  // Refreshes rollouts_router_watch_staleness_seconds (call before each scrape).
  void UpdateWatchStaleness(std::chrono::system_clock::time_point now);
  // The report put into <prefix>routers/<id>: ok, lock_held (another session holds the
  // key), error (the request failed).
  enum class ReportWrite { kOk, kLockHeld, kError };
  void RecordReportWrite(ReportWrite result);
  // op: create or renew.
  void RecordSessionError(const std::string& op);
  // From a Consul answer that changed the router's view to the proxy serving the new
  // routes (nginx: reload returned; HAProxy: map switched and read back).
  void RecordSwitchLatency(std::chrono::microseconds latency);
  // nginx did not answer from the new set within the verify timeout after a reload.
  void RecordVerifyTimeout(const std::string& service);

 private:
  using WatchKey = std::pair<std::string, std::string>;  // watch, service
  static ::prometheus::Labels WatchLabels(const WatchKey& key);

  std::shared_ptr<::prometheus::Registry> registry_;
  std::mutex mu_;
  std::map<WatchKey, std::chrono::system_clock::time_point> watch_success_;
  std::map<std::string, ::prometheus::Gauge*> version_info_;  // by service

  ::prometheus::Family<::prometheus::Counter>& reloads_;
  ::prometheus::Family<::prometheus::Counter>& haproxy_exchanges_;
  ::prometheus::Family<::prometheus::Counter>& haproxy_switches_;
  ::prometheus::Family<::prometheus::Counter>& applies_;
  ::prometheus::Gauge& last_apply_success_;
  ::prometheus::Gauge& last_apply_failed_;
  ::prometheus::Family<::prometheus::Gauge>& upstream_servers_;
  ::prometheus::Family<::prometheus::Gauge>& active_version_info_;
  ::prometheus::Family<::prometheus::Counter>& kept_last_good_;
  ::prometheus::Family<::prometheus::Gauge>& holding_last_good_;
  ::prometheus::Family<::prometheus::Counter>& watch_errors_;
  ::prometheus::Family<::prometheus::Gauge>& watch_last_success_;
  ::prometheus::Family<::prometheus::Gauge>& watch_staleness_;
  ::prometheus::Family<::prometheus::Counter>& report_writes_;
  ::prometheus::Family<::prometheus::Counter>& session_errors_;
  ::prometheus::Family<::prometheus::Counter>& verify_timeouts_;
  ::prometheus::Histogram& switch_latency_;
  ::prometheus::Family<::prometheus::Gauge>& build_info_;
};

}  // namespace rollouts::router
