// Opt-in: the same client calls against a real Nomad agent (NOMAD_ADDR, and NOMAD_TOKEN /
// NOMAD_NAMESPACE / NOMAD_REGION when set). Skipped, with a message, when NOMAD_ADDR is
// not set. Registers and purges one tiny raw_exec job with a unique name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

#include "clients/nomad/nomad_client.h"

namespace rollouts::nomad {
namespace {

using nlohmann::json;

class NomadAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    auto env = clients::ProcessEnv();
    if (!env("NOMAD_ADDR")) GTEST_SKIP() << "NOMAD_ADDR is not set: real-agent suite skipped";
    NomadClientOptions options;
    options.agent = clients::NomadConfigFromEnv(env);
    client_ = std::make_unique<HttpNomadClient>(options);
  }
  std::unique_ptr<HttpNomadClient> client_;
};

TEST_F(NomadAgent, ReadOnlyCalls) {
  auto leader = client_->Leader();
  ASSERT_TRUE(leader.ok()) << leader.error().ToString();
  EXPECT_FALSE(leader->empty());
  auto jobs = client_->ListJobs("");
  ASSERT_TRUE(jobs.ok()) << jobs.error().ToString();
  auto missing = client_->GetJob("rollouts-test-no-such-job");
  ASSERT_TRUE(missing.ok()) << missing.error().ToString();
  EXPECT_FALSE(missing->has_value());
}

TEST_F(NomadAgent, RegisterGuardedThenPurge) {
  const std::string id =
      "rollouts-client-test-" + std::to_string(getpid()) + "-" +
      std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000);
  json doc = {{"ID", id},
              {"Name", id},
              {"Type", "batch"},
              {"Datacenters", {"dc1"}},
              {"TaskGroups",
               {{{"Name", "g"},
                 {"Count", 1},
                 {"Tasks",
                  {{{"Name", "t"},
                    {"Driver", "raw_exec"},
                    {"Config", {{"command", "/bin/true"}}},
                    {"Resources", {{"CPU", 20}, {"MemoryMB", 16}}}}}}}}}};
  // EnforceIndex 0: create only if it does not exist.
  auto created = client_->RegisterJob(Job(doc), 0);
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_GT(created->job_modify_index, 0u);

  auto job = client_->GetJob(id);
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->JobModifyIndex(), created->job_modify_index);
  EXPECT_EQ((*job)->FindTaskGroup("g")->Count(), 1);

  auto again = client_->RegisterJob(Job(doc), 0);  // stale: it exists now
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ApiErrorKind::kConflict) << again.error().ToString();
  // Nomad words this case "Enforcing job modify index 0: job already exists": no index.
  EXPECT_NE(again.error().message.find("already exists"), std::string::npos);

  auto stale = client_->RegisterJob(Job(doc), created->job_modify_index + 1000);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().kind, ApiErrorKind::kConflict) << stale.error().ToString();
  EXPECT_EQ(ConflictingJobModifyIndex(stale.error()),
            std::optional<uint64_t>(created->job_modify_index));

  auto purged = client_->DeregisterJob(id, /*purge=*/true);
  ASSERT_TRUE(purged.ok()) << purged.error().ToString();
  auto gone = client_->GetJob(id);
  ASSERT_TRUE(gone.ok()) << gone.error().ToString();
  EXPECT_FALSE(gone->has_value());
}

}  // namespace
}  // namespace rollouts::nomad
