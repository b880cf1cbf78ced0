// Nomad 1.0 keeps only the last 6 versions of a job (structs.JobTrackedVersions), except
// the newest Stable one, which is kept when it would be the one to go. Observed on a real
// Nomad 1.0.18 dev agent (nine registers of one job; then a stable v0 followed by eight
// registers) and asserted here on the sandbox:
//   - /v1/job/<id>/versions lists the kept versions newest first, and ?diffs=true gives
//     one diff per neighbouring pair of kept versions (v3 -> v4, or v0 -> v4 across the gap);
//   - /v1/job/<id>?version=N is not a version lookup in Nomad 1.0: the parameter is
//     ignored and the current job is answered (200), for a kept, a dropped or an unknown N.
#include <string>
#include <vector>

#include "tests/sandbox_nomad/nomad_test_env.h"

namespace rollouts::sandbox::testing {
namespace {

// A one-group service job; `n` goes into the job's Meta so every register is a new version.
json CapJob(const std::string& id, int n, int count) {
  json group = {{"Name", "g"},
                {"Count", count},
                {"Update", {{"HealthCheck", "task_states"}}},
                {"Tasks",
                 {{{"Name", "t"},
                   {"Driver", "raw_exec"},
                   {"Config", {{"command", "/bin/sleep"}, {"args", {"300"}}}},
                   {"KillTimeout", 1000000000LL}}}}};
  json job = {{"ID", id},
              {"Datacenters", {"dc1"}},
              {"Meta", {{"n", std::to_string(n)}}},
              {"TaskGroups", {group}}};
  return {{"Job", WithFastUpdate(job)}};
}

// "<Version>" or "<Version>s" (stable) for each listed version, in the order listed.
std::vector<std::string> Listed(const json& versions_body) {
  std::vector<std::string> out;
  for (const json& v : versions_body["Versions"]) {
    out.push_back(std::to_string(v["Version"].get<int64_t>()) +
                  (v["Stable"].get<bool>() ? "s" : ""));
  }
  return out;
}

// "old->new" of the Meta[n] field edit in each diff, in the order listed.
std::vector<std::string> MetaEdits(const json& versions_body) {
  std::vector<std::string> out;
  for (const json& diff : versions_body["Diffs"]) {
    std::string edit = "none";
    for (const json& field : diff["Fields"]) {
      if (field["Name"] == "Meta[n]")
        edit = field["Old"].get<std::string>() + "->" + field["New"].get<std::string>();
    }
    out.push_back(edit);
  }
  return out;
}

TEST(NomadVersionCap, KeepsTheLastSixVersions) {
  NomadTestEnv env;
  for (int n = 0; n <= 8; ++n) {
    Reply r = env.Post("/v1/job/capjob", CapJob("capjob", n, 0));
    ASSERT_EQ(r.status, 200) << r.text;
    Reply versions = env.Get("/v1/job/capjob/versions");
    ASSERT_EQ(versions.status, 200);
    // Up to six versions everything is kept; then each register drops the oldest.
    EXPECT_EQ(versions.body["Versions"].size(), static_cast<size_t>(std::min(n + 1, 6)))
        << "after register " << n;
    EXPECT_EQ(versions.body["Versions"][0]["Version"], n);
  }
  Reply versions = env.Get("/v1/job/capjob/versions?diffs=true");
  ASSERT_EQ(versions.status, 200);
  EXPECT_EQ(Listed(versions.body), (std::vector<std::string>{"8", "7", "6", "5", "4", "3"}));
  for (const json& v : versions.body["Versions"]) {
    EXPECT_EQ(v["Meta"]["n"], std::to_string(v["Version"].get<int64_t>()));
  }
  // Five diffs: the oldest kept version (v3) has no predecessor left to diff against.
  EXPECT_EQ(MetaEdits(versions.body),
            (std::vector<std::string>{"7->8", "6->7", "5->6", "4->5", "3->4"}));
  EXPECT_EQ(versions.headers.count("X-Nomad-Index"), 1u);

  // ?version= is ignored by Nomad 1.0: the current job, whatever N.
  for (const char* n : {"8", "3", "2", "0", "99"}) {
    Reply job = env.Get(std::string("/v1/job/capjob?version=") + n);
    EXPECT_EQ(job.status, 200) << "version=" << n << ": " << job.text;
    EXPECT_EQ(job.body["Version"], 8) << "version=" << n;
  }
}

TEST(NomadVersionCap, KeepsTheNewestStableVersionPastTheCap) {
  NomadTestEnv env;
  ASSERT_EQ(env.Post("/v1/job/stab", CapJob("stab", 0, 1)).status, 200);
  ASSERT_TRUE(env.WaitDeployment("stab", 0, "successful"));
  ASSERT_TRUE(NomadTestEnv::WaitFor([&] { return env.Get("/v1/job/stab").body["Stable"] == true; }))
      << "version 0 never became stable";
  // Count 0: no deployment, so none of the later versions becomes stable.
  const std::vector<std::vector<std::string>> expected = {
      {"1", "0s"},
      {"2", "1", "0s"},
      {"3", "2", "1", "0s"},
      {"4", "3", "2", "1", "0s"},
      {"5", "4", "3", "2", "1", "0s"},
      {"6", "5", "4", "3", "2", "0s"},  // v1 goes instead of the stable v0
      {"7", "6", "5", "4", "3", "0s"},
      {"8", "7", "6", "5", "4", "0s"},
  };
  for (int n = 1; n <= 8; ++n) {
    Reply r = env.Post("/v1/job/stab", CapJob("stab", n, 0));
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(Listed(env.Get("/v1/job/stab/versions").body), expected[n - 1])
        << "after register " << n;
  }
  // The diff across the gap compares the kept neighbours, v0 and v4.
  EXPECT_EQ(MetaEdits(env.Get("/v1/job/stab/versions?diffs=true").body),
            (std::vector<std::string>{"7->8", "6->7", "5->6", "4->5", "0->4"}));
}

}  // namespace
}  // namespace rollouts::sandbox::testing
