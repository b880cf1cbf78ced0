#include "reconcilers/condition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace rollouts::reconcilers {
namespace {

TEST(ConditionParse, AcceptsEveryOperatorWithOrWithoutSpaces) {
  struct Case {
    const char* text;
    Comparator op;
    double threshold;
  };
  for (const Case& c :
       {Case{"< 0.01", Comparator::kLess, 0.01}, Case{"<=5", Comparator::kLessEqual, 5},
        Case{"  >= 0.99  ", Comparator::kGreaterEqual, 0.99},
        Case{"> -1", Comparator::kGreater, -1}, Case{"== 0", Comparator::kEqual, 0},
        Case{"!= 1e3", Comparator::kNotEqual, 1000}, Case{"< +2.5", Comparator::kLess, 2.5}}) {
    auto parsed = ParseCondition(c.text);
    ASSERT_TRUE(parsed) << c.text;
    EXPECT_EQ(parsed->op, c.op) << c.text;
    EXPECT_DOUBLE_EQ(parsed->threshold, c.threshold) << c.text;
  }
}

TEST(ConditionParse, RejectsMalformedText) {
  for (const char* text : {"", "0.01", "<", "< ", "< abc", "< 0.01x", "=< 1", "=1", "<< 1", "< nan",
                           "< inf", "< 1 2", "≤ 1"}) {
    EXPECT_FALSE(ParseCondition(text)) << "'" << text << "'";
  }
}

TEST(ConditionParse, TwoCharacterOperatorsAreNotReadAsOneCharacter) {
  auto le = ParseCondition("<=1");
  ASSERT_TRUE(le);
  EXPECT_TRUE(Satisfies(*le, 1.0));
  auto lt = ParseCondition("<1");
  ASSERT_TRUE(lt);
  EXPECT_FALSE(Satisfies(*lt, 1.0));
}

TEST(ConditionFormat, RoundTrips) {
  for (const char* text : {"< 0.01", "<= 5", "> 0", ">= 0.99", "== 0", "!= 3"}) {
    auto parsed = ParseCondition(text);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(FormatCondition(*parsed), text);
  }
}

TEST(ConditionEvaluate, VerdictsAtTheBoundary) {
  EXPECT_EQ(Evaluate("< 0.01", 0.009), Verdict::kSuccessful);
  EXPECT_EQ(Evaluate("< 0.01", 0.01), Verdict::kFailed);
  EXPECT_EQ(Evaluate("<= 0.01", 0.01), Verdict::kSuccessful);
  EXPECT_EQ(Evaluate(">= 0.99", 0.98), Verdict::kFailed);
  EXPECT_EQ(Evaluate("== 0", 0.0), Verdict::kSuccessful);
}

TEST(ConditionEvaluate, EmptyOrNaNIsInconclusiveNeverAPass) {
  EXPECT_EQ(Evaluate("< 0.01", std::nullopt), Verdict::kInconclusive);
  EXPECT_EQ(Evaluate("< 0.01", std::numeric_limits<double>::quiet_NaN()), Verdict::kInconclusive);
  EXPECT_EQ(Evaluate("< 0.01", std::numeric_limits<double>::infinity()), Verdict::kInconclusive);
  // A NaN compares false with everything, so "!=" would otherwise pass it.
  EXPECT_EQ(Evaluate("!= 1", std::numeric_limits<double>::quiet_NaN()), Verdict::kInconclusive);
}

TEST(ConditionEvaluate, BadConditionIsAnError) {
  EXPECT_EQ(Evaluate("less than 1", 0.0), Verdict::kError);
}

TEST(VerdictNames, RoundTrip) {
  for (Verdict v :
       {Verdict::kSuccessful, Verdict::kFailed, Verdict::kInconclusive, Verdict::kError}) {
    EXPECT_EQ(ParseVerdict(VerdictName(v)), v);
  }
  EXPECT_FALSE(ParseVerdict("Passed"));
}

}  // namespace
}  // namespace rollouts::reconcilers
