#include "reconcilers/job_edit.h"

#include <algorithm>

namespace rollouts::reconcilers {
namespace {

using nlohmann::json;

// The Job object inside either shape of document.
json* JobObject(json& doc) {
  if (doc.is_object() && !doc.contains("TaskGroups") && doc.contains("Job") &&
      doc["Job"].is_object()) {
    return &doc["Job"];
  }
  return doc.is_object() ? &doc : nullptr;
}

json* FindNamed(json& parent, const char* list_key, const std::string& name) {
  auto list = parent.find(list_key);
  if (list == parent.end() || !list->is_array()) return nullptr;
  for (json& item : *list) {
    if (item.is_object() && item.value("Name", std::string()) == name) return &item;
  }
  return nullptr;
}

json* FindGroup(json& job, const std::string& group, std::string& error) {
  json* found = FindNamed(job, "TaskGroups", group);
  if (!found) error = "job has no task group \"" + group + "\"";
  return found;
}

// Services may be declared on the group (the usual place) or on a task.
std::vector<json*> FindServices(json& group, const std::string& service) {
  std::vector<json*> found;
  auto collect = [&](json& owner) {
    auto list = owner.find("Services");
    if (list == owner.end() || !list->is_array()) return;
    for (json& s : *list) {
      if (s.is_object() && s.value("Name", std::string()) == service) found.push_back(&s);
    }
  };
  collect(group);
  auto tasks = group.find("Tasks");
  if (tasks != group.end() && tasks->is_array()) {
    for (json& task : *tasks) {
      if (task.is_object()) collect(task);
    }
  }
  return found;
}

void SetMetaVersion(json& owner, const std::string& version) {
  if (!owner.contains("Meta") || !owner["Meta"].is_object()) owner["Meta"] = json::object();
  owner["Meta"]["version"] = version;
}

// Sets a string at a JSON pointer below `root`, creating missing objects on the way.
bool SetAtPointer(json& root, const std::string& pointer, const std::string& value,
                  std::string& error) {
  if (pointer.empty() || pointer.front() != '/') {
    error = "template path \"" + pointer + "\" must start with '/'";
    return false;
  }
  json::json_pointer path;
  try {
    path = json::json_pointer(pointer);
  } catch (const json::exception& e) {
    error = "template path \"" + pointer + "\" is not a JSON pointer: " + e.what();
    return false;
  }
  // Walk the parents so a non-object on the way is an error, not an exception.
  json* node = &root;
  std::vector<std::string> tokens;
  for (json::json_pointer p = path; !p.empty(); p.pop_back()) tokens.push_back(p.back());
  std::reverse(tokens.begin(), tokens.end());
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    if (node->is_null()) *node = json::object();
    if (!node->is_object()) {
      error = "template path \"" + pointer + "\": \"" + tokens[i] + "\" is inside a non-object";
      return false;
    }
    node = &(*node)[tokens[i]];
  }
  if (node->is_null()) *node = json::object();
  if (!node->is_object()) {
    error = "template path \"" + pointer + "\" ends inside a non-object";
    return false;
  }
  (*node)[tokens.back()] = value;
  return true;
}

// Gives the service exactly one of the two role tags, keeping the position of the first
// role tag it had (and every other tag as it was).
void SetRoleTag(json& service, const std::string& wanted, const std::string& other) {
  if (!service.contains("Tags") || !service["Tags"].is_array()) service["Tags"] = json::array();
  json& tags = service["Tags"];
  json result = json::array();
  bool placed = false;
  for (const json& tag : tags) {
    bool is_role = tag.is_string() && (tag == wanted || tag == other);
    if (!is_role) {
      result.push_back(tag);
    } else if (!placed) {
      result.push_back(wanted);
      placed = true;
    }
  }
  if (!placed) result.push_back(wanted);
  tags = std::move(result);
}

void Apply(json& job, const DeployStandbyEdit& edit, std::string& error) {
  json* group = FindGroup(job, edit.group, error);
  if (!group) return;
  json* task = FindNamed(*group, "Tasks", edit.task);
  if (!task) {
    error = "task group \"" + edit.group + "\" has no task \"" + edit.task + "\"";
    return;
  }
  std::vector<json*> services = FindServices(*group, edit.service);
  if (services.empty()) {
    error = "task group \"" + edit.group + "\" has no service \"" + edit.service + "\"";
    return;
  }
  const std::map<std::string, std::string> vars = {{"version", edit.version}};
  for (const auto& [pointer, value] : edit.set) {
    if (!SetAtPointer(*task, pointer, RenderTemplate(value, vars), error)) return;
  }
  (*group)["Count"] = edit.count;
  SetMetaVersion(*group, edit.version);
  for (json* service : services) SetMetaVersion(*service, edit.version);
}

void Apply(json& job, const FlipEdit& edit, std::string& error) {
  json* active = FindGroup(job, edit.active_group, error);
  if (!active) return;
  json* standby = FindGroup(job, edit.standby_group, error);
  if (!standby) return;
  std::vector<json*> active_services = FindServices(*active, edit.service);
  std::vector<json*> standby_services = FindServices(*standby, edit.service);
  if (active_services.empty() || standby_services.empty()) {
    error = "both groups must register service \"" + edit.service + "\"";
    return;
  }
  for (json* s : active_services) SetRoleTag(*s, edit.active_tag, edit.standby_tag);
  for (json* s : standby_services) SetRoleTag(*s, edit.standby_tag, edit.active_tag);
}

void Apply(json& job, const ScaleDownEdit& edit, std::string& error) {
  json* group = FindGroup(job, edit.group, error);
  if (group) (*group)["Count"] = 0;
}

}  // namespace

JobEditResult ApplyJobEdit(const nlohmann::json& job, const JobEdit& edit) {
  JobEditResult result{job, {}};
  json* target = JobObject(result.job);
  if (!target) {
    result.error = "job document is not a JSON object";
    return result;
  }
  std::visit([&](const auto& e) { Apply(*target, e, result.error); }, edit);
  if (!result.ok()) result.job = job;
  return result;
}

bool EditApplied(const nlohmann::json& job, const JobEdit& edit) {
  JobEditResult result = ApplyJobEdit(job, edit);
  return result.ok() && result.job == job;
}

std::string RenderTemplate(const std::string& text,
                           const std::map<std::string, std::string>& vars) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("{{", pos);
    if (open == std::string::npos) break;
    size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) break;
    std::string name = text.substr(open + 2, close - open - 2);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    out.append(text, pos, open - pos);
    auto var = vars.find(name);
    if (var != vars.end()) {
      out += var->second;
    } else {
      out.append(text, open, close + 2 - open);
    }
    pos = close + 2;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

std::string DescribeJobEdit(const JobEdit& edit) {
  struct Describe {
    std::string operator()(const DeployStandbyEdit& e) const {
      return "deploy " + e.version + " to " + e.group + " (count " + std::to_string(e.count) + ")";
    }
    std::string operator()(const FlipEdit& e) const {
      return "flip: " + e.active_group + " " + e.active_tag + ", " + e.standby_group + " " +
             e.standby_tag;
    }
    std::string operator()(const ScaleDownEdit& e) const { return "scale " + e.group + " to 0"; }
  };
  return std::visit(Describe{}, edit);
}

}  // namespace rollouts::reconcilers
