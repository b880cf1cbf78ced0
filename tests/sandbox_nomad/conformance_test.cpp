// Replays the recorded Nomad exchanges (tests/fixtures/api/nomad) against the sandbox's
// Nomad half, in order, creating the same state (same jobs, same updates), and compares
// status codes, which headers are present, plain-text error bodies and JSON shapes.
#include <future>

#include "tests/sandbox_nomad/json_shape.h"
#include "tests/sandbox_nomad/nomad_test_env.h"
#include "tests/support/fixture_server.h"

namespace rollouts::sandbox::testing {
namespace {

json Plain(const nlohmann::ordered_json& v) {
  return json::parse(v.dump());
}

class NomadConformance : public ::testing::Test {
 protected:
  // Sends the recorded request (method and, unless overridden, path and body) and
  // checks the answer against the recording.
  Reply Replay(const std::string& file, std::optional<std::string> target = std::nullopt,
               std::optional<json> body = std::nullopt, bool exact_text = true) {
    const rollouts::testing::Fixture f = rollouts::testing::LoadFixture("nomad/" + file);
    SCOPED_TRACE(file);
    std::string payload;
    if (body) {
      payload = body->dump();
    } else if (f.request_body.is_string()) {
      payload = f.request_body.get<std::string>();
    } else if (!f.request_body.is_null()) {
      payload = f.request_body.dump();
    }
    Reply reply = env_.Send(f.method, target.value_or(f.path), payload);
    EXPECT_EQ(reply.status, f.status) << reply.text;
    for (const char* header :
         {"X-Nomad-Index", "X-Nomad-Knownleader", "X-Nomad-Lastcontact", "Content-Type"}) {
      const bool recorded = f.response_headers.count(header) > 0;
      const bool ours = reply.headers.count(header) > 0;
      EXPECT_EQ(ours, recorded) << "header " << header;
    }
    if (f.response_headers.count("Content-Type") && reply.headers.count("Content-Type")) {
      const std::string want = f.response_headers.at("Content-Type");
      EXPECT_EQ(reply.headers.at("Content-Type"), want);
    }
    if (f.response_body.is_string() && reply.body.is_null()) {
      if (exact_text) {
        EXPECT_EQ(reply.text, f.response_body.get<std::string>());
      }
    } else {
      for (const std::string& difference : ShapeDifferences(Plain(f.response_body), reply.body)) {
        ADD_FAILURE() << file << " " << difference;
      }
    }
    return reply;
  }

  // The recorded job bodies with a 1 s MinHealthyTime, so rollouts take seconds.
  static json FastJob(const std::string& file) {
    const rollouts::testing::Fixture f = rollouts::testing::LoadFixture("nomad/" + file);
    json body = Plain(f.request_body);
    body["Job"] = WithFastUpdate(body["Job"]);
    return body;
  }

  json Allocations(const std::string& job) {
    return env_.Get("/v1/job/" + job + "/allocations").body;
  }

  bool AllHealthy(const std::string& job, size_t expected_running) {
    json allocs = Allocations(job);
    size_t healthy = 0;
    for (const json& a : allocs) {
      if (a["DesiredStatus"] == "run" && a["ClientStatus"] == "running" &&
          a["DeploymentStatus"].is_object() && a["DeploymentStatus"]["Healthy"] == true) {
        healthy++;
      }
    }
    return healthy == expected_running;
  }

