// Comparing two versions of a canonical job: the structural diff Nomad shows in
// /plan and /versions?diffs=true, and the scheduler's question "can allocations of this
// group be updated in place, or must they be replaced?".
#pragma once

#include <nlohmann/json.hpp>

namespace rollouts::sandbox {

// Nomad's JobDiff: {Type, ID, Fields, Objects, TaskGroups:[{Type, Name, Fields, Objects,
// Tasks:[...], Updates}]}. `old_job` null means the job is new (Type "Added").
// Services are diffed "contextually" (unchanged fields listed with Type "None"), as Nomad
// does. Updates and task Annotations are left null for the caller (plan) to fill in.
nlohmann::json DiffJobs(const nlohmann::json& old_job, const nlohmann::json& new_job);

enum class GroupChange {
  kNone,         // same spec (apart from Count): allocations just move to the new version
  kInPlace,      // only services, tags, service/group meta or update strategy changed
  kDestructive,  // anything else: allocations are replaced
};

GroupChange ClassifyGroupChange(const nlohmann::json& old_group, const nlohmann::json& new_group);

}  // namespace rollouts::sandbox
