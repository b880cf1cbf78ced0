// Pure edits of a Nomad job document (the "Job" object of GET /v1/job/<id>, or a
// {"Job": {...}} register body). Every edit changes only the fields it names and keeps
// everything else, including fields this code has never heard of, so a register of the
// edited job changes nothing the operator did not ask for.
//
// All three edits go through one job register with EnforceIndex (never the scale endpoint,
// see docs/design.md "Lessons").
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>

namespace rollouts::reconcilers {

// Puts a version into the Standby group: the template's fields of `task` (JSON pointers
// relative to the task, "{{version}}" replaced), the group's Meta.version and the service's
// Meta.version (routers read the version from the service), and Count.
struct DeployStandbyEdit {
  std::string group;
  std::string task;
  std::string service;
  std::string version;
  int count = 1;
  std::map<std::string, std::string> set;  // pointer -> value template
};

// The flip: `active_group`'s service gets the active tag, the other group's the standby
// tag, in one register. Only service tags change, which Nomad applies in place (no
// restart, plan 016 in the fixtures). Meta.version stays with the group that runs that
// version: it describes what runs there, not its role, and a group or job Meta change
// would be a destructive update.
struct FlipEdit {
  std::string active_group;
  std::string standby_group;
  std::string service;
  std::string active_tag = "active";
  std::string standby_tag = "standby";
};

// Count 0 for a group (GC of the old version or stop of a failed standby).
struct ScaleDownEdit {
  std::string group;
};

using JobEdit = std::variant<DeployStandbyEdit, FlipEdit, ScaleDownEdit>;

struct JobEditResult {
  nlohmann::json job;  // the edited document (same shape as the input)
  std::string error;   // non-empty: the edit could not be applied, job is the input
  bool ok() const { return error.empty(); }
};

JobEditResult ApplyJobEdit(const nlohmann::json& job, const JobEdit& edit);

// True when applying the edit would not change the document (the edit is already done).
// A crashed controller uses it to avoid repeating a register (e.g. a second flip).
bool EditApplied(const nlohmann::json& job, const JobEdit& edit);

// Replaces "{{name}}" (spaces inside the braces allowed) with vars[name]; unknown names
// are left as they are.
std::string RenderTemplate(const std::string& text, const std::map<std::string, std::string>& vars);

// "deploy v2 to hello-green (count 2)", "flip: hello-green active", "scale hello-blue to 0".
std::string DescribeJobEdit(const JobEdit& edit);

}  // namespace rollouts::reconcilers
