// The JSON shapes of Consul 1.10's catalog and health endpoints (see fixtures 079-107),
// in Consul's field order.
#pragma once

#include <nlohmann/json.hpp>

#include "sandbox/consul/catalog_data.h"

namespace rollouts::sandbox {

nlohmann::ordered_json NodeJson();
nlohmann::ordered_json SerfHealthCheckJson();
nlohmann::ordered_json CheckJson(const ServiceRecord& service, const CheckRecord& check);
nlohmann::ordered_json AgentServiceJson(const ServiceRecord& service);
// One /v1/health/service entry: Node, Service, Checks (serfHealth first).
nlohmann::ordered_json HealthEntryJson(const ServiceRecord& service);
// One /v1/catalog/service entry (flat, Service* fields, no checks).
nlohmann::ordered_json CatalogServiceEntryJson(const ServiceRecord& service);

}  // namespace rollouts::sandbox
