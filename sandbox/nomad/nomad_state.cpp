// Scheduler and client side of NomadState: placement, updates, deployments, health and
// the raw_exec processes. HTTP handling is in nomad_api.cpp.
#include "sandbox/nomad/nomad_state.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "sandbox/nomad/go_compat.h"
#include "sandbox/nomad/job_spec.h"
#include "sandbox/nomad/task_process.h"

extern char** environ;

namespace rollouts::sandbox {

using nlohmann::json;

namespace {

// The objects of one job from a per-job index (job ID -> object ID -> pointer), in ID order.
template <typename Out, typename Index>
std::vector<Out> ValuesOfJob(const Index& by_job, const std::string& job_id) {
  std::vector<Out> out;
  auto it = by_job.find(job_id);
  if (it == by_job.end()) return out;
  out.reserve(it->second.size());
  for (const auto& [id, value] : it->second) out.push_back(value);
  return out;
}

constexpr auto kTickInterval = std::chrono::milliseconds(20);
// Shutdown honours each task's KillTimeout, but never waits longer than this in total.
constexpr auto kShutdownKillCap = std::chrono::seconds(10);

// Replaces ${NAME} with env[NAME]; unknown names stay as written (as Nomad leaves them).
std::string Interpolate(const std::string& text, const std::map<std::string, std::string>& env) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("${", pos);
    if (open == std::string::npos) break;
    size_t close = text.find('}', open + 2);
    if (close == std::string::npos) break;
    out += text.substr(pos, open - pos);
    const std::string name = text.substr(open + 2, close - open - 2);
    auto it = env.find(name);
    out += it != env.end() ? it->second : text.substr(open, close - open + 1);
    pos = close + 1;
  }
  return out + text.substr(pos);
}

// 40 hex characters like the SHA-1 Nomad puts in check IDs; only uniqueness matters.
std::string Hash40(const std::string& input) {
  std::string out;
  for (uint64_t seed : {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL, 0x9e3779b97f4a7c15ULL}) {
    uint64_t h = seed;
    for (unsigned char c : input) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
    out += buf;
  }
  return out.substr(0, 40);
}

const json* FindGroup(const json& job, const std::string& name) {
  for (const json& group : job["TaskGroups"]) {
    if (group["Name"] == name) return &group;
  }
  return nullptr;
}

TaskEvent Event(const std::string& type, const std::string& display) {
  TaskEvent e;
  e.type = type;
  e.time = SystemClock::now();
  e.display_message = display;
  return e;
}

std::chrono::nanoseconds Nanos(const json& value) {
  return std::chrono::nanoseconds(value.is_number() ? value.get<int64_t>() : 0);
}

}  // namespace

NomadState::NomadState(Catalog& catalog, NomadAgentOptions options)
    : catalog_(catalog), options_(std::move(options)) {
  if (options_.data_dir.empty()) {
    options_.data_dir = (std::filesystem::temp_directory_path() /
                         ("rollout-sandbox-nomad-" + std::to_string(getpid())))
                            .string();
  }
  for (Table t : {Table::kJobs, Table::kEvals, Table::kAllocs, Table::kDeployments}) {
    table_index_[t] = 0;
  }
  supervisor_ = std::thread([this] { SupervisorLoop(); });
}

NomadState::~NomadState() {
  Shutdown();
}

uint64_t NomadState::NextIndex() {
  return ++index_;
}

void NomadState::Bump(Table table, uint64_t index) {
  table_index_[table] = std::max(table_index_[table], index);
}

void NomadState::TouchAlloc(Allocation& alloc, uint64_t index) {
  alloc.modify_index = index;
  alloc.modify_time = SystemClock::now();
  Bump(Table::kAllocs, index);
  uint64_t& job_index = job_allocs_index_[alloc.job_id];
  job_index = std::max(job_index, index);
  MarkDirty(alloc.job_id);
}

void NomadState::MarkDirty(const std::string& job_id) {
  dirty_jobs_.insert(job_id);
}

std::vector<Allocation*> NomadState::AllocsOf(const std::string& job_id) {
  return ValuesOfJob<Allocation*>(allocs_by_job_, job_id);
}

std::vector<const Allocation*> NomadState::AllocsOf(const std::string& job_id) const {
  return ValuesOfJob<const Allocation*>(allocs_by_job_, job_id);
}

std::vector<Deployment*> NomadState::DeploymentsOf(const std::string& job_id) {
  return ValuesOfJob<Deployment*>(deployments_by_job_, job_id);
}

std::string NomadState::CreateEvaluation(const std::string& job_id, const std::string& triggered_by,
                                         uint64_t index, uint64_t job_modify_index) {
  const std::string id = go::NewUuid();
  json queued = json::object();
  int64_t priority = 50;
  std::string type = "service";
  auto job = jobs_.find(job_id);
  if (job != jobs_.end()) {
    priority = job->second.current["Priority"];
    type = job->second.current["Type"];
    for (const json& group : job->second.current["TaskGroups"]) queued[group["Name"]] = 0;
  }
  const int64_t now = go::UnixNanos(SystemClock::now());
  json eval = {{"ID", id},
               {"Namespace", "default"},
               {"Priority", priority},
               {"Type", type},
               {"TriggeredBy", triggered_by},
               {"JobID", job_id},
               {"Status", "complete"},
               {"QueuedAllocations", queued},
               {"SnapshotIndex", index},
               {"CreateIndex", index},
               {"ModifyIndex", index},
               {"CreateTime", now},
               {"ModifyTime", now}};
  if (job_modify_index > 0) eval["JobModifyIndex"] = job_modify_index;
  evals_[id] = eval;
  Bump(Table::kEvals, index);
  return id;
}

