#include "reconcilers/snapshot.h"

namespace rollouts::reconcilers {
namespace {

using nlohmann::json;

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

bool ServiceReady(std::string_view service_id, const std::vector<HealthCheck>& checks) {
  int own = 0;
  for (const HealthCheck& c : checks) {
    if (c.service_id.empty() || c.service_id != service_id) continue;
    if (c.status != "passing") return false;
    ++own;
  }
  return own > 0;
}

std::optional<NomadServiceOwner> ParseNomadServiceId(std::string_view id,
                                                     std::string_view service) {
  constexpr std::string_view kPrefix = "_nomad-task-";
  constexpr std::string_view kGroup = "-group-";
  constexpr size_t kUuidLength = 36;
  if (id.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  id.remove_prefix(kPrefix.size());
  if (id.size() < kUuidLength + kGroup.size() || id.substr(kUuidLength, kGroup.size()) != kGroup) {
    return std::nullopt;
  }
  NomadServiceOwner owner;
  owner.alloc_id = std::string(id.substr(0, kUuidLength));
  std::string_view rest = id.substr(kUuidLength + kGroup.size());
  // Group names may contain '-', so cut at the last "-<service>-".
  const std::string marker = "-" + std::string(service) + "-";
  size_t cut = rest.rfind(marker);
  if (cut == std::string_view::npos || cut == 0) return std::nullopt;
  owner.group = std::string(rest.substr(0, cut));
  return owner;
}

ServiceInstance InstanceFromHealthEntry(const nlohmann::json& entry, std::string_view service) {
  ServiceInstance instance;
  if (!entry.is_object()) return instance;
  static const json kEmpty = json::object();
  const json& svc =
      entry.contains("Service") && entry["Service"].is_object() ? entry["Service"] : kEmpty;
  const json& node = entry.contains("Node") && entry["Node"].is_object() ? entry["Node"] : kEmpty;
  instance.id = StringField(svc, "ID");
  instance.address = StringField(svc, "Address");
  if (instance.address.empty()) instance.address = StringField(node, "Address");
  if (auto it = svc.find("Port"); it != svc.end() && it->is_number_integer()) {
    instance.port = it->get<int>();
  }
  if (auto tags = svc.find("Tags"); tags != svc.end() && tags->is_array()) {
    for (const json& t : *tags) {
      if (t.is_string()) instance.tags.push_back(t.get<std::string>());
    }
  }
  auto meta = StringMap(svc, "Meta");
  if (auto it = meta.find("version"); it != meta.end()) instance.version = it->second;
  if (auto owner = ParseNomadServiceId(instance.id, service)) {
    instance.alloc_id = owner->alloc_id;
    instance.group = owner->group;
  }
  std::vector<HealthCheck> checks;
  if (auto list = entry.find("Checks"); list != entry.end() && list->is_array()) {
    for (const json& c : *list) {
      if (!c.is_object()) continue;
      checks.push_back(
          {StringField(c, "CheckID"), StringField(c, "ServiceID"), StringField(c, "Status")});
    }
  }
  instance.ready = ServiceReady(instance.id, checks);
  return instance;
}

std::map<std::string, int> InvalidInputs(const Snapshot& s) {
  std::map<std::string, int> out;
  if (!s.spec && !s.spec_errors.empty()) out["spec"] = 1;
  if (!s.status_error.empty()) out["status"] = 1;
  if (s.control && !s.control->invalid.empty()) out["control"] = 1;
  for (const RouterReport& r : s.routers) {
    if (!r.error.empty()) ++out["router_report"];
  }
  return out;
}

}  // namespace rollouts::reconcilers
