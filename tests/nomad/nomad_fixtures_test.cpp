// Every recorded Nomad 1.0.18 exchange in tests/fixtures/api/nomad/ replayed against the client
// method that owns its endpoint, with assertions on what the client decodes. Each case
// names its files through CoveredFixtures; the last test fails when a fixture exists that
// no case replays.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "tests/nomad/nomad_test_util.h"

namespace rollouts::nomad::test {
namespace {

using nlohmann::json;

// The request body the client sent for the i-th received request, parsed.
json SentBody(const testing::FixtureServer& server, size_t i = 0) {
  auto received = server.received();
  if (received.size() <= i) return json("<not sent>");
  return json::parse(received[i].body);
}

std::string SentTarget(const testing::FixtureServer& server, size_t i = 0) {
  auto received = server.received();
  return received.size() <= i ? std::string("<not sent>") : received[i].target;
}

const AllocationStub* FindAlloc(const std::vector<AllocationStub>& allocs,
                                const std::string& id_prefix) {
  for (const auto& a : allocs) {
    if (a.id.rfind(id_prefix, 0) == 0) return &a;
  }
  return nullptr;
}

std::set<std::string> Ids(const std::vector<AllocationStub>& allocs) {
  std::set<std::string> out;
  for (const auto& a : allocs) out.insert(a.id);
  return out;
}

// --- status / jobs -----------------------------------------------------------------------

const CoveredFixtures kLeader{"001-status-leader.json"};
TEST(NomadFixtures, Leader) {
  Replay r(kLeader);
  auto leader = r.client.Leader();
  ASSERT_TRUE(leader.ok()) << leader.error().ToString();
  EXPECT_EQ(*leader, "127.0.0.1:4647");
}

const CoveredFixtures kJobMissing{"002-job-missing.json"};
TEST(NomadFixtures, GetMissingJobIsNullopt) {
  Replay r(kJobMissing);
  auto job = r.client.GetJob("missing");
  ASSERT_TRUE(job.ok()) << job.error().ToString();
  EXPECT_FALSE(job->has_value());
}

const CoveredFixtures kRegister{"003-jobs-register.json"};
TEST(NomadFixtures, RegisterNewJobViaJobsEndpoint) {
  Replay r(kRegister);
  const auto fixtures = kRegister.Load();
  auto w = r.client.RegisterJob(Job(RequestJson(fixtures[0]).at("Job")), std::nullopt,
                                /*via_jobs_endpoint=*/true);
  ASSERT_TRUE(w.ok()) << w.error().ToString();
  EXPECT_EQ(w->eval_id, "8fa7deca-b08b-8e0d-f350-0c34bb8000f3");
  EXPECT_EQ(w->eval_create_index, 10u);
  EXPECT_EQ(w->job_modify_index, 10u);
  EXPECT_EQ(w->index, 10u);
  EXPECT_EQ(w->warnings, "");
  // Unguarded register: just {"Job": ...}, no EnforceIndex.
  EXPECT_EQ(SentBody(r.server), RequestJson(fixtures[0]));
}

const CoveredFixtures kAllocsEmpty{"004-allocations-just-after-register.json"};
TEST(NomadFixtures, AllocationsRightAfterRegisterAreEmpty) {
  Replay r(kAllocsEmpty);
  auto allocs = r.client.JobAllocations("hello", {});
  ASSERT_TRUE(allocs.ok()) << allocs.error().ToString();
  EXPECT_TRUE(allocs->value.empty());
  EXPECT_EQ(allocs->index, 0u);
  EXPECT_EQ(SentTarget(r.server), "/v1/job/hello/allocations");  // index 0: no blocking
}

const CoveredFixtures kJob{"005-job.json"};
TEST(NomadFixtures, GetJobTypedAccessors) {
  Replay r(kJob);
  auto got = r.client.GetJob("hello");
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  ASSERT_TRUE(got->has_value());
  const Job& job = **got;
  EXPECT_EQ(job.ID(), "hello");
  EXPECT_EQ(job.Type(), "service");
  EXPECT_EQ(job.Namespace(), "default");
  EXPECT_EQ(job.Status(), "running");
  EXPECT_EQ(job.Version(), 0u);
  EXPECT_EQ(job.ModifyIndex(), 11u);
  EXPECT_EQ(job.JobModifyIndex(), 10u);
  EXPECT_FALSE(job.Stop());
  EXPECT_EQ(job.TaskGroupNames(), (std::vector<std::string>{"hello-blue", "hello-green"}));

  auto blue = job.FindTaskGroup("hello-blue");
  ASSERT_TRUE(blue.has_value());
  EXPECT_EQ(blue->Count(), 2);
  EXPECT_EQ(blue->Meta().at("version"), "v1");
  ASSERT_EQ(blue->Services().size(), 1u);
  EXPECT_EQ(blue->Services()[0].Name(), "hello");
  EXPECT_EQ(blue->Services()[0].Tags(), std::vector<std::string>{"active"});
  EXPECT_TRUE(blue->Services()[0].HasTag("active"));
  EXPECT_EQ(blue->Services()[0].Meta().at("version"), "v1");
  auto app = blue->Task("app");
  ASSERT_TRUE(app.has_value());
  EXPECT_EQ(app->Driver(), "raw_exec");
  EXPECT_EQ(app->Env().at("APP_VERSION"), "v1");
  EXPECT_EQ(app->Config().at("command"), "/usr/bin/python3");
  // Canonicalized defaults (nanoseconds).
  EXPECT_EQ(blue->Update().at("MinHealthyTime").get<int64_t>(), 10'000'000'000);
  EXPECT_EQ(blue->Update().at("MaxParallel").get<int>(), 1);

  auto green = job.FindTaskGroup("hello-green");
  ASSERT_TRUE(green.has_value());
  EXPECT_EQ(green->Services()[0].Tags(), std::vector<std::string>{"standby"});
  EXPECT_EQ(green->Task("app")->Env().at("APP_VERSION"), "v2");
  EXPECT_FALSE(job.FindTaskGroup("hello-red").has_value());
  EXPECT_FALSE(green->Task("sidecar").has_value());
}

const CoveredFixtures kAllocsHealthy{"006-allocations-healthy.json"};
TEST(NomadFixtures, AllocationsHealthy) {
  Replay r(kAllocsHealthy);
  auto allocs = r.client.JobAllocations("hello", {});
  ASSERT_TRUE(allocs.ok()) << allocs.error().ToString();
  EXPECT_EQ(allocs->index, 18u);
  ASSERT_EQ(allocs->value.size(), 4u);
  for (const auto& a : allocs->value) {
    EXPECT_EQ(a.job_version, 0u);
    EXPECT_EQ(a.client_status, "running");
    EXPECT_EQ(a.desired_status, "run");
    ASSERT_TRUE(a.deployment_status.has_value()) << a.id;
    EXPECT_EQ(a.deployment_status->healthy, std::optional<bool>(true));
    EXPECT_EQ(a.task_states.at("app").state, "running");
    EXPECT_EQ(a.task_states.at("app").last_event_type, "Started");
  }
  const AllocationStub* a = FindAlloc(allocs->value, "2063bbf9");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name, "hello.hello-blue[1]");
  EXPECT_EQ(a->task_group, "hello-blue");
  EXPECT_EQ(a->node_name, "vm");
  EXPECT_EQ(a->create_index, 11u);
  EXPECT_EQ(a->modify_index, 15u);
  EXPECT_EQ(a->deployment_status->timestamp, "2026-11-23T00:41:51.091495437Z");
  EXPECT_EQ(a->deployment_status->modify_index, 15u);
  EXPECT_EQ(a->task_states.at("app").started_at, "2026-11-23T00:41:39.666139723Z");
}

const CoveredFixtures kAlloc{"007-allocation.json"};
TEST(NomadFixtures, GetAllocation) {
  Replay r(kAlloc);
  auto alloc = r.client.GetAllocation("32093dde-4e43-85b8-c902-3b61a4777ba7");
  ASSERT_TRUE(alloc.ok()) << alloc.error().ToString();
  ASSERT_TRUE(alloc->has_value());
  const Allocation& a = **alloc;
  EXPECT_EQ(a.id, "32093dde-4e43-85b8-c902-3b61a4777ba7");
  EXPECT_EQ(a.task_group, "hello-blue");
  EXPECT_EQ(a.deployment_id, "94749130-b688-7640-041a-48b738b2c989");
  EXPECT_EQ(a.job_version, 0u);  // from Job.Version: no top-level JobVersion here
  ASSERT_TRUE(a.job.has_value());
  EXPECT_EQ(a.job->ID(), "hello");
  EXPECT_EQ(a.deployment_status->healthy, std::optional<bool>(true));
  EXPECT_TRUE(a.raw.contains("AllocatedResources"));
}

const CoveredFixtures kEval{"008-evaluation.json"};
TEST(NomadFixtures, GetEvaluation) {
  Replay r(kEval);
  auto eval = r.client.GetEvaluation("8fa7deca-b08b-8e0d-f350-0c34bb8000f3");
  ASSERT_TRUE(eval.ok()) << eval.error().ToString();
  ASSERT_TRUE(eval->has_value());
  const Evaluation& e = **eval;
  EXPECT_EQ(e.status, "complete");
  EXPECT_EQ(e.triggered_by, "job-register");
  EXPECT_EQ(e.job_modify_index, 10u);
  EXPECT_EQ(e.deployment_id, "94749130-b688-7640-041a-48b738b2c989");
  EXPECT_EQ(e.queued_allocations.at("hello-blue"), 0u);
  EXPECT_TRUE(e.failed_tg_allocs.empty());
  EXPECT_EQ(e.create_index, 10u);
  EXPECT_EQ(e.modify_index, 12u);
}

const CoveredFixtures kJobEvals{"009-job-evaluations.json"};
TEST(NomadFixtures, JobEvaluations) {
  Replay r(kJobEvals);
  auto evals = r.client.JobEvaluations("hello");
  ASSERT_TRUE(evals.ok()) << evals.error().ToString();
  ASSERT_EQ(evals->size(), 2u);
  EXPECT_EQ((*evals)[0].triggered_by, "deployment-watcher");
  EXPECT_EQ((*evals)[1].id, "8fa7deca-b08b-8e0d-f350-0c34bb8000f3");
}

const CoveredFixtures kLatestDeployment{"010-job-deployment.json"};
TEST(NomadFixtures, LatestDeployment) {
  Replay r(kLatestDeployment);
  auto d = r.client.LatestDeployment("hello");
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  ASSERT_TRUE(d->has_value());
  EXPECT_EQ((*d)->id, "94749130-b688-7640-041a-48b738b2c989");
  EXPECT_EQ((*d)->job_version, 0u);
  EXPECT_EQ((*d)->job_modify_index, 10u);
  EXPECT_EQ((*d)->status, "successful");
  EXPECT_FALSE((*d)->Active());
  const auto& blue = (*d)->task_groups.at("hello-blue");
  EXPECT_EQ(blue.desired_total, 2u);
  EXPECT_EQ(blue.placed_allocs, 2u);
  EXPECT_EQ(blue.healthy_allocs, 2u);
  EXPECT_EQ(blue.progress_deadline_ns, 600'000'000'000);
  EXPECT_EQ(blue.require_progress_by, "2026-11-23T00:51:51.600240869Z");
}

const CoveredFixtures kDeploymentById{"011-deployment-by-id.json"};
TEST(NomadFixtures, GetDeployment) {
  Replay r(kDeploymentById);
  auto d = r.client.GetDeployment("94749130-b688-7640-041a-48b738b2c989");
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  ASSERT_TRUE(d->has_value());
  EXPECT_EQ((*d)->job_id, "hello");
  EXPECT_EQ((*d)->task_groups.size(), 2u);
  EXPECT_EQ((*d)->task_groups.at("hello-green").healthy_allocs, 2u);
}

const CoveredFixtures kDeployments{"012-job-deployments.json"};
TEST(NomadFixtures, JobDeploymentsSingle) {
  Replay r(kDeployments);
  auto list = r.client.JobDeployments("hello");
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].job_version, 0u);
}

const CoveredFixtures kVersions{"013-job-versions.json"};
TEST(NomadFixtures, JobVersionsWithoutDiffs) {
  Replay r(kVersions);
  auto v = r.client.GetJobVersions("hello", /*diffs=*/false);
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  ASSERT_EQ(v->versions.size(), 1u);
  EXPECT_EQ(v->versions[0].Version(), 0u);
  EXPECT_TRUE(v->diffs.empty());
  EXPECT_EQ(v->index, 18u);
  EXPECT_EQ(SentTarget(r.server), "/v1/job/hello/versions");
}

const CoveredFixtures kSummary{"014-job-summary.json"};
TEST(NomadFixtures, JobSummary) {
  Replay r(kSummary);
  auto s = r.client.GetJobSummary("hello");
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->job_id, "hello");
  EXPECT_EQ(s->groups.at("hello-blue").running, 2u);
  EXPECT_EQ(s->groups.at("hello-green").running, 2u);
  EXPECT_EQ(s->groups.at("hello-green").queued, 0u);
}

