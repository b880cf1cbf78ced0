#include "router/router_core.h"

#include <iomanip>
#include <sstream>

namespace rollouts::router {
namespace {

std::string Rfc3339(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%dT%H:%M:%S") << "." << std::setw(3) << std::setfill('0')
      << (ms % 1000) << "Z";
  return out.str();
}

}  // namespace

RouterCore::RouterCore(std::string router_id, std::vector<RoutedService> services,
                       RoutesApplier& applier, RouterMetrics* metrics)
    : id_(std::move(router_id)),
      services_(std::move(services)),
      applier_(applier),
      metrics_(metrics) {
  for (auto& s : services_) {
    if (s.rollout.empty()) s.rollout = s.service;
    state_[s.service];
    if (metrics_ != nullptr) metrics_->AddService(s.service);
  }
  report_ = {{"id", id_}, {"services", nlohmann::json::object()}};
}

void RouterCore::SetInstances(const std::string& service, std::vector<Instance> instances,
                              uint64_t consul_index) {
  auto& st = state_[service];
  st.instances = std::move(instances);
  st.consul_index = consul_index;
}

void RouterCore::SetDeclaredVersion(const std::string& rollout,
                                    std::optional<std::string> version) {
  declared_[rollout] = std::move(version);
}

std::vector<Backend> RouterCore::AppliedBackends(const std::string& service) const {
  auto it = state_.find(service);
  return it == state_.end() ? std::vector<Backend>{} : it->second.applied.backends;
}

SyncOutcome RouterCore::Sync(std::chrono::system_clock::time_point now) {
  std::vector<ServiceRoute> routes;
  std::map<std::string, Selection> selections;
  std::map<std::string, size_t> previews;
  for (const RoutedService& s : services_) {
    ServiceState& st = state_[s.service];
    auto declared_it = declared_.find(s.rollout);
    std::optional<std::string> declared =
        declared_it == declared_.end() ? std::nullopt : declared_it->second;
    Selection sel = SelectActive({st.instances, s.active_tag, declared}, st.applied);
    ServiceRoute route;
    route.service = s.service;
    route.listen = s.listen;
    route.preview_listen = s.preview_listen;
    route.active = sel;
    route.preview = SelectPreview(st.instances, s.standby_tag);
    if (metrics_ != nullptr) metrics_->RecordSelection(s.service, sel.kept_last_good);
    selections[s.service] = sel;
    // Without a preview listener no preview upstream is rendered.
    previews[s.service] = s.preview_listen.empty() ? 0 : route.preview.size();
    routes.push_back(std::move(route));
  }
  SyncOutcome out;
  out.apply = applier_.Apply(routes);
  nlohmann::json before = report_;
  if (out.apply.outcome == ApplyResult::Outcome::kRejected ||
      out.apply.outcome == ApplyResult::Outcome::kApplyFailed) {
    if (metrics_ != nullptr) metrics_->RecordApply(RouterMetrics::Apply::kFailed, now);
    report_["lastError"] = out.apply.message;
    out.report_changed = report_ != before;
    return out;
  }
  if (metrics_ != nullptr) {
    metrics_->RecordApply(out.apply.outcome == ApplyResult::Outcome::kChanged
                              ? RouterMetrics::Apply::kChanged
                              : RouterMetrics::Apply::kUnchanged,
                          now);
  }
  report_.erase("lastError");
  for (const RoutedService& s : services_) {
    ServiceState& st = state_[s.service];
    const Selection& sel = selections[s.service];
    bool changed = sel.backends != st.applied.backends || sel.version != st.applied.version;
    st.applied = sel;
    if (metrics_ != nullptr) {
      metrics_->SetApplied(s.service, sel.backends.size(), previews[s.service], sel.version);
    }
    nlohmann::json& entry = report_["services"][s.service];
    nlohmann::json backends = nlohmann::json::array();
    for (const Backend& b : sel.backends) {
      backends.push_back(b.address + ":" + std::to_string(b.port));
    }
    entry["version"] = sel.version;
    entry["backends"] = backends;
    entry["keptLastGood"] = sel.kept_last_good;
    entry["reason"] = sel.reason;
    entry["consulIndex"] = st.consul_index;
    if (changed || !entry.contains("appliedAt")) entry["appliedAt"] = Rfc3339(now);
  }
  out.report_changed = report_ != before;
  return out;
}

}  // namespace rollouts::router
