#include "examples/hello/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace hello {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "1", "true", "yes", "on" are true; unset, "", "0", "false", "no", "off" are false.
// Anything else is a typo we would rather report than silently ignore.
bool ParseFlag(const std::string& name, const std::optional<std::string>& value) {
  if (!value) return false;
  std::string v = Lower(*value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v.empty() || v == "0" || v == "false" || v == "no" || v == "off") return false;
  throw std::invalid_argument(name + " must be 1/0/true/false, got \"" + *value + "\"");
}

long long ParseInteger(const std::string& name, const std::string& text, long long min,
                       long long max) {
  long long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    throw std::invalid_argument(name + " must be an integer in [" + std::to_string(min) + ", " +
                                std::to_string(max) + "], got \"" + text + "\"");
  }
  return value;
}

double ParseFraction(const std::string& name, const std::string& text) {
  // std::from_chars for double is available in GCC 11+; it rejects "nan" spellings we
  // do not want either way because of the range check below.
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !(value >= 0.0 && value <= 1.0)) {
    throw std::invalid_argument(name + " must be a fraction in [0, 1], got \"" + text + "\"");
  }
  return value;
}

// The first of the candidates that is set and non-empty.
std::optional<std::string> FirstSet(std::initializer_list<std::optional<std::string>> values) {
  for (const auto& v : values) {
    if (v && !v->empty()) return v;
  }
  return std::nullopt;
}

}  // namespace

HelloConfig LoadConfig(const CommandLine& flags, const EnvLookup& env) {
  HelloConfig config;
  if (auto host = FirstSet({flags.host, env("NOMAD_IP_http"), env("HOST")})) config.host = *host;
  if (auto port = FirstSet({flags.port, env("NOMAD_PORT_http"), env("PORT")})) {
    config.port = static_cast<uint16_t>(ParseInteger("port", *port, 0, 65535));
  }
  if (auto version = FirstSet({env("APP_VERSION")})) config.version = *version;
  if (auto service = FirstSet({env("SERVICE_NAME")})) config.service = *service;
  if (auto alloc = FirstSet({env("NOMAD_ALLOC_ID")})) config.instance = *alloc;
  if (auto rate = FirstSet({env("ERROR_RATE")})) {
    config.error_rate = ParseFraction("ERROR_RATE", *rate);
  }
  if (auto by_version = FirstSet({env("ERROR_RATE_BY_VERSION")})) {
    // "v3=0.05,v4=1": every entry is checked, also those for other versions, so a typo
    // shows up on the first start and not on the day that version is rolled out.
    std::size_t start = 0;
    while (start <= by_version->size()) {
      std::size_t comma = by_version->find(',', start);
      if (comma == std::string::npos) comma = by_version->size();
      std::string entry = by_version->substr(start, comma - start);
      std::size_t equals = entry.find('=');
      if (equals == std::string::npos || equals == 0) {
        throw std::invalid_argument(
            "ERROR_RATE_BY_VERSION entries must be version=fraction, got \"" + entry + "\"");
      }
      double rate = ParseFraction("ERROR_RATE_BY_VERSION", entry.substr(equals + 1));
      if (entry.substr(0, equals) == config.version) config.error_rate = rate;
      start = comma + 1;
    }
  }
  if (auto latency = FirstSet({env("LATENCY_MS")})) {
    config.latency = std::chrono::milliseconds(ParseInteger("LATENCY_MS", *latency, 0, 600000));
  }
  if (auto timeout = FirstSet({flags.shutdown_timeout_ms, env("SHUTDOWN_TIMEOUT_MS")})) {
    config.shutdown_timeout =
        std::chrono::milliseconds(ParseInteger("shutdown timeout", *timeout, 0, 600000));
  }
  config.fail_health = ParseFlag("FAIL_HEALTH", env("FAIL_HEALTH"));
  config.crash_on_start = ParseFlag("CRASH_ON_START", env("CRASH_ON_START"));
  return config;
}

}  // namespace hello