const CoveredFixtures kJobsPrefix{"015-jobs-prefix.json"};
TEST(NomadFixtures, ListJobsByPrefix) {
  Replay r(kJobsPrefix);
  auto jobs = r.client.ListJobs("hello");
  ASSERT_TRUE(jobs.ok()) << jobs.error().ToString();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].id, "hello");
  EXPECT_EQ((*jobs)[0].status, "running");
  EXPECT_EQ((*jobs)[0].job_modify_index, 10u);
  EXPECT_EQ((*jobs)[0].modify_index, 18u);
}

// --- plans ---------------------------------------------------------------------------------

const CoveredFixtures kPlanTagSwap{"016-plan-tag-swap.json"};
TEST(NomadFixtures, PlanTagSwapIsInPlace) {
  Replay r(kPlanTagSwap);
  const auto fixtures = kPlanTagSwap.Load();
  Job job(RequestJson(fixtures[0]).at("Job"));
  auto plan = r.client.PlanJob(job);
  ASSERT_TRUE(plan.ok()) << plan.error().ToString();
  EXPECT_EQ(plan->groups.at("hello-blue").in_place_update, 2u);
  EXPECT_EQ(plan->groups.at("hello-green").in_place_update, 2u);
  EXPECT_EQ(plan->groups.at("hello-green").destructive_update, 0u);
  EXPECT_TRUE(plan->InPlaceOnly());
  EXPECT_EQ(plan->job_modify_index, 10u);
  EXPECT_EQ(plan->diff.at("Type"), "Edited");
  EXPECT_EQ(SentBody(r.server), RequestJson(fixtures[0]));  // {"Job": ..., "Diff": true}
}

