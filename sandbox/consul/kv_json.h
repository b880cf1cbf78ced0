// A KV entry as Consul prints it: Value in base64 or null, Session only while locked.
#pragma once

#include <nlohmann/json.hpp>

#include "sandbox/consul/kv_store.h"

namespace rollouts::sandbox {

nlohmann::ordered_json KvEntryJson(const KvEntry& entry, bool with_value);

// KvEntryJson(entry, true) as compact JSON text, cached in the entry.
const std::string& KvEntryText(const KvEntry& entry);

// A JSON array of the entries (as KvEntryText), what a recursive KV read answers.
std::string KvListText(const std::vector<const KvEntry*>& entries);

}  // namespace rollouts::sandbox
