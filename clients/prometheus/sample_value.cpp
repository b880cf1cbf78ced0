// Prometheus encodes sample values as strings precisely so that NaN and the infinities
// survive JSON; this keeps them apart from ordinary numbers.
#include <charconv>
#include <cmath>
#include <limits>

#include "clients/prometheus/prometheus_client.h"

namespace rollouts::prometheus {

const char* ValueKindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kNumber:
      return "number";
    case ValueKind::kNaN:
      return "NaN";
    case ValueKind::kPositiveInfinity:
      return "+Inf";
    case ValueKind::kNegativeInfinity:
      return "-Inf";
  }
  return "unknown";
}

std::optional<SampleValue> SampleValue::Parse(const std::string& text) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (text == "NaN") return SampleValue{ValueKind::kNaN, std::numeric_limits<double>::quiet_NaN()};
  if (text == "+Inf" || text == "Inf") return SampleValue{ValueKind::kPositiveInfinity, kInf};
  if (text == "-Inf") return SampleValue{ValueKind::kNegativeInfinity, -kInf};
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (begin != end && *begin == '+') ++begin;  // from_chars does not take a leading '+'
  double value = 0;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  // Only Prometheus' spellings above name the special values; "nan"/"inf" are rejected.
  if (ec != std::errc() || ptr != end || begin == end || !std::isfinite(value)) {
    return std::nullopt;
  }
  return SampleValue{ValueKind::kNumber, value};
}

}  // namespace rollouts::prometheus
