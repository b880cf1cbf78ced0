#include "examples/hello/app.h"

#include <nlohmann/json.hpp>

namespace hello {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kText[] = "text/plain; charset=utf-8";
constexpr char kPrometheusText[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

HelloApp::HelloApp(const HelloConfig& config)
    : config_(config),
      hello_body_(nlohmann::json{{"service", config.service},
                                 {"version", config.version},
                                 {"instance", config.instance}}
                      .dump() +
                  "\n"),
      metrics_(config.service, config.version),
      random_(std::random_device{}()) {}

bool HelloApp::DrawError() {
  // Exact at the ends: 0 never fails and 1 always fails, whatever the generator says.
  if (config_.error_rate <= 0.0) return false;
  if (config_.error_rate >= 1.0) return true;
  return unit_(random_) < config_.error_rate;
}

Reply HelloApp::Route(const std::string& method, const std::string& path) {
  Reply reply;
  if (method != "GET" && method != "HEAD") {
    reply.status = 405;
    reply.content_type = kText;
    reply.body = "method not allowed\n";
    reply.allow = "GET, HEAD";
    reply.counted = true;
  } else if (path == "/" || path == "/hello") {
    reply.delay = config_.latency;
    reply.counted = true;
    if (DrawError()) {
      reply.status = 500;
      reply.content_type = kText;
      reply.body = "injected error (ERROR_RATE) from " + config_.version + "\n";
    } else {
      reply.content_type = kJson;
      reply.body = hello_body_;
    }
  } else if (path == "/healthz") {
    reply.content_type = kText;
    if (config_.fail_health) {
      reply.status = 503;
      reply.body = "unhealthy (FAIL_HEALTH)\n";
    } else {
      reply.body = "ok\n";
    }
  } else if (path == "/metrics") {
    reply.content_type = kPrometheusText;
    reply.body = metrics_.Render();
  } else {
    reply.status = 404;
    reply.content_type = kText;
    reply.body = "not found\n";
    reply.counted = true;
  }
  if (reply.counted) metrics_.RequestStarted();
  return reply;
}

void HelloApp::Finish(const Reply& reply, std::chrono::steady_clock::duration elapsed) {
  if (!reply.counted) return;
  metrics_.RequestFinished();
  metrics_.CountRequest(reply.status, elapsed);
}

}  // namespace hello
