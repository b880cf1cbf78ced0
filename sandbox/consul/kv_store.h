// Consul's KV table as the sandbox keeps it: entries, delete tombstones (so a prefix's
// index never goes backwards), session locks with LockIndex and lock-delays, and an undo
// log so a /v1/txn either applies every op or none. Not thread-safe: ConsulState locks.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rollouts::sandbox {

struct KvEntry {
  std::string key;
  std::string value;  // empty is shown as "Value": null, like Consul's nil []byte
  uint64_t flags = 0;
  uint64_t lock_index = 0;
  std::string session;  // holder while locked
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  // KvEntryText's rendering of this entry, kept until the entry changes (every change goes
  // through KvStore::Upsert, which clears it): a recursive read of a big prefix answers
  // from these instead of re-encoding every value under the agent's lock.
  mutable std::string rendered;
};

class KvStore {
 public:
  using Clock = std::chrono::steady_clock;

  const KvEntry* Get(const std::string& key) const;
  std::vector<const KvEntry*> List(const std::string& prefix) const;
  // Highest ModifyIndex or delete tombstone under the prefix; 0 when there never was one.
  uint64_t PrefixIndex(const std::string& prefix) const;
  // Index of the whole table (highest write that changed it).
  uint64_t table_index() const { return table_index_; }

  // Plain set: keeps an existing lock holder and LockIndex, like Consul.
  void Set(const std::string& key, const std::string& value, std::optional<uint64_t> flags,
           uint64_t index);
  // Check-and-set: 0 means "only if missing".
  bool Cas(const std::string& key, const std::string& value, std::optional<uint64_t> flags,
           uint64_t cas_index, uint64_t index);
  // False when another session holds it or a lock-delay is running.
  bool Acquire(const std::string& key, const std::string& value, std::optional<uint64_t> flags,
               const std::string& session, uint64_t index, Clock::time_point now);
  // False when the key is missing or not held by `session`.
  bool Release(const std::string& key, const std::string& value, std::optional<uint64_t> flags,
               const std::string& session, uint64_t index);
  // Returns whether the key existed.
  bool Delete(const std::string& key, uint64_t index);
  // False when the key exists with another ModifyIndex (a missing key is true).
  bool DeleteCas(const std::string& key, uint64_t cas_index, uint64_t index);
  void DeleteTree(const std::string& prefix, uint64_t index);

  // A session was invalidated (destroyed or expired): its keys are released (or deleted
  // with Behavior=delete) and, when lock_delay > 0, cannot be acquired until it ends.
  void InvalidateSession(const std::string& session, bool delete_keys,
                         std::chrono::nanoseconds lock_delay, uint64_t index,
                         Clock::time_point now);

  // Keys changed since the last call (for waking blocking queries).
  std::set<std::string> TakeChangedKeys();

  // Transactions: every change after Begin is undone by Rollback.
  void BeginUndo();
  void CommitUndo();
  void RollbackUndo();

 private:
  struct Saved {
    std::optional<KvEntry> entry;
    std::optional<uint64_t> tombstone;
  };
  void Touch(const std::string& key, uint64_t index);
  KvEntry& Upsert(const std::string& key, uint64_t index);

  std::map<std::string, KvEntry> entries_;
  std::map<std::string, uint64_t> tombstones_;
  std::map<std::string, Clock::time_point> lock_delays_;
  uint64_t table_index_ = 0;
  std::set<std::string> changed_;
  bool recording_ = false;
  std::map<std::string, Saved> undo_;
  uint64_t undo_table_index_ = 0;
};

}  // namespace rollouts::sandbox
