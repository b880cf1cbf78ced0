#include "router/haproxy_applier.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>

#include "router/nginx_applier.h"  // WriteFileAtomically

namespace rollouts::router {
namespace {

std::string Endpoint(const Backend& b) {
  return b.address + ":" + std::to_string(b.port);
}

std::vector<std::string> Endpoints(const std::vector<Backend>& backends) {
  std::vector<std::string> out;
  out.reserve(backends.size());
  for (const Backend& b : backends) out.push_back(Endpoint(b));
  std::sort(out.begin(), out.end());
  return out;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "(none)" : out;
}

// Commands per runtime API line: HAProxy reads one line into a buffer of tune.bufsize
// (16 KB by default); 8 `add`/`set server` commands stay far below it.
constexpr size_t kCommandsPerLine = 8;

// What a config server has by default (HAProxy 2.6: idle connections kept, purged
// after 5 s), given explicitly to servers added through the runtime API.
constexpr const char* kAddedServerOptions = " pool-purge-delay 5s pool-max-conn -1";

}  // namespace

std::vector<std::string> RoutableEndpoints(const std::vector<ServerState>& servers) {
  std::vector<std::string> out;
  for (const auto& s : servers) {
    if (s.Routable()) out.push_back(s.Endpoint());
  }
  std::sort(out.begin(), out.end());
  return out;
}

HaproxyApplier::HaproxyApplier(HaproxySetup setup, std::vector<HaproxyServiceRoutes> services,
                               HaproxyRuntime& runtime, RouterMetrics* metrics)
    : setup_(std::move(setup)),
      services_(std::move(services)),
      runtime_(runtime),
      metrics_(metrics) {}

bool HaproxyApplier::WriteInitialFiles() {
  const std::string layout = HaproxyLayoutLine(setup_.layout, services_);
  const std::string existing = ReadFileOrEmpty(setup_.config_path);
  bool same_layout = existing.compare(0, layout.size() + 1, layout + "\n") == 0;
  if (same_layout && std::filesystem::exists(setup_.layout.map_path)) return false;
  WriteFiles();
  return !existing.empty() && !same_layout;
}

void HaproxyApplier::WriteFiles() {
  // The map first: a config naming a map file that does not exist yet would not start.
  WriteFileAtomically(setup_.layout.map_path, RenderHaproxyMap(services_));
  WriteFileAtomically(setup_.config_path, RenderHaproxyConfig(setup_.layout, services_));
}

char HaproxyApplier::LiveBuffer(const std::string& service) const {
  for (const auto& s : services_) {
    if (s.service == service) return s.live;
  }
  return 0;
}

RuntimeAnswer HaproxyApplier::Run(const std::string& command_line) {
  RuntimeAnswer answer = runtime_.Execute(command_line);
  if (metrics_ != nullptr) metrics_->RecordHaproxyExchange(answer.ok);
  return answer;
}

bool HaproxyApplier::ReadServers(std::map<std::string, std::vector<ServerState>>* out,
                                 std::string* error) {
  RuntimeAnswer answer = Run("show servers state");
  if (!answer.ok) {
    *error = "HAProxy runtime API: " + answer.text;
    return false;
  }
  auto parsed = ParseServersState(answer.text, error);
  if (!parsed) return false;
  out->clear();
  for (auto& s : *parsed) (*out)[s.backend].push_back(std::move(s));
  // A backend without servers (an empty buffer) has no line in `show servers state`;
  // `show backend` ("# name", then one name a line) tells it from a missing one.
  RuntimeAnswer backends = Run("show backend");
  if (!backends.ok) {
    *error = "HAProxy runtime API: " + backends.text;
    return false;
  }
  std::istringstream in(backends.text);
  std::string line;
  if (!std::getline(in, line) || line != "# name") {
    *error = "unexpected answer to 'show backend': " + backends.text.substr(0, 200);
    return false;
  }
  while (std::getline(in, line) && !line.empty()) (*out)[line];
  return true;
}

bool HaproxyApplier::ReadMap(std::map<std::string, std::string>* out, std::string* error) {
  RuntimeAnswer answer = Run("show map " + setup_.layout.map_path);
  if (!answer.ok) {
    *error = "HAProxy runtime API: " + answer.text;
    return false;
  }
  auto parsed = ParseMapEntries(answer.text, error);
  if (!parsed) return false;
  *out = std::move(*parsed);
  return true;
}

bool HaproxyApplier::Program(const std::string& backend, const std::vector<ServerState>& current,
                             const std::vector<Backend>& want, std::string* error) {
  std::vector<std::string> commands;
  std::vector<std::string> removals;
  std::set<std::string> wanted;
  for (const Backend& b : want) {
    const std::string name = HaproxyServerName(b);
    wanted.insert(name);
    auto server = std::find_if(current.begin(), current.end(),
                               [&](const ServerState& s) { return s.server == name; });
    const std::string target = backend + "/" + name;
    if (server == current.end()) {
      // New servers start in maintenance; `state ready` lets them take requests. A server
      // added at run time does not take the defaults of config servers: without
      // pool-purge-delay and pool-max-conn it keeps no idle connection, and every request
      // opens a new one to the instance (half the requests/s in a wrk comparison).
      commands.push_back("add server " + target + " " + name + kAddedServerOptions);
      commands.push_back("set server " + target + " state ready");
    } else if (server->Endpoint() != name) {
      *error = "HAProxy's server " + target + " points at " + server->Endpoint() +
               " (changed by hand?); it is left alone";
      return false;
    } else if (!server->Routable()) {
      commands.push_back("set server " + target + " state ready");
    }
  }
  for (const ServerState& s : current) {
    if (wanted.count(s.server) > 0) continue;
    if (s.Routable()) commands.push_back("set server " + backend + "/" + s.server + " state maint");
    // Refused while the server still has connections (requests sent before it left the
    // live set finish first); it stays in maintenance and a later Apply deletes it.
    removals.push_back("del server " + backend + "/" + s.server);
  }
  std::string answers;
  if (!RunBatched(commands, &answers, error)) return false;
  std::string ignored;
  if (!RunBatched(removals, &ignored, error)) return false;
  // The answers to `set server` are informational; what counts is what HAProxy now runs.
  std::map<std::string, std::vector<ServerState>> after;
  if (!ReadServers(&after, error)) return false;
  auto got = RoutableEndpoints(after[backend]);
  if (got != Endpoints(want)) {
    *error = "HAProxy's backend " + backend + " serves " + Joined(got) + " instead of " +
             Joined(Endpoints(want)) + " after the runtime commands; HAProxy said: " + answers;
    return false;
  }
  return true;
}

bool HaproxyApplier::RunBatched(const std::vector<std::string>& commands, std::string* answers,
                                std::string* error) {
  for (size_t i = 0; i < commands.size(); i += kCommandsPerLine) {
    std::string line;
    for (size_t j = i; j < std::min(commands.size(), i + kCommandsPerLine); ++j) {
      line += (line.empty() ? "" : ";") + commands[j];
    }
    RuntimeAnswer answer = Run(line);
    if (!answer.ok) {
      *error = "HAProxy runtime API: " + answer.text;
      return false;
    }
    *answers += answer.text;
  }
  return true;
}

ApplyResult HaproxyApplier::Apply(const std::vector<ServiceRoute>& routes) {
  for (const ServiceRoute& r : routes) {
    for (const auto* set : {&r.active.backends, &r.preview}) {
      for (const Backend& b : *set) {
        if (!IsSafeRuntimeArgument(b.address) || b.port <= 0 || b.port > 65535) {
          return {ApplyResult::Outcome::kRejected, "instance address '" + b.address + ":" +
                                                       std::to_string(b.port) + "' of " +
                                                       r.service + " cannot be given to HAProxy"};
        }
      }
    }
  }
  std::string error;
  std::map<std::string, std::vector<ServerState>> servers;
  std::map<std::string, std::string> map;
  if (!ReadServers(&servers, &error) || !ReadMap(&map, &error)) {
    return {ApplyResult::Outcome::kApplyFailed, error};
  }
  bool changed = false;
  std::string missing_layout;
  for (const ServiceRoute& r : routes) {
    auto st = std::find_if(services_.begin(), services_.end(),
                           [&](const HaproxyServiceRoutes& s) { return s.service == r.service; });
    if (st == services_.end()) {
      return {ApplyResult::Outcome::kRejected, "service " + r.service + " has no HAProxy frontend"};
    }
    const std::string key = HaproxyMapKey(r.service);
    const std::string name_a = HaproxyBackendName(r.service, "a");
    const std::string name_b = HaproxyBackendName(r.service, "b");
    if (servers.count(name_a) == 0 || servers.count(name_b) == 0) {
      // HAProxy runs an older layout (this service is new to it): nothing to switch until
      // it is restarted on the file, so the file gets the selected routes now and the
      // restart serves them at once rather than an empty backend.
      missing_layout = "HAProxy runs no backend " + name_a + "/" + name_b +
                       ": it was started on a config for other services; restart it on " +
                       setup_.config_path;
      if (!r.active.backends.empty()) (st->live == 'b' ? st->b : st->a) = r.active.backends;
      st->preview = r.preview;
      files_current_ = false;
      continue;
    }
    // Which buffer serves: the map's entry, else the default_backend the file was
    // written with (st->live).
    auto entry = map.find(key);
    char live = entry == map.end()        ? st->live
                : entry->second == name_b ? 'b'
                : entry->second == name_a ? 'a'
                                          : 0;
    const std::string live_name = live == 'b' ? name_b : name_a;
    // No selection yet (nothing ready ever matched): leave whatever serves alone rather
    // than switch to an empty set.
    if (!r.active.backends.empty() &&
        (live == 0 || entry == map.end() ||
         RoutableEndpoints(servers[live_name]) != Endpoints(r.active.backends))) {
      char spare = live == 'a' ? 'b' : 'a';
      const std::string spare_name = spare == 'b' ? name_b : name_a;
      if (!Program(spare_name, servers[spare_name], r.active.backends, &error)) {
        return {ApplyResult::Outcome::kApplyFailed, error};
      }
      // `set map` only changes an existing entry: for a key the map lacks (an edited map
      // file) HAProxy answers "entry not found." and changes nothing, so every Apply
      // would fail until a restart. `add map` creates it (one entry: the key is absent).
      const char* verb = entry == map.end() ? "add map " : "set map ";
      RuntimeAnswer set = Run(verb + setup_.layout.map_path + " " + key + " " + spare_name);
      std::map<std::string, std::string> after;
      if (!set.ok || !ReadMap(&after, &error) || after[key] != spare_name) {
        return {ApplyResult::Outcome::kApplyFailed,
                "the routes map does not point " + key + " at " + spare_name +
                    " after the map change: " + (set.ok ? set.text : set.text + " " + error)};
      }
      if (metrics_ != nullptr) metrics_->RecordHaproxySwitch(r.service);
      live = spare;
      changed = true;
    }
    if (live != 0) st->live = live;
    // What the files will say the live buffer holds: the new set, or (no selection yet)
    // what HAProxy already serves there, so a restart never comes up emptier than now.
    auto& live_set = st->live == 'b' ? st->b : st->a;
    if (!r.active.backends.empty()) {
      live_set = r.active.backends;
    } else {
      live_set.clear();
      for (const auto& server : servers[live_name]) {
        if (server.Routable()) live_set.push_back({server.address, server.port, ""});
      }
    }
    if (!st->preview_listen.empty()) {
      const std::string preview = HaproxyBackendName(r.service, "preview");
      if (RoutableEndpoints(servers[preview]) != Endpoints(r.preview)) {
        if (!Program(preview, servers[preview], r.preview, &error)) {
          return {ApplyResult::Outcome::kApplyFailed, error};
        }
        changed = true;
      }
      st->preview = r.preview;
    }
  }
  if (changed) files_current_ = false;
  if (!files_current_) {
    try {
      WriteFiles();
      files_current_ = true;
    } catch (const std::exception& e) {
      // HAProxy serves the new routes; only a restart would fall back. Reported (and the
      // write retried on every Apply) until it works.
      return {
          ApplyResult::Outcome::kApplyFailed,
          std::string("routes applied, but the files for a HAProxy restart are not: ") + e.what()};
    }
  }
  if (!missing_layout.empty()) return {ApplyResult::Outcome::kApplyFailed, missing_layout};
  return {changed ? ApplyResult::Outcome::kChanged : ApplyResult::Outcome::kUnchanged, ""};
}

}  // namespace rollouts::router
