// The HAProxy configuration rollout-router runs with: written once when the router starts
// (HAProxy is started on it) and rewritten, never reloaded, after every change applied
// through the runtime API, so that a restarted HAProxy comes up on the last applied
// routes instead of empty backends. Pure text generation.
//
// Per service:
//   frontend <svc>            bind LISTEN; use_backend from the routes map (see below)
//   backend  <svc>_a, <svc>_b two buffers of servers; one is live
//   frontend/backend <svc>_preview  the Standby group, changed in place
//
// Why two buffers and a map: a flip must be atomic for every NEW request, including the
// next request on a keep-alive connection that is already open. HAProxy evaluates
// `use_backend` for every HTTP request (also on a reused client connection), and
// `set map` replaces the map entry in one step, so each request sees the whole old set
// or the whole new one. Enabling new servers and disabling old ones in one backend would
// take several commands, and between them both versions (or neither) would take traffic.
// Requests already sent to the old buffer finish there; nothing new reaches it.
//
// A server's identity is its address: it is named "<address>:<port>", added with
// `add server` and removed with `del server`, never re-addressed. HAProxy keeps a server's
// connections (idle ones in its pool, the ones in use, and those a keep-alive client
// session holds) when `set server ... addr` changes it, and goes on sending requests over
// them to the OLD address: a slot reused for a new version kept serving the old one for
// as long as those connections lived (seen at 40% of requests for 26 s under load).
#pragma once

#include <string>
#include <vector>

#include "router/upstream_selection.h"

namespace rollouts::router {

struct HaproxyLayout {
  std::string socket_path;  // stats socket (level admin)
  std::string map_path;     // routes map: service -> live backend
};

struct HaproxyServiceRoutes {
  std::string service;
  std::string listen;
  std::string preview_listen;  // empty = no preview frontend
  char live = 'a';             // which buffer the map points at
  std::vector<Backend> a, b, preview;
};

// HAProxy names: [A-Za-z0-9_.:-]; a service name maps to "svc_<name>" with every other
// character replaced by '_'.
std::string HaproxyBackendName(const std::string& service, const std::string& suffix);
std::string HaproxyFrontendName(const std::string& service);
std::string HaproxyMapKey(const std::string& service);
// "<address>:<port>": the name of the server of one instance, in every backend.
std::string HaproxyServerName(const Backend& backend);

// The config's first line names its layout (HaproxyLayoutLine): what HAProxy must be
// restarted on to change, unlike the servers.
std::string RenderHaproxyConfig(const HaproxyLayout& layout,
                                const std::vector<HaproxyServiceRoutes>& services);
// "# layout: socket=... map=... services=hello@LISTEN+PREVIEW,...".
std::string HaproxyLayoutLine(const HaproxyLayout& layout,
                              const std::vector<HaproxyServiceRoutes>& services);
// The map file: one "<map key> <live backend>" line per service.
std::string RenderHaproxyMap(const std::vector<HaproxyServiceRoutes>& services);

}  // namespace rollouts::router
