#include "sandbox/consul/kv_json.h"

#include "sandbox/consul/consul_http.h"

namespace rollouts::sandbox {

nlohmann::ordered_json KvEntryJson(const KvEntry& entry, bool with_value) {
  nlohmann::ordered_json out;
  out["LockIndex"] = entry.lock_index;
  out["Key"] = entry.key;
  out["Flags"] = entry.flags;
  out["Value"] = with_value && !entry.value.empty()
                     ? nlohmann::ordered_json(Base64Encode(entry.value))
                     : nlohmann::ordered_json(nullptr);
  if (!entry.session.empty()) out["Session"] = entry.session;
  out["CreateIndex"] = entry.create_index;
  out["ModifyIndex"] = entry.modify_index;
  return out;
}

}  // namespace rollouts::sandbox
