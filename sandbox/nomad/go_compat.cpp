#include "sandbox/nomad/go_compat.h"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>

namespace rollouts::sandbox::go {

std::string FormatRfc3339Nano(std::chrono::system_clock::time_point t) {
  const int64_t nanos = UnixNanos(t);
  const time_t seconds = static_cast<time_t>(nanos / 1000000000);
  int64_t fraction = nanos % 1000000000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out = date;
  if (fraction != 0) {
    char digits[16];
    std::snprintf(digits, sizeof(digits), "%09lld", static_cast<long long>(fraction));
    std::string frac = digits;
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    out += "." + frac;
  }
  return out + "Z";
}

int64_t UnixNanos(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

namespace {

// Go prints the fractional part of a unit without trailing zeros: 1.5s, 2.25ms.
std::string WithFraction(int64_t value, int64_t unit, const char* suffix) {
  std::string out = std::to_string(value / unit);
  int64_t rest = value % unit;
  if (rest != 0) {
    std::string frac;
    for (int64_t scale = unit / 10; scale > 0; scale /= 10) {
      frac += static_cast<char>('0' + (rest / scale) % 10);
    }
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    out += "." + frac;
  }
  return out + suffix;
}

}  // namespace

std::string FormatDuration(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string sign;
  if (ns < 0) {
    sign = "-";
    ns = -ns;
  }
  if (ns < 1000) return sign + std::to_string(ns) + "ns";
  if (ns < 1000000) return sign + WithFraction(ns, 1000, "µs");
  if (ns < 1000000000) return sign + WithFraction(ns, 1000000, "ms");
  const int64_t hours = ns / 3600000000000LL;
  ns %= 3600000000000LL;
  const int64_t minutes = ns / 60000000000LL;
  ns %= 60000000000LL;
  std::string out = sign;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
  return out + WithFraction(ns, 1000000000, "s");
}

std::optional<std::chrono::nanoseconds> ParseDuration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (text == "0") return std::chrono::nanoseconds(0);
  size_t i = 0;
  long double total = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (start == i) return std::nullopt;
    long double number = 0;
    try {
      number = std::stold(text.substr(start, i - start));
    } catch (...) {
      return std::nullopt;
    }
    size_t unit_start = i;
    while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) &&
           text[i] != '.') {
      ++i;
    }
    const std::string unit = text.substr(unit_start, i - unit_start);
    long double scale = 0;
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "µs") {
      scale = 1e3;
    } else if (unit == "ms") {
      scale = 1e6;
    } else if (unit == "s") {
      scale = 1e9;
    } else if (unit == "m") {
      scale = 60e9;
    } else if (unit == "h") {
      scale = 3600e9;
    } else {
      return std::nullopt;
    }
    total += number * scale;
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

std::string MultiError(const std::vector<std::string>& errors) {
  std::string out = std::to_string(errors.size()) +
                    (errors.size() == 1 ? " error occurred:\n\t* " : " errors occurred:\n\t* ");
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) out += "\n\t* ";
    out += errors[i];
  }
  return out + "\n\n";
}

std::string NewUuid() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = 0;
  uint64_t lo = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    hi = rng();
    lo = rng();
  }
  char out[40];
  std::snprintf(out, sizeof(out), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return out;
}

}  // namespace rollouts::sandbox::go
