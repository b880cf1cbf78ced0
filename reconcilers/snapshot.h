// Everything decide() may look at, observed by the runtime just before it calls decide():
// the spec, the status (with its CAS index), a control request, the Nomad job and its
// allocations, the Consul instances of the service, the routers' reports, fresh analysis
// measurements, the clock and the controller's configuration. decide() reads nothing else.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/control.h"
#include "reconcilers/rollout_spec.h"
#include "reconcilers/rollout_status.h"

namespace rollouts::reconcilers {

// The control command is a document of the api layer (api/control.h).
using api::ControlRequest;
using api::ControlVerb;
using api::ControlVerbName;
using api::ParseControlVerb;

struct ServiceView {
  std::string name;
  std::vector<std::string> tags;
  std::map<std::string, std::string> meta;
};

struct GroupView {
  std::string name;
  int count = 0;
  std::string version;                // group Meta.version ("" if unset)
  std::vector<ServiceView> services;  // group- and task-level services
  std::vector<std::string> tasks;     // task names

  const ServiceView* Service(std::string_view service_name) const;
  bool HasTask(std::string_view task_name) const;
};

struct JobView {
  std::string id;
  std::string namespace_;
  int64_t version = 0;            // Job.Version
  uint64_t job_modify_index = 0;  // Job.JobModifyIndex: the EnforceIndex of our register
  bool stop = false;
  std::vector<GroupView> groups;
  nlohmann::json document;  // the Job object as read: the base of every edit

  const GroupView* Group(std::string_view group_name) const;

  // Builds the view from the Job object of GET /v1/job/<id> (a {"Job": ...} wrapper is
  // accepted too). Tolerant: missing fields take defaults.
  static JobView FromDocument(const nlohmann::json& job);
};

// One allocation from GET /v1/job/<id>/allocations (the stub).
struct Allocation {
  std::string id;
  std::string group;  // TaskGroup
  int64_t job_version = 0;
  std::string client_status;               // pending | running | complete | failed | lost
  std::string desired_status;              // run | stop | evict
  std::optional<bool> deployment_healthy;  // DeploymentStatus.Healthy; nullopt = null
  int restarts = 0;                        // sum of TaskStates[*].Restarts

  // Desired to run and not finished.
  bool Live() const {
    return desired_status == "run" && (client_status == "pending" || client_status == "running");
  }
};

// One instance of the service from the unfiltered /v1/health/service/<name>.
struct ServiceInstance {
  std::string id;        // Consul service ID
  std::string alloc_id;  // from _nomad-task-<allocID>-...
  std::string group;     // Nomad task group
  std::string address;
  int port = 0;
  std::vector<std::string> tags;
  std::string version;  // Service.Meta.version
  // The service's own checks are present and all passing (serfHealth alone is not ready).
  bool ready = false;
};

// One check of a /v1/health/service entry.
struct HealthCheck {
  std::string check_id;
  std::string service_id;  // "" for node checks such as serfHealth
  std::string status;      // passing | warning | critical
};

// Ready = the service's own checks are present and all passing. A new instance first shows
// up with only the node's serfHealth check, which `?passing` would count as healthy
// (docs/design.md "Lessons"), so node checks never make an instance ready.
bool ServiceReady(std::string_view service_id, const std::vector<HealthCheck>& checks);

// Nomad registers "_nomad-task-<allocID>-group-<group>-<service>-<portLabel>".
struct NomadServiceOwner {
  std::string alloc_id;
  std::string group;
};
std::optional<NomadServiceOwner> ParseNomadServiceId(std::string_view id, std::string_view service);

// One entry of the unfiltered GET /v1/health/service/<service> (tags are filtered by the
// caller, never by a ?tag= blocking query). Tolerant of missing fields.
ServiceInstance InstanceFromHealthEntry(const nlohmann::json& entry, std::string_view service);

// <prefix>routers/<id>: what a live router (its key exists, held by its session) applied.
struct RouterReport {
  std::string id;
  std::string applied_version;  // the Active version it serves for this service
  TimePoint time{};
  // Non-empty: the report could not be read (api::DecodeRouterReport's reason). Such a
  // router counts as not converged, and decide() names it.
  std::string error;
};

// A measurement taken by act() (RunProbe / RunMetricQuery) that is not yet in the status;
// decide() records it with its verdict in the next status write.
struct PendingMeasurement {
  std::string run;              // "prePromotion" | "postPromotion"
  std::string version;          // the version analysed
  std::string metric;           // metric name, or kProbeErrorRate / kProbeP99Latency
  std::optional<double> value;  // nullopt: empty result
  std::string error;            // non-empty: the query or probe failed
  TimePoint time{};
};

inline constexpr std::string_view kProbeErrorRate = "probe-error-rate";
inline constexpr std::string_view kProbeP99Latency = "probe-p99-latency-ms";

struct ControllerSettings {
  Duration router_timeout{std::chrono::seconds(60)};  // --router-timeout
  Duration poll_interval{std::chrono::seconds(2)};    // requeue while waiting on the cluster
  bool job_allowed = true;                            // --allowed-jobs matched namespace/job
  std::string allowed_jobs;                           // the allowlist, for the refusal message
};

struct Snapshot {
  std::string name;  // the Rollout's key name

  // The spec: rollout set and spec_errors empty, or spec_errors set (parse / schema
  // problems). Both empty: the spec key is gone.
  std::optional<Rollout> spec;
  std::vector<SpecError> spec_errors;
  uint64_t spec_modify_index = 0;

  RolloutStatus status;              // default-constructed when there is no status key
  uint64_t status_modify_index = 0;  // CAS index; 0 = the key does not exist (cas=0)
  // Non-empty: the status key holds something that is not a status document (why); status
  // is then default-constructed and decide() rebuilds it from the cluster.
  std::string status_error;

  std::optional<ControlRequest> control;

  std::optional<JobView> job;  // nullopt: Nomad says the job does not exist
  std::vector<Allocation> allocations;
  std::vector<ServiceInstance> instances;
  std::vector<RouterReport> routers;
  std::vector<PendingMeasurement> measurements;

  TimePoint now{};
  ControllerSettings settings;
};

// The keys of the snapshot that could not be read, by kind: "spec" (an invalid document),
// "status" (not a status document), "control" (a command that cannot be executed),
// "router_report" (one per unreadable report). Kinds with nothing wrong are left out.
std::map<std::string, int> InvalidInputs(const Snapshot& s);

}  // namespace rollouts::reconcilers