// Nomad 1.0 keeps the last structs.JobTrackedVersions (6) versions of a job: each upsert
// past that deletes the oldest (state_store.go upsertJobVersion), except that the newest
// Stable version is kept when it is the one that would go, and the next oldest goes
// instead. So after a stable v0 and seven more registers the history is
// [v0 (stable), v3 .. v7]: a job's last known-good version stays in /versions until a
// newer one is stable.
void NomadState::TrimJobVersions(std::vector<json>& versions) {
  while (versions.size() > kJobTrackedVersions) {
    // `versions` is oldest first; Nomad walks newest first, so its all[max] (the one
    // deleted) is versions[size - 1 - max], the oldest here.
    const size_t oldest = versions.size() - 1 - kJobTrackedVersions;
    size_t drop = oldest;
    for (size_t i = versions.size(); i-- > 0;) {
      if (versions[i].value("Stable", false)) {
        if (i == oldest) drop = oldest + 1;
        break;
      }
    }
    versions.erase(versions.begin() + static_cast<std::ptrdiff_t>(drop));
  }
}

uint64_t NomadState::StoreJobVersion(json job, uint64_t index) {
  const std::string id = job["ID"];
  JobRecord& record = jobs_[id];
  const bool exists = !record.versions.empty();
  job["Version"] = exists ? record.current["Version"].get<int64_t>() + 1 : 0;
  job["CreateIndex"] = exists ? record.current["CreateIndex"].get<uint64_t>() : index;
  job["ModifyIndex"] = index;
  job["JobModifyIndex"] = index;
  job["SubmitTime"] = go::UnixNanos(SystemClock::now());
  job["Stable"] = false;
  job["Status"] = "pending";
  record.versions.push_back(job);
  TrimJobVersions(record.versions);
  record.current = job;
  record.current_ptr = std::make_shared<const json>(job);
  Bump(Table::kJobs, index);
  MarkDirty(id);
  return index;
}

Deployment* NomadState::LatestDeployment(const std::string& job_id) {
  Deployment* latest = nullptr;
  for (Deployment* d : DeploymentsOf(job_id)) {
    if (!latest || d->create_index > latest->create_index) latest = d;
  }
  return latest;
}

void NomadState::CancelActiveDeployments(const std::string& job_id, const std::string& description,
                                         uint64_t index) {
  for (Deployment* d : DeploymentsOf(job_id)) {
    if (d->Active()) {
      d->status = "cancelled";
      d->status_description = description;
      d->modify_index = index;
      Bump(Table::kDeployments, index);
      MarkDirty(job_id);
    }
  }
}

void NomadState::StartDeployment(const std::string& job_id, uint64_t index) {
  const json& job = jobs_[job_id].current;
  CancelActiveDeployments(job_id, "Cancelled due to newer version of job", index);
  if (job["Type"] != "service" || job["Stop"].get<bool>()) return;
  Deployment d;
  d.id = go::NewUuid();
  d.job_id = job_id;
  d.job_version = job["Version"];
  d.job_modify_index = job["JobModifyIndex"];
  d.job_create_index = job["CreateIndex"];
  d.create_index = index;
  d.modify_index = index;
  for (const json& group : job["TaskGroups"]) {
    if (group["Count"].get<int64_t>() <= 0) continue;
    DeploymentGroupState g;
    g.desired_total = group["Count"];
    g.progress_deadline_ns =
        group["Update"].is_object() ? group["Update"]["ProgressDeadline"].get<int64_t>() : 0;
    g.require_progress_by = SystemClock::now() + std::chrono::nanoseconds(g.progress_deadline_ns);
    d.groups[group["Name"]] = g;
  }
  if (d.groups.empty()) return;
  Deployment& stored = deployments_[d.id] = d;
  deployments_by_job_[job_id][stored.id] = &stored;
  Bump(Table::kDeployments, index);
  MarkDirty(job_id);
}

int NomadState::PickPort() {
  const int span = std::max(1, options_.port_max - options_.port_min + 1);
  std::uniform_int_distribution<int> pick(0, span - 1);
  for (int attempt = 0; attempt < 500; ++attempt) {
    const int port = options_.port_min + pick(rng_);
    if (used_ports_.count(port) || !PortIsFree(port)) continue;
    used_ports_.insert(port);
    return port;
  }
  throw std::runtime_error("no free port in the dynamic port range");
}

Allocation& NomadState::PlaceAllocation(const json& job, const std::string& group_name, int index,
                                        const std::string& eval_id,
                                        const std::string& deployment_id, uint64_t raft_index) {
  Allocation alloc;
  alloc.id = go::NewUuid();
  alloc.eval_id = eval_id;
  alloc.job_id = job["ID"];
  alloc.group = group_name;
  alloc.index = index;
  alloc.job = jobs_[alloc.job_id].current_ptr;
  alloc.job_version = job["Version"];
  alloc.deployment_id = deployment_id;
  alloc.health_since = SteadyClock::now();
  alloc.create_index = raft_index;
  alloc.alloc_modify_index = raft_index;
  alloc.create_time = SystemClock::now();
  const json& group = *FindGroup(job, group_name);
  if (group["Networks"].is_array()) {
    for (const json& network : group["Networks"]) {
      if (network["ReservedPorts"].is_array()) {
        for (const json& port : network["ReservedPorts"]) {
          alloc.ports[port["Label"]] = port["Value"].get<int>();
        }
      }
      if (network["DynamicPorts"].is_array()) {
        for (const json& port : network["DynamicPorts"]) alloc.ports[port["Label"]] = PickPort();
      }
    }
  }
  for (const json& task_spec : group["Tasks"]) {
    TaskRun task;
    task.name = task_spec["Name"];
    task.spec = task_spec;
    task.start_at = SteadyClock::now();
    alloc.tasks.push_back(std::move(task));
  }
  TouchAlloc(alloc, raft_index);
  const std::string id = alloc.id;
  Allocation& stored = allocs_[id] = std::move(alloc);
  allocs_by_job_[stored.job_id][id] = &stored;
  return stored;
}