const CoveredFixtures kPlanEnv{"017-plan-env-change.json"};
TEST(NomadFixtures, PlanEnvChangeIsDestructive) {
  Replay r(kPlanEnv);
  const auto fixtures = kPlanEnv.Load();
  auto plan = r.client.PlanJob(Job(RequestJson(fixtures[0]).at("Job")));
  ASSERT_TRUE(plan.ok()) << plan.error().ToString();
  const auto& green = plan->groups.at("hello-green");
  EXPECT_EQ(green.destructive_update, 1u);
  EXPECT_EQ(green.ignore, 1u);  // MaxParallel 1: one destructive change per pass
  EXPECT_EQ(green.in_place_update, 0u);
  EXPECT_EQ(plan->groups.at("hello-blue").in_place_update, 2u);
  EXPECT_FALSE(plan->InPlaceOnly());
}

// --- guarded registers -----------------------------------------------------------------------

const CoveredFixtures kEnforceOk{"018-job-register-enforce-index-ok.json"};
TEST(NomadFixtures, RegisterWithEnforceIndex) {
  Replay r(kEnforceOk);
  const auto fixtures = kEnforceOk.Load();
  auto w = r.client.RegisterJob(Job(RequestJson(fixtures[0]).at("Job")), 10);
  ASSERT_TRUE(w.ok()) << w.error().ToString();
  EXPECT_EQ(w->eval_id, "b50157da-c3ab-eedf-cb39-3c6617fbf5a2");
  EXPECT_EQ(w->job_modify_index, 21u);
  EXPECT_EQ(w->index, 21u);
  json sent = SentBody(r.server);
  EXPECT_EQ(sent.at("EnforceIndex"), true);
  EXPECT_EQ(sent.at("JobModifyIndex"), 10);
  EXPECT_EQ(sent, RequestJson(fixtures[0]));
}

