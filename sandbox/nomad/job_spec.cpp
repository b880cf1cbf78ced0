#include "sandbox/nomad/job_spec.h"

#include <cstdint>
#include <set>

#include "sandbox/nomad/go_compat.h"

namespace rollouts::sandbox {

using nlohmann::json;

namespace {

constexpr int64_t kSecond = 1000000000LL;
constexpr int64_t kMinute = 60 * kSecond;

std::string JsonTypeName(const json& value) {
  if (value.is_string()) return "string";
  if (value.is_boolean()) return "bool";
  if (value.is_number()) return "number";
  if (value.is_array()) return "array";
  return "object";
}

// Go's encoding/json error text for a value it cannot put into a field.
[[noreturn]] void TypeMismatch(const std::string& where, const json& value,
                               const std::string& go_type) {
  throw JobDecodeError("json: cannot unmarshal " + JsonTypeName(value) + " into Go struct field " +
                       where + " of type " + go_type);
}

// Reads fields of one JSON object with Go's decoding rules: a missing key or null keeps
// the default, a value of the wrong type is a decode error.
class Reader {
 public:
  // Holds a copy: callers pass temporaries (a nested object looked up just before).
  Reader(json object, std::string where) : object_(std::move(object)), where_(std::move(where)) {}

  const json* Find(const std::string& key) const {
    if (!object_.is_object()) return nullptr;
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  std::string Where(const std::string& key) const { return where_ + "." + key; }

  std::string String(const std::string& key, const std::string& fallback = "") const {
    const json* v = Find(key);
    if (!v) return fallback;
    if (!v->is_string()) TypeMismatch(Where(key), *v, "string");
    return v->get<std::string>();
  }
  int64_t Int(const std::string& key, int64_t fallback) const {
    const json* v = Find(key);
    if (!v) return fallback;
    if (v->is_number_integer() || v->is_number_unsigned()) return v->get<int64_t>();
    if (v->is_number_float()) {
      const double d = v->get<double>();
      if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
    }
    TypeMismatch(Where(key), *v, "int64");
  }
  bool Bool(const std::string& key, bool fallback) const {
    const json* v = Find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) TypeMismatch(Where(key), *v, "bool");
    return v->get<bool>();
  }
  // map[string]string, null when absent.
  json StringMap(const std::string& key) const {
    const json* v = Find(key);
    if (!v) return nullptr;
    if (!v->is_object()) TypeMismatch(Where(key), *v, "map[string]string");
    for (const auto& [k, item] : v->items()) {
      if (!item.is_string()) TypeMismatch(Where(key), item, "string");
    }
    return *v;
  }
  // []string, null when absent.
  json StringList(const std::string& key) const {
    const json* v = Find(key);
    if (!v) return nullptr;
    if (!v->is_array()) TypeMismatch(Where(key), *v, "[]string");
    for (const auto& item : *v) {
      if (!item.is_string()) TypeMismatch(Where(key), item, "string");
    }
    return *v;
  }
  // A list of objects; empty when absent.
  std::vector<json> Objects(const std::string& key, const std::string& go_type) const {
    const json* v = Find(key);
    if (!v) return {};
    if (!v->is_array()) TypeMismatch(Where(key), *v, go_type);
    std::vector<json> out;
    for (const auto& item : *v) {
      if (!item.is_object()) TypeMismatch(Where(key), item, go_type);
      out.push_back(item);
    }
    return out;
  }
  json Object(const std::string& key, const std::string& go_type) const {
    const json* v = Find(key);
    if (!v) return nullptr;
    if (!v->is_object()) TypeMismatch(Where(key), *v, go_type);
    return *v;
  }
  // Any JSON kept as given (raw_exec Config, Constraints, ...).
  json Raw(const std::string& key) const {
    const json* v = Find(key);
    return v ? *v : json(nullptr);
  }