void NomadState::UpdateInPlace(Allocation& alloc, std::shared_ptr<const json> job,
                               const std::string& deployment_id, bool services_changed,
                               uint64_t raft_index, std::vector<std::string>& consul_updates) {
  alloc.job = job;
  alloc.job_version = (*job)["Version"];
  alloc.deployment_id = deployment_id;
  alloc.deployment_status = nullptr;
  alloc.health_since = SteadyClock::now();
  alloc.alloc_modify_index = raft_index;
  if (const json* group = FindGroup(*job, alloc.group)) {
    for (TaskRun& task : alloc.tasks) {
      for (const json& spec : (*group)["Tasks"]) {
        if (spec["Name"] == task.name) task.spec = spec;
      }
    }
  }
  TouchAlloc(alloc, raft_index);
  if (services_changed && alloc.registered) consul_updates.push_back(alloc.id);
}

void NomadState::StopAllocation(Allocation& alloc, const std::string& description, uint64_t index) {
  alloc.desired_status = "stop";
  alloc.desired_description = description;
  // Nomad deregisters from Consul before it kills the task.
  DeregisterAll(alloc);
  const auto now = SteadyClock::now();
  for (TaskRun& task : alloc.tasks) {
    task.start_at.reset();
    if (task.pid > 0 && !task.kill_requested) {
      const auto timeout = Nanos(task.spec["KillTimeout"]);
      int signal = ParseSignalName(task.spec["KillSignal"]);
      if (signal < 0) signal = SIGINT;
      TaskEvent e = Event("Killing",
                          std::string(signal == SIGINT ? "Sent interrupt" : "Sent signal") +
                              ". Waiting " + go::FormatDuration(timeout) + " before force killing");
      e.details = {{"kill_timeout", go::FormatDuration(timeout)}};
      e.kill_timeout_ns = timeout.count();
      task.events.push_back(e);
      task.kill_requested = true;
      task.kill_deadline = now + std::chrono::duration_cast<SteadyClock::duration>(timeout);
      SignalTask(task.pid, signal);
    } else if (task.pid <= 0 && task.state != "dead") {
      task.state = "dead";
      if (!task.events.empty()) task.finished_at = SystemClock::now();
    }
  }
  TouchAlloc(alloc, index);
  RefreshClientStatus(alloc);
}

std::vector<ServiceRegistration> NomadState::BuildRegistrations(const Allocation& alloc) const {
  std::vector<ServiceRegistration> out;
  const json* group = FindGroup(*alloc.job, alloc.group);
  if (!group) return out;
  auto add = [&](const json& service, const std::string& owner) {
    const std::string label = service["PortLabel"];
    auto port_of = [&](const std::string& l) {
      auto it = alloc.ports.find(l);
      return it == alloc.ports.end() ? 0 : it->second;
    };
    ServiceRegistration reg;
    reg.name = service["Name"];
    reg.id = "_nomad-task-" + alloc.id + "-" + owner + "-" + reg.name + "-" + label;
    reg.address = "127.0.0.1";
    reg.port = port_of(label);
    if (service["Tags"].is_array()) reg.tags = service["Tags"].get<std::vector<std::string>>();
    if (service["Meta"].is_object()) {
      reg.meta = service["Meta"].get<std::map<std::string, std::string>>();
    }
    if (service["Checks"].is_array()) {
      for (const json& check : service["Checks"]) {
        CheckDefinition c;
        c.name = check["Name"];
        c.type = check["Type"];
        const std::string check_label = check["PortLabel"].get<std::string>().empty()
                                            ? label
                                            : check["PortLabel"].get<std::string>();
        const std::string addr = "127.0.0.1:" + std::to_string(port_of(check_label));
        if (c.type == "http") {
          const std::string protocol = check["Protocol"].get<std::string>().empty()
                                           ? "http"
                                           : check["Protocol"].get<std::string>();
          c.http = protocol + "://" + addr + check["Path"].get<std::string>();
        } else {
          c.tcp = addr;
        }
        c.interval =
            std::chrono::duration_cast<std::chrono::milliseconds>(Nanos(check["Interval"]));
        c.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(Nanos(check["Timeout"]));
        c.id = "_nomad-check-" + Hash40(reg.id + "|" + c.name + "|" + c.type + "|" + c.http +
                                        c.tcp + "|" + std::to_string(c.interval.count()));
        reg.checks.push_back(c);
      }
    }
    out.push_back(reg);
  };
  if ((*group)["Services"].is_array()) {
    for (const json& service : (*group)["Services"]) add(service, "group-" + alloc.group);
  }
  for (const TaskRun& task : alloc.tasks) {
    if (!task.spec["Services"].is_array()) continue;
    for (const json& service : task.spec["Services"]) add(service, task.name);
  }
  return out;
}

void NomadState::SyncRegistrations(Allocation& alloc) {
  std::vector<ServiceRegistration> wanted = BuildRegistrations(alloc);
  std::map<std::string, const ServiceRegistration*> current;
  for (const ServiceRegistration& r : alloc.registrations) current[r.id] = &r;
  std::set<std::string> wanted_ids;
  for (const ServiceRegistration& w : wanted) {
    wanted_ids.insert(w.id);
    auto it = current.find(w.id);
    if (it == current.end()) {
      catalog_.Register(w);
      continue;
    }
    const ServiceRegistration& c = *it->second;
    bool same_checks = c.checks.size() == w.checks.size();
    for (size_t i = 0; same_checks && i < c.checks.size(); ++i) {
      same_checks = c.checks[i].id == w.checks[i].id && c.checks[i].timeout == w.checks[i].timeout;
    }
    if (!same_checks || c.name != w.name || c.port != w.port || c.address != w.address) {
      catalog_.Deregister(c.id);
      catalog_.Register(w);
    } else if (c.tags != w.tags || c.meta != w.meta) {
      catalog_.UpdateTagsAndMeta(w.id, w.tags, w.meta);
    }
  }
  for (const ServiceRegistration& r : alloc.registrations) {
    if (!wanted_ids.count(r.id)) catalog_.Deregister(r.id);
  }
  alloc.registrations = std::move(wanted);
}

void NomadState::DeregisterAll(Allocation& alloc) {
  for (const ServiceRegistration& r : alloc.registrations) catalog_.Deregister(r.id);
  alloc.registrations.clear();
  alloc.registered = false;
}

