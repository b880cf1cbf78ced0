// The sandbox's implementation of the Catalog seam: what Nomad's client does to Consul.
// Registration follows the real sequence (fixtures 099-101): the instance first shows
// with only serfHealth, its checks appear critical a moment later, and each check turns
// passing after its first successful run. Checks run for real on one thread each, first
// after a random stagger within the interval (like Consul), then every interval.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "sandbox/consul/catalog.h"
#include "sandbox/consul/consul_state.h"

namespace rollouts::sandbox {

class ConsulCatalog final : public Catalog {
 public:
  // `check_registration_delay`: between the service and its checks appearing.
  ConsulCatalog(ConsulState& state, std::chrono::milliseconds check_registration_delay);
  ~ConsulCatalog() override;  // Shutdown()

  void Register(const ServiceRegistration& registration) override;
  void UpdateTagsAndMeta(const std::string& service_id, std::vector<std::string> tags,
                         std::map<std::string, std::string> meta) override;
  void Deregister(const std::string& service_id) override;
  std::optional<std::chrono::steady_clock::time_point> PassingSince(
      const std::string& service_id) const override;

  // Stops and joins every check thread. Idempotent.
  void Shutdown();

 private:
  struct CheckRunner {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::atomic<bool> finished{false};
    std::thread thread;
  };

  void RegisterChecks(const std::string& service_id, uint64_t generation);
  void RunChecks(std::shared_ptr<CheckRunner> runner, std::string service_id, CheckDefinition check,
                 uint64_t generation);
  void RecordResult(const std::string& service_id, uint64_t generation, const std::string& check_id,
                    const std::string& status, const std::string& output);
  void StopRunners(const std::string& service_id);

  ConsulState& state_;
  std::chrono::milliseconds check_registration_delay_;

  std::mutex runners_mu_;
  bool shut_down_ = false;
  std::map<std::string, std::vector<std::shared_ptr<CheckRunner>>> runners_;
  std::vector<std::shared_ptr<CheckRunner>> stopped_;  // joined at Shutdown
  // Distinguishes a re-registration with the same ID from the previous one.
  std::map<std::string, uint64_t> generations_;
  std::atomic<uint64_t> next_generation_{1};
};

}  // namespace rollouts::sandbox
