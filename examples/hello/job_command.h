// hello.nomad.json names the binary where `cmake --install` puts it (/usr/local/bin/hello).
// Nomad's raw_exec needs an absolute path and does not expand variables of our own in
// Config.command, so a demo running from a build tree rewrites it before registering
// the job: `hello-job --command "$PWD/build/examples/hello/hello" > job.json`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace hello {

// Returns `job_document` ({"Job": {...}} as the Nomad API takes it) with Config.command of
// every task named `task` set to `command`, in every group. Everything else is untouched.
// Throws std::invalid_argument when the document is not a job, no such task exists, or
// `command` is not an absolute path.
nlohmann::json WithTaskCommand(nlohmann::json job_document, const std::string& task,
                               const std::string& command);

}  // namespace hello