void NomadState::RefreshClientStatus(Allocation& alloc) {
  bool any_failed = false;
  bool all_dead = true;
  bool all_running = true;
  for (const TaskRun& task : alloc.tasks) {
    any_failed = any_failed || task.failed;
    all_dead = all_dead && task.state == "dead";
    all_running = all_running && task.state == "running";
  }
  std::string status = alloc.client_status;
  std::string description = alloc.client_description;
  if (any_failed && all_dead) {
    status = "failed";
    description = "Failed tasks";
  } else if (all_dead) {
    status = "complete";
    description = "All tasks have completed";
  } else if (all_running) {
    status = "running";
    description = "Tasks are running";
  } else if (alloc.client_status != "running") {
    status = "pending";
    description = alloc.tasks.front().events.empty() ? "" : "No tasks have started";
  }
  // Consul registrations follow the tasks: present while everything runs.
  if (status == "running" && alloc.Live() && !alloc.registered) {
    alloc.registrations = BuildRegistrations(alloc);
    for (const ServiceRegistration& r : alloc.registrations) catalog_.Register(r);
    alloc.registered = true;
  } else if ((status != "running" || !alloc.Live()) && alloc.registered) {
    DeregisterAll(alloc);
  }
  if (status != alloc.client_status || description != alloc.client_description) {
    alloc.client_status = status;
    alloc.client_description = description;
    TouchAlloc(alloc, NextIndex());
  }
  if (alloc.Terminal()) {
    for (const auto& [label, port] : alloc.ports) used_ports_.erase(port);
  }
}

