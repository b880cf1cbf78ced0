#include "router/haproxy_config.h"

#include <cctype>
#include <sstream>

namespace rollouts::router {
namespace {

std::string Sanitized(const std::string& service) {
  std::string out = "svc_";
  for (char c : service) {
    out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  }
  return out;
}

void RenderBackend(std::ostringstream& out, const std::string& name,
                   const std::vector<Backend>& backends) {
  out << "\nbackend " << name << "\n";
  out << "  balance roundrobin\n";
  // The router verifies what serves through this header, as it does with nginx.
  out << "  http-response set-header X-Upstream %si:%sp\n";
  for (const Backend& b : backends) {
    out << "  server " << HaproxyServerName(b) << " " << b.address << ":" << b.port
        << "  # version " << b.version << "\n";
  }
}

}  // namespace

std::string HaproxyBackendName(const std::string& service, const std::string& suffix) {
  return Sanitized(service) + "_" + suffix;
}

std::string HaproxyFrontendName(const std::string& service) {
  return Sanitized(service);
}

std::string HaproxyMapKey(const std::string& service) {
  return Sanitized(service);
}

std::string HaproxyServerName(const Backend& backend) {
  return backend.address + ":" + std::to_string(backend.port);
}

std::string HaproxyLayoutLine(const HaproxyLayout& layout,
                              const std::vector<HaproxyServiceRoutes>& services) {
  std::ostringstream out;
  out << "# layout: socket=" << layout.socket_path << " map=" << layout.map_path << " services=";
  for (size_t i = 0; i < services.size(); ++i) {
    out << (i == 0 ? "" : ",") << services[i].service << "@" << services[i].listen << "+"
        << services[i].preview_listen;
  }
  return out.str();
}

std::string RenderHaproxyConfig(const HaproxyLayout& layout,
                                const std::vector<HaproxyServiceRoutes>& services) {
  std::ostringstream out;
  out << HaproxyLayoutLine(layout, services) << "\n";
  out << "# Written by rollout-router; routes change through the runtime API without a reload.\n"
         "# The router rewrites this file after each change, so a restarted HAProxy starts on\n"
         "# the last applied routes. Edits are lost.\n";
  out << "global\n";
  out << "  stats socket " << layout.socket_path << " mode 600 level admin\n";
  out << "  stats timeout 30s\n";
  out << "\ndefaults\n";
  out << "  mode http\n";
  out << "  option http-keep-alive\n";
  out << "  timeout connect 1s\n";
  out << "  timeout client 65s\n";
  out << "  timeout server 30s\n";
  out << "  timeout http-keep-alive 65s\n";
  out << "  timeout http-request 10s\n";
  // A stopped or not-yet-listening instance is skipped: a refused connection is retried
  // on another server of the same (live) backend. Only connection failures are retried
  // for methods that are not idempotent (nothing was sent; each frontend says so), as
  // nginx's router does.
  out << "  retries 2\n";
  out << "  option redispatch 1\n";
  out << "  retry-on conn-failure empty-response response-timeout 502 503 504\n";
  out << "  http-reuse safe\n";
  for (const HaproxyServiceRoutes& s : services) {
    std::string a = HaproxyBackendName(s.service, "a");
    std::string live = HaproxyBackendName(s.service, std::string(1, s.live));
    out << "\n# service " << s.service << "\n";
    out << "frontend " << HaproxyFrontendName(s.service) << "\n";
    out << "  bind " << s.listen << "\n";
    out << "  http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS\n";
    // A map without the key (an edited file) yields no backend name and falls back to
    // default_backend: the buffer that was live when this file was written.
    out << "  use_backend %[str(" << HaproxyMapKey(s.service) << "),map(" << layout.map_path
        << ")]\n";
    out << "  default_backend " << live << "\n";
    RenderBackend(out, a, s.a);
    RenderBackend(out, HaproxyBackendName(s.service, "b"), s.b);
    if (!s.preview_listen.empty()) {
      std::string preview = HaproxyBackendName(s.service, "preview");
      out << "\nfrontend " << HaproxyFrontendName(s.service) << "_preview\n";
      out << "  bind " << s.preview_listen << "\n";
      out << "  http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS\n";
      out << "  default_backend " << preview << "\n";
      RenderBackend(out, preview, s.preview);
    }
  }
  return out.str();
}

std::string RenderHaproxyMap(const std::vector<HaproxyServiceRoutes>& services) {
  std::ostringstream out;
  for (const HaproxyServiceRoutes& s : services) {
    out << HaproxyMapKey(s.service) << " " << HaproxyBackendName(s.service, std::string(1, s.live))
        << "\n";
  }
  return out.str();
}

}  // namespace rollouts::router
