#include "sandbox/nomad/job_diff.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace rollouts::sandbox {

using nlohmann::json;

namespace {

using Flat = std::map<std::string, std::string>;

bool IsPrimitive(const json& v) {
  return v.is_string() || v.is_boolean() || v.is_number();
}

std::string PrimitiveText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();  // numbers and booleans print like Go's fmt
}

bool IsPrimitiveMap(const json& v) {
  return v.is_object() &&
         std::all_of(v.begin(), v.end(), [](const json& x) { return IsPrimitive(x); });
}

bool IsPrimitiveList(const json& v) {
  return v.is_array() &&
         std::all_of(v.begin(), v.end(), [](const json& x) { return IsPrimitive(x); });
}

// Nomad names list elements by their singular: Services -> Service, Checks -> Check.
std::string Singular(const std::string& key) {
  if (key == "DynamicPorts" || key == "ReservedPorts") return key;
  if (key.size() > 1 && key.back() == 's') return key.substr(0, key.size() - 1);
  return key;
}

// Primitive fields of an object, maps of primitives flattened to "Key[name]".
// `deep` flattens everything (task Config: "args[0]").
void FlattenInto(const json& object, const std::string& prefix, const std::set<std::string>& skip,
                 bool deep, Flat& out) {
  if (!object.is_object()) return;
  for (const auto& [key, value] : object.items()) {
    if (skip.count(key)) continue;
    const std::string name = prefix + key;
    if (IsPrimitive(value)) {
      out[name] = PrimitiveText(value);
    } else if (IsPrimitiveMap(value) && !value.empty()) {
      for (const auto& [k, v] : value.items()) out[name + "[" + k + "]"] = PrimitiveText(v);
    } else if (deep && value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string item = name + "[" + std::to_string(i) + "]";
        if (IsPrimitive(value[i])) {
          out[item] = PrimitiveText(value[i]);
        } else {
          FlattenInto(value[i], item + ".", {}, true, out);
        }
      }
    } else if (deep && value.is_object()) {
      FlattenInto(value, name + ".", {}, true, out);
    }
  }
}

json FieldDiff(const std::string& type, const std::string& name, const std::string& old_value,
               const std::string& new_value) {
  return json{{"Type", type},
              {"Name", name},
              {"Old", old_value},
              {"New", new_value},
              {"Annotations", nullptr}};
}

// Sorted by name, like Nomad's FieldDiffs. Unchanged fields only when contextual.
json FieldDiffs(const Flat& old_flat, const Flat& new_flat, bool contextual) {
  std::set<std::string> names;
  for (const auto& [k, v] : old_flat) names.insert(k);
  for (const auto& [k, v] : new_flat) names.insert(k);
  json out = json::array();
  for (const std::string& name : names) {
    auto o = old_flat.find(name);
    auto n = new_flat.find(name);
    if (o == old_flat.end()) {
      out.push_back(FieldDiff("Added", name, "", n->second));
    } else if (n == new_flat.end()) {
      out.push_back(FieldDiff("Deleted", name, o->second, ""));
    } else if (o->second != n->second) {
      out.push_back(FieldDiff("Edited", name, o->second, n->second));
    } else if (contextual) {
      out.push_back(FieldDiff("None", name, o->second, n->second));
    }
  }
  return out.empty() ? json(nullptr) : out;
}

bool HasChange(const json& diffs) {
  if (!diffs.is_array()) return false;
  return std::any_of(diffs.begin(), diffs.end(), [](const json& d) { return d["Type"] != "None"; });
}

// A list of strings (Tags, Datacenters) is a set: Added / Deleted / None elements.
std::optional<json> SetDiff(const std::string& name, const json& old_list, const json& new_list,
                            bool contextual) {
  std::set<std::string> old_set;
  std::set<std::string> new_set;
  if (old_list.is_array())
    for (const json& v : old_list) old_set.insert(PrimitiveText(v));
  if (new_list.is_array())
    for (const json& v : new_list) new_set.insert(PrimitiveText(v));
  std::set<std::string> all = old_set;
  all.insert(new_set.begin(), new_set.end());
  // Nomad lists additions, then deletions, then unchanged elements.
  json fields = json::array();
  for (const std::string& v : new_set) {
    if (!old_set.count(v)) fields.push_back(FieldDiff("Added", name, "", v));
  }
  for (const std::string& v : old_set) {
    if (!new_set.count(v)) fields.push_back(FieldDiff("Deleted", name, v, ""));
  }
  for (const std::string& v : all) {
    if (contextual && old_set.count(v) && new_set.count(v)) {
      fields.push_back(FieldDiff("None", name, v, v));
    }
  }
  if (fields.empty()) return std::nullopt;
  std::string type = "None";
  if (old_set.empty() && !new_set.empty()) {
    type = "Added";
  } else if (new_set.empty() && !old_set.empty()) {
    type = "Deleted";
  } else if (HasChange(fields)) {
    type = "Edited";
  }
  if (type == "None" && !contextual) return std::nullopt;
  return json{{"Type", type}, {"Name", name}, {"Fields", fields}, {"Objects", nullptr}};
}

