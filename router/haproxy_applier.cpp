#include "router/haproxy_applier.h"

#include <algorithm>
#include <filesystem>
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
// (16 KB by default); 8 `set server` commands stay far below it.
constexpr size_t kCommandsPerLine = 8;

}  // namespace

std::vector<std::string> RoutableEndpoints(const std::vector<ServerSlotState>& slots) {
  std::vector<std::string> out;
  for (const auto& s : slots) {
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

void HaproxyApplier::WriteInitialFiles() {
  if (!std::filesystem::exists(setup_.layout.map_path)) {
    WriteFileAtomically(setup_.layout.map_path, RenderHaproxyMap(services_));
  }
  if (!std::filesystem::exists(setup_.config_path)) {
    WriteFileAtomically(setup_.config_path, RenderHaproxyConfig(setup_.layout, services_));
  }
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

bool HaproxyApplier::ReadServers(std::map<std::string, std::vector<ServerSlotState>>* out,
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

bool HaproxyApplier::Program(const std::string& backend,
                             const std::vector<ServerSlotState>& current,
                             const std::vector<Backend>& want, std::string* error) {
  std::vector<std::string> commands;
  for (int i = 0; i < setup_.layout.slots; ++i) {
    std::string name = HaproxySlotName(i);
    auto slot = std::find_if(current.begin(), current.end(),
                             [&](const ServerSlotState& s) { return s.server == name; });
    if (slot == current.end()) {
      *error = "HAProxy's backend " + backend + " has no server " + name +
               ": it runs a config with fewer slots than --haproxy-slots; restart it on " +
               setup_.config_path;
      return false;
    }
    std::string target = "set server " + backend + "/" + name;
    if (i < static_cast<int>(want.size())) {
      const Backend& b = want[static_cast<size_t>(i)];
      if (slot->address != b.address || slot->port != b.port) {
        commands.push_back(target + " addr " + b.address + " port " + std::to_string(b.port));
      }
      if (!slot->Routable()) commands.push_back(target + " state ready");
    } else if (slot->Routable()) {
      commands.push_back(target + " state maint");
    }
  }
  std::string answers;
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
    answers += answer.text;
  }
  // The answers to `set server` are informational; what counts is what HAProxy now runs.
  std::map<std::string, std::vector<ServerSlotState>> after;
  if (!ReadServers(&after, error)) return false;
  auto got = RoutableEndpoints(after[backend]);
  if (got != Endpoints(want)) {
    *error = "HAProxy's backend " + backend + " serves " + Joined(got) + " instead of " +
             Joined(Endpoints(want)) + " after the runtime commands; HAProxy said: " + answers;
    return false;
  }
  return true;
}

ApplyResult HaproxyApplier::Apply(const std::vector<ServiceRoute>& routes) {
  for (const ServiceRoute& r : routes) {
    for (const auto* set : {&r.active.backends, &r.preview}) {
      if (set->size() > static_cast<size_t>(setup_.layout.slots)) {
        return {ApplyResult::Outcome::kRejected,
                std::to_string(set->size()) + " instances of " + r.service + " exceed the " +
                    std::to_string(setup_.layout.slots) +
                    " server slots of a backend (--haproxy-slots)"};
      }
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
  std::map<std::string, std::vector<ServerSlotState>> servers;
  std::map<std::string, std::string> map;
  if (!ReadServers(&servers, &error) || !ReadMap(&map, &error)) {
    return {ApplyResult::Outcome::kApplyFailed, error};
  }
  bool changed = false;
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
      return {ApplyResult::Outcome::kApplyFailed,
              "HAProxy runs no backend " + name_a + "/" + name_b +
                  ": it was started on a config for other services; restart it on " +
                  setup_.config_path};
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
      for (const auto& slot : servers[live_name]) {
        if (slot.Routable()) live_set.push_back({slot.address, slot.port, ""});
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
  return {changed ? ApplyResult::Outcome::kChanged : ApplyResult::Outcome::kUnchanged, ""};
}

}  // namespace rollouts::router
