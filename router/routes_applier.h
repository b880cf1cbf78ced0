// What a router backend (nginx, HAProxy) does with the routes RouterCore selected: make
// the proxy serve them, or say why it could not while the last good routes keep serving.
#pragma once

#include <string>
#include <vector>

#include "router/nginx_config.h"

namespace rollouts::router {

struct ApplyResult {
  enum class Outcome {
    kUnchanged,    // the proxy already serves exactly these routes
    kChanged,      // the proxy now serves them
    kRejected,     // refused before anything changed (bad config, too many instances)
    kApplyFailed,  // the proxy could not be told (reload failed, socket gone): it serves
                   // the last good routes, and the next apply tries again
  } outcome;
  std::string message;  // the proxy's own words on failure
};

class RoutesApplier {
 public:
  virtual ~RoutesApplier() = default;
  // Called on every change and periodically (RouterRunnerOptions::resync_interval): an
  // implementation compares with what the proxy really runs, so a proxy restarted on an
  // old state is put right within one interval.
  virtual ApplyResult Apply(const std::vector<ServiceRoute>& routes) = 0;
};

}  // namespace rollouts::router