const CoveredFixtures kEnforceStale{"019-job-register-enforce-index-stale.json"};
TEST(NomadFixtures, StaleEnforceIndexIsConflict) {
  Replay r(kEnforceStale);
  const auto fixtures = kEnforceStale.Load();
  auto w = r.client.RegisterJob(Job(RequestJson(fixtures[0]).at("Job")), 10);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().kind, ApiErrorKind::kConflict);
  EXPECT_EQ(w.error().status, 500);
  EXPECT_EQ(w.error().endpoint, "POST /v1/job/hello");
  EXPECT_EQ(w.error().message,
            "Enforcing job modify index 10: job exists with conflicting job modify index: 21");
  EXPECT_EQ(ConflictingJobModifyIndex(w.error()), std::optional<uint64_t>(21));
  EXPECT_EQ(r.server.received().size(), 1u);  // a 500 conflict is not retried
}

// --- the in-place flip ------------------------------------------------------------------------

const CoveredFixtures kAfterInPlace{"006-allocations-healthy.json",
                                    "020-allocations-just-after-inplace.json",
                                    "021-allocations-after-inplace.json"};
TEST(NomadFixtures, InPlaceUpdateKeepsAllocsAndResetsDeploymentStatus) {
  Replay r(kAfterInPlace);
  auto before = r.client.JobAllocations("hello", {});
  auto just_after = r.client.JobAllocations("hello", {});
  auto after = r.client.JobAllocations("hello", {});
  ASSERT_TRUE(before.ok() && just_after.ok() && after.ok());
  EXPECT_EQ(just_after->index, 22u);
  EXPECT_EQ(after->index, 26u);
  EXPECT_EQ(Ids(before->value), Ids(just_after->value));
  EXPECT_EQ(Ids(before->value), Ids(after->value));
  for (const auto& a : just_after->value) {
    EXPECT_EQ(a.job_version, 1u);
    EXPECT_FALSE(a.deployment_status.has_value()) << "null DeploymentStatus must stay null";
    EXPECT_EQ(a.client_status, "running");
  }
  for (const auto& a : after->value) {
    ASSERT_TRUE(a.deployment_status.has_value());
    EXPECT_EQ(a.deployment_status->healthy, std::optional<bool>(true));
    const AllocationStub* old = FindAlloc(before->value, a.id);
    ASSERT_NE(old, nullptr);
    EXPECT_NE(a.deployment_status->timestamp, old->deployment_status->timestamp);
    EXPECT_EQ(a.task_states.at("app").started_at, old->task_states.at("app").started_at);
  }
}

const CoveredFixtures kAllocAfterInPlace{"022-allocation-after-inplace.json"};
TEST(NomadFixtures, AllocationAfterInPlace) {
  Replay r(kAllocAfterInPlace);
  auto alloc = r.client.GetAllocation("32093dde-4e43-85b8-c902-3b61a4777ba7");
  ASSERT_TRUE(alloc.ok() && alloc->has_value());
  EXPECT_EQ((*alloc)->job_version, 1u);
  EXPECT_EQ((*alloc)->deployment_id, "f44f7ad1-15e0-6eab-44d4-e6990a875423");
  EXPECT_EQ((*alloc)->deployment_status->timestamp, "2026-11-23T00:42:05.684510332Z");
}

const CoveredFixtures kDeploymentAfterInPlace{"023-job-deployment-after-inplace.json"};
TEST(NomadFixtures, InPlaceUpdateGetsItsOwnDeployment) {
  Replay r(kDeploymentAfterInPlace);
  auto d = r.client.LatestDeployment("hello");
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->job_version, 1u);
  EXPECT_EQ((*d)->job_modify_index, 21u);
  EXPECT_EQ((*d)->status, "successful");
}

// --- the destructive update ------------------------------------------------------------------

