#include "router/upstream_selection.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace rollouts::router {
namespace {

bool HasTag(const Instance& i, const std::string& tag) {
  return std::find(i.tags.begin(), i.tags.end(), tag) != i.tags.end();
}

void SortBackends(std::vector<Backend>& b) {
  std::sort(b.begin(), b.end(), [](const Backend& x, const Backend& y) {
    return std::tie(x.address, x.port) < std::tie(y.address, y.port);
  });
}

Selection KeepLastGood(const Selection& last_good, const std::string& why) {
  Selection out = last_good;
  out.kept_last_good = !last_good.backends.empty();
  out.reason = out.kept_last_good ? why + "; keeping the last good set" : why;
  return out;
}

}  // namespace

Selection SelectActive(const SelectionInput& input, const Selection& last_good) {
  std::vector<const Instance*> tagged;
  for (const Instance& i : input.instances) {
    if (i.ready && HasTag(i, input.active_tag)) tagged.push_back(&i);
  }
  std::string version;
  if (input.declared_version) {
    version = *input.declared_version;
  } else {
    std::set<std::string> versions;
    for (const Instance* i : tagged) versions.insert(i->version);
    if (versions.size() > 1) {
      return KeepLastGood(last_good, "no declared active version and instances tagged " +
                                         input.active_tag + " run " +
                                         std::to_string(versions.size()) + " versions");
    }
    if (!versions.empty()) version = *versions.begin();
  }
  Selection out;
  out.version = version;
  for (const Instance* i : tagged) {
    if (i->version == version) out.backends.push_back({i->address, i->port, i->version});
  }
  if (out.backends.empty()) {
    return KeepLastGood(last_good, "no ready instance tagged " + input.active_tag +
                                       " runs version '" + version + "'");
  }
  SortBackends(out.backends);
  out.reason = std::to_string(out.backends.size()) + " ready instance(s) of version " + version;
  return out;
}

std::vector<Backend> SelectPreview(const std::vector<Instance>& instances,
                                   const std::string& standby_tag) {
  std::vector<Backend> out;
  for (const Instance& i : instances) {
    if (i.ready && HasTag(i, standby_tag)) out.push_back({i.address, i.port, i.version});
  }
  SortBackends(out);
  return out;
}

}  // namespace rollouts::router
