// Typed views onto a Nomad job document. Reads tolerate missing and null fields (Nomad
// serializes empty collections as null); writes touch only the field they name, so
// everything else in the document is preserved byte for byte.
#include <stdexcept>

#include "clients/nomad/nomad_client.h"

namespace rollouts::nomad {
namespace {

const nlohmann::json& NullJson() {
  static const nlohmann::json kNull;
  return kNull;
}

const nlohmann::json& Field(const nlohmann::json& j, const char* name) {
  if (!j.is_object()) return NullJson();
  auto it = j.find(name);
  return it == j.end() ? NullJson() : *it;
}

std::string StringField(const nlohmann::json& j, const char* name) {
  const nlohmann::json& f = Field(j, name);
  return f.is_string() ? f.get<std::string>() : std::string();
}

uint64_t UintField(const nlohmann::json& j, const char* name) {
  const nlohmann::json& f = Field(j, name);
  if (f.is_number_unsigned()) return f.get<uint64_t>();
  if (f.is_number_integer() && f.get<int64_t>() >= 0) return f.get<uint64_t>();
  return 0;
}

bool BoolField(const nlohmann::json& j, const char* name) {
  const nlohmann::json& f = Field(j, name);
  return f.is_boolean() && f.get<bool>();
}

std::map<std::string, std::string> StringMap(const nlohmann::json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

// Sets j[object_name][key] = value, replacing a null/absent map with an object.
void SetInStringMap(nlohmann::json& j, const char* object_name, const std::string& key,
                    const std::string& value) {
  nlohmann::json& m = j[object_name];
  if (!m.is_object()) m = nlohmann::json::object();
  m[key] = value;
}

template <typename View, typename JsonT>
std::vector<View> ArrayViews(JsonT& j, const char* name) {
  std::vector<View> out;
  if (!j.is_object()) return out;
  auto it = j.find(name);
  if (it == j.end() || !it->is_array()) return out;
  for (auto& element : *it) out.emplace_back(&element);
  return out;
}

}  // namespace

// --- Service ---------------------------------------------------------------------------

template <typename JsonT>
std::string BasicService<JsonT>::Name() const {
  return StringField(*j_, "Name");
}

template <typename JsonT>
std::string BasicService<JsonT>::PortLabel() const {
  return StringField(*j_, "PortLabel");
}

template <typename JsonT>
std::vector<std::string> BasicService<JsonT>::Tags() const {
  std::vector<std::string> out;
  const nlohmann::json& tags = Field(*j_, "Tags");
  if (!tags.is_array()) return out;
  for (const auto& t : tags) {
    if (t.is_string()) out.push_back(t.get<std::string>());
  }
  return out;
}

template <typename JsonT>
bool BasicService<JsonT>::HasTag(const std::string& tag) const {
  for (const auto& t : Tags()) {
    if (t == tag) return true;
  }
  return false;
}

template <typename JsonT>
std::map<std::string, std::string> BasicService<JsonT>::Meta() const {
  return StringMap(Field(*j_, "Meta"));
}

template <typename JsonT>
void BasicService<JsonT>::SetTags(const std::vector<std::string>& tags) requires(
    !std::is_const_v<JsonT>) {
  (*j_)["Tags"] = tags;
}

template <typename JsonT>
void BasicService<JsonT>::SetMeta(const std::string& key,
                                  const std::string& value) requires(!std::is_const_v<JsonT>) {
  SetInStringMap(*j_, "Meta", key, value);
}

// --- Task ------------------------------------------------------------------------------

template <typename JsonT>
std::string BasicTask<JsonT>::Name() const {
  return StringField(*j_, "Name");
}

template <typename JsonT>
std::string BasicTask<JsonT>::Driver() const {
  return StringField(*j_, "Driver");
}

template <typename JsonT>
JsonT& BasicTask<JsonT>::Config() const {
  if constexpr (std::is_const_v<JsonT>) {
    return Field(*j_, "Config");
  } else {
    nlohmann::json& config = (*j_)["Config"];
    if (!config.is_object()) config = nlohmann::json::object();
    return config;
  }
}

template <typename JsonT>
std::map<std::string, std::string> BasicTask<JsonT>::Env() const {
  return StringMap(Field(*j_, "Env"));
}

template <typename JsonT>
void BasicTask<JsonT>::SetEnv(const std::string& key,
                              const std::string& value) requires(!std::is_const_v<JsonT>) {
  SetInStringMap(*j_, "Env", key, value);
}

// --- TaskGroup -------------------------------------------------------------------------

template <typename JsonT>
std::string BasicTaskGroup<JsonT>::Name() const {
  return StringField(*j_, "Name");
}

template <typename JsonT>
int BasicTaskGroup<JsonT>::Count() const {
  const nlohmann::json& f = Field(*j_, "Count");
  return f.is_number_integer() ? f.get<int>() : 0;
}

template <typename JsonT>
void BasicTaskGroup<JsonT>::SetCount(int count) requires(!std::is_const_v<JsonT>) {
  (*j_)["Count"] = count;
}

template <typename JsonT>
std::map<std::string, std::string> BasicTaskGroup<JsonT>::Meta() const {
  return StringMap(Field(*j_, "Meta"));
}

template <typename JsonT>
void BasicTaskGroup<JsonT>::SetMeta(const std::string& key,
                                    const std::string& value) requires(!std::is_const_v<JsonT>) {
  SetInStringMap(*j_, "Meta", key, value);
}

template <typename JsonT>
std::vector<BasicService<JsonT>> BasicTaskGroup<JsonT>::Services() const {
  return ArrayViews<BasicService<JsonT>>(*j_, "Services");
}

template <typename JsonT>
std::vector<BasicTask<JsonT>> BasicTaskGroup<JsonT>::Tasks() const {
  return ArrayViews<BasicTask<JsonT>>(*j_, "Tasks");
}

template <typename JsonT>
std::optional<BasicTask<JsonT>> BasicTaskGroup<JsonT>::Task(const std::string& name) const {
  for (const auto& task : Tasks()) {
    if (task.Name() == name) return task;
  }
  return std::nullopt;
}

template <typename JsonT>
const nlohmann::json& BasicTaskGroup<JsonT>::Update() const {
  return Field(*j_, "Update");
}

template class BasicService<nlohmann::json>;
template class BasicService<const nlohmann::json>;
template class BasicTask<nlohmann::json>;
template class BasicTask<const nlohmann::json>;
template class BasicTaskGroup<nlohmann::json>;
template class BasicTaskGroup<const nlohmann::json>;

// --- Job -------------------------------------------------------------------------------

Job::Job(nlohmann::json doc) : doc_(std::move(doc)) {
  if (!doc_.is_object()) {
    throw std::invalid_argument("a Nomad job must be a JSON object, got " +
                                std::string(doc_.type_name()));
  }
}

std::string Job::ID() const {
  return StringField(doc_, "ID");
}
std::string Job::Name() const {
  return StringField(doc_, "Name");
}
std::string Job::Namespace() const {
  return StringField(doc_, "Namespace");
}
std::string Job::Type() const {
  return StringField(doc_, "Type");
}
std::string Job::Status() const {
  return StringField(doc_, "Status");
}
uint64_t Job::Version() const {
  return UintField(doc_, "Version");
}
uint64_t Job::CreateIndex() const {
  return UintField(doc_, "CreateIndex");
}
uint64_t Job::ModifyIndex() const {
  return UintField(doc_, "ModifyIndex");
}
uint64_t Job::JobModifyIndex() const {
  return UintField(doc_, "JobModifyIndex");
}
bool Job::Stop() const {
  return BoolField(doc_, "Stop");
}
bool Job::Stable() const {
  return BoolField(doc_, "Stable");
}
const nlohmann::json& Job::Update() const {
  return Field(doc_, "Update");
}

std::vector<std::string> Job::TaskGroupNames() const {
  std::vector<std::string> out;
  for (const auto& group : ArrayViews<ConstTaskGroup>(doc_, "TaskGroups")) {
    out.push_back(group.Name());
  }
  return out;
}

std::optional<TaskGroup> Job::FindTaskGroup(const std::string& name) {
  for (const auto& group : ArrayViews<TaskGroup>(doc_, "TaskGroups")) {
    if (group.Name() == name) return group;
  }
  return std::nullopt;
}

std::optional<ConstTaskGroup> Job::FindTaskGroup(const std::string& name) const {
  for (const auto& group : ArrayViews<ConstTaskGroup>(doc_, "TaskGroups")) {
    if (group.Name() == name) return group;
  }
  return std::nullopt;
}

}  // namespace rollouts::nomad
