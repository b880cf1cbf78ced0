// Consul sessions as the sandbox keeps them (the sessions table). Not thread-safe:
// ConsulState locks.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "sandbox/common/scheduler.h"

namespace rollouts::sandbox {

struct Session {
  std::string id;
  std::string name;
  std::string node;
  std::chrono::nanoseconds lock_delay{0};
  std::string behavior = "release";  // "release" | "delete"
  std::string ttl;                   // as given ("15s"), "" for none
  std::chrono::nanoseconds ttl_duration{0};
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  Scheduler::TimerId expiry_timer = 0;  // 0 when the session has no TTL
};

struct SessionTable {
  std::map<std::string, Session> sessions;  // by ID, which is also the list order
  uint64_t table_index = 0;
};

}  // namespace rollouts::sandbox
