#include "reconcilers/condition.h"

#include <charconv>
#include <cmath>
#include <string>

namespace rollouts::reconcilers {
namespace {

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kSuccessful:
      return "Successful";
    case Verdict::kFailed:
      return "Failed";
    case Verdict::kInconclusive:
      return "Inconclusive";
    case Verdict::kError:
      return "Error";
  }
  return "Error";
}

std::optional<Verdict> ParseVerdict(std::string_view name) {
  for (Verdict v :
       {Verdict::kSuccessful, Verdict::kFailed, Verdict::kInconclusive, Verdict::kError}) {
    if (VerdictName(v) == name) return v;
  }
  return std::nullopt;
}

std::optional<SuccessCondition> ParseCondition(std::string_view text) {
  text = TrimSpaces(text);
  // Longest operators first so "<=" is not read as "<" followed by "=5".
  static constexpr std::pair<std::string_view, Comparator> kOperators[] = {
      {"<=", Comparator::kLessEqual}, {">=", Comparator::kGreaterEqual},
      {"==", Comparator::kEqual},     {"!=", Comparator::kNotEqual},
      {"<", Comparator::kLess},       {">", Comparator::kGreater},
  };
  SuccessCondition condition;
  bool matched = false;
  for (const auto& [symbol, op] : kOperators) {
    if (text.substr(0, symbol.size()) == symbol) {
      condition.op = op;
      text.remove_prefix(symbol.size());
      matched = true;
      break;
    }
  }
  if (!matched) return std::nullopt;
  text = TrimSpaces(text);
  if (text.empty()) return std::nullopt;
  if (text.front() == '+') text.remove_prefix(1);  // from_chars rejects a leading '+'
  double threshold = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), threshold);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (!std::isfinite(threshold)) return std::nullopt;
  condition.threshold = threshold;
  return condition;
}

std::string FormatCondition(const SuccessCondition& condition) {
  std::string_view symbol = "<";
  switch (condition.op) {
    case Comparator::kLess:
      symbol = "<";
      break;
    case Comparator::kLessEqual:
      symbol = "<=";
      break;
    case Comparator::kGreater:
      symbol = ">";
      break;
    case Comparator::kGreaterEqual:
      symbol = ">=";
      break;
    case Comparator::kEqual:
      symbol = "==";
      break;
    case Comparator::kNotEqual:
      symbol = "!=";
      break;
  }
  // Shortest text that reads back as the same double ("0.99", not "0.98999999999999999").
  char number[64];
  auto result = std::to_chars(number, number + sizeof number, condition.threshold);
  return std::string(symbol) + " " + std::string(number, result.ptr);
}

bool Satisfies(const SuccessCondition& condition, double value) {
  switch (condition.op) {
    case Comparator::kLess:
      return value < condition.threshold;
    case Comparator::kLessEqual:
      return value <= condition.threshold;
    case Comparator::kGreater:
      return value > condition.threshold;
    case Comparator::kGreaterEqual:
      return value >= condition.threshold;
    case Comparator::kEqual:
      return value == condition.threshold;
    case Comparator::kNotEqual:
      return value != condition.threshold;
  }
  return false;
}

Verdict Evaluate(std::string_view condition_text, std::optional<double> value) {
  std::optional<SuccessCondition> condition = ParseCondition(condition_text);
  if (!condition) return Verdict::kError;
  if (!value || !std::isfinite(*value)) return Verdict::kInconclusive;
  return Satisfies(*condition, *value) ? Verdict::kSuccessful : Verdict::kFailed;
}

}  // namespace rollouts::reconcilers
