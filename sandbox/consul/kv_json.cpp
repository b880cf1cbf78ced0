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

const std::string& KvEntryText(const KvEntry& entry) {
  if (entry.rendered.empty()) entry.rendered = KvEntryJson(entry, true).dump();
  return entry.rendered;
}

std::string KvListText(const std::vector<const KvEntry*>& entries) {
  size_t size = 2;
  for (const KvEntry* entry : entries) size += KvEntryText(*entry).size() + 1;
  std::string out;
  out.reserve(size);
  out += '[';
  for (const KvEntry* entry : entries) {
    if (out.size() > 1) out += ',';
    out += KvEntryText(*entry);
  }
  out += ']';
  return out;
}

}  // namespace rollouts::sandbox
