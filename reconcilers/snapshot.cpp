#include "reconcilers/snapshot.h"

#include <array>

namespace rollouts::reconcilers {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<ControlVerb, std::string_view>, 6> kVerbNames = {{
    {ControlVerb::kPromote, "promote"},
    {ControlVerb::kAbort, "abort"},
    {ControlVerb::kRetry, "retry"},
    {ControlVerb::kPause, "pause"},
    {ControlVerb::kResume, "resume"},
    {ControlVerb::kUndo, "undo"},
}};

std::string StringField(const json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::map<std::string, std::string> StringMap(const json& doc, const char* key) {
  std::map<std::string, std::string> out;
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

void CollectServices(const json& owner, std::vector<ServiceView>& out) {
  auto list = owner.find("Services");
  if (list == owner.end() || !list->is_array()) return;
  for (const json& s : *list) {
    if (!s.is_object()) continue;
    ServiceView view;
    view.name = StringField(s, "Name");
    auto tags = s.find("Tags");
    if (tags != s.end() && tags->is_array()) {
      for (const json& t : *tags) {
        if (t.is_string()) view.tags.push_back(t.get<std::string>());
      }
    }
    view.meta = StringMap(s, "Meta");
    out.push_back(std::move(view));
  }
}

}  // namespace

std::string_view ControlVerbName(ControlVerb verb) {
  for (const auto& [v, name] : kVerbNames) {
    if (v == verb) return name;
  }
  return "promote";
}

std::optional<ControlVerb> ParseControlVerb(std::string_view name) {
  for (const auto& [v, n] : kVerbNames) {
    if (n == name) return v;
  }
  return std::nullopt;
}

const ServiceView* GroupView::Service(std::string_view service_name) const {
  for (const ServiceView& s : services) {
    if (s.name == service_name) return &s;
  }
  return nullptr;
}

bool GroupView::HasTask(std::string_view task_name) const {
  for (const std::string& t : tasks) {
    if (t == task_name) return true;
  }
  return false;
}

const GroupView* JobView::Group(std::string_view group_name) const {
  for (const GroupView& g : groups) {
    if (g.name == group_name) return &g;
  }
  return nullptr;
}

JobView JobView::FromDocument(const nlohmann::json& doc) {
  const json* job = &doc;
  if (doc.is_object() && !doc.contains("TaskGroups") && doc.contains("Job") &&
      doc["Job"].is_object()) {
    job = &doc["Job"];
  }
  JobView view;
  if (!job->is_object()) return view;
  view.document = *job;
  view.id = StringField(*job, "ID");
  view.namespace_ = StringField(*job, "Namespace");
  if (auto it = job->find("Version"); it != job->end() && it->is_number_integer()) {
    view.version = it->get<int64_t>();
  }
  if (auto it = job->find("JobModifyIndex"); it != job->end() && it->is_number_unsigned()) {
    view.job_modify_index = it->get<uint64_t>();
  }
  if (auto it = job->find("Stop"); it != job->end() && it->is_boolean())
    view.stop = it->get<bool>();
  auto groups = job->find("TaskGroups");
  if (groups == job->end() || !groups->is_array()) return view;
  for (const json& g : *groups) {
    if (!g.is_object()) continue;
    GroupView group;
    group.name = StringField(g, "Name");
    if (auto it = g.find("Count"); it != g.end() && it->is_number_integer()) {
      group.count = it->get<int>();
    }
    auto meta = StringMap(g, "Meta");
    if (auto it = meta.find("version"); it != meta.end()) group.version = it->second;
    CollectServices(g, group.services);
    if (auto tasks = g.find("Tasks"); tasks != g.end() && tasks->is_array()) {
      for (const json& t : *tasks) {
        if (!t.is_object()) continue;
        group.tasks.push_back(StringField(t, "Name"));
        CollectServices(t, group.services);
      }
    }
    view.groups.push_back(std::move(group));
  }
  return view;
}

}  // namespace rollouts::reconcilers
