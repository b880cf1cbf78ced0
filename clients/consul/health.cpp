#include <algorithm>

#include "clients/consul/consul_client.h"

namespace rollouts::consul {

bool IsReady(const ServiceEntry& entry) {
  bool has_own_check = false;
  for (const auto& check : entry.checks) {
    if (check.service_id != entry.service.id) continue;  // node checks (serfHealth)
    has_own_check = true;
    if (check.status != "passing") return false;
  }
  // Node checks count too: a failing serfHealth means the node is gone.
  for (const auto& check : entry.checks) {
    if (check.service_id.empty() && check.status == "critical") return false;
  }
  return has_own_check;
}

bool HasTag(const ServiceEntry& entry, const std::string& tag) {
  return std::find(entry.service.tags.begin(), entry.service.tags.end(), tag) !=
         entry.service.tags.end();
}

std::string ServiceAddress(const ServiceEntry& entry) {
  return entry.service.address.empty() ? entry.node.address : entry.service.address;
}

}  // namespace rollouts::consul