std::vector<std::string> NomadState::TaskEnvironment(const Allocation& alloc,
                                                     const TaskRun& task) const {
  std::map<std::string, std::string> env;
  // raw_exec runs tasks with the agent's own environment plus Nomad's variables.
  for (char** e = environ; e && *e; ++e) {
    std::string entry = *e;
    size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  const std::string alloc_dir = options_.data_dir + "/alloc/" + alloc.id;
  env["NOMAD_ALLOC_ID"] = alloc.id;
  env["NOMAD_ALLOC_INDEX"] = std::to_string(alloc.index);
  env["NOMAD_ALLOC_NAME"] =
      alloc.job_id + "." + alloc.group + "[" + std::to_string(alloc.index) + "]";
  env["NOMAD_ALLOC_DIR"] = alloc_dir;
  env["NOMAD_TASK_DIR"] = alloc_dir + "/" + task.name;
  env["NOMAD_JOB_ID"] = alloc.job_id;
  env["NOMAD_JOB_NAME"] = (*alloc.job)["Name"];
  env["NOMAD_GROUP_NAME"] = alloc.group;
  env["NOMAD_TASK_NAME"] = task.name;
  env["NOMAD_DC"] = "dc1";
  env["NOMAD_REGION"] = "global";
  env["NOMAD_NAMESPACE"] = "default";
  env["NOMAD_CPU_LIMIT"] = std::to_string(task.spec["Resources"]["CPU"].get<int64_t>());
  env["NOMAD_MEMORY_LIMIT"] = std::to_string(task.spec["Resources"]["MemoryMB"].get<int64_t>());
  for (const auto& [label, port] : alloc.ports) {
    env["NOMAD_PORT_" + label] = std::to_string(port);
    env["NOMAD_HOST_PORT_" + label] = std::to_string(port);
    env["NOMAD_IP_" + label] = "127.0.0.1";
    env["NOMAD_HOST_IP_" + label] = "127.0.0.1";
    env["NOMAD_ADDR_" + label] = "127.0.0.1:" + std::to_string(port);
    env["NOMAD_HOST_ADDR_" + label] = "127.0.0.1:" + std::to_string(port);
  }
  // Meta: job, then group, then task (the more specific wins), as key and upper-case key.
  auto add_meta = [&](const json& meta) {
    if (!meta.is_object()) return;
    for (const auto& [k, v] : meta.items()) {
      std::string upper;
      for (char c : k) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      env["NOMAD_META_" + k] = v.get<std::string>();
      env["NOMAD_META_" + upper] = v.get<std::string>();
    }
  };
  add_meta((*alloc.job)["Meta"]);
  if (const json* group = FindGroup(*alloc.job, alloc.group)) add_meta((*group)["Meta"]);
  add_meta(task.spec["Meta"]);
  if (task.spec["Env"].is_object()) {
    const auto nomad_env = env;
    for (const auto& [k, v] : task.spec["Env"].items()) env[k] = Interpolate(v, nomad_env);
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// --- the supervisor ---------------------------------------------------------------------

void NomadState::SupervisorLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    Replies replies;
    try {
      Tick(replies);
    } catch (const std::exception& e) {
      // A bad job must not take the whole sandbox down; the next tick retries.
      std::fprintf(stderr, "nomad sandbox: scheduler error: %s\n", e.what());
    }
    lock.unlock();
    Send(replies);
    lock.lock();
    if (stopping_) break;
    // Wake for the next staggered action on time, so the stagger is what was configured.
    auto next = SteadyClock::now() + kTickInterval;
    for (const auto& action : actions_) next = std::min(next, action.first);
    wake_.wait_until(lock, next);
  }
}

void NomadState::Send(Replies& replies) {
  for (auto& [respond, response] : replies) respond(std::move(response));
  replies.clear();
}

void NomadState::Tick(Replies& replies) {
  const auto now = SteadyClock::now();
  ReapTasks(now);
  if (draining_) {
    AnswerWaiters(replies, true);
    return;
  }
  LaunchDueTasks(now);
  RunDueActions(now);
  UpdateHealth(now);
  UpdateDeployments(now);
  // Only jobs whose record, deployments or allocations changed since their last pass (see
  // dirty_jobs_); what a pass makes change marks the job again for the next tick.
  std::set<std::string> job_ids;
  job_ids.swap(dirty_jobs_);
  for (const std::string& id : job_ids) {
    try {
      Reconcile(id, "");
    } catch (const std::exception& e) {
      MarkDirty(id);  // retried next tick, as before
      // E.g. the dynamic port range is exhausted: keep serving, retry next tick, and say
      // so once rather than every tick.
      const std::string message = "nomad sandbox: cannot schedule job " + id + ": " + e.what();
      if (message != last_scheduler_error_) std::fprintf(stderr, "%s\n", message.c_str());
      last_scheduler_error_ = message;
    }
  }
  AnswerWaiters(replies, true);
}

void NomadState::RunDueActions(SteadyClock::time_point now) {
  // One registration update per call, and the rest pushed a full stagger later: even a
  // late tick (busy machine) never applies two updates back to back.
  auto earliest = actions_.end();
  for (auto it = actions_.begin(); it != actions_.end(); ++it) {
    if (it->first <= now && (earliest == actions_.end() || it->first < earliest->first)) {
      earliest = it;
    }
  }
  if (earliest == actions_.end()) return;
  std::function<void()> action = std::move(earliest->second);
  actions_.erase(earliest);
  const auto next_allowed = SteadyClock::now() + options_.stagger;
  for (auto& pending : actions_) pending.first = std::max(pending.first, next_allowed);
  action();
}

void NomadState::LaunchDueTasks(SteadyClock::time_point now) {
  for (auto& [id, alloc] : allocs_) {
    if (!alloc.Live() || alloc.Terminal()) continue;
    bool changed = false;
    for (TaskRun& task : alloc.tasks) {
      if (!task.start_at || *task.start_at > now || task.pid > 0 || task.state == "dead") continue;
      task.start_at.reset();
      changed = true;
      if (task.events.empty()) {
        task.events.push_back(Event("Received", "Task received by client"));
        TaskEvent setup = Event("Task Setup", "Building Task Directory");
        setup.message = "Building Task Directory";
        setup.details = {{"message", "Building Task Directory"}};
        task.events.push_back(setup);
      }
      const std::string alloc_dir = options_.data_dir + "/alloc/" + alloc.id;
      std::error_code ec;
      std::filesystem::create_directories(alloc_dir + "/" + task.name, ec);
      const std::vector<std::string> env = TaskEnvironment(alloc, task);
      std::map<std::string, std::string> env_map;
      for (const std::string& e : env) {
        size_t eq = e.find('=');
        env_map[e.substr(0, eq)] = e.substr(eq + 1);
      }
      TaskLaunch launch;
      const json& config = task.spec["Config"];
      if (config.is_object() && config.contains("command") && config["command"].is_string()) {
        launch.command = Interpolate(config["command"], env_map);
      }
      if (config.is_object() && config.contains("args") && config["args"].is_array()) {
        for (const json& arg : config["args"]) {
          launch.args.push_back(
              Interpolate(arg.is_string() ? arg.get<std::string>() : arg.dump(), env_map));
        }
      }
      launch.env = env;
      launch.work_dir = alloc_dir + "/" + task.name;
      launch.stdout_path = alloc_dir + "/" + task.name + ".stdout";
      launch.stderr_path = alloc_dir + "/" + task.name + ".stderr";
      LaunchResult result = LaunchTask(launch);
      if (result.pid > 0) {
        task.pid = result.pid;
        task.state = "running";
        task.started_at = SystemClock::now();
        task.running_since = SteadyClock::now();
        task.events.push_back(Event("Started", "Task started by client"));
      } else {
        TaskEvent failure = Event("Driver Failure", result.error);
        failure.driver_error = result.error;
        task.events.push_back(failure);
        HandleTaskExit(alloc, task, -1, 0);
      }
    }
    if (changed) {
      TouchAlloc(alloc, NextIndex());
      RefreshClientStatus(alloc);
    }
  }
}

void NomadState::ReapTasks(SteadyClock::time_point now) {
  for (auto& [id, alloc] : allocs_) {
    for (TaskRun& task : alloc.tasks) {
      if (task.pid <= 0) continue;
      if (std::optional<ExitStatus> exit = PollExit(task.pid)) {
        HandleTaskExit(alloc, task, exit->exit_code, exit->signal);
        continue;
      }
      if (task.kill_requested && !task.sigkill_sent && now >= task.kill_deadline) {
        SignalTask(task.pid, SIGKILL);
        task.sigkill_sent = true;
      }
    }
  }
}

void NomadState::HandleTaskExit(Allocation& alloc, TaskRun& task, int exit_code, int signal) {
  const bool launched = task.pid > 0;
  task.pid = -1;
  if (launched) {
    TaskEvent terminated =
        Event("Terminated", "Exit Code: " + std::to_string(exit_code) +
                                (signal ? ", Signal: " + std::to_string(signal) : ""));
    terminated.exit_code = exit_code;
    terminated.signal = signal;
    terminated.details = {{"oom_killed", "false"},
                          {"exit_code", std::to_string(exit_code)},
                          {"signal", std::to_string(signal)}};
    task.events.push_back(terminated);
  }
  const auto now = SteadyClock::now();
  if (task.kill_requested || !alloc.Live() || draining_) {
    task.events.push_back(Event("Killed", "Task successfully killed"));
    task.state = "dead";
    task.finished_at = SystemClock::now();
  } else if ((*alloc.job)["Type"] == "batch" && exit_code == 0 && launched) {
    task.state = "dead";
    task.finished_at = SystemClock::now();
  } else {
    const json& policy = task.spec["RestartPolicy"];
    const auto interval =
        std::chrono::duration_cast<SteadyClock::duration>(Nanos(policy["Interval"]));
    const auto delay = std::chrono::duration_cast<SteadyClock::duration>(Nanos(policy["Delay"]));
    const int64_t attempts = policy["Attempts"];
    while (!task.recent_restarts.empty() && now - task.recent_restarts.front() > interval) {
      task.recent_restarts.pop_front();
    }
    std::optional<SteadyClock::time_point> restart_at;
    if (static_cast<int64_t>(task.recent_restarts.size()) < attempts) {
      restart_at = now + delay;
    } else if (policy["Mode"] == "delay") {
      restart_at = std::max(now + delay, task.recent_restarts.front() + interval);
    }
    if (restart_at) {
      TaskEvent restarting =
          Event("Restarting", "Task restarting in " + go::FormatDuration(*restart_at - now));
      restarting.start_delay_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(*restart_at - now).count();
      restarting.details = {{"start_delay", std::to_string(restarting.start_delay_ns)},
                            {"restart_reason", "Restart within policy"}};
      task.events.push_back(restarting);
      task.recent_restarts.push_back(now);
      task.restarts++;
      task.last_restart = SystemClock::now();
      task.start_at = restart_at;
      task.state = "pending";
    } else {
      TaskEvent giving_up =
          Event("Not Restarting",
                "Exceeded allowed attempts " + std::to_string(attempts) + " in interval " +
                    go::FormatDuration(Nanos(policy["Interval"])) + " and mode is \"fail\"");
      giving_up.fails_task = true;
      giving_up.details = {{"fails_task", "true"}};
      task.events.push_back(giving_up);
      task.state = "dead";
      task.failed = true;
      task.finished_at = SystemClock::now();
      // A failed task takes its siblings down, like Nomad's task runner.
      for (TaskRun& sibling : alloc.tasks) {
        if (&sibling == &task) continue;
        sibling.start_at.reset();
        if (sibling.pid > 0 && !sibling.kill_requested) {
          sibling.kill_requested = true;
          sibling.kill_deadline = now + std::chrono::duration_cast<SteadyClock::duration>(
                                            Nanos(sibling.spec["KillTimeout"]));
          SignalTask(sibling.pid, SIGINT);
        } else if (sibling.pid <= 0) {
          sibling.state = "dead";
        }
      }
    }
  }
  TouchAlloc(alloc, NextIndex());
  RefreshClientStatus(alloc);
}

void NomadState::UpdateHealth(SteadyClock::time_point now) {
  for (auto& [id, alloc] : allocs_) {
    if (!alloc.Live() || alloc.deployment_id.empty() || !alloc.deployment_status.is_null()) {
      continue;
    }
    auto dep = deployments_.find(alloc.deployment_id);
    if (dep == deployments_.end() || !dep->second.Active()) continue;
    const json* group = FindGroup(*alloc.job, alloc.group);
    if (!group || !(*group)["Update"].is_object()) continue;
    const json& update = (*group)["Update"];
    const auto min_healthy = Nanos(update["MinHealthyTime"]);
    const auto deadline = Nanos(update["HealthyDeadline"]);
    std::optional<bool> verdict;
    if (alloc.client_status == "failed") {
      verdict = false;
    } else if (update["HealthCheck"] != "manual") {
      bool all_running = !alloc.tasks.empty();
      SteadyClock::time_point since = alloc.health_since;
      for (const TaskRun& task : alloc.tasks) {
        all_running = all_running && task.state == "running";
        since = std::max(since, task.running_since);
      }
      bool ready = all_running;
      if (ready && update["HealthCheck"] == "checks") {
        ready = alloc.registered;
        for (const ServiceRegistration& r : alloc.registrations) {
          std::optional<SteadyClock::time_point> passing = catalog_.PassingSince(r.id);
          if (!passing) {
            ready = false;
            break;
          }
          since = std::max(since, *passing);
        }
      }
      if (ready && now - since >= min_healthy) verdict = true;
    }
    if (!verdict && now - alloc.health_since >= deadline) verdict = false;
    if (!verdict) continue;
    const uint64_t index = NextIndex();
    alloc.deployment_status = {{"Healthy", *verdict},
                               {"Timestamp", go::FormatRfc3339Nano(SystemClock::now())},
                               {"Canary", false},
                               {"ModifyIndex", index}};
    TouchAlloc(alloc, index);
  }
}

void NomadState::UpdateDeployments(SteadyClock::time_point /*now*/) {
  const auto wall_now = SystemClock::now();
  for (auto& [id, d] : deployments_) {
    if (!d.Active()) continue;
    std::map<std::string, DeploymentGroupState> counted = d.groups;
    for (auto& [name, g] : counted) g.placed = g.healthy = g.unhealthy = 0;
    // A deployment's allocations are its job's (Reconcile gives them the job's latest).
    for (const Allocation* alloc : AllocsOf(d.job_id)) {
      if (alloc->deployment_id != d.id) continue;
      auto g = counted.find(alloc->group);
      if (g == counted.end()) continue;
      g->second.placed++;
      if (alloc->deployment_status.is_object()) {
        (alloc->deployment_status["Healthy"].get<bool>() ? g->second.healthy
                                                         : g->second.unhealthy)++;
      }
    }
    bool changed = false;
    bool any_unhealthy = false;
    bool all_healthy = true;
    bool past_deadline = false;
    for (auto& [name, g] : d.groups) {
      const DeploymentGroupState& c = counted[name];
      if (c.healthy > g.healthy) {
        g.require_progress_by = wall_now + std::chrono::nanoseconds(g.progress_deadline_ns);
      }
      if (c.placed != g.placed || c.healthy != g.healthy || c.unhealthy != g.unhealthy) {
        changed = true;
        g.placed = c.placed;
        g.healthy = c.healthy;
        g.unhealthy = c.unhealthy;
      }
      any_unhealthy = any_unhealthy || g.unhealthy > 0;
      all_healthy = all_healthy && g.healthy >= g.desired_total;
      past_deadline = past_deadline || (g.progress_deadline_ns > 0 && g.healthy < g.desired_total &&
                                        wall_now > g.require_progress_by);
    }
    if (any_unhealthy) {
      d.status = "failed";
      d.status_description = "Failed due to unhealthy allocations";
      changed = true;
    } else if (all_healthy) {
      d.status = "successful";
      d.status_description = "Deployment completed successfully";
      changed = true;
    } else if (past_deadline) {
      d.status = "failed";
      d.status_description = "Failed due to progress deadline";
      changed = true;
    }
    if (!changed) continue;
    const uint64_t index = NextIndex();
    d.modify_index = index;
    Bump(Table::kDeployments, index);
    MarkDirty(d.job_id);
    if (d.status == "successful") {
      auto job = jobs_.find(d.job_id);
      if (job != jobs_.end()) {
        for (json& version : job->second.versions) {
          if (version["Version"] == d.job_version) version["Stable"] = true;
        }
        if (job->second.current["Version"] == d.job_version) {
          job->second.current["Stable"] = true;
          job->second.current["ModifyIndex"] = index;
          job->second.current_ptr = std::make_shared<const json>(job->second.current);
          Bump(Table::kJobs, index);
        }
        const std::string eval = CreateEvaluation(d.job_id, "deployment-watcher", index, 0);
        evals_[eval]["DeploymentID"] = d.id;
      }
    }
  }
}

void NomadState::Reconcile(const std::string& job_id, const std::string& register_eval) {
  uint64_t raft_index = 0;
  auto index = [&] {
    if (raft_index == 0) raft_index = NextIndex();
    return raft_index;
  };
  std::string eval_id = register_eval;
  auto eval = [&] {
    if (eval_id.empty()) eval_id = CreateEvaluation(job_id, "deployment-watcher", index(), 0);
    return eval_id;
  };
  auto job_it = jobs_.find(job_id);
  const std::vector<Allocation*> job_allocs = AllocsOf(job_id);
  if (job_it == jobs_.end() || job_it->second.current["Stop"].get<bool>()) {
    for (Allocation* alloc : job_allocs) {
      if (alloc->Live()) StopAllocation(*alloc, "alloc not needed due to job update", index());
    }
    return;
  }
  const json& job = job_it->second.current;
  std::shared_ptr<const json> job_ptr = job_it->second.current_ptr;
  const int64_t version = job["Version"];
  Deployment* deployment = LatestDeployment(job_id);
  if (deployment && deployment->job_version != version) deployment = nullptr;
  const std::string deployment_id = deployment ? deployment->id : "";
  std::vector<std::string> consul_updates;
  // The evaluation reports queued allocations for the groups it placed (or failed to).
  std::set<std::string> placed_groups;
  std::map<std::string, int64_t> queued;

  for (Allocation* alloc : job_allocs) {
    if (alloc->Live() && !FindGroup(job, alloc->group)) {
      StopAllocation(*alloc, "alloc not needed due to job update", index());
    }
  }
  for (const json& group : job["TaskGroups"]) {
    const std::string name = group["Name"];
    const int64_t count = group["Count"];
    bool driver_ok = true;
    for (const json& task : group["Tasks"])
      driver_ok = driver_ok && IsSupportedDriver(task["Driver"]);
    std::vector<Allocation*> live;
    for (Allocation* alloc : AllocsOf(job_id)) {
      if (alloc->group == name && alloc->Live()) live.push_back(alloc);
    }
    std::sort(live.begin(), live.end(),
              [](const Allocation* a, const Allocation* b) { return a->index < b->index; });
    // 1. Allocations whose group changed only in place move to the new version now.
    std::vector<Allocation*> outdated;
    for (Allocation* alloc : live) {
      if (alloc->job_version == version) continue;
      const json* old_group = FindGroup(*alloc->job, name);
      const GroupChange change =
          old_group ? ClassifyGroupChange(*old_group, group) : GroupChange::kDestructive;
      if (change == GroupChange::kDestructive) {
        outdated.push_back(alloc);
      } else {
        UpdateInPlace(*alloc, job_ptr, deployment_id, change == GroupChange::kInPlace, index(),
                      consul_updates);
      }
    }
    // 2. Too many: stop outdated ones first, then the highest indexes.
    if (static_cast<int64_t>(live.size()) > count) {
      std::vector<Allocation*> order = live;
      std::stable_sort(order.begin(), order.end(), [&](const Allocation* a, const Allocation* b) {
        const bool a_old = a->job_version != version;
        const bool b_old = b->job_version != version;
        if (a_old != b_old) return a_old;
        return a->index > b->index;
      });
      const size_t excess = live.size() - static_cast<size_t>(std::max<int64_t>(count, 0));
      for (size_t i = 0; i < excess; ++i) {
        StopAllocation(*order[i], "alloc not needed due to job update", index());
        live.erase(std::find(live.begin(), live.end(), order[i]));
        outdated.erase(std::remove(outdated.begin(), outdated.end(), order[i]), outdated.end());
      }
    }
    // 3. Destructive updates, MaxParallel at a time, while the deployment is running.
    if (!outdated.empty() && driver_ok && (!deployment || deployment->Active())) {
      int64_t max_parallel =
          group["Update"].is_object() ? group["Update"]["MaxParallel"].get<int64_t>() : 0;
      if (max_parallel <= 0) max_parallel = static_cast<int64_t>(outdated.size());
      int64_t in_flight = 0;
      for (const Allocation* alloc : live) {
        if (alloc->job_version == version && alloc->deployment_status.is_null()) in_flight++;
      }
      for (size_t i = 0; i < outdated.size() && in_flight < max_parallel; ++i, ++in_flight) {
        Allocation* old = outdated[i];
        StopAllocation(*old, "alloc is being updated due to job update", index());
        live.erase(std::find(live.begin(), live.end(), old));
        live.push_back(&PlaceAllocation(job, name, old->index, eval(), deployment_id, index()));
        placed_groups.insert(name);
      }
    }
    // 4. Missing allocations are placed (all at once, as for a new job).
    std::set<int> used;
    for (const Allocation* alloc : live) used.insert(alloc->index);
    int64_t missing = count - static_cast<int64_t>(live.size());
    if (missing > 0 && !driver_ok) {
      if (!register_eval.empty()) {
        json& e = evals_[register_eval];
        placed_groups.insert(name);
        queued[name] = missing;
        e["FailedTGAllocs"][name] = {{"NodesEvaluated", 1},
                                     {"NodesFiltered", 1},
                                     {"NodesAvailable", {{"dc1", 1}}},
                                     {"ClassFiltered", nullptr},
                                     {"ConstraintFiltered", {{"missing drivers", 1}}},
                                     {"NodesExhausted", 0},
                                     {"ClassExhausted", nullptr},
                                     {"DimensionExhausted", nullptr},
                                     {"QuotaExhausted", nullptr},
                                     {"Scores", nullptr},
                                     {"ScoreMetaData", nullptr},
                                     {"AllocationTime", 10000},
                                     {"CoalescedFailures", 0}};
        if (!e.contains("BlockedEval")) {
          const std::string blocked = CreateEvaluation(job_id, "queued-allocs", index(), 0);
          evals_[blocked]["Status"] = "blocked";
          evals_[blocked]["StatusDescription"] = "created to place remaining allocations";
          evals_[blocked]["PreviousEval"] = register_eval;
          e["BlockedEval"] = blocked;
        }
      }
      continue;
    }
    for (int slot = 0; missing > 0; ++slot) {
      if (used.count(slot)) continue;
      PlaceAllocation(job, name, slot, eval(), deployment_id, index());
      placed_groups.insert(name);
      used.insert(slot);
      missing--;
    }
  }
  // In-place registration changes reach Consul one allocation at a time.
  if (options_.random_stagger_order)
    std::shuffle(consul_updates.begin(), consul_updates.end(), rng_);
  const auto start = SteadyClock::now();
  for (size_t i = 0; i < consul_updates.size(); ++i) {
    const std::string alloc_id = consul_updates[i];
    actions_.emplace_back(start + options_.stagger * static_cast<int64_t>(i), [this, alloc_id] {
      auto it = allocs_.find(alloc_id);
      if (it != allocs_.end() && it->second.registered && it->second.Live()) {
        SyncRegistrations(it->second);
      }
    });
  }
  if (!consul_updates.empty()) RunDueActions(start);
  if (!register_eval.empty() && !placed_groups.empty()) {
    json counts = json::object();
    for (const std::string& group : placed_groups) counts[group] = queued[group];
    evals_[register_eval]["QueuedAllocations"] = counts;
  }
  if (raft_index != 0 && !register_eval.empty()) {
    evals_[register_eval]["ModifyIndex"] = raft_index;
    evals_[register_eval]["ModifyTime"] = go::UnixNanos(SystemClock::now());
  }
  if (!deployment_id.empty() && !register_eval.empty()) {
    evals_[register_eval]["DeploymentID"] = deployment_id;
  }
  if (raft_index != 0) wake_.notify_all();
}

void NomadState::AnswerWaiters(Replies& replies, bool /*timeouts_only_if_due*/) {
  const auto now = SteadyClock::now();
  auto it = waiters_.begin();
  while (it != waiters_.end()) {
    uint64_t changed = table_index_[it->table];
    if (!it->alloc_job.empty()) {
      auto job = job_allocs_index_.find(it->alloc_job);
      changed = job == job_allocs_index_.end() ? 0 : job->second;
    }
    if (changed > it->min_index || now >= it->deadline || stopping_) {
      ReadReply reply = it->render();
      http::Response response;
      response.status = reply.status;
      response.headers["X-Nomad-Index"] = std::to_string(reply.index);
      response.headers["X-Nomad-Knownleader"] = "true";
      response.headers["X-Nomad-Lastcontact"] = "0";
      if (reply.text.empty()) {
        response.headers["Content-Type"] = "application/json";
        response.body = reply.body.dump();
      } else {
        response.headers["Content-Type"] = "text/plain; charset=utf-8";
        response.body = reply.text;
      }
      replies.emplace_back(std::move(it->respond), std::move(response));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

void NomadState::Shutdown() {
  std::unique_lock<std::mutex> lock(mu_);
  if (shut_down_) return;
  shut_down_ = true;
  // Stop every task while the supervisor thread still runs: it forked the tasks, so its
  // exit would fire their PR_SET_PDEATHSIG (SIGKILL) before KillSignal had a chance.
  draining_ = true;
  const auto now = SteadyClock::now();
  auto longest_timeout = SteadyClock::duration::zero();
  for (auto& [id, alloc] : allocs_) {
    DeregisterAll(alloc);
    for (TaskRun& task : alloc.tasks) {
      task.start_at.reset();
      if (task.pid <= 0 || task.kill_requested) continue;
      const int signal = ParseSignalName(task.spec["KillSignal"]);
      const auto timeout =
          std::chrono::duration_cast<SteadyClock::duration>(Nanos(task.spec["KillTimeout"]));
      longest_timeout = std::max(longest_timeout, timeout);
      task.kill_requested = true;
      task.kill_deadline = now + timeout;
      SignalTask(task.pid, signal < 0 ? SIGINT : signal);
    }
  }
  // The supervisor reaps them and escalates to SIGKILL after each KillTimeout.
  const auto give_up = now + std::min<SteadyClock::duration>(longest_timeout, kShutdownKillCap) +
                       std::chrono::seconds(2);
  auto any_running = [this] {
    for (const auto& [id, alloc] : allocs_) {
      for (const TaskRun& task : alloc.tasks) {
        if (task.pid > 0) return true;
      }
    }
    return false;
  };
  while (any_running() && SteadyClock::now() < give_up) {
    lock.unlock();
    wake_.notify_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    lock.lock();
  }
  stopping_ = true;
  lock.unlock();
  wake_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  lock.lock();
  // Whatever is left dies now (also by PDEATHSIG, the supervisor thread has exited).
  for (auto& [id, alloc] : allocs_) {
    for (TaskRun& task : alloc.tasks) {
      if (task.pid <= 0) continue;
      SignalTask(task.pid, SIGKILL);
      int status = 0;
      waitpid(task.pid, &status, 0);
      HandleTaskExit(alloc, task, 128 + SIGKILL, SIGKILL);
    }
  }
  Replies replies;
  AnswerWaiters(replies, false);
  lock.unlock();
  Send(replies);
}

}  // namespace rollouts::sandbox
