// Everything the sandbox's Consul agent knows, behind one mutex: the raft index, KV,
// sessions, catalog, and the parked blocking queries. Writers change the data under the
// lock and then Publish() what they changed; only the waiters whose watched thing
// changed are woken (a write outside a watched prefix must not wake it).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "clients/http/server.h"
#include "sandbox/common/scheduler.h"
#include "sandbox/consul/catalog_data.h"
#include "sandbox/consul/kv_store.h"
#include "sandbox/consul/session_store.h"

namespace rollouts::sandbox {

// What a blocking query watches, and what a write changed.
struct WatchTopic {
  enum class Kind { kKey, kPrefix, kTable, kService };
  Kind kind = Kind::kTable;
  std::string name;  // key, prefix, table ("kv", "sessions", "services") or service name
};

struct Change {
  enum class Kind { kKey, kTable, kService };
  Kind kind = Kind::kTable;
  std::string name;
};

class ConsulState {
 public:
  using Lock = std::unique_lock<std::mutex>;

  explicit ConsulState(Scheduler& scheduler);
  ~ConsulState();  // answers every parked query

  Lock Acquire() { return Lock(mu_); }

  // --- everything below requires the lock ---
  uint64_t NextIndex() { return ++last_index_; }
  uint64_t last_index() const { return last_index_; }
  KvStore& kv() { return kv_; }
  SessionTable& sessions() { return sessions_; }
  CatalogData& catalog() { return catalog_; }
  Scheduler& scheduler() { return scheduler_; }

  // Answers at once when `current_index()` > min_index, otherwise parks the query until a
  // matching Change raises the index past min_index or `wait` (plus jitter) runs out.
  // `render` runs under the lock.
  void AnswerOrPark(Lock& lock, WatchTopic topic, uint64_t min_index, bool blocking,
                    std::chrono::milliseconds wait, std::function<uint64_t()> current_index,
                    std::function<http::Response()> render, http::Responder respond);

  // Wakes the waiters the changes concern (plus every KV key the KV store recorded as
  // changed), then releases the lock and answers them.
  void Publish(Lock& lock, std::vector<Change> changes);

  // Session invalidation (destroy or TTL expiry): releases/deletes its locks, applies
  // its LockDelay. Returns false for an unknown session. Caller publishes.
  bool InvalidateSession(const std::string& id, std::vector<Change>& changes);
  // (Re)starts the 2x TTL expiry timer of a session.
  void ArmSessionTimer(Session& session);

  // Answers every parked query now (shutdown). Takes the lock itself.
  void ReleaseAllWaiters();

 private:
  struct Waiter {
    WatchTopic topic;
    uint64_t min_index = 0;
    std::function<uint64_t()> current_index;
    std::function<http::Response()> render;
    http::Responder respond;
    Scheduler::TimerId timer = 0;
  };
  static bool Matches(const WatchTopic& topic, const Change& change);
  void OnTimeout(uint64_t waiter_id);
  void OnSessionExpired(const std::string& id, Scheduler::TimerId timer);

  Scheduler& scheduler_;
  std::mutex mu_;
  uint64_t last_index_ = kBootstrapIndex;
  KvStore kv_;
  SessionTable sessions_;
  CatalogData catalog_;
  uint64_t next_waiter_id_ = 1;
  std::map<uint64_t, Waiter> waiters_;
};

}  // namespace rollouts::sandbox
