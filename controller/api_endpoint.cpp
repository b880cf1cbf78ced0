#include "controller/api_endpoint.h"

#include <chrono>
#include <string_view>
#include <vector>

#include "clients/http/server.h"

namespace rollouts::controller {
namespace {

struct Target {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;

  bool Has(const std::string& key) const {
    for (const auto& [k, v] : query) {
      if (k == key) return true;
    }
    return false;
  }
  bool Blocking() const {
    for (const auto& [k, v] : query) {
      if (k == "index" && !v.empty() && v != "0") return true;
    }
    return false;
  }
};

Target SplitTarget(const std::string& target) {
  Target t;
  auto q = target.find('?');
  t.path = target.substr(0, q);
  if (q != std::string::npos) t.query = http::ParseQuery(target.substr(q + 1));
  return t;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.starts_with(prefix);
}

// Path segments after a prefix: "/v1/job/x/allocations" minus "/v1/job/" -> [x, allocations].
std::vector<std::string> Segments(std::string_view rest) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= rest.size()) {
    size_t slash = rest.find('/', start);
    if (slash == std::string_view::npos) slash = rest.size();
    if (slash > start) out.emplace_back(rest.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

std::string WithWatch(const Target& t, std::string name) {
  return t.Blocking() ? name + "_watch" : name;
}

}  // namespace

std::string ConsulEndpointTemplate(http::Method method, const std::string& target) {
  Target t = SplitTarget(target);
  const std::string& p = t.path;
  if (StartsWith(p, "/v1/kv/") || p == "/v1/kv") {
    switch (method) {
      case http::Method::kGet:
      case http::Method::kHead:
        if (t.Has("keys")) return WithWatch(t, "kv_keys");
        if (t.Has("recurse")) return WithWatch(t, "kv_list");
        return WithWatch(t, "kv_get");
      case http::Method::kPut:
      case http::Method::kPost:
        if (t.Has("acquire")) return "kv_acquire";
        if (t.Has("release")) return "kv_release";
        return t.Has("cas") ? "kv_cas" : "kv_put";
      case http::Method::kDelete:
        return "kv_delete";
    }
  }
  if (p == "/v1/txn") return "txn";
  if (StartsWith(p, "/v1/session/")) {
    auto seg = Segments(std::string_view(p).substr(12));
    if (!seg.empty()) {
      for (const char* op : {"create", "renew", "destroy", "info", "list", "node"}) {
        if (seg[0] == op) return WithWatch(t, std::string("session_") + op);
      }
    }
  }
  if (StartsWith(p, "/v1/health/service/")) return WithWatch(t, "health_service");
  if (StartsWith(p, "/v1/health/checks/")) return WithWatch(t, "health_checks");
  if (p == "/v1/catalog/services") return WithWatch(t, "catalog_services");
  if (StartsWith(p, "/v1/catalog/service/")) return WithWatch(t, "catalog_service");
  if (p == "/v1/status/leader") return "status_leader";
  if (p == "/v1/status/peers") return "status_peers";
  return "other";
}

std::string NomadEndpointTemplate(http::Method method, const std::string& target) {
  Target t = SplitTarget(target);
  const std::string& p = t.path;
  const bool write = method == http::Method::kPut || method == http::Method::kPost;
  if (p == "/v1/jobs") return write ? "job_register" : WithWatch(t, "jobs_list");
  if (p == "/v1/jobs/parse") return "jobs_parse";
  if (StartsWith(p, "/v1/job/")) {
    auto seg = Segments(std::string_view(p).substr(8));
    if (seg.size() == 1) {
      if (method == http::Method::kDelete) return "job_deregister";
      return write ? "job_register" : WithWatch(t, "job_get");
    }
    if (seg.size() >= 2) {
      static const std::vector<std::string> subs = {
          "allocations", "deployments", "deployment", "versions", "summary", "scale",
          "plan",        "evaluations", "evaluate",   "revert",   "stable"};
      for (const auto& sub : subs) {
        if (seg[1] == sub) return WithWatch(t, "job_" + sub);
      }
    }
    return "other";
  }
  if (p == "/v1/allocations") return WithWatch(t, "allocations_list");
  if (StartsWith(p, "/v1/allocation/")) return WithWatch(t, "allocation_get");
  if (p == "/v1/deployments") return WithWatch(t, "deployments_list");
  if (StartsWith(p, "/v1/deployment/")) {
    auto seg = Segments(std::string_view(p).substr(15));
    if (seg.size() >= 2 && (seg[0] == "promote" || seg[0] == "fail" || seg[0] == "pause")) {
      return "deployment_" + seg[0];
    }
    return WithWatch(t, "deployment_get");
  }
  if (StartsWith(p, "/v1/evaluation/")) return WithWatch(t, "evaluation_get");
  if (p == "/v1/status/leader") return "status_leader";
  if (p == "/v1/agent/self") return "agent_self";
  return "other";
}

std::string PrometheusEndpointTemplate(http::Method /*method*/, const std::string& target) {
  Target t = SplitTarget(target);
  if (t.path == "/api/v1/query") return "query";
  if (t.path == "/api/v1/query_range") return "query_range";
  if (t.path == "/-/ready" || t.path == "/-/healthy") return "ready";
  return "other";
}

InstrumentedClient::InstrumentedClient(std::shared_ptr<http::Client> inner, std::string backend,
                                       Classifier classifier, ControllerMetrics& metrics)
    : inner_(std::move(inner)),
      backend_(std::move(backend)),
      classifier_(std::move(classifier)),
      metrics_(metrics) {}

http::Result InstrumentedClient::Send(const http::Request& request) {
  auto start = std::chrono::steady_clock::now();
  http::Result result = inner_->Send(request);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string code = result.ok() ? std::to_string(result.response().status)
                                 : std::string(http::ErrorKindName(result.error().kind));
  metrics_.ObserveApiRequest(backend_, classifier_(request.method, request.target), code, seconds);
  return result;
}

}  // namespace rollouts::controller
