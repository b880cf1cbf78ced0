// <prefix>routers/<id>: what a live router applied, written by rollout-router under its
// session: {"id": "...", "services": {"<service>": {"version": "v2", "appliedAt": "...",
// ...}}}. Any session holder may write there, so a report is read as untrusted input: a
// report that cannot be read is that router's failure (it counts as not converged and is
// named), never the controller's.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace rollouts::api {

struct RouterServiceReport {
  std::string version;     // the Active version the router serves ("" while it has none)
  std::string applied_at;  // RFC 3339, as written ("" when absent)
};

struct RouterReportDocument {
  std::string id;
  std::map<std::string, RouterServiceReport> services;
};

// Fields other than the ones above are a router's own business and are not looked at.
// Never throws: the error names what is wrong, with the offending input quoted.
std::variant<RouterReportDocument, std::string> DecodeRouterReport(std::string_view bytes);

// A report lists every service of the router with its backends: large, but bounded.
inline constexpr size_t kMaxRouterReportBytes = 256 * 1024;

}  // namespace rollouts::api
