#include "sandbox/common/go_duration.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>

namespace rollouts::sandbox {
namespace {

std::optional<double> UnitNanos(const std::string& unit) {
  if (unit == "ns") return 1.0;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  if (unit == "m") return 60e9;
  if (unit == "h") return 3600e9;
  return std::nullopt;
}

// Fraction digits of `value` (< 10^digits), without trailing zeros, or "" when zero.
std::string Fraction(int64_t value, int digits) {
  std::string text = std::to_string(value);
  text.insert(0, static_cast<size_t>(digits) - text.size(), '0');
  while (!text.empty() && text.back() == '0') text.pop_back();
  return text.empty() ? "" : "." + text;
}

}  // namespace

std::optional<std::chrono::nanoseconds> ParseGoDuration(const std::string& text) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  if (text.substr(i) == "0") return std::chrono::nanoseconds(0);
  if (i == text.size()) return std::nullopt;
  double total = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (i == start) return std::nullopt;
    std::string number = text.substr(start, i - start);
    if (number == "." || std::count(number.begin(), number.end(), '.') > 1) return std::nullopt;
    size_t unit_start = i;
    while (i < text.size() &&
           !(std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    auto unit = UnitNanos(text.substr(unit_start, i - unit_start));
    if (!unit) return std::nullopt;  // Go: "missing unit" / "unknown unit"
    total += std::stod(number) * *unit;
  }
  if (total > 9.2e18) return std::nullopt;  // overflows int64 nanoseconds
  auto nanos = static_cast<int64_t>(std::llround(total));
  return std::chrono::nanoseconds(negative ? -nanos : nanos);
}

std::string FormatGoDuration(std::chrono::nanoseconds duration) {
  int64_t ns = duration.count();
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  if (ns < 0) ns = -ns;
  if (ns < 1000) return sign + std::to_string(ns) + "ns";
  if (ns < 1000000) return sign + std::to_string(ns / 1000) + Fraction(ns % 1000, 3) + "\xC2\xB5s";
  if (ns < 1000000000)
    return sign + std::to_string(ns / 1000000) + Fraction(ns % 1000000, 6) + "ms";
  int64_t seconds = ns / 1000000000;
  std::string text = std::to_string(seconds % 60) + Fraction(ns % 1000000000, 9) + "s";
  int64_t minutes = seconds / 60;
  if (minutes > 0) {
    text = std::to_string(minutes % 60) + "m" + text;
    if (minutes >= 60) text = std::to_string(minutes / 60) + "h" + text;
  }
  return sign + text;
}

}  // namespace rollouts::sandbox
