// A tiny in-process Consul KV agent for behaviours a recording cannot show: blocking
// queries that wake on a write or time out, an index that goes backwards (snapshot
// restore), and inspection of what the client sent (query, headers). Single keys only,
// one global index, like Consul's KV table index.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "clients/http/server.h"

namespace rollouts::consul::testing {

class FakeConsulKv {
 public:
  FakeConsulKv();
  ~FakeConsulKv();

  std::string base_url() const { return server_->base_url(); }
  // Writes a key directly (as another client would), bumping the index and waking waiters.
  uint64_t Write(const std::string& key, const std::string& value);
  // Sets the KV index lower than before (what a snapshot restore does) and answers every
  // parked blocking query at once with it.
  void RestoreIndex(uint64_t index);
  // Waits (bounded) until at least n blocking queries are parked.
  bool WaitForParked(size_t n);
  uint64_t index() const;
  size_t timeouts() const;
  std::vector<http::ServerRequest> received() const;
  // When set, answers every request with this response instead (error injection).
  void SetOverride(std::optional<http::Response> response);

 private:
  struct Entry {
    std::string value;
    uint64_t create_index = 0;
    uint64_t modify_index = 0;
  };
  struct Waiter {
    std::string key;
    std::chrono::steady_clock::time_point deadline;
    http::Responder respond;
  };

  void Handle(http::ServerRequest request, http::Responder respond);
  http::Response ReadLocked(const std::string& key) const;
  void WakeAllLocked();
  void TimerLoop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> kv_;
  uint64_t index_ = 10;
  size_t timeouts_ = 0;
  std::vector<Waiter> waiters_;
  std::vector<http::ServerRequest> received_;
  std::optional<http::Response> override_;
  bool stopping_ = false;
  std::thread timer_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace rollouts::consul::testing
