#include "sandbox/consul/kv_store.h"

namespace rollouts::sandbox {

const KvEntry* KvStore::Get(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<const KvEntry*> KvStore::List(const std::string& prefix) const {
  std::vector<const KvEntry*> out;
  for (auto it = entries_.lower_bound(prefix);
       it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(&it->second);
  }
  return out;
}

uint64_t KvStore::PrefixIndex(const std::string& prefix) const {
  uint64_t index = 0;
  for (const KvEntry* entry : List(prefix)) index = std::max(index, entry->modify_index);
  for (auto it = tombstones_.lower_bound(prefix);
       it != tombstones_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    index = std::max(index, it->second);
  }
  return index;
}

void KvStore::Touch(const std::string& key, uint64_t index) {
  if (recording_ && !undo_.count(key)) {
    Saved saved;
    if (auto it = entries_.find(key); it != entries_.end()) saved.entry = it->second;
    if (auto it = tombstones_.find(key); it != tombstones_.end()) saved.tombstone = it->second;
    undo_.emplace(key, std::move(saved));
  }
  changed_.insert(key);
  table_index_ = std::max(table_index_, index);
}

KvEntry& KvStore::Upsert(const std::string& key, uint64_t index) {
  Touch(key, index);
  auto [it, created] = entries_.try_emplace(key);
  KvEntry& entry = it->second;
  if (created) {
    entry.key = key;
    entry.create_index = index;
    tombstones_.erase(key);
  }
  entry.modify_index = index;
  entry.rendered.clear();
  return entry;
}

void KvStore::Set(const std::string& key, const std::string& value, std::optional<uint64_t> flags,
                  uint64_t index) {
  KvEntry& entry = Upsert(key, index);
  entry.value = value;
  entry.flags = flags.value_or(0);
}

bool KvStore::Cas(const std::string& key, const std::string& value, std::optional<uint64_t> flags,
                  uint64_t cas_index, uint64_t index) {
  const KvEntry* existing = Get(key);
  if (cas_index == 0 ? existing != nullptr
                     : (existing == nullptr || existing->modify_index != cas_index)) {
    return false;
  }
  Set(key, value, flags, index);
  return true;
}

bool KvStore::Acquire(const std::string& key, const std::string& value,
                      std::optional<uint64_t> flags, const std::string& session, uint64_t index,
                      Clock::time_point now) {
  if (auto delay = lock_delays_.find(key); delay != lock_delays_.end()) {
    if (now < delay->second) return false;
    lock_delays_.erase(delay);
  }
  const KvEntry* existing = Get(key);
  if (existing != nullptr && !existing->session.empty() && existing->session != session) {
    return false;
  }
  bool already_held = existing != nullptr && existing->session == session;
  KvEntry& entry = Upsert(key, index);
  entry.value = value;
  entry.flags = flags.value_or(0);
  if (!already_held) {
    entry.lock_index++;
    entry.session = session;
  }
  return true;
}

bool KvStore::Release(const std::string& key, const std::string& value,
                      std::optional<uint64_t> flags, const std::string& session, uint64_t index) {
  const KvEntry* existing = Get(key);
  if (existing == nullptr || existing->session != session) return false;
  KvEntry& entry = Upsert(key, index);
  entry.value = value;
  entry.flags = flags.value_or(0);
  entry.session.clear();
  return true;
}

bool KvStore::Delete(const std::string& key, uint64_t index) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  Touch(key, index);
  entries_.erase(key);
  tombstones_[key] = index;
  return true;
}

bool KvStore::DeleteCas(const std::string& key, uint64_t cas_index, uint64_t index) {
  const KvEntry* existing = Get(key);
  if (existing == nullptr) return true;
  if (existing->modify_index != cas_index) return false;
  Delete(key, index);
  return true;
}

void KvStore::DeleteTree(const std::string& prefix, uint64_t index) {
  std::vector<std::string> keys;
  for (const KvEntry* entry : List(prefix)) keys.push_back(entry->key);
  for (const auto& key : keys) Delete(key, index);
}

void KvStore::InvalidateSession(const std::string& session, bool delete_keys,
                                std::chrono::nanoseconds lock_delay, uint64_t index,
                                Clock::time_point now) {
  std::vector<std::string> held;
  for (const auto& [key, entry] : entries_) {
    if (entry.session == session) held.push_back(key);
  }
  for (const auto& key : held) {
    if (delete_keys) {
      Delete(key, index);
    } else {
      KvEntry& entry = Upsert(key, index);
      entry.session.clear();
    }
    if (lock_delay.count() > 0) {
      lock_delays_[key] = now + std::chrono::duration_cast<Clock::duration>(lock_delay);
    }
  }
}

std::set<std::string> KvStore::TakeChangedKeys() {
  std::set<std::string> out;
  out.swap(changed_);
  return out;
}

void KvStore::BeginUndo() {
  recording_ = true;
  undo_.clear();
  undo_table_index_ = table_index_;
}

void KvStore::CommitUndo() {
  recording_ = false;
  undo_.clear();
}

void KvStore::RollbackUndo() {
  for (auto& [key, saved] : undo_) {
    if (saved.entry) {
      entries_[key] = *saved.entry;
    } else {
      entries_.erase(key);
    }
    if (saved.tombstone) {
      tombstones_[key] = *saved.tombstone;
    } else {
      tombstones_.erase(key);
    }
    changed_.erase(key);
  }
  table_index_ = undo_table_index_;
  recording_ = false;
  undo_.clear();
}

}  // namespace rollouts::sandbox
