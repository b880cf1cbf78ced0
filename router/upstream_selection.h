// Which instances a router sends a service's live traffic to. Consul's view of a flip is
// staggered (each allocation's tags change on its own, ~50 ms apart), so following
// "tagged active" blindly would, for a moment, mix two versions or route to nobody. The
// rule (docs/design.md "The flip, precisely"): passing instances tagged active whose version
// equals the Active version the controller declared in rollouts/status/<name>; when that
// set is empty, keep the last good set rather than render an empty upstream.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rollouts::router {

struct Instance {
  std::string id;  // Consul service ID
  std::string address;
  int port = 0;
  std::vector<std::string> tags;
  std::string version;  // Service.Meta.version
  bool ready = false;   // the service's own checks present and all passing
};

struct Backend {
  std::string address;
  int port = 0;
  std::string version;
  bool operator==(const Backend&) const = default;
};

struct Selection {
  std::vector<Backend> backends;  // sorted, stable across calls with the same input
  std::string version;            // the version those backends run ("" if none)
  bool kept_last_good = false;    // nothing matched; the previous set was kept
  std::string reason;             // human-readable why, for logs and reports
};

struct SelectionInput {
  std::vector<Instance> instances;
  std::string active_tag = "active";
  // From rollouts/status/<name>.activeVersion; nullopt when the service has no
  // Rollout status (then all ready active-tagged instances count if they agree on one
  // version).
  std::optional<std::string> declared_version;
};

Selection SelectActive(const SelectionInput& input, const Selection& last_good);

// The preview route: ready instances tagged standby_tag (the Standby group), any version.
std::vector<Backend> SelectPreview(const std::vector<Instance>& instances,
                                   const std::string& standby_tag);

}  // namespace rollouts::router
