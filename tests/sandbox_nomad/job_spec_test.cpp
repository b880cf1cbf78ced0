// Canonicalization, validation and diff classification against the real agent's records.
#include "sandbox/nomad/job_spec.h"

#include <gtest/gtest.h>

#include <chrono>

#include "sandbox/nomad/go_compat.h"
#include "sandbox/nomad/job_diff.h"
#include "tests/support/fixture_server.h"

namespace rollouts::sandbox {
namespace {

using nlohmann::json;

json Plain(const nlohmann::ordered_json& v) {
  return json::parse(v.dump());
}

json RecordedRequestJob(const std::string& file) {
  return Plain(rollouts::testing::LoadFixture("nomad/" + file).request_body)["Job"];
}

TEST(JobSpec, CanonicalJobEqualsTheStoredRecording) {
  json stored = Plain(rollouts::testing::LoadFixture("nomad/005-job.json").response_body);
  json ours = CanonicalizeJob(RecordedRequestJob("003-jobs-register.json"));
  // Bookkeeping the store sets, not canonicalization.
  for (const char* key : {"Status", "Version", "SubmitTime", "CreateIndex", "ModifyIndex",
                          "JobModifyIndex", "Stable"}) {
    stored.erase(key);
    ours.erase(key);
  }
  EXPECT_EQ(ours, stored) << json::diff(stored, ours).dump();
}

TEST(JobSpec, UpdateStanzaMergesWithDefaults) {
  json ours = CanonicalizeJob(RecordedRequestJob("046-sb-register-v0.json"));
  json stored = Plain(
      rollouts::testing::LoadFixture("nomad/049-sb-job-after-blocked-scale.json").response_body);
  EXPECT_EQ(ours["TaskGroups"][0]["Update"], stored["TaskGroups"][0]["Update"]);
}

TEST(JobSpec, ValidationTextMatchesTheAgent) {
  const auto f = rollouts::testing::LoadFixture("nomad/039-jobs-register-invalid.json");
  json job = CanonicalizeJob(Plain(f.request_body)["Job"]);
  EXPECT_EQ(go::MultiError(ValidateJob(job)), f.response_body.get<std::string>());
  EXPECT_TRUE(ValidateJob(CanonicalizeJob(RecordedRequestJob("003-jobs-register.json"))).empty());
}

TEST(JobSpec, WrongTypesAreDecodeErrors) {
  json job = RecordedRequestJob("003-jobs-register.json");
  job["TaskGroups"][0]["Count"] = "two";
  EXPECT_THROW(CanonicalizeJob(job), JobDecodeError);
  EXPECT_THROW(CanonicalizeJob(json::array()), JobDecodeError);
}

TEST(JobSpec, UnknownDriversAreAcceptedButNotRunnable) {
  json job = CanonicalizeJob(RecordedRequestJob("042-jobs-register-bad-driver.json"));
  EXPECT_TRUE(ValidateJob(job).empty());
  EXPECT_FALSE(IsSupportedDriver(job["TaskGroups"][0]["Tasks"][0]["Driver"]));
  EXPECT_TRUE(IsSupportedDriver("raw_exec"));
}

TEST(JobDiff, TagSwapIsInPlaceEnvChangeIsDestructive) {
  json v0 = CanonicalizeJob(RecordedRequestJob("003-jobs-register.json"));
  json swap = CanonicalizeJob(RecordedRequestJob("018-job-register-enforce-index-ok.json"));
  json env = CanonicalizeJob(RecordedRequestJob("024-job-register-destructive.json"));
  EXPECT_EQ(ClassifyGroupChange(v0["TaskGroups"][0], v0["TaskGroups"][0]), GroupChange::kNone);
  EXPECT_EQ(ClassifyGroupChange(v0["TaskGroups"][0], swap["TaskGroups"][0]), GroupChange::kInPlace);
  EXPECT_EQ(ClassifyGroupChange(swap["TaskGroups"][1], env["TaskGroups"][1]),
            GroupChange::kDestructive);
  json counted = v0["TaskGroups"][0];
  counted["Count"] = 5;
  EXPECT_EQ(ClassifyGroupChange(v0["TaskGroups"][0], counted), GroupChange::kNone);
}

TEST(JobDiff, DiffMatchesTheRecordedPlanForATagSwap) {
  json v0 = CanonicalizeJob(RecordedRequestJob("003-jobs-register.json"));
  json swap = CanonicalizeJob(RecordedRequestJob("016-plan-tag-swap.json"));
  json recorded =
      Plain(rollouts::testing::LoadFixture("nomad/016-plan-tag-swap.json").response_body)["Diff"];
  json ours = DiffJobs(v0, swap);
  // Updates are the plan's annotations, filled in by the agent.
  for (json& g : recorded["TaskGroups"]) g["Updates"] = nullptr;
  EXPECT_EQ(ours, recorded) << json::diff(recorded, ours).dump();
}

TEST(JobDiff, DiffMatchesTheRecordedVersionDiffForAnEnvChange) {
  json swap = CanonicalizeJob(RecordedRequestJob("018-job-register-enforce-index-ok.json"));
  json env = CanonicalizeJob(RecordedRequestJob("024-job-register-destructive.json"));
  json recorded = Plain(rollouts::testing::LoadFixture("nomad/035-job-versions-diffs.json")
                            .response_body)["Diffs"][1];
  json ours = DiffJobs(swap, env);
  // The recording's v1->v2 diff also carries hello-blue's Count 2->0 (Nomad's scale bug).
  EXPECT_EQ(ours["TaskGroups"][1], recorded["TaskGroups"][1])
      << json::diff(recorded["TaskGroups"][1], ours["TaskGroups"][1]).dump();
}

TEST(GoCompat, FormatsLikeGo) {
  EXPECT_EQ(go::FormatDuration(std::chrono::seconds(5)), "5s");
  EXPECT_EQ(go::FormatDuration(std::chrono::minutes(30)), "30m0s");
  EXPECT_EQ(go::FormatDuration(std::chrono::milliseconds(1500)), "1.5s");
  EXPECT_EQ(go::FormatDuration(std::chrono::milliseconds(250)), "250ms");
  EXPECT_EQ(go::ParseDuration("60s"), std::chrono::nanoseconds(60000000000LL));
  EXPECT_EQ(go::ParseDuration("1m30s"), std::chrono::nanoseconds(90000000000LL));
  EXPECT_FALSE(go::ParseDuration("forever").has_value());
  std::chrono::system_clock::time_point t{std::chrono::nanoseconds(1795394511091495437LL)};
  EXPECT_EQ(go::FormatRfc3339Nano(t), "2026-11-23T00:41:51.091495437Z");
  EXPECT_EQ(go::NewUuid().size(), 36u);
}

}  // namespace
}  // namespace rollouts::sandbox
