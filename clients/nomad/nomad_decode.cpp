#include "clients/nomad/nomad_decode.h"

#include <stdexcept>
#include <string>

namespace rollouts::nomad::decode {
namespace {

using nlohmann::json;

const json& RequireObject(const json& j, const char* what) {
  if (!j.is_object()) {
    throw std::invalid_argument(std::string(what) + ": expected a JSON object, got " +
                                j.type_name());
  }
  return j;
}

// Absent and null read as the zero value; a present value of the wrong type is a shape
// error (the agent is not what we think it is).
const json* Present(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string Str(const json& j, const char* name) {
  const json* f = Present(j, name);
  if (f == nullptr) return {};
  if (!f->is_string()) throw std::invalid_argument(std::string(name) + " is not a string");
  return f->get<std::string>();
}

uint64_t U64(const json& j, const char* name) {
  const json* f = Present(j, name);
  if (f == nullptr) return 0;
  if (!f->is_number_integer() || (!f->is_number_unsigned() && f->get<int64_t>() < 0)) {
    throw std::invalid_argument(std::string(name) + " is not a non-negative integer");
  }
  return f->get<uint64_t>();
}

int64_t I64(const json& j, const char* name) {
  const json* f = Present(j, name);
  if (f == nullptr) return 0;
  if (!f->is_number_integer())
    throw std::invalid_argument(std::string(name) + " is not an integer");
  return f->get<int64_t>();
}

bool Bool(const json& j, const char* name) {
  const json* f = Present(j, name);
  if (f == nullptr) return false;
  if (!f->is_boolean()) throw std::invalid_argument(std::string(name) + " is not a boolean");
  return f->get<bool>();
}

GroupUpdatePlan DecodeGroupUpdatePlan(const json& j) {
  RequireObject(j, "DesiredTGUpdates entry");
  GroupUpdatePlan g;
  g.ignore = U64(j, "Ignore");
  g.place = U64(j, "Place");
  g.migrate = U64(j, "Migrate");
  g.stop = U64(j, "Stop");
  g.in_place_update = U64(j, "InPlaceUpdate");
  g.destructive_update = U64(j, "DestructiveUpdate");
  g.canary = U64(j, "Canary");
  g.preemptions = U64(j, "Preemptions");
  return g;
}

std::optional<DeploymentStatus> DecodeDeploymentStatus(const json& j) {
  const json* f = Present(j, "DeploymentStatus");
  if (f == nullptr) return std::nullopt;
  RequireObject(*f, "DeploymentStatus");
  DeploymentStatus s;
  if (const json* healthy = Present(*f, "Healthy")) {
    if (!healthy->is_boolean()) throw std::invalid_argument("Healthy is not a boolean");
    s.healthy = healthy->get<bool>();
  }
  s.timestamp = Str(*f, "Timestamp");
  s.canary = Bool(*f, "Canary");
  s.modify_index = U64(*f, "ModifyIndex");
  return s;
}

TaskStateSummary DecodeTaskState(const json& j) {
  RequireObject(j, "TaskState");
  TaskStateSummary t;
  t.state = Str(j, "State");
  t.failed = Bool(j, "Failed");
  t.restarts = U64(j, "Restarts");
  t.started_at = Str(j, "StartedAt");
  t.finished_at = Str(j, "FinishedAt");
  if (const json* events = Present(j, "Events");
      events != nullptr && events->is_array() && !events->empty()) {
    const json& last = events->back();
    t.last_event_type = Str(last, "Type");
    t.last_event_message = Str(last, "DisplayMessage");
  }
  return t;
}

void DecodeStubFields(const json& j, AllocationStub& a) {
  a.id = Str(j, "ID");
  a.eval_id = Str(j, "EvalID");
  a.name = Str(j, "Name");
  a.node_id = Str(j, "NodeID");
  a.node_name = Str(j, "NodeName");
  a.job_id = Str(j, "JobID");
  a.task_group = Str(j, "TaskGroup");
  a.job_version = U64(j, "JobVersion");
  a.client_status = Str(j, "ClientStatus");
  a.desired_status = Str(j, "DesiredStatus");
  a.client_description = Str(j, "ClientDescription");
  a.desired_description = Str(j, "DesiredDescription");
  a.deployment_status = DecodeDeploymentStatus(j);
  if (const json* states = Present(j, "TaskStates")) {
    RequireObject(*states, "TaskStates");
    for (auto it = states->begin(); it != states->end(); ++it) {
      a.task_states[it.key()] = DecodeTaskState(it.value());
    }
  }
  a.create_index = U64(j, "CreateIndex");
  a.modify_index = U64(j, "ModifyIndex");
  a.create_time = I64(j, "CreateTime");
  a.modify_time = I64(j, "ModifyTime");
}

DeploymentGroupState DecodeDeploymentGroup(const json& j) {
  RequireObject(j, "deployment TaskGroups entry");
  DeploymentGroupState g;
  g.auto_revert = Bool(j, "AutoRevert");
  g.auto_promote = Bool(j, "AutoPromote");
  g.promoted = Bool(j, "Promoted");
  g.progress_deadline_ns = I64(j, "ProgressDeadline");
  g.require_progress_by = Str(j, "RequireProgressBy");
  g.desired_canaries = U64(j, "DesiredCanaries");
  g.desired_total = U64(j, "DesiredTotal");
  g.placed_allocs = U64(j, "PlacedAllocs");
  g.healthy_allocs = U64(j, "HealthyAllocs");
  g.unhealthy_allocs = U64(j, "UnhealthyAllocs");
  return g;
}

}  // namespace

WriteResponse DecodeWriteResponse(const json& j) {
  RequireObject(j, "write response");
  WriteResponse w;
  w.eval_id = Str(j, "EvalID");
  w.eval_create_index = U64(j, "EvalCreateIndex");
  w.job_modify_index = U64(j, "JobModifyIndex");
  w.index = U64(j, "Index");
  w.warnings = Str(j, "Warnings");
  return w;
}

PlanResult DecodePlan(const json& j) {
  RequireObject(j, "plan response");
  PlanResult p;
  if (const json* annotations = Present(j, "Annotations")) {
    if (const json* updates =
            Present(RequireObject(*annotations, "Annotations"), "DesiredTGUpdates")) {
      RequireObject(*updates, "DesiredTGUpdates");
      for (auto it = updates->begin(); it != updates->end(); ++it) {
        p.groups[it.key()] = DecodeGroupUpdatePlan(it.value());
      }
    }
  }
  p.diff = j.value("Diff", json());
  p.failed_tg_allocs = j.value("FailedTGAllocs", json());
  p.job_modify_index = U64(j, "JobModifyIndex");
  p.warnings = Str(j, "Warnings");
  return p;
}

JobVersions DecodeJobVersions(const json& j) {
  RequireObject(j, "job versions");
  JobVersions v;
  v.versions = DecodeList<Job>(j.value("Versions", json()), [](const json& e) { return Job(e); });
  if (const json* diffs = Present(j, "Diffs")) {
    if (!diffs->is_array()) throw std::invalid_argument("Diffs is not an array");
    v.diffs.assign(diffs->begin(), diffs->end());
  }
  v.index = U64(j, "Index");
  return v;
}

AllocationStub DecodeAllocationStub(const json& j) {
  RequireObject(j, "allocation stub");
  AllocationStub a;
  DecodeStubFields(j, a);
  return a;
}

Allocation DecodeAllocation(const json& j) {
  RequireObject(j, "allocation");
  Allocation a;
  DecodeStubFields(j, a);
  a.deployment_id = Str(j, "DeploymentID");
  if (const json* job = Present(j, "Job")) {
    a.job = Job(*job);
    // The full allocation has no top-level JobVersion; its job carries the version.
    if (!j.contains("JobVersion")) a.job_version = a.job->Version();
  }
  a.raw = j;
  return a;
}

Deployment DecodeDeployment(const json& j) {
  RequireObject(j, "deployment");
  Deployment d;
  d.id = Str(j, "ID");
  d.job_id = Str(j, "JobID");
  d.job_version = U64(j, "JobVersion");
  d.job_modify_index = U64(j, "JobModifyIndex");
  d.job_spec_modify_index = U64(j, "JobSpecModifyIndex");
  d.job_create_index = U64(j, "JobCreateIndex");
  d.status = Str(j, "Status");
  d.status_description = Str(j, "StatusDescription");
  if (const json* groups = Present(j, "TaskGroups")) {
    RequireObject(*groups, "deployment TaskGroups");
    for (auto it = groups->begin(); it != groups->end(); ++it) {
      d.task_groups[it.key()] = DecodeDeploymentGroup(it.value());
    }
  }
  d.create_index = U64(j, "CreateIndex");
  d.modify_index = U64(j, "ModifyIndex");
  return d;
}

Evaluation DecodeEvaluation(const json& j) {
  RequireObject(j, "evaluation");
  Evaluation e;
  e.id = Str(j, "ID");
  e.type = Str(j, "Type");
  e.triggered_by = Str(j, "TriggeredBy");
  e.job_id = Str(j, "JobID");
  e.job_modify_index = U64(j, "JobModifyIndex");
  e.deployment_id = Str(j, "DeploymentID");
  e.status = Str(j, "Status");
  e.status_description = Str(j, "StatusDescription");
  e.blocked_eval = Str(j, "BlockedEval");
  if (const json* failed = Present(j, "FailedTGAllocs")) {
    RequireObject(*failed, "FailedTGAllocs");
    for (auto it = failed->begin(); it != failed->end(); ++it) {
      e.failed_tg_allocs[it.key()] = it.value();
    }
  }
  if (const json* queued = Present(j, "QueuedAllocations")) {
    RequireObject(*queued, "QueuedAllocations");
    for (auto it = queued->begin(); it != queued->end(); ++it) {
      e.queued_allocations[it.key()] = U64(*queued, it.key().c_str());
    }
  }
  e.create_index = U64(j, "CreateIndex");
  e.modify_index = U64(j, "ModifyIndex");
  return e;
}

JobSummary DecodeJobSummary(const json& j) {
  RequireObject(j, "job summary");
  JobSummary s;
  s.job_id = Str(j, "JobID");
  if (const json* summary = Present(j, "Summary")) {
    RequireObject(*summary, "Summary");
    for (auto it = summary->begin(); it != summary->end(); ++it) {
      const json& g = RequireObject(it.value(), "Summary entry");
      GroupSummary& out = s.groups[it.key()];
      out.queued = U64(g, "Queued");
      out.complete = U64(g, "Complete");
      out.failed = U64(g, "Failed");
      out.running = U64(g, "Running");
      out.starting = U64(g, "Starting");
      out.lost = U64(g, "Lost");
    }
  }
  s.create_index = U64(j, "CreateIndex");
  s.modify_index = U64(j, "ModifyIndex");
  return s;
}

JobListStub DecodeJobListStub(const json& j) {
  RequireObject(j, "job list stub");
  JobListStub s;
  s.id = Str(j, "ID");
  s.name = Str(j, "Name");
  s.type = Str(j, "Type");
  s.status = Str(j, "Status");
  s.stop = Bool(j, "Stop");
  s.create_index = U64(j, "CreateIndex");
  s.modify_index = U64(j, "ModifyIndex");
  s.job_modify_index = U64(j, "JobModifyIndex");
  return s;
}

JobScaleStatus DecodeJobScaleStatus(const json& j) {
  RequireObject(j, "job scale status");
  JobScaleStatus s;
  s.job_id = Str(j, "JobID");
  s.job_create_index = U64(j, "JobCreateIndex");
  s.job_modify_index = U64(j, "JobModifyIndex");
  s.job_stopped = Bool(j, "JobStopped");
  if (const json* groups = Present(j, "TaskGroups")) {
    RequireObject(*groups, "scale TaskGroups");
    for (auto it = groups->begin(); it != groups->end(); ++it) {
      const json& g = RequireObject(it.value(), "scale TaskGroups entry");
      GroupScaleStatus& out = s.task_groups[it.key()];
      out.desired = U64(g, "Desired");
      out.placed = U64(g, "Placed");
      out.running = U64(g, "Running");
      out.healthy = U64(g, "Healthy");
      out.unhealthy = U64(g, "Unhealthy");
      out.events = g.value("Events", json());
    }
  }
  return s;
}

}  // namespace rollouts::nomad::decode

namespace rollouts::nomad {

bool PlanResult::InPlaceOnly() const {
  for (const auto& [name, g] : groups) {
    if (g.destructive_update > 0 || g.stop > 0 || g.place > 0 || g.migrate > 0 || g.canary > 0 ||
        g.preemptions > 0) {
      return false;
    }
  }
  return true;
}

}  // namespace rollouts::nomad
