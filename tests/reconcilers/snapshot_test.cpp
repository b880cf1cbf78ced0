// The observer helpers on real Consul 1.10 / Nomad 1.0 recordings.
#include "reconcilers/snapshot.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/reconcilers/test_rollout.h"

namespace rollouts::reconcilers {
namespace {

nlohmann::json Fixture(const std::string& path) {
  std::ifstream in(std::string(ROLLOUTS_FIXTURES_DIR) + "/" + path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

TEST(ServiceReady, OwnChecksMustExistAndAllPass) {
  const std::string id = "svc-1";
  EXPECT_FALSE(ServiceReady(id, {{"serfHealth", "", "passing"}}));  // node check only
  EXPECT_TRUE(ServiceReady(id, {{"serfHealth", "", "passing"}, {"c1", id, "passing"}}));
  EXPECT_FALSE(ServiceReady(id, {{"c1", id, "passing"}, {"c2", id, "critical"}}));
  EXPECT_FALSE(ServiceReady(id, {{"c1", id, "warning"}}));
  EXPECT_FALSE(ServiceReady(id, {{"c1", "svc-2", "passing"}}));
  EXPECT_FALSE(ServiceReady(id, {}));
}

TEST(ParseNomadServiceId, SplitsAllocAndGroup) {
  auto owner = ParseNomadServiceId(
      "_nomad-task-2063bbf9-4a1b-e2e2-ccc8-7902607ece6a-group-hello-blue-hello-http", "hello");
  ASSERT_TRUE(owner);
  EXPECT_EQ(owner->alloc_id, "2063bbf9-4a1b-e2e2-ccc8-7902607ece6a");
  EXPECT_EQ(owner->group, "hello-blue");
  EXPECT_FALSE(ParseNomadServiceId("web-1", "hello"));
  EXPECT_FALSE(ParseNomadServiceId("_nomad-task-short-group-g-hello-http", "hello"));
  EXPECT_FALSE(ParseNomadServiceId(
      "_nomad-task-2063bbf9-4a1b-e2e2-ccc8-7902607ece6a-group-hello-blue-other-http", "hello"));
}

TEST(InstanceFromHealthEntry, NewInstanceWithOnlySerfHealthIsNotReady) {
  // Recorded mid destructive update: a v3 instance exists with only serfHealth.
  nlohmann::json body = Fixture("consul/099-health-chain-destructive-2.json")["response"]["body"];
  ASSERT_EQ(body.size(), 4u);
  std::map<std::string, ServiceInstance> by_version;
  for (const auto& entry : body) {
    ServiceInstance i = InstanceFromHealthEntry(entry, "hello");
    EXPECT_FALSE(i.alloc_id.empty());
    EXPECT_NE(i.port, 0);
    EXPECT_FALSE(i.address.empty());
    by_version[i.version + "/" + i.group + "/" + i.alloc_id.substr(0, 8)] = i;
  }
  const ServiceInstance& fresh = by_version.at("v3/hello-green/843f01f6");
  EXPECT_FALSE(fresh.ready);
  EXPECT_EQ(fresh.tags, std::vector<std::string>{"active"});
  EXPECT_TRUE(by_version.at("v2/hello-green/9fbdfd77").ready);
  EXPECT_TRUE(by_version.at("v1/hello-blue/2063bbf9").ready);
}

TEST(InstanceFromHealthEntry, ToleratesGarbage) {
  ServiceInstance i = InstanceFromHealthEntry(nlohmann::json::parse(R"({"Service": 3})"), "hello");
  EXPECT_TRUE(i.id.empty());
  EXPECT_FALSE(i.ready);
}

TEST(JobView, ReadsTheFixtureJob) {
  nlohmann::json job = Fixture("nomad/005-job.json")["response"]["body"];
  JobView view = JobView::FromDocument(job);
  EXPECT_EQ(view.id, "hello");
  EXPECT_GT(view.job_modify_index, 0u);
  ASSERT_EQ(view.groups.size(), 2u);
  const GroupView* blue = view.Group("hello-blue");
  ASSERT_TRUE(blue);
  EXPECT_EQ(blue->count, 2);
  EXPECT_EQ(blue->version, "v1");
  ASSERT_TRUE(blue->Service("hello"));
  EXPECT_EQ(blue->Service("hello")->tags, std::vector<std::string>{"active"});
  EXPECT_EQ(blue->Service("hello")->meta.at("version"), "v1");
  EXPECT_TRUE(blue->HasTask("app"));
  EXPECT_FALSE(view.Group("hello-red"));
  EXPECT_EQ(JobView::FromDocument(nlohmann::json::parse(R"({"Job": {"ID": "x"}})")).id, "x");
}

TEST(ControlVerbs, NamesRoundTrip) {
  for (ControlVerb v : {ControlVerb::kPromote, ControlVerb::kAbort, ControlVerb::kRetry,
                        ControlVerb::kPause, ControlVerb::kResume, ControlVerb::kUndo}) {
    EXPECT_EQ(ParseControlVerb(ControlVerbName(v)), v);
  }
  EXPECT_FALSE(ParseControlVerb("rollback"));
}

}  // namespace
}  // namespace rollouts::reconcilers
