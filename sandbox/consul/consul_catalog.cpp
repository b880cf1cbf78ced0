#include "sandbox/consul/consul_catalog.h"

#include <random>

#include "sandbox/consul/check_probe.h"

namespace rollouts::sandbox {
namespace {

std::vector<Change> ServiceChanges(const std::string& name, bool service_table) {
  std::vector<Change> changes{{Change::Kind::kService, name}};
  if (service_table) changes.push_back({Change::Kind::kTable, "services"});
  return changes;
}

}  // namespace

ConsulCatalog::ConsulCatalog(ConsulState& state, std::chrono::milliseconds check_registration_delay)
    : state_(state), check_registration_delay_(check_registration_delay) {}

ConsulCatalog::~ConsulCatalog() {
  Shutdown();
}

void ConsulCatalog::Register(const ServiceRegistration& registration) {
  StopRunners(registration.id);
  uint64_t generation = next_generation_++;
  {
    std::lock_guard<std::mutex> lock(runners_mu_);
    if (shut_down_) return;
    generations_[registration.id] = generation;
  }
  auto lock = state_.Acquire();
  CatalogData& catalog = state_.catalog();
  uint64_t index = state_.NextIndex();
  std::string old_name;
  if (auto it = catalog.services.find(registration.id); it != catalog.services.end()) {
    old_name = it->second.registration.name;
  }
  ServiceRecord record;
  record.registration = registration;
  record.registration.meta["external-source"] = "nomad";
  record.create_index = record.modify_index = index;
  record.checks_registered = registration.checks.empty();
  record.registered_at = std::chrono::steady_clock::now();
  for (const auto& definition : registration.checks) {
    CheckRecord check;
    check.definition = definition;
    check.service_tags = registration.tags;
    record.checks.push_back(std::move(check));
  }
  catalog.services[registration.id] = std::move(record);
  catalog.services_table_index = index;
  catalog.service_index[registration.name] = index;
  std::vector<Change> changes = ServiceChanges(registration.name, true);
  if (!old_name.empty() && old_name != registration.name) {
    catalog.service_index[old_name] = index;
    changes.push_back({Change::Kind::kService, old_name});
  }
  if (!registration.checks.empty()) {
    std::string id = registration.id;
    state_.scheduler().After(check_registration_delay_,
                             [this, id, generation] { RegisterChecks(id, generation); });
  }
  state_.Publish(lock, std::move(changes));
}

void ConsulCatalog::RegisterChecks(const std::string& service_id, uint64_t generation) {
  std::vector<CheckDefinition> definitions;
  {
    auto lock = state_.Acquire();
    CatalogData& catalog = state_.catalog();
    auto it = catalog.services.find(service_id);
    {
      std::lock_guard<std::mutex> guard(runners_mu_);
      if (shut_down_ || generations_[service_id] != generation) return;
    }
    if (it == catalog.services.end()) return;
    ServiceRecord& record = it->second;
    uint64_t index = state_.NextIndex();
    for (auto& check : record.checks) {
      check.create_index = check.modify_index = index;
      definitions.push_back(check.definition);
    }
    record.checks_registered = true;
    catalog.checks_table_index = index;
    catalog.service_index[record.registration.name] = index;
    state_.Publish(lock, ServiceChanges(record.registration.name, false));
  }
  std::lock_guard<std::mutex> guard(runners_mu_);
  if (shut_down_ || generations_[service_id] != generation) return;
  for (const auto& definition : definitions) {
    auto runner = std::make_shared<CheckRunner>();
    runner->thread = std::thread([this, runner, service_id, definition, generation] {
      RunChecks(runner, service_id, definition, generation);
      runner->finished = true;
    });
    runners_[service_id].push_back(runner);
  }
}

void ConsulCatalog::RunChecks(std::shared_ptr<CheckRunner> runner, std::string service_id,
                              CheckDefinition check, uint64_t generation) {
  std::mt19937_64 rng{std::random_device{}()};
  auto interval = std::max(check.interval, std::chrono::milliseconds(10));
  std::uniform_int_distribution<int64_t> stagger(0, interval.count() - 1);
  auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(stagger(rng));
  std::unique_ptr<HttpProbe> http_probe;
  if (check.type == "http") http_probe = std::make_unique<HttpProbe>(check.http);
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(runner->mu);
      if (runner->cv.wait_until(lock, next, [&] { return runner->stop; })) return;
    }
    ProbeResult result;
    if (check.type == "http") {
      result = http_probe->Run(check.timeout);
    } else if (check.type == "tcp") {
      result = RunTcpProbe(check.tcp, check.timeout);
    } else {
      result = {"critical", "unsupported check type \"" + check.type + "\""};
    }
    {
      std::lock_guard<std::mutex> lock(runner->mu);
      if (runner->stop) return;
    }
    RecordResult(service_id, generation, check.id, result.status, result.output);
    next = std::chrono::steady_clock::now() + interval;
  }
}

