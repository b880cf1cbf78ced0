#include "sandbox/consul/catalog_data.h"

#include <algorithm>

namespace rollouts::sandbox {

uint64_t CatalogData::ServiceIndex(const std::string& name) const {
  if (HasService(name)) {
    auto it = service_index.find(name);
    if (it != service_index.end()) return it->second;
  }
  return std::max(services_table_index, checks_table_index);
}

bool CatalogData::HasService(const std::string& name) const {
  return std::any_of(services.begin(), services.end(),
                     [&](const auto& entry) { return entry.second.registration.name == name; });
}

std::vector<const ServiceRecord*> CatalogData::Instances(const std::string& name) const {
  std::vector<const ServiceRecord*> out;
  for (const auto& [id, record] : services) {
    if (record.registration.name == name) out.push_back(&record);
  }
  return out;
}

}  // namespace rollouts::sandbox