const CoveredFixtures kDestructive{"024-job-register-destructive.json"};
TEST(NomadFixtures, UnguardedRegisterByIdIsNotRetried) {
  Replay r(kDestructive);
  const auto fixtures = kDestructive.Load();
  auto w = r.client.RegisterJob(Job(RequestJson(fixtures[0]).at("Job")), std::nullopt);
  ASSERT_TRUE(w.ok()) << w.error().ToString();
  EXPECT_EQ(w->eval_id, "3c8442d9-d51c-bf75-935b-7d952fd4911e");
  EXPECT_EQ(w->job_modify_index, 28u);
  EXPECT_FALSE(SentBody(r.server).contains("EnforceIndex"));
  EXPECT_EQ(SentTarget(r.server), "/v1/job/hello");
}

const CoveredFixtures kBlockingWoken{"025-allocations-blocking-woken.json"};
TEST(NomadFixtures, BlockingAllocationsWoken) {
  Replay r(kBlockingWoken);
  auto allocs = r.client.JobAllocations("hello", {.index = 26, .wait = std::chrono::seconds(60)});
  ASSERT_TRUE(allocs.ok()) << allocs.error().ToString();
  EXPECT_EQ(SentTarget(r.server), "/v1/job/hello/allocations?index=26&wait=60s");
  EXPECT_EQ(allocs->index, 29u);
  ASSERT_EQ(allocs->value.size(), 5u);
  const AllocationStub* fresh = FindAlloc(allocs->value, "843f01f6");
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->client_status, "pending");
  EXPECT_EQ(fresh->job_version, 2u);
  EXPECT_TRUE(fresh->task_states.empty());
  EXPECT_FALSE(fresh->deployment_status.has_value());
  EXPECT_EQ(FindAlloc(allocs->value, "30e44641")->desired_status, "stop");
}

const CoveredFixtures kDuringDestructive{"026-allocations-during-destructive.json",
                                         "027-job-deployment-during-destructive.json"};
TEST(NomadFixtures, DuringDestructiveUpdate) {
  Replay r(kDuringDestructive);
  auto allocs = r.client.JobAllocations("hello", {});
  ASSERT_TRUE(allocs.ok()) << allocs.error().ToString();
  const AllocationStub* stopped = FindAlloc(allocs->value, "30e44641");
  ASSERT_NE(stopped, nullptr);
  EXPECT_EQ(stopped->desired_status, "stop");
  EXPECT_EQ(stopped->client_status, "complete");
  EXPECT_EQ(stopped->task_states.at("app").state, "dead");
  EXPECT_EQ(stopped->task_states.at("app").last_event_type, "Killed");
  for (const char* blue : {"2063bbf9", "32093dde"}) {
    EXPECT_EQ(FindAlloc(allocs->value, blue)->job_version, 2u);
    EXPECT_FALSE(FindAlloc(allocs->value, blue)->deployment_status.has_value());
  }
  auto d = r.client.LatestDeployment("hello");
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->status, "running");
  EXPECT_TRUE((*d)->Active());
  EXPECT_EQ((*d)->job_version, 2u);
  EXPECT_EQ((*d)->task_groups.at("hello-green").placed_allocs, 1u);
  EXPECT_EQ((*d)->task_groups.at("hello-green").healthy_allocs, 0u);
}

const CoveredFixtures kAfterDestructive{"028-allocations-after-destructive.json",
                                        "029-evaluation-destructive.json"};
TEST(NomadFixtures, AfterDestructiveUpdate) {
  Replay r(kAfterDestructive);
  auto allocs = r.client.JobAllocations("hello", {});
  ASSERT_TRUE(allocs.ok()) << allocs.error().ToString();
  EXPECT_EQ(allocs->index, 41u);
  int old_green_done = 0;
  int new_green_healthy = 0;
  for (const auto& a : allocs->value) {
    if (a.task_group != "hello-green") continue;
    if (a.job_version == 1) {
      EXPECT_EQ(a.client_status, "complete");
      old_green_done++;
    } else if (a.job_version == 2 && a.deployment_status && a.deployment_status->healthy == true) {
      new_green_healthy++;
    }
  }
  EXPECT_EQ(old_green_done, 2);
  EXPECT_EQ(new_green_healthy, 2);
  auto eval = r.client.GetEvaluation("3c8442d9-d51c-bf75-935b-7d952fd4911e");
  ASSERT_TRUE(eval.ok() && eval->has_value());
  EXPECT_EQ((*eval)->job_modify_index, 28u);
  EXPECT_EQ((*eval)->deployment_id.substr(0, 8), "e5ca5724");
}

const CoveredFixtures kBlockingTimeout{"030-allocations-blocking-timeout.json"};
TEST(NomadFixtures, BlockingAllocationsTimeoutKeepsIndex) {
  Replay r(kBlockingTimeout);
  auto allocs = r.client.JobAllocations("hello", {.index = 41, .wait = std::chrono::seconds(2)});
  ASSERT_TRUE(allocs.ok()) << allocs.error().ToString();
  EXPECT_EQ(SentTarget(r.server), "/v1/job/hello/allocations?index=41&wait=2s");
  EXPECT_EQ(allocs->index, 41u);  // unchanged: nothing happened
  EXPECT_EQ(allocs->value.size(), 6u);
}

