#include "controller/http_endpoints.h"

#include <exception>

#include "controller/process_metrics.h"

namespace rollouts::controller {
namespace {

http::Response Text(int status, std::string body, const std::string& content_type) {
  http::Response r;
  r.status = status;
  r.headers["Content-Type"] = content_type;
  r.body = std::move(body);
  return r;
}

http::Response Plain(int status, std::string body) {
  return Text(status, std::move(body) + "\n", "text/plain; charset=utf-8");
}

}  // namespace

http::Response HandleHealthRequest(const HealthEndpointsOptions& options,
                                   const http::ServerRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    http::Response r = Plain(405, "method not allowed");
    r.headers["Allow"] = "GET, HEAD";
    return r;
  }
  if (request.path == "/healthz") return Plain(200, "ok");
  if (request.path == "/readyz") {
    Readiness readiness;
    if (options.readiness) {
      readiness = options.readiness();
    } else {
      readiness.reason = "no readiness check configured";
    }
    if (readiness.ready) return Plain(200, "ready");
    return Plain(503, "not ready: " + readiness.reason);
  }
  if (request.path == "/metrics") {
    if (!options.registry) return Plain(503, "no metrics registry");
    if (options.before_scrape) options.before_scrape();
    return Text(200, SerializeMetrics(*options.registry), "text/plain; version=0.0.4");
  }
  return Plain(404, "not found; try /metrics, /healthz or /readyz");
}

HealthEndpoints::HealthEndpoints(HealthEndpointsOptions options)
    : options_(std::make_shared<const HealthEndpointsOptions>(std::move(options))) {
  http::ServerOptions server_options;
  server_options.host = options_->host;
  server_options.port = options_->port;
  // The handler keeps the options alive on its own: requests may still be answered while
  // this object is being destroyed.
  server_ = http::StartServer(
      server_options, [opts = options_](http::ServerRequest request, http::Responder respond) {
        try {
          respond(HandleHealthRequest(*opts, request));
        } catch (const std::exception& e) {
          respond(Plain(500, std::string("internal error: ") + e.what()));
        }
      });
}

HealthEndpoints::~HealthEndpoints() {
  if (server_) server_->Stop();
}

}  // namespace rollouts::controller