void ConsulCatalog::RecordResult(const std::string& service_id, uint64_t generation,
                                 const std::string& check_id, const std::string& status,
                                 const std::string& output) {
  {
    std::lock_guard<std::mutex> guard(runners_mu_);
    if (generations_[service_id] != generation) return;
  }
  auto lock = state_.Acquire();
  CatalogData& catalog = state_.catalog();
  auto it = catalog.services.find(service_id);
  if (it == catalog.services.end()) return;
  for (auto& check : it->second.checks) {
    if (check.definition.id != check_id) continue;
    // Like Consul, only a status change reaches the catalog (an output-only change waits
    // for check_update_interval), so blocking queries do not wake at every run.
    if (check.status == status) return;
    uint64_t index = state_.NextIndex();
    check.status = status;
    check.output = output;
    check.modify_index = index;
    if (status == "passing") {
      check.passing_since = std::chrono::steady_clock::now();
    } else {
      check.passing_since.reset();
    }
    catalog.checks_table_index = index;
    catalog.service_index[it->second.registration.name] = index;
    state_.Publish(lock, ServiceChanges(it->second.registration.name, false));
    return;
  }
}

void ConsulCatalog::UpdateTagsAndMeta(const std::string& service_id, std::vector<std::string> tags,
                                      std::map<std::string, std::string> meta) {
  auto lock = state_.Acquire();
  CatalogData& catalog = state_.catalog();
  auto it = catalog.services.find(service_id);
  if (it == catalog.services.end()) return;
  uint64_t index = state_.NextIndex();
  ServiceRecord& record = it->second;
  record.registration.tags = std::move(tags);
  record.registration.meta = std::move(meta);
  record.registration.meta["external-source"] = "nomad";
  record.modify_index = index;
  catalog.services_table_index = index;
  catalog.service_index[record.registration.name] = index;
  state_.Publish(lock, ServiceChanges(record.registration.name, true));
}

void ConsulCatalog::Deregister(const std::string& service_id) {
  StopRunners(service_id);
  {
    std::lock_guard<std::mutex> guard(runners_mu_);
    generations_.erase(service_id);
  }
  auto lock = state_.Acquire();
  CatalogData& catalog = state_.catalog();
  auto it = catalog.services.find(service_id);
  if (it == catalog.services.end()) return;
  std::string name = it->second.registration.name;
  catalog.services.erase(it);
  uint64_t index = state_.NextIndex();
  catalog.services_table_index = index;
  catalog.checks_table_index = index;
  catalog.service_index[name] = index;
  state_.Publish(lock, ServiceChanges(name, true));
}

std::optional<std::chrono::steady_clock::time_point> ConsulCatalog::PassingSince(
    const std::string& service_id) const {
  auto lock = state_.Acquire();
  const CatalogData& catalog = state_.catalog();
  auto it = catalog.services.find(service_id);
  if (it == catalog.services.end()) return std::nullopt;
  const ServiceRecord& record = it->second;
  if (record.checks.empty()) return record.registered_at;
  if (!record.checks_registered) return std::nullopt;
  std::chrono::steady_clock::time_point since = record.registered_at;
  for (const auto& check : record.checks) {
    if (!check.passing_since) return std::nullopt;
    since = std::max(since, *check.passing_since);
  }
  return since;
}

void ConsulCatalog::StopRunners(const std::string& service_id) {
  std::lock_guard<std::mutex> guard(runners_mu_);
  // Join the threads of earlier deregistrations that have ended by now.
  for (auto it = stopped_.begin(); it != stopped_.end();) {
    if ((*it)->finished) {
      (*it)->thread.join();
      it = stopped_.erase(it);
    } else {
      ++it;
    }
  }
  auto it = runners_.find(service_id);
  if (it == runners_.end()) return;
  for (auto& runner : it->second) {
    {
      std::lock_guard<std::mutex> lock(runner->mu);
      runner->stop = true;
    }
    runner->cv.notify_all();
    stopped_.push_back(runner);
  }
  runners_.erase(it);
}

void ConsulCatalog::Shutdown() {
  std::vector<std::shared_ptr<CheckRunner>> all;
  {
    std::lock_guard<std::mutex> guard(runners_mu_);
    shut_down_ = true;
    for (auto& [id, list] : runners_) {
      for (auto& runner : list) all.push_back(runner);
    }
    runners_.clear();
    for (auto& runner : stopped_) all.push_back(runner);
    stopped_.clear();
  }
  for (auto& runner : all) {
    {
      std::lock_guard<std::mutex> lock(runner->mu);
      runner->stop = true;
    }
    runner->cv.notify_all();
  }
  for (auto& runner : all) {
    if (runner->thread.joinable()) runner->thread.join();
  }
}

}  // namespace rollouts::sandbox
