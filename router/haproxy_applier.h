// Applies routes to a running HAProxy through its runtime API, never by a reload (see
// haproxy_config.h for the two-buffer layout and why it makes a flip atomic).
//
// A change of a service's live set: program the spare buffer (addresses, ready/maint),
// read it back with `show servers state`, then point the routes map at it with one
// `set map`, and read the map back. Any failure before the `set map` leaves the live
// buffer untouched and serving; nothing is switched to an empty buffer. The preview
// backend is changed in place (it takes no production traffic).
//
// What HAProxy runs is read back on every Apply and compared with the wanted routes, so
// a HAProxy restarted on an older file, or a hand-made runtime change, is put right by
// the next Apply. After each applied change the config and map files are rewritten (no
// reload) so that a restart comes up on the routes last applied.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "router/haproxy_config.h"
#include "router/haproxy_runtime.h"
#include "router/router_metrics.h"
#include "router/routes_applier.h"

namespace rollouts::router {

struct HaproxySetup {
  HaproxyLayout layout;
  std::string config_path;  // the file HAProxy runs with (-f)
};

class HaproxyApplier final : public RoutesApplier {
 public:
  // services: listen addresses, in --service order (the routes given to Apply must be
  // for the same services). metrics (optional): runtime exchanges and switches.
  HaproxyApplier(HaproxySetup setup, std::vector<HaproxyServiceRoutes> services,
                 HaproxyRuntime& runtime, RouterMetrics* metrics = nullptr);

  // Writes the config and map files when they do not exist yet (HAProxy's first start).
  // Existing files of the same layout (services, listeners, socket, map) hold the
  // last applied routes and are kept; files of another layout are replaced, and true is
  // returned: HAProxy must then be restarted on them. Throws on I/O errors.
  bool WriteInitialFiles();

  ApplyResult Apply(const std::vector<ServiceRoute>& routes) override;

  // The live buffer of a service as last read or set ('a' or 'b').
  char LiveBuffer(const std::string& service) const;

 private:
  RuntimeAnswer Run(const std::string& command_line);
  // Reads `show servers state` for every backend: backend -> its servers.
  bool ReadServers(std::map<std::string, std::vector<ServerState>>* out, std::string* error);
  bool ReadMap(std::map<std::string, std::string>* out, std::string* error);
  // Brings `backend` to serve exactly `want`: adds the servers of new instances, readies
  // wanted ones, puts the others in maintenance and deletes them once they have no
  // connection left; verifies by reading back.
  bool Program(const std::string& backend, const std::vector<ServerState>& current,
               const std::vector<Backend>& want, std::string* error);
  // Sends commands a few per line; false (and *error) when an exchange failed.
  bool RunBatched(const std::vector<std::string>& commands, std::string* answers,
                  std::string* error);
  void WriteFiles();

  HaproxySetup setup_;
  std::vector<HaproxyServiceRoutes> services_;  // the applied state, for the files
  HaproxyRuntime& runtime_;
  RouterMetrics* metrics_;
  // False while the files on disk lag what HAProxy runs (a write failed, or nothing was
  // written since this router started): written on the next Apply.
  bool files_current_ = false;
};

// The endpoints ("addr:port", sorted) that take new requests in one backend.
std::vector<std::string> RoutableEndpoints(const std::vector<ServerState>& servers);

}  // namespace rollouts::router
