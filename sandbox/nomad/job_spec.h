// What the Nomad agent does to a submitted job before storing it: decode with Go's type
// rules (400 on a type mismatch), fill in the API defaults ("canonicalize", so the stored
// job matches nomad/005-job.json) and validate (the 500 multi-error text of 039).
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace rollouts::sandbox {

// A value of the wrong JSON type; the agent answers 400 with this text.
class JobDecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Returns the job with every field the real agent stores, defaults filled in, durations
// in nanoseconds. Indexes, Version, Status and SubmitTime are left for the caller.
nlohmann::json CanonicalizeJob(const nlohmann::json& job);

// Validation errors of a canonical job, each a top-level entry of the multi-error
// (a group's errors are nested, as in "Task group x validation failed: 1 error ...").
std::vector<std::string> ValidateJob(const nlohmann::json& job);

// Drivers this sandbox can run. Others are accepted at register time and fail placement,
// like a real cluster without a client offering the driver.
bool IsSupportedDriver(const std::string& driver);

}  // namespace rollouts::sandbox
