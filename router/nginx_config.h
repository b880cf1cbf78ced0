// Renders the nginx routes (one upstream per service, a live server and an optional
// preview server per service) that rollout-router installs. Pure text generation.
#pragma once

#include <string>
#include <vector>

#include "router/upstream_selection.h"

namespace rollouts::router {

struct ServiceRoute {
  std::string service;         // Consul service name
  std::string listen;          // "127.0.0.1:8080": live traffic
  std::string preview_listen;  // "127.0.0.1:8081": the Standby group; empty = none
  Selection active;
  std::vector<Backend> preview;
};

// The routes file, for inclusion inside nginx's http {} block.
std::string RenderRoutes(const std::vector<ServiceRoute>& routes);

// Upstream names must be nginx identifiers; service names may hold '.', '-' etc.
std::string UpstreamName(const std::string& service, const std::string& suffix);

}  // namespace rollouts::router
