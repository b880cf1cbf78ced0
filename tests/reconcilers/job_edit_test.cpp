#include "reconcilers/job_edit.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/reconcilers/test_rollout.h"

namespace rollouts::reconcilers {
namespace {

using nlohmann::json;
using testing::HelloJob;

const json& Group(const json& job, const std::string& name) {
  for (const json& g : job["TaskGroups"]) {
    if (g["Name"] == name) return g;
  }
  throw std::runtime_error("no group " + name);
}

std::vector<std::string> Tags(const json& job, const std::string& group) {
  return Group(job, group)["Services"][0]["Tags"].get<std::vector<std::string>>();
}

DeployStandbyEdit DeployV3() {
  return DeployStandbyEdit{"hello-green",
                           "app",
                           "hello",
                           "v3",
                           2,
                           {{"/Config/image", "registry.local/hello:{{version}}"},
                            {"/Env/APP_VERSION", "{{ version }}"}}};
}

TEST(JobEdit, DeployStandbySetsTemplateMetaAndCountOnlyThere) {
  json job = HelloJob();
  job["SomeFutureField"] = {{"x", 1}};
  Group(job, "hello-green");  // exists
  job["TaskGroups"][1]["Tasks"][0]["UnknownTaskField"] = "keep";
  JobEditResult r = ApplyJobEdit(job, DeployV3());
  ASSERT_TRUE(r.ok()) << r.error;
  const json& green = Group(r.job, "hello-green");
  EXPECT_EQ(green["Tasks"][0]["Config"]["image"], "registry.local/hello:v3");
  EXPECT_EQ(green["Tasks"][0]["Config"]["command"], "/usr/bin/python3");  // untouched sibling
  EXPECT_EQ(green["Tasks"][0]["Env"]["APP_VERSION"], "v3");
  EXPECT_EQ(green["Meta"]["version"], "v3");
  EXPECT_EQ(green["Services"][0]["Meta"]["version"], "v3");
  EXPECT_EQ(green["Count"], 2);
  EXPECT_EQ(green["Tasks"][0]["UnknownTaskField"], "keep");
  EXPECT_EQ(r.job["SomeFutureField"]["x"], 1);
  EXPECT_EQ(Group(r.job, "hello-blue"), Group(job, "hello-blue"));
  EXPECT_EQ(Tags(r.job, "hello-green"), std::vector<std::string>{"standby"});
  // Exactly these fields changed: everything else is byte-for-byte the input.
  json patch = json::diff(job, r.job);
  std::set<std::string> paths;
  for (const json& op : patch) paths.insert(op["path"].get<std::string>());
  EXPECT_EQ(paths,
            (std::set<std::string>{
                "/TaskGroups/1/Tasks/0/Config/image", "/TaskGroups/1/Tasks/0/Env/APP_VERSION",
                "/TaskGroups/1/Meta/version", "/TaskGroups/1/Services/0/Meta/version"}));
}

TEST(JobEdit, DeployIsIdempotentAndDetectedAsApplied) {
  json job = HelloJob();
  EXPECT_FALSE(EditApplied(job, DeployV3()));
  json once = ApplyJobEdit(job, DeployV3()).job;
  EXPECT_TRUE(EditApplied(once, DeployV3()));
  EXPECT_EQ(ApplyJobEdit(once, DeployV3()).job, once);
  DeployStandbyEdit other_count = DeployV3();
  other_count.count = 3;
  EXPECT_FALSE(EditApplied(once, other_count));
}

TEST(JobEdit, OneFlipSwapsBothGroupsTagsAndNothingElse) {
  json job = HelloJob();
  FlipEdit flip{"hello-green", "hello-blue", "hello", "active", "standby"};
  JobEditResult r = ApplyJobEdit(job, flip);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(Tags(r.job, "hello-green"), std::vector<std::string>{"active"});
  EXPECT_EQ(Tags(r.job, "hello-blue"), std::vector<std::string>{"standby"});
  json patch = json::diff(job, r.job);
  ASSERT_EQ(patch.size(), 2u) << patch.dump();
  for (const json& op : patch) EXPECT_EQ(op["op"], "replace");
  // Meta.version stays with the group that runs it.
  EXPECT_EQ(Group(r.job, "hello-green")["Meta"]["version"], "v2");
  EXPECT_EQ(Group(r.job, "hello-green")["Services"][0]["Meta"]["version"], "v2");
  // A second identical flip changes nothing: no duplicate flip after a restart.
  EXPECT_TRUE(EditApplied(r.job, flip));
  EXPECT_EQ(ApplyJobEdit(r.job, flip).job, r.job);
  // Flipping back restores the original document exactly.
  EXPECT_EQ(
      ApplyJobEdit(r.job, FlipEdit{"hello-blue", "hello-green", "hello", "active", "standby"}).job,
      job);
}

TEST(JobEdit, FlipKeepsOtherTagsAndTheirOrder) {
  json job = HelloJob();
  job["TaskGroups"][0]["Services"][0]["Tags"] = {"urlprefix-/", "active", "team-a"};
  job["TaskGroups"][1]["Services"][0]["Tags"] = {"team-a"};
  JobEditResult r =
      ApplyJobEdit(job, FlipEdit{"hello-green", "hello-blue", "hello", "active", "standby"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Tags(r.job, "hello-blue"),
            (std::vector<std::string>{"urlprefix-/", "standby", "team-a"}));
  EXPECT_EQ(Tags(r.job, "hello-green"), (std::vector<std::string>{"team-a", "active"}));
}

TEST(JobEdit, ScaleDownSetsCountZeroOnly) {
  json job = HelloJob();
  JobEditResult r = ApplyJobEdit(job, ScaleDownEdit{"hello-blue"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Group(r.job, "hello-blue")["Count"], 0);
  EXPECT_EQ(json::diff(job, r.job).size(), 1u);
}

TEST(JobEdit, WorksOnTheRegisterBodyShapeToo) {
  json wrapped = {{"Job", HelloJob()}};
  JobEditResult r = ApplyJobEdit(wrapped, ScaleDownEdit{"hello-green"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Group(r.job["Job"], "hello-green")["Count"], 0);
}

TEST(JobEdit, ErrorsLeaveTheDocumentUnchanged) {
  json job = HelloJob();
  JobEditResult r = ApplyJobEdit(job, ScaleDownEdit{"hello-red"});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("hello-red"), std::string::npos);
  EXPECT_EQ(r.job, job);
  DeployStandbyEdit no_task = DeployV3();
  no_task.task = "web";
  EXPECT_NE(ApplyJobEdit(job, no_task).error.find("no task \"web\""), std::string::npos);
  DeployStandbyEdit no_service = DeployV3();
  no_service.service = "other";
  EXPECT_FALSE(ApplyJobEdit(job, no_service).ok());
  DeployStandbyEdit through_string = DeployV3();
  through_string.set = {{"/Config/command/x", "{{version}}"}};  // command is a string
  JobEditResult bad = ApplyJobEdit(job, through_string);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.job, job);
  DeployStandbyEdit relative = DeployV3();
  relative.set = {{"Config/image", "x"}};
  EXPECT_FALSE(ApplyJobEdit(job, relative).ok());
  EXPECT_FALSE(ApplyJobEdit(json::array(), ScaleDownEdit{"hello-blue"}).ok());
}

TEST(JobEdit, TemplateCreatesMissingObjects) {
  json job = HelloJob();
  DeployStandbyEdit edit = DeployV3();
  edit.set = {{"/Config/labels/version", "{{version}}"}};
  JobEditResult r = ApplyJobEdit(job, edit);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(Group(r.job, "hello-green")["Tasks"][0]["Config"]["labels"]["version"], "v3");
}

TEST(RenderTemplate, ReplacesKnownNamesOnly) {
  std::map<std::string, std::string> vars = {{"service", "hello"}, {"version", "v2"}};
  EXPECT_EQ(RenderTemplate("rate{service=\"{{service}}\",version=\"{{ version }}\"}", vars),
            "rate{service=\"hello\",version=\"v2\"}");
  EXPECT_EQ(RenderTemplate("{{unknown}} {{version}}", vars), "{{unknown}} v2");
  EXPECT_EQ(RenderTemplate("open {{version", vars), "open {{version");
  EXPECT_EQ(RenderTemplate("", vars), "");
}

TEST(DescribeJobEdit, SaysWhatChanges) {
  EXPECT_EQ(DescribeJobEdit(DeployV3()), "deploy v3 to hello-green (count 2)");
  EXPECT_EQ(DescribeJobEdit(ScaleDownEdit{"hello-blue"}), "scale hello-blue to 0");
}

}  // namespace
}  // namespace rollouts::reconcilers