// --- scale (never used by the controller; decoded because the API has it) -------------------

const CoveredFixtures kScale{"031-job-scale-blue-0.json", "032-allocations-after-scale.json",
                             "033-job-deployment-after-scale.json", "034-job-scale-status.json"};
TEST(NomadFixtures, ScaleToZero) {
  Replay r(kScale);
  const auto fixtures = kScale.Load();
  auto w = r.client.ScaleJob("hello", "hello-blue", 0, "gc old version", json{{"by", "capture"}});
  ASSERT_TRUE(w.ok()) << w.error().ToString();
  EXPECT_EQ(SentBody(r.server), RequestJson(fixtures[0]));
  EXPECT_EQ(w->eval_id, "8b1dacac-e624-4e1e-dc0b-c4cb1865fd3c");
  EXPECT_EQ(w->job_modify_index, 43u);
  EXPECT_EQ(w->index, 45u);

  auto allocs = r.client.JobAllocations("hello", {});
  ASSERT_TRUE(allocs.ok());
  for (const auto& a : allocs->value) {
    if (a.task_group == "hello-blue") {
      EXPECT_EQ(a.desired_status, "stop");
      EXPECT_EQ(a.client_status, "complete");
    } else if (a.desired_status == "run") {
      EXPECT_EQ(a.job_version, 3u);
      EXPECT_FALSE(a.deployment_status.has_value());
    }
  }
  auto d = r.client.LatestDeployment("hello");
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->job_version, 3u);
  EXPECT_EQ((*d)->task_groups.count("hello-blue"), 0u);
  EXPECT_EQ((*d)->task_groups.count("hello-green"), 1u);

  auto status = r.client.GetJobScaleStatus("hello");
  ASSERT_TRUE(status.ok()) << status.error().ToString();
  EXPECT_EQ(status->job_modify_index, 43u);
  EXPECT_FALSE(status->job_stopped);
  EXPECT_EQ(status->task_groups.at("hello-blue").desired, 0u);
  EXPECT_EQ(status->task_groups.at("hello-green").running, 2u);
  ASSERT_TRUE(status->task_groups.at("hello-blue").events.is_array());
  EXPECT_EQ(status->task_groups.at("hello-blue").events[0].at("PreviousCount"), 2);
  EXPECT_TRUE(status->task_groups.at("hello-green").events.is_null());
}

const CoveredFixtures kVersionsDiffs{"035-job-versions-diffs.json"};
TEST(NomadFixtures, JobVersionsWithDiffs) {
  Replay r(kVersionsDiffs);
  auto v = r.client.GetJobVersions("hello", /*diffs=*/true);
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  EXPECT_EQ(SentTarget(r.server), "/v1/job/hello/versions?diffs=true");
  std::vector<uint64_t> versions;
  for (const auto& job : v->versions) versions.push_back(job.Version());
  EXPECT_EQ(versions, (std::vector<uint64_t>{3, 2, 1, 0}));  // newest first
  ASSERT_EQ(v->diffs.size(), 3u);
  EXPECT_EQ(v->diffs[0].at("Type"), "None");  // the Nomad 1.0.18 scale bug shifts diffs
  EXPECT_EQ(v->diffs[1].at("Type"), "Edited");
  EXPECT_EQ(v->index, 43u);
}

const CoveredFixtures kDeploymentsFinal{"036-job-deployments-final.json"};
TEST(NomadFixtures, JobDeploymentsSortedByJobVersion) {
  Replay r(kDeploymentsFinal);
  auto list = r.client.JobDeployments("hello");
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  // The agent answered in deployment-ID order: versions 0, 3, 2, 1.
  std::vector<uint64_t> versions;
  std::vector<std::string> id_prefixes;
  for (const auto& d : *list) {
    versions.push_back(d.job_version);
    id_prefixes.push_back(d.id.substr(0, 8));
    EXPECT_EQ(d.status, "successful");
  }
  EXPECT_EQ(versions, (std::vector<uint64_t>{0, 1, 2, 3}));
  EXPECT_EQ(id_prefixes,
            (std::vector<std::string>{"94749130", "f44f7ad1", "e5ca5724", "dc3155b0"}));
}

const CoveredFixtures kSummaryFinal{"037-job-summary-final.json"};
TEST(NomadFixtures, JobSummaryFinal) {
  Replay r(kSummaryFinal);
  auto s = r.client.GetJobSummary("hello");
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->groups.at("hello-blue").running, 0u);
  EXPECT_EQ(s->groups.at("hello-blue").complete, 2u);
  EXPECT_EQ(s->groups.at("hello-green").running, 2u);
}

const CoveredFixtures kJobAfterUpdates{"038-job-after-updates.json"};
TEST(NomadFixtures, JobAfterUpdates) {
  Replay r(kJobAfterUpdates);
  auto job = r.client.GetJob("hello");
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->Version(), 3u);
  EXPECT_TRUE((*job)->Stable());
  EXPECT_EQ((*job)->JobModifyIndex(), 43u);
  EXPECT_EQ((*job)->FindTaskGroup("hello-blue")->Count(), 0);
  EXPECT_EQ((*job)->FindTaskGroup("hello-green")->Services()[0].Tags(),
            std::vector<std::string>{"active"});
  EXPECT_EQ((*job)->FindTaskGroup("hello-green")->Task("app")->Env().at("APP_VERSION"), "v3");
}

