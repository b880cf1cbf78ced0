#include "sandbox/consul/catalog_json.h"

#include "sandbox/common/go_duration.h"

namespace rollouts::sandbox {
namespace {

using ojson = nlohmann::ordered_json;

ojson NodeTaggedAddresses() {
  return {{"lan", kNodeAddress},
          {"lan_ipv4", kNodeAddress},
          {"wan", kNodeAddress},
          {"wan_ipv4", kNodeAddress}};
}

ojson ServiceTaggedAddresses(const ServiceRecord& service) {
  const auto& reg = service.registration;
  if (reg.address.empty()) return ojson::object();
  ojson address = {{"Address", reg.address}, {"Port", reg.port}};
  return {{"lan_ipv4", address}, {"wan_ipv4", address}};
}

ojson MetaJson(const ServiceRecord& service) {
  ojson meta = ojson::object();
  for (const auto& [key, value] : service.registration.meta) meta[key] = value;
  return meta;
}

ojson ProxyJson() {
  return {{"Mode", ""}, {"MeshGateway", ojson::object()}, {"Expose", ojson::object()}};
}

}  // namespace

ojson NodeJson() {
  return {{"ID", kNodeId},
          {"Node", kNodeName},
          {"Address", kNodeAddress},
          {"Datacenter", kDatacenter},
          {"TaggedAddresses", NodeTaggedAddresses()},
          {"Meta", {{"consul-network-segment", ""}}},
          {"CreateIndex", kNodeCreateIndex},
          {"ModifyIndex", kNodeModifyIndex}};
}

ojson SerfHealthCheckJson() {
  return {{"Node", kNodeName},
          {"CheckID", "serfHealth"},
          {"Name", "Serf Health Status"},
          {"Status", "passing"},
          {"Notes", ""},
          {"Output", "Agent alive and reachable"},
          {"ServiceID", ""},
          {"ServiceName", ""},
          {"ServiceTags", ojson::array()},
          {"Type", ""},
          {"Interval", ""},
          {"Timeout", ""},
          {"ExposedPort", 0},
          {"Definition", ojson::object()},
          {"CreateIndex", kSerfCheckIndex},
          {"ModifyIndex", kSerfCheckIndex}};
}

ojson CheckJson(const ServiceRecord& service, const CheckRecord& check) {
  const CheckDefinition& def = check.definition;
  return {{"Node", kNodeName},
          {"CheckID", def.id},
          {"Name", def.name},
          {"Status", check.status},
          {"Notes", ""},
          {"Output", check.output},
          {"ServiceID", service.registration.id},
          {"ServiceName", service.registration.name},
          {"ServiceTags", check.service_tags},
          {"Type", def.type},
          {"Interval", FormatGoDuration(def.interval)},
          {"Timeout", FormatGoDuration(def.timeout)},
          {"ExposedPort", 0},
          {"Definition", ojson::object()},
          {"CreateIndex", check.create_index},
          {"ModifyIndex", check.modify_index}};
}

ojson AgentServiceJson(const ServiceRecord& service) {
  const auto& reg = service.registration;
  return {{"ID", reg.id},
          {"Service", reg.name},
          {"Tags", reg.tags},
          {"Address", reg.address},
          {"TaggedAddresses", ServiceTaggedAddresses(service)},
          {"Meta", MetaJson(service)},
          {"Port", reg.port},
          {"Weights", {{"Passing", 1}, {"Warning", 1}}},
          {"EnableTagOverride", false},
          {"Proxy", ProxyJson()},
          {"Connect", ojson::object()},
          {"CreateIndex", service.create_index},
          {"ModifyIndex", service.modify_index}};
}

ojson HealthEntryJson(const ServiceRecord& service) {
  ojson checks = ojson::array();
  checks.push_back(SerfHealthCheckJson());
  if (service.checks_registered) {
    for (const auto& check : service.checks) checks.push_back(CheckJson(service, check));
  }
  return {{"Node", NodeJson()}, {"Service", AgentServiceJson(service)}, {"Checks", checks}};
}

ojson CatalogServiceEntryJson(const ServiceRecord& service) {
  const auto& reg = service.registration;
  return {{"ID", kNodeId},
          {"Node", kNodeName},
          {"Address", kNodeAddress},
          {"Datacenter", kDatacenter},
          {"TaggedAddresses", NodeTaggedAddresses()},
          {"NodeMeta", {{"consul-network-segment", ""}}},
          {"ServiceKind", ""},
          {"ServiceID", reg.id},
          {"ServiceName", reg.name},
          {"ServiceTags", reg.tags},
          {"ServiceAddress", reg.address},
          {"ServiceTaggedAddresses", ServiceTaggedAddresses(service)},
          {"ServiceWeights", {{"Passing", 1}, {"Warning", 1}}},
          {"ServiceMeta", MetaJson(service)},
          {"ServicePort", reg.port},
          {"ServiceSocketPath", ""},
          {"ServiceEnableTagOverride", false},
          {"ServiceProxy", ProxyJson()},
          {"ServiceConnect", ojson::object()},
          {"CreateIndex", service.create_index},
          {"ModifyIndex", service.modify_index}};
}

}  // namespace rollouts::sandbox
