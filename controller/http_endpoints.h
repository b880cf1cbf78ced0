// The controller's operational HTTP port (--metrics-addr): /metrics, /healthz, /readyz.
// One clients/http server serves all three; /metrics is rendered with prometheus-cpp's
// TextSerializer (its Exposer cannot serve other paths on the same port).
#pragma once

#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "clients/http/server.h"

namespace rollouts::controller {

struct Readiness {
  bool ready = false;
  std::string reason;  // why not ready; shown in the 503 body
};

struct HealthEndpointsOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 9464;  // 0: pick a free port (tests)
  std::shared_ptr<::prometheus::Registry> registry;
  // /readyz: ready = leader or standby-ready, watches live. Called per request.
  std::function<Readiness()> readiness;
  // Called before each /metrics render (e.g. to refresh watch staleness).
  std::function<void()> before_scrape;
};

// Handles one request; exposed so it can be tested without a socket as well.
http::Response HandleHealthRequest(const HealthEndpointsOptions& options,
                                   const http::ServerRequest& request);

class HealthEndpoints {
 public:
  // Listens before it returns; throws std::runtime_error when it cannot bind.
  explicit HealthEndpoints(HealthEndpointsOptions options);
  ~HealthEndpoints();
  uint16_t port() const { return server_->port(); }
  std::string base_url() const { return server_->base_url(); }
  void Stop() { server_->Stop(); }

 private:
  std::shared_ptr<const HealthEndpointsOptions> options_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace rollouts::controller