// --- rejected registers ------------------------------------------------------------------------

const CoveredFixtures kInvalid{"039-jobs-register-invalid.json"};
TEST(NomadFixtures, ValidationErrorKeepsAgentText) {
  Replay r(kInvalid);
  const auto fixtures = kInvalid.Load();
  auto w = r.client.RegisterJob(Job(RequestJson(fixtures[0]).at("Job")), std::nullopt, true);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().kind, ApiErrorKind::kValidation);
  EXPECT_EQ(w.error().status, 500);
  EXPECT_NE(w.error().message.find("Missing job datacenters"), std::string::npos);
  EXPECT_NE(w.error().message.find("Task group count can't be negative"), std::string::npos);
  EXPECT_EQ(r.server.received().size(), 1u);
}

const CoveredFixtures kBadJson{"040-jobs-register-bad-json.json"};
TEST(NomadFixtures, UndecodableBodyIsBadRequest) {
  // The client always sends valid JSON; the recorded answer to a truncated body is
  // replayed to check how a 400 is classified.
  Replay r(kBadJson);
  Job job(json{{"ID", "hello"}});
  auto w = r.client.RegisterJob(job, std::nullopt, true);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().kind, ApiErrorKind::kBadRequest);
  EXPECT_EQ(w.error().status, 400);
  EXPECT_EQ(w.error().message, "unexpected EOF");
}

const CoveredFixtures kIdMismatch{"041-jobs-register-id-mismatch.json"};
TEST(NomadFixtures, IdMismatchIsBadRequest) {
  // The client derives the URL from the job's own ID, so it cannot produce this mismatch
  // itself; the recorded answer still has to classify as kBadRequest with its text.
  Replay r(kIdMismatch);
  const auto fixtures = kIdMismatch.Load();
  json body = RequestJson(fixtures[0]).at("Job");
  body["ID"] = "hello";
  auto w = r.client.RegisterJob(Job(body), std::nullopt);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().kind, ApiErrorKind::kBadRequest);
  EXPECT_EQ(w.error().message, "Job ID does not match name");
}

const CoveredFixtures kBadDriver{
    "042-jobs-register-bad-driver.json", "043-evaluation-bad-driver.json",
    "044-job-summary-bad-driver.json", "045-job-delete-bad-driver-purge.json"};
TEST(NomadFixtures, UnknownDriverShowsOnlyInEvaluation) {
  Replay r(kBadDriver);
  const auto fixtures = kBadDriver.Load();
  auto w = r.client.RegisterJob(Job(RequestJson(fixtures[0]).at("Job")), std::nullopt, true);
  ASSERT_TRUE(w.ok()) << w.error().ToString();  // accepted!
  EXPECT_EQ(w->eval_id, "a27555c4-ca26-c244-95c7-f56549b4d93b");
  EXPECT_EQ(w->job_modify_index, 53u);

  auto eval = r.client.GetEvaluation(w->eval_id);
  ASSERT_TRUE(eval.ok() && eval->has_value());
  EXPECT_EQ((*eval)->status, "complete");
  EXPECT_FALSE((*eval)->blocked_eval.empty());
  EXPECT_EQ((*eval)->queued_allocations.at("hello-blue"), 1u);
  EXPECT_EQ(
      (*eval)->failed_tg_allocs.at("hello-blue").at("ConstraintFiltered").at("missing drivers"), 1);

  auto summary = r.client.GetJobSummary("hello-baddriver");
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->groups.at("hello-blue").queued, 1u);

  auto del = r.client.DeregisterJob("hello-baddriver", /*purge=*/true);
  ASSERT_TRUE(del.ok()) << del.error().ToString();
  EXPECT_EQ(SentTarget(r.server, 3), "/v1/job/hello-baddriver?purge=true");
  EXPECT_EQ(del->eval_id, "2575e190-c7a3-e9f7-ac40-74e73848149d");
  EXPECT_EQ(del->job_modify_index, 57u);
}

// --- a scale rejected during a deployment still applies (Nomad 1.0.18) --------------------------

const CoveredFixtures kScaleBlocked{"046-sb-register-v0.json",
                                    "047-sb-register-v1.json",
                                    "048-sb-scale-during-deployment.json",
                                    "049-sb-job-after-blocked-scale.json",
                                    "050-sb-allocations-after-blocked-scale.json",
                                    "051-sb-deployment-stuck.json",
                                    "052-sb-scale-status.json",
                                    "053-sb-delete-purge.json"};
