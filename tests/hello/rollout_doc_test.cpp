// examples/hello/rollout.json is a valid Rollout for the controller's own parser.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "reconcilers/rollout_spec.h"

namespace hello {
namespace {

using rollouts::reconcilers::ParseRollout;

TEST(HelloRolloutDocTest, ParsesWithoutErrors) {
  std::ifstream in(std::string(HELLO_EXAMPLES_DIR) + "/rollout.json");
  ASSERT_TRUE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  auto result = ParseRollout(text.str());
  for (const auto& error : result.errors) ADD_FAILURE() << error.pointer << ": " << error.message;
  ASSERT_TRUE(result.rollout.has_value());
  const auto& spec = result.rollout->spec;
  EXPECT_EQ(result.rollout->name, "hello");
  EXPECT_EQ(spec.template_.set.at("/Env/APP_VERSION"), "{{version}}");
  ASSERT_TRUE(spec.pre_promotion && spec.pre_promotion->probe);
  EXPECT_EQ(spec.pre_promotion->probe->path, "/hello");
  ASSERT_TRUE(spec.post_promotion.has_value());
  ASSERT_EQ(spec.post_promotion->metrics.size(), 1u);
  EXPECT_EQ(spec.post_promotion->metrics[0].success_condition, "< 0.01");
  EXPECT_EQ(spec.health.min_healthy_time, std::chrono::seconds(2));
}

}  // namespace
}  // namespace hello