std::optional<json> ObjectDiff(const std::string& name, const json& old_obj, const json& new_obj,
                               bool contextual, const std::set<std::string>& skip = {});

// Diffs of the nested parts of an object: lists of strings, nested objects, lists of objects.
json NestedDiffs(const json& old_obj, const json& new_obj, bool contextual,
                 const std::set<std::string>& skip) {
  std::set<std::string> keys;
  for (const json* obj : {&old_obj, &new_obj}) {
    if (!obj->is_object()) continue;
    for (const auto& [k, v] : obj->items()) {
      if (!skip.count(k)) keys.insert(k);
    }
  }
  json out = json::array();
  for (const std::string& key : keys) {
    const json o = old_obj.is_object() ? old_obj.value(key, json(nullptr)) : json(nullptr);
    const json n = new_obj.is_object() ? new_obj.value(key, json(nullptr)) : json(nullptr);
    if (IsPrimitive(o) || IsPrimitive(n) || IsPrimitiveMap(o) || IsPrimitiveMap(n)) continue;
    if ((o.is_array() && !o.empty() && IsPrimitiveList(o)) ||
        (n.is_array() && !n.empty() && IsPrimitiveList(n))) {
      if (auto d = SetDiff(key, o, n, contextual)) out.push_back(*d);
    } else if (o.is_array() || n.is_array()) {
      // Lists of objects: match elements by Name (or Label), else by position.
      auto key_of = [](const json& item, size_t i) {
        if (item.is_object() && item.contains("Name") && item["Name"].is_string())
          return item["Name"].get<std::string>();
        if (item.is_object() && item.contains("Label") && item["Label"].is_string())
          return item["Label"].get<std::string>();
        return std::to_string(i);
      };
      std::map<std::string, std::pair<json, json>> pairs;
      if (o.is_array())
        for (size_t i = 0; i < o.size(); ++i) pairs[key_of(o[i], i)].first = o[i];
      if (n.is_array())
        for (size_t i = 0; i < n.size(); ++i) pairs[key_of(n[i], i)].second = n[i];
      for (const auto& [id, pair] : pairs) {
        if (auto d = ObjectDiff(Singular(key), pair.first, pair.second, contextual)) {
          out.push_back(*d);
        }
      }
    } else if (o.is_object() || n.is_object()) {
      if (auto d = ObjectDiff(key, o, n, contextual)) out.push_back(*d);
    }
  }
  return out.empty() ? json(nullptr) : out;
}

std::optional<json> ObjectDiff(const std::string& name, const json& old_obj, const json& new_obj,
                               bool contextual, const std::set<std::string>& skip) {
  if (old_obj == new_obj) return std::nullopt;
  const bool deep = name == "Config";
  Flat old_flat;
  Flat new_flat;
  FlattenInto(old_obj, "", skip, deep, old_flat);
  FlattenInto(new_obj, "", skip, deep, new_flat);
  json fields = FieldDiffs(old_flat, new_flat, contextual);
  json objects = deep ? json(nullptr) : NestedDiffs(old_obj, new_obj, contextual, skip);
  std::string type = "Edited";
  if (old_obj.is_null()) type = "Added";
  if (new_obj.is_null()) type = "Deleted";
  if (type == "Edited" && !HasChange(fields) && !HasChange(objects)) return std::nullopt;
  return json{{"Type", type}, {"Name", name}, {"Fields", fields}, {"Objects", objects}};
}

std::string EntityType(const json& old_obj, const json& new_obj, const json& fields,
                       const json& objects, bool children_changed) {
  if (old_obj.is_null()) return "Added";
  if (new_obj.is_null()) return "Deleted";
  if (HasChange(fields) || HasChange(objects) || children_changed) return "Edited";
  return "None";
}

json TaskDiff(const std::string& name, const json& old_task, const json& new_task) {
  const std::set<std::string> skip = {"Name", "Services", "Config"};
  Flat old_flat;
  Flat new_flat;
  FlattenInto(old_task, "", skip, false, old_flat);
  FlattenInto(new_task, "", skip, false, new_flat);
  json fields = FieldDiffs(old_flat, new_flat, false);
  json objects = NestedDiffs(old_task, new_task, false, {"Name", "Services", "Config"});
  if (objects.is_null()) objects = json::array();
  auto config = ObjectDiff("Config", old_task.is_object() ? old_task["Config"] : json(nullptr),
                           new_task.is_object() ? new_task["Config"] : json(nullptr), false);
  if (config) objects.push_back(*config);
  json services = NestedDiffs(
      old_task.is_object() ? json{{"Services", old_task["Services"]}} : json(nullptr),
      new_task.is_object() ? json{{"Services", new_task["Services"]}} : json(nullptr), true, {});
  if (services.is_array())
    for (const json& s : services) objects.push_back(s);
  if (objects.empty()) objects = nullptr;
  return json{{"Type", EntityType(old_task, new_task, fields, objects, false)},
              {"Name", name},
              {"Fields", fields},
              {"Objects", objects},
              {"Annotations", nullptr}};
}