 private:
  json object_;
  std::string where_;
};

json CanonicalUpdate(const json& job_update, const json& group_update, bool is_service) {
  // Precedence: group stanza, then job stanza, then the service defaults.
  Reader job(job_update, "UpdateStrategy");
  Reader group(group_update, "UpdateStrategy");
  auto pick_int = [&](const std::string& key, int64_t fallback) {
    return group.Int(key, job.Int(key, fallback));
  };
  auto pick_str = [&](const std::string& key, const std::string& fallback) {
    return group.String(key, job.String(key, fallback));
  };
  auto pick_bool = [&](const std::string& key, bool fallback) {
    return group.Bool(key, job.Bool(key, fallback));
  };
  if (!is_service) return nullptr;
  return json{{"Stagger", pick_int("Stagger", 30 * kSecond)},
              {"MaxParallel", pick_int("MaxParallel", 1)},
              {"HealthCheck", pick_str("HealthCheck", "checks")},
              {"MinHealthyTime", pick_int("MinHealthyTime", 10 * kSecond)},
              {"HealthyDeadline", pick_int("HealthyDeadline", 5 * kMinute)},
              {"ProgressDeadline", pick_int("ProgressDeadline", 10 * kMinute)},
              {"AutoRevert", pick_bool("AutoRevert", false)},
              {"AutoPromote", pick_bool("AutoPromote", false)},
              {"Canary", pick_int("Canary", 0)}};
}

json CanonicalRestartPolicy(const json& given, const json& inherited) {
  Reader in(given, "RestartPolicy");
  Reader base(inherited, "RestartPolicy");
  return json{{"Attempts", in.Int("Attempts", base.Int("Attempts", 2))},
              {"Interval", in.Int("Interval", base.Int("Interval", 30 * kMinute))},
              {"Delay", in.Int("Delay", base.Int("Delay", 15 * kSecond))},
              {"Mode", in.String("Mode", base.String("Mode", "fail"))}};
}

json CanonicalCheck(const json& given) {
  Reader in(given, "ServiceCheck");
  return json{{"Name", in.String("Name")},
              {"Type", in.String("Type")},
              {"Command", in.String("Command")},
              {"Args", in.StringList("Args")},
              {"Path", in.String("Path")},
              {"Protocol", in.String("Protocol")},
              {"PortLabel", in.String("PortLabel")},
              {"Expose", in.Bool("Expose", false)},
              {"AddressMode", in.String("AddressMode")},
              {"Interval", in.Int("Interval", 0)},
              {"Timeout", in.Int("Timeout", 0)},
              {"InitialStatus", in.String("InitialStatus")},
              {"TLSSkipVerify", in.Bool("TLSSkipVerify", false)},
              {"Method", in.String("Method")},
              {"Header", in.Raw("Header")},
              {"CheckRestart", in.Raw("CheckRestart")},
              {"GRPCService", in.String("GRPCService")},
              {"GRPCUseTLS", in.Bool("GRPCUseTLS", false)},
              {"TaskName", in.String("TaskName")},
              {"SuccessBeforePassing", in.Int("SuccessBeforePassing", 0)},
              {"FailuresBeforeCritical", in.Int("FailuresBeforeCritical", 0)}};
}

json CanonicalServices(const Reader& parent) {
  std::vector<json> services = parent.Objects("Services", "[]*api.Service");
  if (services.empty()) return nullptr;
  json out = json::array();
  for (const json& given : services) {
    Reader in(given, "Service");
    json checks = nullptr;
    for (const json& check : in.Objects("Checks", "[]api.ServiceCheck")) {
      if (checks.is_null()) checks = json::array();
      checks.push_back(CanonicalCheck(check));
    }
    out.push_back(json{{"Name", in.String("Name")},
                       {"TaskName", in.String("TaskName")},
                       {"PortLabel", in.String("PortLabel")},
                       {"AddressMode", in.String("AddressMode", "auto")},
                       {"EnableTagOverride", in.Bool("EnableTagOverride", false)},
                       {"Tags", in.StringList("Tags")},
                       {"CanaryTags", in.StringList("CanaryTags")},
                       {"Checks", checks},
                       {"Connect", in.Raw("Connect")},
                       {"Meta", in.StringMap("Meta")},
                       {"CanaryMeta", in.StringMap("CanaryMeta")}});
  }
  return out;
}

json CanonicalPorts(const Reader& network, const std::string& key) {
  std::vector<json> ports = network.Objects(key, "[]api.Port");
  if (ports.empty()) return nullptr;
  json out = json::array();
  for (const json& given : ports) {
    Reader in(given, "Port");
    out.push_back(json{{"Label", in.String("Label")},
                       {"Value", in.Int("Value", 0)},
                       {"To", in.Int("To", 0)},
                       {"HostNetwork", in.String("HostNetwork", "default")}});
  }
  return out;
}

json CanonicalNetworks(const Reader& group) {
  std::vector<json> networks = group.Objects("Networks", "[]*api.NetworkResource");
  if (networks.empty()) return nullptr;
  json out = json::array();
  for (const json& given : networks) {
    Reader in(given, "NetworkResource");
    out.push_back(json{{"Mode", in.String("Mode")},
                       {"Device", in.String("Device")},
                       {"CIDR", in.String("CIDR")},
                       {"IP", in.String("IP")},
                       {"MBits", in.Int("MBits", 0)},
                       {"DNS", in.Raw("DNS")},
                       {"ReservedPorts", CanonicalPorts(in, "ReservedPorts")},
                       {"DynamicPorts", CanonicalPorts(in, "DynamicPorts")}});
  }
  return out;
}

json CanonicalTask(const json& given, const json& group_restart) {
  Reader in(given, "Task");
  Reader resources(in.Object("Resources", "api.Resources"), "Resources");
  Reader logs(in.Object("LogConfig", "api.LogConfig"), "LogConfig");
  json config = in.Raw("Config");
  if (!config.is_null() && !config.is_object()) TypeMismatch("Task.Config", config, "map");
  return json{
      {"Name", in.String("Name")},
      {"Driver", in.String("Driver")},
      {"User", in.String("User")},
      {"Config", config},
      {"Env", in.StringMap("Env")},
      {"Services", CanonicalServices(in)},
      {"Vault", in.Raw("Vault")},
      {"Templates", in.Raw("Templates")},
      {"Constraints", in.Raw("Constraints")},
      {"Affinities", in.Raw("Affinities")},
      {"Resources",
       {{"CPU", resources.Int("CPU", 100)},
        {"MemoryMB", resources.Int("MemoryMB", 300)},
        {"DiskMB", resources.Int("DiskMB", 0)},
        {"IOPS", resources.Int("IOPS", 0)},
        {"Networks", resources.Raw("Networks")},
        {"Devices", resources.Raw("Devices")}}},
      {"RestartPolicy", CanonicalRestartPolicy(in.Raw("RestartPolicy"), group_restart)},
      {"DispatchPayload", in.Raw("DispatchPayload")},
      {"Lifecycle", in.Raw("Lifecycle")},
      {"Meta", in.StringMap("Meta")},
      {"KillTimeout", in.Int("KillTimeout", 5 * kSecond)},
      {"LogConfig",
       {{"MaxFiles", logs.Int("MaxFiles", 10)}, {"MaxFileSizeMB", logs.Int("MaxFileSizeMB", 10)}}},
      {"Artifacts", in.Raw("Artifacts")},
      {"Leader", in.Bool("Leader", false)},
      {"ShutdownDelay", in.Int("ShutdownDelay", 0)},
      {"VolumeMounts", in.Raw("VolumeMounts")},
      {"ScalingPolicies", in.Raw("ScalingPolicies")},
      {"KillSignal", in.String("KillSignal")},
      {"Kind", in.String("Kind")},
      {"CSIPluginConfig", in.Raw("CSIPluginConfig")}};
}

json CanonicalGroup(const json& given, const json& job_update, bool is_service) {
  Reader in(given, "TaskGroup");
  Reader disk(in.Object("EphemeralDisk", "api.EphemeralDisk"), "EphemeralDisk");
  Reader migrate(in.Object("Migrate", "api.MigrateStrategy"), "MigrateStrategy");
  Reader reschedule(in.Object("ReschedulePolicy", "api.ReschedulePolicy"), "ReschedulePolicy");
  json restart = CanonicalRestartPolicy(in.Raw("RestartPolicy"), nullptr);
  json tasks = json::array();
  for (const json& task : in.Objects("Tasks", "[]*api.Task")) {
    tasks.push_back(CanonicalTask(task, restart));
  }
  return json{{"Name", in.String("Name")},
              {"Count", in.Int("Count", 1)},
              {"Update", CanonicalUpdate(job_update, in.Raw("Update"), is_service)},
              {"Migrate",
               {{"MaxParallel", migrate.Int("MaxParallel", 1)},
                {"HealthCheck", migrate.String("HealthCheck", "checks")},
                {"MinHealthyTime", migrate.Int("MinHealthyTime", 10 * kSecond)},
                {"HealthyDeadline", migrate.Int("HealthyDeadline", 5 * kMinute)}}},
              {"Constraints", in.Raw("Constraints")},
              {"Scaling", in.Raw("Scaling")},
              {"RestartPolicy", restart},
              {"Tasks", tasks},
              {"EphemeralDisk",
               {{"Sticky", disk.Bool("Sticky", false)},
                {"SizeMB", disk.Int("SizeMB", 300)},
                {"Migrate", disk.Bool("Migrate", false)}}},
              {"Meta", in.StringMap("Meta")},
              {"ReschedulePolicy",
               {{"Attempts", reschedule.Int("Attempts", 0)},
                {"Interval", reschedule.Int("Interval", 0)},
                {"Delay", reschedule.Int("Delay", 30 * kSecond)},
                {"DelayFunction", reschedule.String("DelayFunction", "exponential")},
                {"MaxDelay", reschedule.Int("MaxDelay", 60 * kMinute)},
                {"Unlimited", reschedule.Bool("Unlimited", true)}}},
              {"Affinities", in.Raw("Affinities")},
              {"Spreads", in.Raw("Spreads")},
              {"Networks", CanonicalNetworks(in)},
              {"Services", CanonicalServices(in)},
              {"Volumes", in.Raw("Volumes")},
              {"ShutdownDelay", in.Raw("ShutdownDelay")},
              {"StopAfterClientDisconnect", in.Raw("StopAfterClientDisconnect")}};
}

void ValidateService(const json& service, const std::set<std::string>& port_labels,
                     std::vector<std::string>& errors) {
  const std::string name = service["Name"].get<std::string>();
  if (name.empty()) errors.push_back("Service must have a name");
  const std::string label = service["PortLabel"].get<std::string>();
  if (!label.empty() && port_labels.count(label) == 0) {
    errors.push_back("Port label \"" + label + "\" referenced by service " + name +
                     " does not exist");
  }
  if (!service["Checks"].is_array()) return;
  for (const json& check : service["Checks"]) {
    const std::string type = check["Type"].get<std::string>();
    const std::string check_name = check["Name"].get<std::string>();
    if (type != "http" && type != "tcp" && type != "script" && type != "grpc") {
      errors.push_back("Check " + check_name + " invalid: invalid type (" + type + ")");
      continue;
    }
    if (check["Interval"].get<int64_t>() < kSecond) {
      errors.push_back("Check " + check_name + " invalid: interval (" +
                       go::FormatDuration(std::chrono::nanoseconds(check["Interval"])) +
                       ") cannot be lower than 1s");
    }
    if (check["Timeout"].get<int64_t>() < kSecond) {
      errors.push_back("Check " + check_name + " invalid: timeout (" +
                       go::FormatDuration(std::chrono::nanoseconds(check["Timeout"])) +
                       ") is too low");
    }
    if (type == "http" && check["Path"].get<std::string>().empty()) {
      errors.push_back("Check " + check_name + " invalid: http type must have a valid http path");
    }
  }
}

std::vector<std::string> ValidateTask(const json& task) {
  std::vector<std::string> errors;
  if (task["Name"].get<std::string>().empty()) errors.push_back("Missing task name");
  if (task["Driver"].get<std::string>().empty()) errors.push_back("Missing task driver");
  if (task["KillTimeout"].get<int64_t>() < 0)
    errors.push_back("KillTimeout must be a positive value");
  if (task["Driver"] == "raw_exec") {
    const json& config = task["Config"];
    if (!config.is_object() || !config.contains("command") || !config["command"].is_string() ||
        config["command"].get<std::string>().empty()) {
      errors.push_back("1 error occurred:\n\t* missing required field \"command\"\n\n");
    } else if (config.contains("args") && !config["args"].is_array()) {
      errors.push_back("1 error occurred:\n\t* field \"args\" must be a list of strings\n\n");
    }
  }
  return errors;
}

std::vector<std::string> ValidateGroup(const json& group, bool is_service) {
  std::vector<std::string> errors;
  if (group["Count"].get<int64_t>() < 0) errors.push_back("Task group count can't be negative");
  if (group["Tasks"].empty()) errors.push_back("Missing tasks for task group");
  const json& restart = group["RestartPolicy"];
  const std::string mode = restart["Mode"].get<std::string>();
  if (mode != "fail" && mode != "delay") {
    errors.push_back("Unsupported restart mode: \"" + mode + "\"");
  }
  if (is_service) {
    const json& update = group["Update"];
    if (update["MaxParallel"].get<int64_t>() < 0) {
      errors.push_back("Update max parallel count is less than zero (" +
                       std::to_string(update["MaxParallel"].get<int64_t>()) + " < 0)");
    }
    const std::string health = update["HealthCheck"].get<std::string>();
    if (health != "checks" && health != "task_states" && health != "manual") {
      errors.push_back("Invalid health check given: \"" + health + "\"");
    }
    if (update["MinHealthyTime"].get<int64_t>() >= update["HealthyDeadline"].get<int64_t>()) {
      errors.push_back("Minimum healthy time must be less than healthy deadline");
    }
  }
  std::set<std::string> port_labels;
  if (group["Networks"].is_array()) {
    for (const json& network : group["Networks"]) {
      for (const char* key : {"ReservedPorts", "DynamicPorts"}) {
        if (!network[key].is_array()) continue;
        for (const json& port : network[key]) {
          const std::string label = port["Label"].get<std::string>();
          if (!port_labels.insert(label).second) {
            errors.push_back("Port label " + label + " already in use");
          }
        }
      }
    }
  }
  if (group["Services"].is_array()) {
    for (const json& service : group["Services"]) ValidateService(service, port_labels, errors);
  }
  std::set<std::string> task_names;
  for (size_t i = 0; i < group["Tasks"].size(); ++i) {
    const json& task = group["Tasks"][i];
    const std::string name = task["Name"].get<std::string>();
    if (!name.empty() && !task_names.insert(name).second) {
      errors.push_back("Task " + std::to_string(i + 1) + " redefines '" + name + "'");
    }
    if (task["Services"].is_array()) {
      for (const json& service : task["Services"]) {
        ValidateService(service, port_labels, errors);
      }
    }
    std::vector<std::string> task_errors = ValidateTask(task);
    if (!task_errors.empty()) {
      errors.push_back("Task " + name + " validation failed: " + go::MultiError(task_errors));
    }
  }
  return errors;
}

}  // namespace

json CanonicalizeJob(const json& given) {
  if (!given.is_object()) TypeMismatch("Job", given, "api.Job");
  Reader in(given, "Job");
  const std::string id = in.String("ID");
  const std::string type = in.String("Type", "service");
  const bool is_service = type == "service";
  json job_update = in.Raw("Update");
  if (!job_update.is_null() && !job_update.is_object()) {
    TypeMismatch("Job.Update", job_update, "api.UpdateStrategy");
  }
  Reader update(job_update, "UpdateStrategy");
  json groups = json::array();
  for (const json& group : in.Objects("TaskGroups", "[]*api.TaskGroup")) {
    groups.push_back(CanonicalGroup(group, job_update, is_service));
  }
  json datacenters = in.StringList("Datacenters");
  return json{{"Stop", in.Bool("Stop", false)},
              {"Region", in.String("Region", "global")},
              {"Namespace", in.String("Namespace", "default")},
              {"ID", id},
              {"ParentID", in.String("ParentID")},
              {"Name", in.String("Name", id)},
              {"Type", type},
              {"Priority", in.Int("Priority", 50)},
              {"AllAtOnce", in.Bool("AllAtOnce", false)},
              {"Datacenters", datacenters},
              {"Constraints", in.Raw("Constraints")},
              {"Affinities", in.Raw("Affinities")},
              {"Spreads", in.Raw("Spreads")},
              {"TaskGroups", groups},
              {"Update",
               {{"Stagger", update.Int("Stagger", 30 * kSecond)},
                {"MaxParallel", update.Int("MaxParallel", 1)},
                {"HealthCheck", update.String("HealthCheck")},
                {"MinHealthyTime", update.Int("MinHealthyTime", 0)},
                {"HealthyDeadline", update.Int("HealthyDeadline", 0)},
                {"ProgressDeadline", update.Int("ProgressDeadline", 0)},
                {"AutoRevert", update.Bool("AutoRevert", false)},
                {"AutoPromote", update.Bool("AutoPromote", false)},
                {"Canary", update.Int("Canary", 0)}}},
              {"Multiregion", in.Raw("Multiregion")},
              {"Periodic", in.Raw("Periodic")},
              {"ParameterizedJob", in.Raw("ParameterizedJob")},
              {"Dispatched", in.Bool("Dispatched", false)},
              {"Payload", in.Raw("Payload")},
              {"Meta", in.StringMap("Meta")},
              {"ConsulToken", in.String("ConsulToken")},
              {"VaultToken", in.String("VaultToken")},
              {"VaultNamespace", in.String("VaultNamespace")},
              {"NomadTokenID", ""},
              {"Status", ""},
              {"StatusDescription", ""},
              {"Stable", false},
              {"Version", 0},
              {"SubmitTime", 0},
              {"CreateIndex", 0},
              {"ModifyIndex", 0},
              {"JobModifyIndex", 0}};
}

std::vector<std::string> ValidateJob(const json& job) {
  std::vector<std::string> errors;
  const std::string id = job["ID"].get<std::string>();
  if (id.empty()) {
    errors.push_back("Missing job ID");
  } else if (id.find(' ') != std::string::npos) {
    errors.push_back("Job ID contains a space");
  } else if (id.find('\0') != std::string::npos) {
    errors.push_back("Job ID contains a null character");
  }
  if (job["Name"].get<std::string>().empty()) errors.push_back("Missing job name");
  const std::string type = job["Type"].get<std::string>();
  if (type != "service" && type != "batch" && type != "system") {
    errors.push_back("Invalid job type: \"" + type + "\"");
  }
  const int64_t priority = job["Priority"].get<int64_t>();
  if (priority < 1 || priority > 100) errors.push_back("Job priority must be between [1, 100]");
  if (!job["Datacenters"].is_array() || job["Datacenters"].empty()) {
    errors.push_back("Missing job datacenters");
  } else {
    for (const json& dc : job["Datacenters"]) {
      if (dc.get<std::string>().empty())
        errors.push_back("Job datacenter must be non-empty string");
    }
  }
  if (job["TaskGroups"].empty()) errors.push_back("Missing job task groups");
  std::set<std::string> group_names;
  for (size_t i = 0; i < job["TaskGroups"].size(); ++i) {
    const json& group = job["TaskGroups"][i];
    const std::string name = group["Name"].get<std::string>();
    if (name.empty()) {
      errors.push_back("Job task group " + std::to_string(i + 1) + " missing name");
    } else if (!group_names.insert(name).second) {
      errors.push_back("Job task group " + std::to_string(i + 1) + " redefines '" + name + "'");
    }
    std::vector<std::string> group_errors = ValidateGroup(group, type == "service");
    if (!group_errors.empty()) {
      errors.push_back("Task group " + name +
                       " validation failed: " + go::MultiError(group_errors));
    }
  }
  return errors;
}

bool IsSupportedDriver(const std::string& driver) {
  return driver == "raw_exec";
}

}  // namespace rollouts::sandbox
