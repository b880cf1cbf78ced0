// ?index= / ?wait= handling shared by both agents' blocking queries: the same parse
// errors, the 5 minute default and 10 minute cap, and the wait/16 jitter the real agents
// add so that many watchers do not all time out together.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace rollouts::sandbox {

struct BlockingParams {
  bool blocking = false;  // ?index= given (and not 0)
  uint64_t min_index = 0;
  std::chrono::milliseconds wait{std::chrono::minutes(5)};
};

inline constexpr std::chrono::milliseconds kDefaultBlockingWait = std::chrono::minutes(5);
inline constexpr std::chrono::milliseconds kMaxBlockingWait = std::chrono::minutes(10);

// Error text is the agents' plain-text 400 body: "Invalid index" or "Invalid wait time".
std::variant<BlockingParams, std::string> ParseBlockingParams(
    const std::vector<std::pair<std::string, std::string>>& query);

// wait plus a random jitter in [0, wait/16].
std::chrono::milliseconds WaitWithJitter(std::chrono::milliseconds wait);

// First value of `name` in a parsed query, and whether it is present at all.
bool HasParam(const std::vector<std::pair<std::string, std::string>>& query,
              const std::string& name);
std::string ParamValue(const std::vector<std::pair<std::string, std::string>>& query,
                       const std::string& name);

}  // namespace rollouts::sandbox