std::map<std::string, json> ByName(const json& list) {
  std::map<std::string, json> out;
  if (list.is_array())
    for (const json& item : list) out[item["Name"].get<std::string>()] = item;
  return out;
}

json GroupDiff(const std::string& name, const json& old_group, const json& new_group) {
  const std::set<std::string> skip = {"Name", "Tasks", "Services"};
  Flat old_flat;
  Flat new_flat;
  FlattenInto(old_group, "", skip, false, old_flat);
  FlattenInto(new_group, "", skip, false, new_flat);
  json fields = FieldDiffs(old_flat, new_flat, false);
  json objects = NestedDiffs(old_group, new_group, false, skip);
  json services = NestedDiffs(
      old_group.is_object() ? json{{"Services", old_group["Services"]}} : json(nullptr),
      new_group.is_object() ? json{{"Services", new_group["Services"]}} : json(nullptr), true, {});
  if (services.is_array()) {
    if (objects.is_null()) objects = json::array();
    for (const json& s : services) objects.push_back(s);
  }
  std::map<std::string, json> old_tasks =
      ByName(old_group.is_object() ? old_group["Tasks"] : json(nullptr));
  std::map<std::string, json> new_tasks =
      ByName(new_group.is_object() ? new_group["Tasks"] : json(nullptr));
  std::set<std::string> task_names;
  for (const auto& [k, v] : old_tasks) task_names.insert(k);
  for (const auto& [k, v] : new_tasks) task_names.insert(k);
  json tasks = json::array();
  bool tasks_changed = false;
  for (const std::string& task : task_names) {
    json o = old_tasks.count(task) ? old_tasks[task] : json(nullptr);
    json n = new_tasks.count(task) ? new_tasks[task] : json(nullptr);
    json d = TaskDiff(task, o, n);
    tasks_changed = tasks_changed || d["Type"] != "None";
    tasks.push_back(d);
  }
  return json{{"Type", EntityType(old_group, new_group, fields, objects, tasks_changed)},
              {"Name", name},
              {"Fields", fields},
              {"Objects", objects},
              {"Tasks", tasks.empty() ? json(nullptr) : tasks},
              {"Updates", nullptr}};
}

// Job fields that are bookkeeping, not spec: never part of a diff.
const std::set<std::string>& JobSkip() {
  static const std::set<std::string> skip = {
      "ID",           "TaskGroups", "Status",      "StatusDescription", "Stable",
      "Version",      "SubmitTime", "CreateIndex", "ModifyIndex",       "JobModifyIndex",
      "NomadTokenID", "VaultToken", "ConsulToken", "Payload",           "Dispatched"};
  return skip;
}

// Group fields whose change Nomad applies without restarting the allocation.
json StripInPlaceFields(json group) {
  for (const char* key : {"Count", "Update", "Services", "Meta", "Scaling", "Migrate",
                          "ReschedulePolicy", "Constraints", "Affinities", "Spreads"}) {
    group.erase(key);
  }
  if (group.contains("Tasks") && group["Tasks"].is_array()) {
    for (json& task : group["Tasks"]) {
      task.erase("Services");
      task.erase("Constraints");
      task.erase("Affinities");
    }
  }
  return group;
}

}  // namespace

json DiffJobs(const json& old_job, const json& new_job) {
  const std::set<std::string>& skip = JobSkip();
  Flat old_flat;
  Flat new_flat;
  FlattenInto(old_job, "", skip, false, old_flat);
  FlattenInto(new_job, "", skip, false, new_flat);
  json fields = FieldDiffs(old_flat, new_flat, false);
  json objects = NestedDiffs(old_job, new_job, false, skip);
  std::map<std::string, json> old_groups =
      ByName(old_job.is_object() ? old_job["TaskGroups"] : json(nullptr));
  std::map<std::string, json> new_groups =
      ByName(new_job.is_object() ? new_job["TaskGroups"] : json(nullptr));
  std::set<std::string> names;
  for (const auto& [k, v] : old_groups) names.insert(k);
  for (const auto& [k, v] : new_groups) names.insert(k);
  json groups = json::array();
  bool groups_changed = false;
  for (const std::string& name : names) {
    json o = old_groups.count(name) ? old_groups[name] : json(nullptr);
    json n = new_groups.count(name) ? new_groups[name] : json(nullptr);
    json d = GroupDiff(name, o, n);
    groups_changed = groups_changed || d["Type"] != "None";
    groups.push_back(d);
  }
  const json& id_source = new_job.is_object() ? new_job : old_job;
  return json{{"Type", EntityType(old_job, new_job, fields, objects, groups_changed)},
              {"ID", id_source.value("ID", "")},
              {"Fields", fields},
              {"Objects", objects},
              {"TaskGroups", groups.empty() ? json(nullptr) : groups}};
}

GroupChange ClassifyGroupChange(const json& old_group, const json& new_group) {
  if (StripInPlaceFields(old_group) != StripInPlaceFields(new_group)) {
    return GroupChange::kDestructive;
  }
  json a = old_group;
  json b = new_group;
  a.erase("Count");
  b.erase("Count");
  return a == b ? GroupChange::kNone : GroupChange::kInPlace;
}

}  // namespace rollouts::sandbox
