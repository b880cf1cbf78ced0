#include "sandbox/nomad/go_compat.h"
#include "sandbox/nomad/nomad_model.h"

namespace rollouts::sandbox {

using nlohmann::json;

namespace {

// The single dev node every allocation is placed on.
constexpr const char* kNodeId = "5a3c1f0e-7b1d-4c55-9d0e-6b8a2f4e9c01";
constexpr const char* kNodeName = "sandbox";

json TimeOrNull(const std::optional<SystemClock::time_point>& t) {
  return t ? json(go::FormatRfc3339Nano(*t)) : json(nullptr);
}

json RenderEvent(const TaskEvent& e) {
  return json{{"Type", e.type},
              {"Time", go::UnixNanos(e.time)},
              {"Message", e.message},
              {"DisplayMessage", e.display_message},
              {"Details", e.details},
              {"FailsTask", e.fails_task},
              {"RestartReason", ""},
              {"SetupError", ""},
              {"DriverError", e.driver_error},
              {"ExitCode", e.exit_code},
              {"Signal", e.signal},
              {"KillTimeout", e.kill_timeout_ns},
              {"KillError", ""},
              {"KillReason", ""},
              {"StartDelay", e.start_delay_ns},
              {"DownloadError", ""},
              {"ValidationError", ""},
              {"DiskLimit", 0},
              {"FailedSibling", ""},
              {"VaultError", ""},
              {"TaskSignalReason", ""},
              {"TaskSignal", ""},
              {"DriverMessage", ""},
              {"GenericSource", ""}};
}

json PortList(const Allocation& alloc, const json& ports) {
  if (!ports.is_array()) return nullptr;
  json out = json::array();
  for (const json& port : ports) {
    json p = port;
    auto it = alloc.ports.find(port["Label"].get<std::string>());
    if (it != alloc.ports.end()) p["Value"] = it->second;
    out.push_back(p);
  }
  return out;
}

const json& GroupSpec(const Allocation& alloc) {
  static const json kEmpty = json::object();
  for (const json& group : (*alloc.job)["TaskGroups"]) {
    if (group["Name"] == alloc.group) return group;
  }
  return kEmpty;
}

// The group's networks with the host ports this allocation got.
json AllocatedNetworks(const Allocation& alloc) {
  const json& group = GroupSpec(alloc);
  if (!group.contains("Networks") || !group["Networks"].is_array()) return nullptr;
  json out = json::array();
  for (const json& network : group["Networks"]) {
    json n = network;
    n["IP"] = "127.0.0.1";
    n["ReservedPorts"] = PortList(alloc, network["ReservedPorts"]);
    n["DynamicPorts"] = PortList(alloc, network["DynamicPorts"]);
    out.push_back(n);
  }
  return out;
}

}  // namespace

json RenderTaskStates(const Allocation& alloc) {
  if (alloc.tasks.empty() || alloc.tasks.front().events.empty()) return nullptr;
  json out = json::object();
  for (const TaskRun& task : alloc.tasks) {
    json events = json::array();
    for (const TaskEvent& e : task.events) events.push_back(RenderEvent(e));
    out[task.name] = json{{"State", task.state},
                          {"Failed", task.failed},
                          {"Restarts", task.restarts},
                          {"LastRestart", TimeOrNull(task.last_restart)},
                          {"StartedAt", TimeOrNull(task.started_at)},
                          {"FinishedAt", TimeOrNull(task.finished_at)},
                          {"Events", events}};
  }
  return out;
}

json RenderAllocationStub(const Allocation& alloc) {
  return json{{"ID", alloc.id},
              {"EvalID", alloc.eval_id},
              {"Name", alloc.job_id + "." + alloc.group + "[" + std::to_string(alloc.index) + "]"},
              {"Namespace", "default"},
              {"NodeID", kNodeId},
              {"NodeName", kNodeName},
              {"JobID", alloc.job_id},
              {"JobType", (*alloc.job)["Type"]},
              {"JobVersion", alloc.job_version},
              {"TaskGroup", alloc.group},
              {"AllocatedResources", nullptr},
              {"DesiredStatus", alloc.desired_status},
              {"DesiredDescription", alloc.desired_description},
              {"ClientStatus", alloc.client_status},
              {"ClientDescription", alloc.client_description},
              {"DesiredTransition",
               {{"Migrate", nullptr}, {"Reschedule", nullptr}, {"ForceReschedule", nullptr}}},
              {"TaskStates", RenderTaskStates(alloc)},
              {"DeploymentStatus", alloc.deployment_status},
              {"FollowupEvalID", ""},
              {"RescheduleTracker", nullptr},
              {"PreemptedAllocations", nullptr},
              {"PreemptedByAllocation", ""},
              {"CreateIndex", alloc.create_index},
              {"ModifyIndex", alloc.modify_index},
              {"CreateTime", go::UnixNanos(alloc.create_time)},
              {"ModifyTime", go::UnixNanos(alloc.modify_time)}};
}

json RenderAllocation(const Allocation& alloc) {
  const json& group = GroupSpec(alloc);
  const json networks = AllocatedNetworks(alloc);
  const int64_t disk_mb =
      group.contains("EphemeralDisk") ? group["EphemeralDisk"].value("SizeMB", 300) : 300;
  int64_t cpu = 0;
  int64_t memory = 0;
  json task_resources = json::object();
  json allocated_tasks = json::object();
  json lifecycles = json::object();
  for (const TaskRun& task : alloc.tasks) {
    const json& r = task.spec["Resources"];
    cpu += r["CPU"].get<int64_t>();
    memory += r["MemoryMB"].get<int64_t>();
    task_resources[task.name] = r;
    allocated_tasks[task.name] = json{{"Cpu", {{"CpuShares", r["CPU"]}}},
                                      {"Memory", {{"MemoryMB", r["MemoryMB"]}}},
                                      {"Networks", nullptr},
                                      {"Devices", nullptr}};
    lifecycles[task.name] = task.spec["Lifecycle"];
  }
  json shared_ports = json::array();
  for (const auto& [label, port] : alloc.ports) {
    shared_ports.push_back({{"Label", label}, {"Value", port}, {"To", 0}, {"HostIP", "127.0.0.1"}});
  }
  json out = {{"ID", alloc.id},
              {"Namespace", "default"},
              {"EvalID", alloc.eval_id},
              {"Name", alloc.job_id + "." + alloc.group + "[" + std::to_string(alloc.index) + "]"},
              {"NodeID", kNodeId},
              {"NodeName", kNodeName},
              {"JobID", alloc.job_id},
              {"Job", *alloc.job},
              {"TaskGroup", alloc.group},
              {"Resources",
               {{"CPU", cpu},
                {"MemoryMB", memory},
                {"DiskMB", disk_mb},
                {"IOPS", 0},
                {"Networks", networks},
                {"Devices", nullptr}}},
              {"SharedResources",
               {{"CPU", 0},
                {"MemoryMB", 0},
                {"DiskMB", disk_mb},
                {"IOPS", 0},
                {"Networks", networks},
                {"Devices", nullptr}}},
              {"TaskResources", task_resources},
              {"AllocatedResources",
               {{"Tasks", allocated_tasks},
                {"TaskLifecycles", lifecycles},
                {"Shared",
                 {{"Networks", networks},
                  {"DiskMB", disk_mb},
                  {"Ports", shared_ports.empty() ? json(nullptr) : shared_ports}}}}},
              {"Metrics",
               {{"NodesEvaluated", 1},
                {"NodesFiltered", 0},
                {"NodesAvailable", {{"dc1", 1}}},
                {"ClassFiltered", nullptr},
                {"ConstraintFiltered", nullptr},
                {"NodesExhausted", 0},
                {"ClassExhausted", nullptr},
                {"DimensionExhausted", nullptr},
                {"QuotaExhausted", nullptr},
                {"Scores", nullptr},
                {"ScoreMetaData", json::array({{{"NodeID", kNodeId},
                                                {"Scores",
                                                 {{"binpack", 0.1},
                                                  {"job-anti-affinity", 0},
                                                  {"node-reschedule-penalty", 0},
                                                  {"node-affinity", 0}}},
                                                {"NormScore", 0.1}}})},
                {"AllocationTime", 10000},
                {"CoalescedFailures", 0}}},
              {"DesiredStatus", alloc.desired_status},
              {"ClientStatus", alloc.client_status},
              {"ClientDescription", alloc.client_description},
              {"TaskStates", RenderTaskStates(alloc)},
              {"DeploymentStatus", alloc.deployment_status},
              {"NetworkStatus", {{"InterfaceName", ""}, {"Address", ""}, {"DNS", nullptr}}},
              {"CreateIndex", alloc.create_index},
              {"ModifyIndex", alloc.modify_index},
              {"AllocModifyIndex", alloc.alloc_modify_index},
              {"CreateTime", go::UnixNanos(alloc.create_time)},
              {"ModifyTime", go::UnixNanos(alloc.modify_time)}};
  // Go's omitempty: these appear only when set.
  if (!alloc.desired_description.empty()) out["DesiredDescription"] = alloc.desired_description;
  if (!alloc.deployment_id.empty()) out["DeploymentID"] = alloc.deployment_id;
  return out;
}

json RenderDeployment(const Deployment& d) {
  json groups = json::object();
  for (const auto& [name, g] : d.groups) {
    groups[name] = json{{"AutoRevert", false},
                        {"AutoPromote", false},
                        {"ProgressDeadline", g.progress_deadline_ns},
                        {"RequireProgressBy", go::FormatRfc3339Nano(g.require_progress_by)},
                        {"Promoted", false},
                        {"PlacedCanaries", nullptr},
                        {"DesiredCanaries", 0},
                        {"DesiredTotal", g.desired_total},
                        {"PlacedAllocs", g.placed},
                        {"HealthyAllocs", g.healthy},
                        {"UnhealthyAllocs", g.unhealthy}};
  }
  return json{{"ID", d.id},
              {"Namespace", "default"},
              {"JobID", d.job_id},
              {"JobVersion", d.job_version},
              {"JobModifyIndex", d.job_modify_index},
              {"JobSpecModifyIndex", d.job_modify_index},
              {"JobCreateIndex", d.job_create_index},
              {"IsMultiregion", false},
              {"TaskGroups", groups},
              {"Status", d.status},
              {"StatusDescription", d.status_description},
              {"CreateIndex", d.create_index},
              {"ModifyIndex", d.modify_index}};
}

json RenderScalingEvent(const ScalingEvent& e) {
  return json{{"Time", go::UnixNanos(e.time)},
              {"Count", e.count ? json(*e.count) : json(nullptr)},
              {"PreviousCount", e.previous_count},
              {"Message", e.message},
              {"Error", e.error},
              {"Meta", e.meta},
              {"EvalID", e.eval_id.empty() ? json(nullptr) : json(e.eval_id)},
              {"CreateIndex", e.create_index}};
}

}  // namespace rollouts::sandbox
