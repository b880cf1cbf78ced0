// The catalog as the sandbox keeps it: the single dev node, its serfHealth check, the
// "consul" service and the services the Nomad side registers with their checks.
// Not thread-safe: ConsulState locks.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/consul/catalog.h"

namespace rollouts::sandbox {

// The dev agent of the recordings (its node name, ID and raft indexes).
inline constexpr const char* kNodeName = "vm";
inline constexpr const char* kNodeId = "23b815be-c8e2-b36f-7f84-607b47d748a5";
inline constexpr const char* kNodeAddress = "127.0.0.1";
inline constexpr const char* kDatacenter = "dc1";
inline constexpr uint64_t kNodeCreateIndex = 11;
inline constexpr uint64_t kNodeModifyIndex = 13;
inline constexpr uint64_t kSerfCheckIndex = 11;
inline constexpr uint64_t kConsulServiceIndex = 12;
// The last raft index used while the dev agent bootstraps; the first write gets +1.
inline constexpr uint64_t kBootstrapIndex = 13;

struct CheckRecord {
  CheckDefinition definition;
  std::vector<std::string> service_tags;  // as registered (Consul does not rewrite them
                                          // on a tags-only update, see fixture 093)
  std::string status = "critical";
  std::string output;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  std::optional<std::chrono::steady_clock::time_point> passing_since;
};

struct ServiceRecord {
  ServiceRegistration registration;  // meta includes external-source
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  bool checks_registered = false;  // checks show up a moment after the service
  std::vector<CheckRecord> checks;
  std::chrono::steady_clock::time_point registered_at;
};

struct CatalogData {
  std::map<std::string, ServiceRecord> services;  // by service ID (the output order)
  std::map<std::string, uint64_t> service_index;  // per service name: its last event
  uint64_t services_table_index = kConsulServiceIndex;
  uint64_t checks_table_index = kSerfCheckIndex;

  // Index of what a health/catalog read of `name` returns: the service's last event, or
  // the catalog's when the service has no instances.
  uint64_t ServiceIndex(const std::string& name) const;
  bool HasService(const std::string& name) const;
  std::vector<const ServiceRecord*> Instances(const std::string& name) const;
};

}  // namespace rollouts::sandbox
