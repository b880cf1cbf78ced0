#include "sandbox/common/blocking_params.h"

#include <algorithm>
#include <cctype>
#include <random>

#include "sandbox/common/go_duration.h"

namespace rollouts::sandbox {

bool HasParam(const std::vector<std::pair<std::string, std::string>>& query,
              const std::string& name) {
  return std::any_of(query.begin(), query.end(), [&](const auto& kv) { return kv.first == name; });
}

std::string ParamValue(const std::vector<std::pair<std::string, std::string>>& query,
                       const std::string& name) {
  for (const auto& [key, value] : query) {
    if (key == name) return value;
  }
  return "";
}

std::variant<BlockingParams, std::string> ParseBlockingParams(
    const std::vector<std::pair<std::string, std::string>>& query) {
  BlockingParams params;
  if (HasParam(query, "wait")) {
    auto wait = ParseGoDuration(ParamValue(query, "wait"));
    if (!wait) return std::string("Invalid wait time");
    params.wait = std::chrono::duration_cast<std::chrono::milliseconds>(*wait);
    if (params.wait > kMaxBlockingWait) params.wait = kMaxBlockingWait;
    if (params.wait.count() <= 0) params.wait = kDefaultBlockingWait;
  }
  if (HasParam(query, "index")) {
    const std::string text = ParamValue(query, "index");
    // strconv.ParseUint: digits only, no sign, fits in 64 bits.
    if (text.empty() || text.size() > 20 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(c); })) {
      return std::string("Invalid index");
    }
    try {
      params.min_index = std::stoull(text);
    } catch (const std::exception&) {
      return std::string("Invalid index");
    }
    params.blocking = params.min_index > 0;
  }
  return params;
}

std::chrono::milliseconds WaitWithJitter(std::chrono::milliseconds wait) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t max_jitter = wait.count() / 16;
  if (max_jitter <= 0) return wait;
  std::uniform_int_distribution<int64_t> dist(0, max_jitter);
  return wait + std::chrono::milliseconds(dist(rng));
}

}  // namespace rollouts::sandbox
