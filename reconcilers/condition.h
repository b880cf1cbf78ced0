// Success conditions of analysis metrics ("< 0.01", ">= 0.99", "== 0") and the verdict of
// one measurement against them. An empty result or NaN is Inconclusive, never a pass: a
// query that matches no series must not promote a broken version.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rollouts::reconcilers {

enum class Comparator { kLess, kLessEqual, kGreater, kGreaterEqual, kEqual, kNotEqual };

struct SuccessCondition {
  Comparator op = Comparator::kLess;
  double threshold = 0.0;
};

// The verdict of one measurement (the words of the status document).
enum class Verdict { kSuccessful, kFailed, kInconclusive, kError };

std::string_view VerdictName(Verdict verdict);
std::optional<Verdict> ParseVerdict(std::string_view name);

// "< 0.01", "<=5", " >= 0.99 ", "== 0", "!= 1". The threshold must be a finite number and
// nothing may follow it. nullopt when the text is not such a condition.
std::optional<SuccessCondition> ParseCondition(std::string_view text);

// Canonical text of a condition ("< 0.01").
std::string FormatCondition(const SuccessCondition& condition);

bool Satisfies(const SuccessCondition& condition, double value);

// Verdict of a measured value against a condition text:
//   no value (empty query result), NaN or +-Inf -> Inconclusive;
//   unparsable condition -> Error;
//   otherwise Successful when the condition holds, Failed when it does not.
Verdict Evaluate(std::string_view condition_text, std::optional<double> value);

}  // namespace rollouts::reconcilers