  NomadTestEnv env_;
};

TEST_F(NomadConformance, ReplaysTheRecordedSession) {
  Replay("001-status-leader.json");
  Replay("002-job-missing.json");

  // --- first placement of the two-group job -------------------------------------------
  const rollouts::testing::Fixture hello =
      rollouts::testing::LoadFixture("nomad/003-jobs-register.json");
  json hello_body = Plain(hello.request_body);
  hello_body["Job"] = WithFastUpdate(hello_body["Job"]);
  Reply registered = Replay("003-jobs-register.json", std::nullopt, hello_body);
  const std::string first_eval = registered.body["EvalID"];
  Replay("004-allocations-just-after-register.json");
  Replay("005-job.json");
  ASSERT_TRUE(NomadTestEnv::WaitFor([&] { return AllHealthy("hello", 4); }));
  Reply healthy = Replay("006-allocations-healthy.json");
  ASSERT_EQ(healthy.body.size(), 4u);
  std::string blue_alloc;
  for (const json& a : healthy.body) {
    if (a["TaskGroup"] == "hello-blue") blue_alloc = a["ID"];
  }
  Replay("007-allocation.json", "/v1/allocation/" + blue_alloc);
  Replay("008-evaluation.json", "/v1/evaluation/" + first_eval);
  ASSERT_TRUE(env_.WaitDeployment("hello", 0, "successful"));
  Replay("009-job-evaluations.json");
  Reply deployment = Replay("010-job-deployment.json");
  Replay("011-deployment-by-id.json", "/v1/deployment/" + deployment.body["ID"].get<std::string>());
  Replay("012-job-deployments.json");
  Replay("013-job-versions.json");
  Replay("014-job-summary.json");
  Replay("015-jobs-prefix.json");

  // --- plans: in place for a tag swap, destructive for an env change ---------------------
  Reply tag_plan =
      Replay("016-plan-tag-swap.json", std::nullopt, FastJob("016-plan-tag-swap.json"));
  for (const char* group : {"hello-blue", "hello-green"}) {
    const json& u = tag_plan.body["Annotations"]["DesiredTGUpdates"][group];
    EXPECT_EQ(u["InPlaceUpdate"], 2) << group;
    EXPECT_EQ(u["DestructiveUpdate"], 0) << group;
  }
  Reply env_plan =
      Replay("017-plan-env-change.json", std::nullopt, FastJob("017-plan-env-change.json"));
  EXPECT_EQ(env_plan.body["Annotations"]["DesiredTGUpdates"]["hello-green"]["DestructiveUpdate"],
            1);
  EXPECT_EQ(env_plan.body["Annotations"]["DesiredTGUpdates"]["hello-green"]["Ignore"], 1);
  EXPECT_EQ(env_plan.body["Annotations"]["DesiredTGUpdates"]["hello-blue"]["InPlaceUpdate"], 2);
  EXPECT_EQ(env_plan.body["Diff"]["TaskGroups"][1]["Tasks"][0]["Annotations"][0],
            "forces create/destroy update");

  // --- in-place tag swap with EnforceIndex ------------------------------------------------
  const uint64_t modify_index = env_.Get("/v1/job/hello").body["JobModifyIndex"];
  json swap = FastJob("018-job-register-enforce-index-ok.json");
  swap["JobModifyIndex"] = modify_index;
  Reply swapped = Replay("018-job-register-enforce-index-ok.json", std::nullopt, swap);
  Reply stale = Replay("019-job-register-enforce-index-stale.json", std::nullopt, swap, false);
  EXPECT_EQ(stale.text, "Enforcing job modify index " + std::to_string(modify_index) +
                            ": job exists with conflicting job modify index: " +
                            std::to_string(swapped.body["JobModifyIndex"].get<uint64_t>()));
  Reply just_after = Replay("020-allocations-just-after-inplace.json");
  std::set<std::string> before_ids;
  std::set<std::string> after_ids;
  for (const json& a : healthy.body) before_ids.insert(a["ID"].get<std::string>());
  for (const json& a : just_after.body) {
    after_ids.insert(a["ID"].get<std::string>());
    EXPECT_EQ(a["JobVersion"], 1);
  }
  EXPECT_EQ(after_ids, before_ids);
  ASSERT_TRUE(env_.WaitDeployment("hello", 1, "successful"));
  Replay("021-allocations-after-inplace.json");
  Replay("022-allocation-after-inplace.json", "/v1/allocation/" + blue_alloc);
  Replay("023-job-deployment-after-inplace.json");

  // --- destructive update of hello-green, watched by a blocking query ------------------
  const std::string allocs_index =
      env_.Get("/v1/job/hello/allocations").headers.at("X-Nomad-Index");
  auto blocked = std::async(std::launch::async, [&] {
    return Replay("025-allocations-blocking-woken.json",
                  "/v1/job/hello/allocations?index=" + allocs_index + "&wait=60s");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Reply destructive = Replay("024-job-register-destructive.json", std::nullopt,
                             FastJob("024-job-register-destructive.json"));
  Reply woken = blocked.get();
  EXPECT_GT(std::stoull(woken.headers.at("X-Nomad-Index")), std::stoull(allocs_index));
  // The untouched group moved to the new version in place, its health verdict reset.
  int blue_moved = 0;
  for (const json& a : woken.body) {
    if (a["TaskGroup"] != "hello-blue") continue;
    EXPECT_EQ(a["JobVersion"], 2);
    EXPECT_TRUE(a["DeploymentStatus"].is_null());
    EXPECT_TRUE(before_ids.count(a["ID"].get<std::string>()));
    blue_moved++;
  }
  EXPECT_EQ(blue_moved, 2);
  Replay("026-allocations-during-destructive.json");
  Replay("027-job-deployment-during-destructive.json");
  ASSERT_TRUE(env_.WaitDeployment("hello", 2, "successful"));
  Reply after_destructive = Replay("028-allocations-after-destructive.json");
  int replaced = 0;
  for (const json& a : after_destructive.body) {
    if (a["TaskGroup"] == "hello-green" && a["JobVersion"] == 1) {
      EXPECT_EQ(a["DesiredStatus"], "stop");
      replaced++;
    }
  }
  EXPECT_EQ(replaced, 2);
  Replay("029-evaluation-destructive.json",
         "/v1/evaluation/" + destructive.body["EvalID"].get<std::string>());
  const std::string settled = env_.Get("/v1/job/hello/allocations").headers.at("X-Nomad-Index");
  Reply timeout = Replay("030-allocations-blocking-timeout.json",
                         "/v1/job/hello/allocations?index=" + settled + "&wait=2s");
  EXPECT_EQ(timeout.headers.at("X-Nomad-Index"), settled);

  // --- scale, versions, summaries -------------------------------------------------------
  Replay("031-job-scale-blue-0.json");
  Replay("032-allocations-after-scale.json");
  ASSERT_TRUE(env_.WaitDeployment("hello", 3, "successful"));
  Replay("033-job-deployment-after-scale.json");
  Replay("034-job-scale-status.json");
  Reply versions = Replay("035-job-versions-diffs.json");
  EXPECT_EQ(versions.body["Versions"].size(), 4u);
  EXPECT_EQ(versions.body["Diffs"].size(), 3u);
  Replay("036-job-deployments-final.json");
  Replay("037-job-summary-final.json");
  Reply final_job = Replay("038-job-after-updates.json");
  EXPECT_EQ(final_job.body["Version"], 3);

  // --- errors ---------------------------------------------------------------------------
  Replay("039-jobs-register-invalid.json");
  Replay("040-jobs-register-bad-json.json");
  Replay("041-jobs-register-id-mismatch.json");
  Reply bad_driver = Replay("042-jobs-register-bad-driver.json");
  Replay("043-evaluation-bad-driver.json",
         "/v1/evaluation/" + bad_driver.body["EvalID"].get<std::string>());
  Replay("044-job-summary-bad-driver.json");
  Replay("045-job-delete-bad-driver-purge.json");

  // --- scale during an active deployment is rejected and changes nothing -----------------
  Replay("046-sb-register-v0.json");
  ASSERT_TRUE(env_.WaitDeployment("scale-blocked", 0, "successful"));
  Replay("047-sb-register-v1.json");
  Replay("048-sb-scale-during-deployment.json");
  Reply sb_job = Replay("049-sb-job-after-blocked-scale.json");
  EXPECT_EQ(sb_job.body["TaskGroups"][0]["Count"], 2);
  EXPECT_EQ(sb_job.body["Version"], 1);
  ASSERT_TRUE(env_.WaitDeployment("scale-blocked", 1, "successful"));
  Reply sb_allocs = Replay("050-sb-allocations-after-blocked-scale.json");
  int running_v1 = 0;
  for (const json& a : sb_allocs.body) {
    if (a["JobVersion"] == 1 && a["ClientStatus"] == "running") running_v1++;
  }
  EXPECT_EQ(running_v1, 2);
  Replay("051-sb-deployment-stuck.json");
  Reply sb_scale = Replay("052-sb-scale-status.json");
  EXPECT_EQ(sb_scale.body["TaskGroups"]["g"]["Events"][0]["Error"], true);
  Replay("053-sb-delete-purge.json");

  // --- stop and purge ----------------------------------------------------------------------
  Replay("054-job-delete-stop.json");
  Reply stopped = Replay("055-job-after-stop.json");
  EXPECT_EQ(stopped.body["Stop"], true);
  ASSERT_TRUE(NomadTestEnv::WaitFor([&] {
    for (const json& a : Allocations("hello")) {
      if (a["ClientStatus"] != "complete") return false;
    }
    return true;
  }));
  Replay("056-allocations-after-stop.json");
  Replay("057-job-delete-purge.json");
  Replay("058-job-after-purge.json");
  Reply purged_allocs = Replay("059-allocations-after-purge.json");
  EXPECT_FALSE(purged_allocs.body.empty());
  Replay("060-evaluation-missing.json");
}

}  // namespace
}  // namespace rollouts::sandbox::testing