TEST(NomadFixtures, RejectedScaleStillChangesTheJob) {
  Replay r(kScaleBlocked);
  const auto fixtures = kScaleBlocked.Load();
  auto v0 = r.client.RegisterJob(Job(RequestJson(fixtures[0]).at("Job")), std::nullopt, true);
  ASSERT_TRUE(v0.ok()) << v0.error().ToString();
  EXPECT_EQ(v0->job_modify_index, 60u);
  auto v1 = r.client.RegisterJob(Job(RequestJson(fixtures[1]).at("Job")), std::nullopt, true);
  ASSERT_TRUE(v1.ok()) << v1.error().ToString();
  EXPECT_EQ(v1->job_modify_index, 68u);

  auto scale = r.client.ScaleJob("scale-blocked", "g", 1, "gc attempt during deployment", json());
  ASSERT_FALSE(scale.ok());
  EXPECT_EQ(SentBody(r.server, 2), RequestJson(fixtures[2]));  // no Meta when none given
  EXPECT_EQ(scale.error().kind, ApiErrorKind::kBadRequest);
  EXPECT_EQ(scale.error().message, "job scaling blocked due to active deployment");

  auto job = r.client.GetJob("scale-blocked");
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->FindTaskGroup("g")->Count(), 1);  // the "rejected" count
  EXPECT_EQ((*job)->Version(), 1u);                   // with no new version
  EXPECT_EQ((*job)->JobModifyIndex(), 68u);

  auto allocs = r.client.JobAllocations("scale-blocked", {});
  ASSERT_TRUE(allocs.ok());
  int running_v1 = 0;
  for (const auto& a : allocs->value) {
    if (a.client_status == "running" && a.job_version == 1) running_v1++;
  }
  EXPECT_EQ(running_v1, 1);

  auto d = r.client.LatestDeployment("scale-blocked");
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_TRUE((*d)->Active());
  EXPECT_EQ((*d)->task_groups.at("g").desired_total, 2u);
  EXPECT_EQ((*d)->task_groups.at("g").placed_allocs, 1u);

  auto status = r.client.GetJobScaleStatus("scale-blocked");
  ASSERT_TRUE(status.ok());
  const json& events = status->task_groups.at("g").events;
  ASSERT_TRUE(events.is_array());
  EXPECT_EQ(events[0].at("Error"), true);

  auto del = r.client.DeregisterJob("scale-blocked", true);
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->job_modify_index, 79u);
}

// --- stop and purge
// ---------------------------------------------------------------------------------

const CoveredFixtures kStopPurge{
    "054-job-delete-stop.json",  "055-job-after-stop.json",  "056-allocations-after-stop.json",
    "057-job-delete-purge.json", "058-job-after-purge.json", "059-allocations-after-purge.json"};
TEST(NomadFixtures, StopThenPurge) {
  Replay r(kStopPurge);
  auto stop = r.client.DeregisterJob("hello", /*purge=*/false);
  ASSERT_TRUE(stop.ok()) << stop.error().ToString();
  EXPECT_EQ(SentTarget(r.server, 0), "/v1/job/hello");
  EXPECT_EQ(stop->job_modify_index, 81u);
  EXPECT_EQ(stop->index, 81u);

  auto job = r.client.GetJob("hello");
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_TRUE((*job)->Stop());
  EXPECT_EQ((*job)->Version(), 4u);
  EXPECT_EQ((*job)->Status(), "running");

  auto allocs = r.client.JobAllocations("hello", {});
  ASSERT_TRUE(allocs.ok());
  ASSERT_EQ(allocs->value.size(), 6u);
  for (const auto& a : allocs->value) {
    EXPECT_EQ(a.desired_status, "stop");
    EXPECT_EQ(a.client_status, "complete");
  }

  auto purge = r.client.DeregisterJob("hello", /*purge=*/true);
  ASSERT_TRUE(purge.ok());
  EXPECT_EQ(purge->job_modify_index, 87u);

  auto gone = r.client.GetJob("hello");
  ASSERT_TRUE(gone.ok()) << gone.error().ToString();
  EXPECT_FALSE(gone->has_value());

  auto leftover = r.client.JobAllocations("hello", {});
  ASSERT_TRUE(leftover.ok());
  EXPECT_EQ(leftover->value.size(), 6u);  // listed until GC although the job is gone
}

const CoveredFixtures kEvalMissing{"060-evaluation-missing.json"};
TEST(NomadFixtures, MissingEvaluationIsNullopt) {
  Replay r(kEvalMissing);
  auto eval = r.client.GetEvaluation("00000000-1111-2222-3333-444444444444");
  ASSERT_TRUE(eval.ok()) << eval.error().ToString();
  EXPECT_FALSE(eval->has_value());
}

// --- coverage
// -----------------------------------------------------------------------------------------

TEST(NomadFixtures, EveryFixtureFileIsCovered) {
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(testing::FixturesDir()) / "nomad")) {
    std::string name = entry.path().filename().string();
    if (name == "hello-job.json" || entry.path().extension() != ".json") continue;
    on_disk.insert(name);
  }
  ASSERT_FALSE(on_disk.empty());
  for (const auto& name : on_disk) {
    EXPECT_TRUE(CoveredFixtureRegistry().count(name)) << name << " is replayed by no test case";
  }
  for (const auto& name : CoveredFixtureRegistry()) {
    EXPECT_TRUE(on_disk.count(name)) << name << " is covered but does not exist";
  }
}

}  // namespace
}  // namespace rollouts::nomad::test
