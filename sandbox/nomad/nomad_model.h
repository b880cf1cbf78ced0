// The records the sandbox's Nomad state store keeps (jobs, allocations with their task
// runs, deployments) and how each is rendered as the real agent's JSON.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/consul/catalog.h"

namespace rollouts::sandbox {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

struct TaskEvent {
  std::string type;  // "Received", "Task Setup", "Started", "Killing", "Terminated", ...
  SystemClock::time_point time;
  std::string message;
  std::string display_message;
  nlohmann::json details = nlohmann::json::object();
  bool fails_task = false;
  int exit_code = 0;
  int signal = 0;
  int64_t kill_timeout_ns = 0;
  int64_t start_delay_ns = 0;
  std::string driver_error;
};

// One task of an allocation and the process that runs it.
struct TaskRun {
  std::string name;
  nlohmann::json spec;            // the canonical task
  std::string state = "pending";  // pending | running | dead
  bool failed = false;
  int restarts = 0;
  std::optional<SystemClock::time_point> last_restart;
  std::optional<SystemClock::time_point> started_at;
  std::optional<SystemClock::time_point> finished_at;
  std::vector<TaskEvent> events;

  pid_t pid = -1;
  SteadyClock::time_point running_since{};
  bool kill_requested = false;
  SteadyClock::time_point kill_deadline{};
  bool sigkill_sent = false;
  std::optional<SteadyClock::time_point> start_at;      // launch (or restart) due at
  std::deque<SteadyClock::time_point> recent_restarts;  // inside the policy interval
};

struct Allocation {
  std::string id;
  std::string eval_id;
  std::string job_id;
  std::string group;
  int index = 0;                              // the N in "job.group[N]"
  std::shared_ptr<const nlohmann::json> job;  // the job version it runs
  int64_t job_version = 0;
  std::string deployment_id;

  std::string desired_status = "run";
  std::string desired_description;
  std::string client_status = "pending";
  std::string client_description;

  std::map<std::string, int> ports;  // port label -> host port
  std::vector<TaskRun> tasks;
  // {Healthy, Timestamp, Canary, ModifyIndex}; null until the deployment decides.
  nlohmann::json deployment_status = nullptr;
  // Health is measured from here: placement or the last in-place update.
  SteadyClock::time_point health_since{};
  std::vector<ServiceRegistration> registrations;  // what is in the catalog now
  bool registered = false;

  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  uint64_t alloc_modify_index = 0;
  SystemClock::time_point create_time{};
  SystemClock::time_point modify_time{};

  bool Terminal() const { return client_status == "complete" || client_status == "failed"; }
  bool Live() const { return desired_status == "run"; }
};

struct DeploymentGroupState {
  int64_t desired_total = 0;
  int64_t placed = 0;
  int64_t healthy = 0;
  int64_t unhealthy = 0;
  int64_t progress_deadline_ns = 0;
  SystemClock::time_point require_progress_by{};
};

struct Deployment {
  std::string id;
  std::string job_id;
  int64_t job_version = 0;
  uint64_t job_modify_index = 0;
  uint64_t job_create_index = 0;
  std::map<std::string, DeploymentGroupState> groups;
  std::string status = "running";
  std::string status_description = "Deployment is running";
  uint64_t create_index = 0;
  uint64_t modify_index = 0;

  bool Active() const { return status == "running"; }
};

struct ScalingEvent {
  SystemClock::time_point time;
  std::optional<int64_t> count;
  int64_t previous_count = 0;
  std::string message;
  bool error = false;
  nlohmann::json meta = nullptr;
  std::string eval_id;
  uint64_t create_index = 0;
};

struct JobRecord {
  nlohmann::json current;                                           // the newest version, canonical
  std::shared_ptr<const nlohmann::json> current_ptr;                // shared with allocations
  std::vector<nlohmann::json> versions;                             // oldest first
  std::map<std::string, std::vector<ScalingEvent>> scaling_events;  // by group
};

// --- JSON as the agent renders it -------------------------------------------------------

nlohmann::json RenderTaskStates(const Allocation& alloc);
// The /v1/job/<id>/allocations list stub (JobVersion, no DeploymentID, no Job).
nlohmann::json RenderAllocationStub(const Allocation& alloc);
// The /v1/allocation/<id> body (Job, resources, DeploymentID, no JobVersion).
nlohmann::json RenderAllocation(const Allocation& alloc);
nlohmann::json RenderDeployment(const Deployment& deployment);
nlohmann::json RenderScalingEvent(const ScalingEvent& event);

}  // namespace rollouts::sandbox
