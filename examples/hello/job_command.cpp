#include "examples/hello/job_command.h"

#include <stdexcept>

namespace hello {

nlohmann::json WithTaskCommand(nlohmann::json job_document, const std::string& task,
                               const std::string& command) {
  if (command.empty() || command.front() != '/') {
    throw std::invalid_argument("command must be an absolute path, got \"" + command + "\"");
  }
  if (!job_document.is_object() || !job_document.contains("Job") ||
      !job_document["Job"].is_object()) {
    throw std::invalid_argument("not a Nomad job document: no \"Job\" object");
  }
  nlohmann::json& groups = job_document["Job"]["TaskGroups"];
  if (!groups.is_array()) throw std::invalid_argument("Job.TaskGroups is not an array");
  int rewritten = 0;
  for (nlohmann::json& group : groups) {
    if (!group.contains("Tasks") || !group["Tasks"].is_array()) continue;
    for (nlohmann::json& t : group["Tasks"]) {
      if (!t.is_object() || t.value("Name", "") != task) continue;
      if (!t.contains("Config") || !t["Config"].is_object()) t["Config"] = nlohmann::json::object();
      t["Config"]["command"] = command;
      ++rewritten;
    }
  }
  if (rewritten == 0) throw std::invalid_argument("no task named \"" + task + "\" in the job");
  return job_document;
}

}  // namespace hello
