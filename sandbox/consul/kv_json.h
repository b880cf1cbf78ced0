// A KV entry as Consul prints it: Value in base64 or null, Session only while locked.
#pragma once

#include <nlohmann/json.hpp>

#include "sandbox/consul/kv_store.h"

namespace rollouts::sandbox {

nlohmann::ordered_json KvEntryJson(const KvEntry& entry, bool with_value);

}  // namespace rollouts::sandbox
