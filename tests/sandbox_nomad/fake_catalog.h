// A Consul catalog for the Nomad-side tests, independent of the sandbox's Consul half:
// it records what Nomad registers and really runs the checks (HTTP GET / TCP connect to
// the task's port), so PassingSince reflects whether the task serves.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sandbox/consul/catalog.h"

namespace rollouts::sandbox::testing {

class FakeCatalog : public Catalog {
 public:
  struct TagUpdate {
    std::string service_id;
    std::vector<std::string> tags;
    std::chrono::steady_clock::time_point at;
  };

  FakeCatalog() : prober_([this] { ProbeLoop(); }) {}
  ~FakeCatalog() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    prober_.join();
  }

  void Register(const ServiceRegistration& registration) override {
    std::lock_guard<std::mutex> lock(mu_);
    Entry entry;
    entry.registration = registration;
    entry.registered_at = std::chrono::steady_clock::now();
    services_[registration.id] = entry;
    registrations_total_++;
  }
  void UpdateTagsAndMeta(const std::string& service_id, std::vector<std::string> tags,
                         std::map<std::string, std::string> meta) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = services_.find(service_id);
    if (it == services_.end()) return;
    it->second.registration.tags = tags;
    it->second.registration.meta = std::move(meta);
    tag_updates_.push_back({service_id, std::move(tags), std::chrono::steady_clock::now()});
  }
  void Deregister(const std::string& service_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    services_.erase(service_id);
  }
  std::optional<std::chrono::steady_clock::time_point> PassingSince(
      const std::string& service_id) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = services_.find(service_id);
    if (it == services_.end()) return std::nullopt;
    if (it->second.registration.checks.empty()) return it->second.registered_at;
    return it->second.passing_since;
  }

  std::map<std::string, ServiceRegistration> Services() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, ServiceRegistration> out;
    for (const auto& [id, entry] : services_) out[id] = entry.registration;
    return out;
  }
  std::vector<TagUpdate> TagUpdates() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tag_updates_;
  }
  int RegistrationsTotal() const {
    std::lock_guard<std::mutex> lock(mu_);
    return registrations_total_;
  }

 private:
  struct Entry {
    ServiceRegistration registration;
    std::chrono::steady_clock::time_point registered_at;
    std::optional<std::chrono::steady_clock::time_point> passing_since;
  };

  static bool Probe(const CheckDefinition& check) {
    std::string host_port = check.type == "http" ? check.http : check.tcp;
    std::string path = "/";
    if (check.type == "http") {
      host_port = host_port.substr(host_port.find("://") + 3);
      const size_t slash = host_port.find('/');
      if (slash != std::string::npos) {
        path = host_port.substr(slash);
        host_port = host_port.substr(0, slash);
      }
    }
    const int port = std::stoi(host_port.substr(host_port.rfind(':') + 1));
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    timeval timeout{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (ok && check.type == "http") {
      const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
      ok = write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size());
      char buf[64] = {0};
      ok = ok && read(fd, buf, sizeof(buf) - 1) > 12;
      const std::string status_line = buf;
      ok = ok && status_line.rfind("HTTP/1.", 0) == 0 && status_line[9] == '2';
    }
    close(fd);
    return ok;
  }

  void ProbeLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      std::vector<std::pair<std::string, std::vector<CheckDefinition>>> work;
      for (const auto& [id, entry] : services_) work.emplace_back(id, entry.registration.checks);
      lock.unlock();
      std::map<std::string, bool> results;
      for (const auto& [id, checks] : work) {
        bool all = true;
        for (const CheckDefinition& check : checks) all = all && Probe(check);
        results[id] = all;
      }
      lock.lock();
      const auto now = std::chrono::steady_clock::now();
      for (const auto& [id, passing] : results) {
        auto it = services_.find(id);
        if (it == services_.end()) continue;
        if (!passing) {
          it->second.passing_since.reset();
        } else if (!it->second.passing_since) {
          it->second.passing_since = now;
        }
      }
      wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; });
    }
  }

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::map<std::string, Entry> services_;
  std::vector<TagUpdate> tag_updates_;
  int registrations_total_ = 0;
  std::thread prober_;
};

}  // namespace rollouts::sandbox::testing
