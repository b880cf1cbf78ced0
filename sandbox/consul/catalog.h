// The seam between the sandbox's Nomad side and its Consul side: what Nomad's client
// does to the Consul catalog when it runs allocations (register, in-place update,
// deregister) and what it reads back (check health). Implemented by the Consul side.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rollouts::sandbox {

struct CheckDefinition {
  std::string id;    // "_nomad-check-<hash>"
  std::string name;  // from the job's service check Name
  std::string type;  // "http" | "tcp"
  std::string http;  // full URL for http checks: "http://127.0.0.1:23456/healthz"
  std::string tcp;   // "127.0.0.1:23456" for tcp checks
  std::chrono::milliseconds interval{std::chrono::seconds(10)};
  std::chrono::milliseconds timeout{std::chrono::seconds(2)};
};

struct ServiceRegistration {
  std::string id;    // "_nomad-task-<allocID>-group-<group>-<service>-<portLabel>"
  std::string name;  // service name
  std::string address;
  int port = 0;
  std::vector<std::string> tags;
  std::map<std::string, std::string> meta;  // "external-source": "nomad" is added by Register
  std::vector<CheckDefinition> checks;
};

class Catalog {
 public:
  virtual ~Catalog() = default;
  // A new instance. Like the real agents it first shows with only the node's serfHealth
  // check; its own checks appear critical shortly after and pass after their first
  // successful run (executed for real at their interval and timeout).
  virtual void Register(const ServiceRegistration& registration) = 0;
  // In-place update of tags and meta (one raft index, one blocking-query wake-up).
  virtual void UpdateTagsAndMeta(const std::string& service_id, std::vector<std::string> tags,
                                 std::map<std::string, std::string> meta) = 0;
  virtual void Deregister(const std::string& service_id) = 0;
  // Since when every check of the instance has been passing without interruption;
  // nullopt while any is critical/missing or the instance is unknown. Nomad's
  // deployment health (MinHealthyTime) is computed from it.
  virtual std::optional<std::chrono::steady_clock::time_point> PassingSince(
      const std::string& service_id) const = 0;
};

}  // namespace rollouts::sandbox
