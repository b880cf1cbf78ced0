#include "router/nginx_config.h"

#include <cctype>
#include <sstream>

namespace rollouts::router {
namespace {

void RenderUpstream(std::ostringstream& out, const std::string& name,
                    const std::vector<Backend>& backends) {
  out << "upstream " << name << " {\n";
  // Idle connections to the instances are pooled and reused across requests, so a
  // flip or a reload does not open a burst of new TCP connections to the new version.
  out << "  keepalive 64;\n";
  for (const Backend& b : backends) {
    // max_fails=0: nginx's passive marking is off. Consul checks already decide who
    // is healthy, and one refused connection during a flip must not bench a server
    // for fail_timeout; proxy_next_upstream retries the request elsewhere instead.
    out << "  server " << b.address << ":" << b.port << " max_fails=0;  # version " << b.version
        << "\n";
  }
  out << "}\n";
}

void RenderServer(std::ostringstream& out, const std::string& listen, const std::string& service,
                  const std::string& upstream, bool has_backends, const std::string& what) {
  out << "server {\n";
  out << "  listen " << listen << ";\n";
  out << "  server_name " << service << " _;\n";
  out << "  location / {\n";
  if (!has_backends) {
    out << "    default_type text/plain;\n";
    out << "    return 503 \"no ready " << what << " instance of " << service << "\\n\";\n";
    out << "  }\n}\n";
    return;
  }
  out << "    proxy_pass http://" << upstream << ";\n";
  // HTTP/1.1 with an empty Connection header is what lets the upstream keepalive pool
  // work (nginx would otherwise send "Connection: close").
  out << "    proxy_http_version 1.1;\n";
  out << "    proxy_set_header Connection \"\";\n";
  out << "    proxy_set_header Host $host;\n";
  out << "    add_header X-Upstream $upstream_addr always;\n";
  // A stopped or not-yet-listening instance is skipped fast...
  out << "    proxy_connect_timeout 1s;\n";
  out << "    proxy_read_timeout 30s;\n";
  out << "    proxy_send_timeout 30s;\n";
  // ...and the request goes to the next instance of the same set. nginx only does this
  // for idempotent methods (GET, HEAD, PUT, DELETE, ...) and only before it has sent
  // anything to the client, so no POST is ever replayed.
  out << "    proxy_next_upstream error timeout http_502 http_503 http_504;\n";
  out << "    proxy_next_upstream_tries 3;\n";
  out << "    proxy_next_upstream_timeout 5s;\n";
  out << "  }\n}\n";
}

}  // namespace

std::string UpstreamName(const std::string& service, const std::string& suffix) {
  std::string out = "svc_";
  for (char c : service) {
    out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  }
  return out + "_" + suffix;
}

std::string RenderRoutes(const std::vector<ServiceRoute>& routes) {
  std::ostringstream out;
  out << "# Written by rollout-router; do not edit (it is rewritten on every change).\n";
  for (const ServiceRoute& r : routes) {
    out << "\n# service " << r.service << ": active version '" << r.active.version << "'"
        << (r.active.kept_last_good ? " (kept last good set)" : "") << "\n";
    std::string active = UpstreamName(r.service, "active");
    if (!r.active.backends.empty()) RenderUpstream(out, active, r.active.backends);
    RenderServer(out, r.listen, r.service, active, !r.active.backends.empty(), "active");
    if (!r.preview_listen.empty()) {
      std::string preview = UpstreamName(r.service, "preview");
      if (!r.preview.empty()) RenderUpstream(out, preview, r.preview);
      RenderServer(out, r.preview_listen, r.service, preview, !r.preview.empty(), "standby");
    }
  }
  return out.str();
}

}  // namespace rollouts::router
