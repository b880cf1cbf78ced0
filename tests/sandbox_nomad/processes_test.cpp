// raw_exec for real: a two-group job runs real processes whose checks pass; a tags-only
// update keeps processes and allocations and changes the Consul tags (staggered); a
// destructive update replaces processes; purge and Shutdown leave no process behind.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/sandbox_nomad/nomad_test_env.h"

namespace rollouts::sandbox::testing {
namespace {

json HttpServerTask(const std::string& version) {
  return {{"Name", "app"},
          {"Driver", "raw_exec"},
          {"Config",
           {{"command", "/usr/bin/python3"},
            {"args", {"-m", "http.server", "${NOMAD_PORT_http}", "--bind", "${NOMAD_IP_http}"}}}},
          {"Env", {{"APP_VERSION", version}}},
          {"KillTimeout", 2000000000LL},
          {"Resources", {{"CPU", 100}, {"MemoryMB", 64}}}};
}

json Group(const std::string& name, const std::string& tag, const std::string& version) {
  return {{"Name", name},
          {"Count", 2},
          {"Meta", {{"version", version}}},
          {"Networks", {{{"DynamicPorts", {{{"Label", "http"}}}}}}},
          {"Services",
           {{{"Name", "web"},
             {"PortLabel", "http"},
             {"Tags", {tag}},
             {"Meta", {{"version", version}}},
             {"Checks",
              {{{"Name", "web-http"},
                {"Type", "http"},
                {"Path", "/"},
                {"Interval", 1000000000LL},
                {"Timeout", 1000000000LL}}}}}}},
          {"Tasks", {HttpServerTask(version)}}};
}

json WebJob(const std::string& blue_tag, const std::string& green_tag,
            const std::string& green_version = "v2") {
  json job = {{"ID", "web"},
              {"Name", "web"},
              {"Type", "service"},
              {"Datacenters", {"dc1"}},
              {"TaskGroups",
               {Group("web-blue", blue_tag, "v1"), Group("web-green", green_tag, green_version)}}};
  return {{"Job", WithFastUpdate(job)}};
}

// Allocation ID -> its task's PIDs, read from /proc.
std::map<std::string, std::set<pid_t>> TaskProcesses(NomadTestEnv& env, const std::string& job) {
  std::map<std::string, std::set<pid_t>> out;
  for (const json& alloc : env.Get("/v1/job/" + job + "/allocations").body) {
    if (alloc["DesiredStatus"] != "run") continue;
    out[alloc["ID"]] = ProcessesWithEnv("NOMAD_ALLOC_ID", alloc["ID"]);
  }
  return out;
}

std::map<std::string, std::string> TagsByGroup(FakeCatalog& catalog) {
  std::map<std::string, std::string> out;  // service ID -> "group:tag"
  for (const auto& [id, reg] : catalog.Services()) {
    const std::string group = id.find("web-blue") != std::string::npos ? "blue" : "green";
    out[id] = group + ":" + (reg.tags.empty() ? "" : reg.tags.front());
  }
  return out;
}

TEST(NomadProcesses, TwoGroupJobLifecycle) {
  NomadTestEnv env;
  Reply registered = env.Post("/v1/jobs", WebJob("active", "standby"));
  ASSERT_EQ(registered.status, 200) << registered.text;
  ASSERT_TRUE(env.WaitDeployment("web", 0, "successful"));

  // Four real processes, one per allocation, each serving the port its check probes.
  auto processes = TaskProcesses(env, "web");
  ASSERT_EQ(processes.size(), 4u);
  for (const auto& [alloc, pids] : processes) EXPECT_EQ(pids.size(), 1u) << alloc;
  auto services = env.catalog().Services();
  ASSERT_EQ(services.size(), 4u);
  for (const auto& [id, reg] : services) {
    EXPECT_EQ(id.rfind("_nomad-task-", 0), 0u) << id;
    EXPECT_TRUE(env.catalog().PassingSince(id).has_value()) << id;
    EXPECT_EQ(reg.meta.at("version"), id.find("web-blue") != std::string::npos ? "v1" : "v2");
    ASSERT_EQ(reg.checks.size(), 1u);
    EXPECT_EQ(reg.checks[0].id.rfind("_nomad-check-", 0), 0u);
  }

  // Tags-only swap: in place. Same allocations, same processes, new tags.
  Reply swapped = env.Post("/v1/job/web", WebJob("standby", "active"));
  ASSERT_EQ(swapped.status, 200) << swapped.text;
  ASSERT_TRUE(env.WaitDeployment("web", 1, "successful"));
  EXPECT_EQ(TaskProcesses(env, "web"), processes);
  for (const auto& [id, group_tag] : TagsByGroup(env.catalog())) {
    EXPECT_TRUE(group_tag == "blue:standby" || group_tag == "green:active") << group_tag;
  }
  EXPECT_EQ(env.catalog().Services().size(), 4u);
  // Each allocation's registration changed on its own, one stagger apart.
  auto updates = env.catalog().TagUpdates();
  ASSERT_EQ(updates.size(), 4u);
  std::set<std::string> updated_ids;
  for (const auto& u : updates) updated_ids.insert(u.service_id);
  EXPECT_EQ(updated_ids.size(), 4u);
  for (size_t i = 1; i < updates.size(); ++i) {
    EXPECT_GE(updates[i].at - updates[i - 1].at, std::chrono::milliseconds(40));
  }

  // Destructive change (env of web-green): green processes replaced, blue untouched.
  Reply changed = env.Post("/v1/job/web", WebJob("standby", "active", "v3"));
  ASSERT_EQ(changed.status, 200) << changed.text;
  ASSERT_TRUE(env.WaitDeployment("web", 2, "successful"));
  auto after = TaskProcesses(env, "web");
  ASSERT_EQ(after.size(), 4u);
  std::set<pid_t> old_pids;
  for (const auto& [alloc, pids] : processes) old_pids.insert(pids.begin(), pids.end());
  int kept = 0;
  int replaced = 0;
  for (const auto& [alloc, pids] : after) {
    ASSERT_EQ(pids.size(), 1u);
    if (processes.count(alloc)) {
      EXPECT_EQ(pids, processes[alloc]);
      kept++;
    } else {
      EXPECT_EQ(old_pids.count(*pids.begin()), 0u);
      EXPECT_EQ(ProcessesWithEnv("APP_VERSION", "v3").count(*pids.begin()), 1u);
      replaced++;
    }
  }
  EXPECT_EQ(kept, 2);
  EXPECT_EQ(replaced, 2);
  for (const auto& [alloc, pids] : processes) {
    if (!after.count(alloc)) {
      EXPECT_TRUE(ProcessesWithEnv("NOMAD_ALLOC_ID", alloc).empty());
    }
  }

  // Purge: the job is gone, every process exited, nothing left in the catalog.
  Reply purged = env.Send("DELETE", "/v1/job/web?purge=true");
  ASSERT_EQ(purged.status, 200);
  EXPECT_TRUE(NomadTestEnv::WaitFor([] { return ProcessesWithEnv("NOMAD_JOB_ID", "web").empty(); },
                                    std::chrono::seconds(20)));
  EXPECT_TRUE(env.catalog().Services().empty());
  EXPECT_EQ(env.Get("/v1/job/web").status, 404);
}

TEST(NomadProcesses, ShutdownStopsEveryTask) {
  std::string job_marker;
  {
    NomadTestEnv env;
    json body = WebJob("active", "standby");
    body["Job"]["ID"] = body["Job"]["Name"] = "shutdown-web";
    ASSERT_EQ(env.Post("/v1/jobs", body).status, 200);
    ASSERT_TRUE(NomadTestEnv::WaitFor(
        [] { return ProcessesWithEnv("NOMAD_JOB_ID", "shutdown-web").size() == 4; }));
    env.agent().Shutdown();
    EXPECT_TRUE(ProcessesWithEnv("NOMAD_JOB_ID", "shutdown-web").empty());
    EXPECT_TRUE(env.catalog().Services().empty());
  }
  EXPECT_TRUE(ProcessesWithEnv("NOMAD_JOB_ID", "shutdown-web").empty());
}

json ShellJob(const std::string& id, const std::string& script, json restart = nullptr,
              int64_t kill_timeout_ns = 1000000000LL) {
  json group = {{"Name", "g"},
                {"Count", 1},
                {"Meta", {{"color", "blue"}}},
                {"Networks", {{{"DynamicPorts", {{{"Label", "http"}}}}}}},
                {"Update", {{"HealthCheck", "task_states"}}},
                {"Tasks",
                 {{{"Name", "t"},
                   {"Driver", "raw_exec"},
                   {"Config", {{"command", "/bin/sh"}, {"args", {"-c", script}}}},
                   {"Env", {{"LISTEN", "${NOMAD_ADDR_http}"}}},
                   {"KillTimeout", kill_timeout_ns}}}}};
  if (!restart.is_null()) group["RestartPolicy"] = restart;
  json job = {{"ID", id}, {"Datacenters", {"dc1"}}, {"TaskGroups", {group}}};
  return {{"Job", WithFastUpdate(job)}};
}

json OnlyAllocation(NomadTestEnv& env, const std::string& job) {
  json allocs = env.Get("/v1/job/" + job + "/allocations").body;
  return allocs.size() == 1 ? allocs[0] : json(nullptr);
}

TEST(NomadProcesses, TaskEnvironmentAndLogs) {
  NomadTestEnv env;
  ASSERT_EQ(env.Post("/v1/jobs", ShellJob("envjob",
                                          "echo port=${NOMAD_PORT_http} addr=$LISTEN "
                                          "meta=$NOMAD_META_color group=$NOMAD_GROUP_NAME "
                                          "job=$NOMAD_JOB_NAME; echo oops >&2; sleep 30"))
                .status,
            200);
  ASSERT_TRUE(env.WaitDeployment("envjob", 0, "successful"));
  const json alloc =
      env.Get("/v1/allocation/" + OnlyAllocation(env, "envjob")["ID"].get<std::string>()).body;
  const int port = alloc["AllocatedResources"]["Shared"]["Ports"][0]["Value"];
  EXPECT_GE(port, 20000);
  EXPECT_LE(port, 32000);
  const auto dir = env.data_dir() / "alloc" / alloc["ID"].get<std::string>();
  std::stringstream out;
  out << std::ifstream(dir / "t.stdout").rdbuf();
  EXPECT_EQ(out.str(), "port=" + std::to_string(port) + " addr=127.0.0.1:" + std::to_string(port) +
                           " meta=blue group=g job=envjob\n");
  std::stringstream err;
  err << std::ifstream(dir / "t.stderr").rdbuf();
  EXPECT_EQ(err.str(), "oops\n");
}

// The task's argv reaches it word for word through the shim's launch spec, "--" and
// empty words included, and the task (not the shim) carries the task's environment.
TEST(NomadProcesses, TaskArgumentsArriveUnchanged) {
  NomadTestEnv env;
  json body = ShellJob("argjob", "");
  body["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["args"] = {
      "-c", "printf '<%s>' \"$@\"; echo; sleep 30", "sh", "--", "", "a b", "--", "KEY=value"};
  ASSERT_EQ(env.Post("/v1/jobs", body).status, 200);
  ASSERT_TRUE(env.WaitDeployment("argjob", 0, "successful"));
  const auto out_path = env.data_dir() / "alloc" /
                        OnlyAllocation(env, "argjob")["ID"].get<std::string>() / "t.stdout";
  std::string out;
  EXPECT_TRUE(NomadTestEnv::WaitFor([&] {
    std::stringstream text;
    text << std::ifstream(out_path).rdbuf();
    out = text.str();
    return !out.empty();
  }));
  EXPECT_EQ(out, "<--><><a b><--><KEY=value>\n");
  EXPECT_EQ(ProcessesWithEnv("NOMAD_JOB_ID", "argjob").size(), 2u);  // the sh and its sleep
  // No command line (world-readable in /proc) carries the task's environment: the shim
  // gets its launch spec on stdin.
  EXPECT_TRUE(ProcessesWithWord("cmdline", "NOMAD_JOB_ID=argjob").empty());
}

// A launch spec cut short (the sandbox died while sending it) starts nothing and says why.
TEST(TaskShim, AnIncompleteLaunchSpecIsReportedAndStartsNothing) {
  int spec[2];
  int report[2];
  ASSERT_EQ(pipe2(spec, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(report, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, spec[0], 0);
  posix_spawn_file_actions_adddup2(&actions, report[1], 3);
  char shim[] = ROLLOUT_TASK_SHIM_BINARY;
  char* argv[] = {shim, nullptr};
  char* no_env[] = {nullptr};
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, shim, &actions, nullptr, argv, no_env), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(spec[0]);
  close(report[1]);
  // PARENT_PID WORK_DIR and no more.
  const std::string cut = std::to_string(getpid()) + '\0' + "/tmp" + '\0';
  ASSERT_EQ(write(spec[1], cut.data(), cut.size()), static_cast<ssize_t>(cut.size()));
  close(spec[1]);
  int reported = 0;
  EXPECT_EQ(read(report[0], &reported, sizeof(reported)), static_cast<ssize_t>(sizeof(reported)));
  close(report[0]);
  EXPECT_EQ(reported, EINVAL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 127);
}

// Nomad's text for it, Go's lower-case errno included.
TEST(NomadProcesses, MissingCommandIsADriverFailure) {
  NomadTestEnv env;
  json body = ShellJob("nocmd", "", {{"Attempts", 0}, {"Mode", "fail"}});
  body["Job"]["TaskGroups"][0]["Tasks"][0]["Config"] = {{"command", "/nonexistent/app"}};
  ASSERT_EQ(env.Post("/v1/jobs", body).status, 200);
  ASSERT_TRUE(env.WaitDeployment("nocmd", 0, "failed"));
  const json task = OnlyAllocation(env, "nocmd")["TaskStates"]["t"];
  bool driver_failure = false;
  for (const json& e : task["Events"]) {
    if (e["Type"] != "Driver Failure") continue;
    driver_failure = true;
    EXPECT_EQ(e["DriverError"],
              "failed to launch command with executor: rpc error: code = Unknown desc = fork/exec "
              "/nonexistent/app: no such file or directory");
  }
  EXPECT_TRUE(driver_failure) << task.dump();
}

TEST(NomadProcesses, FailingTaskExhaustsRestartsAndFailsDeployment) {
  NomadTestEnv env;
  json restart = {
      {"Attempts", 1}, {"Interval", 60000000000LL}, {"Delay", 100000000LL}, {"Mode", "fail"}};
  ASSERT_EQ(env.Post("/v1/jobs", ShellJob("crash", "exit 3", restart)).status, 200);
  ASSERT_TRUE(env.WaitDeployment("crash", 0, "failed"));
  const json alloc = OnlyAllocation(env, "crash");
  EXPECT_EQ(alloc["ClientStatus"], "failed");
  EXPECT_EQ(alloc["DeploymentStatus"]["Healthy"], false);
  const json task = alloc["TaskStates"]["t"];
  EXPECT_EQ(task["State"], "dead");
  EXPECT_EQ(task["Failed"], true);
  EXPECT_EQ(task["Restarts"], 1);
  EXPECT_EQ(task["Events"].back()["Type"], "Not Restarting");
  int terminated = 0;
  for (const json& e : task["Events"]) {
    if (e["Type"] == "Terminated") {
      EXPECT_EQ(e["ExitCode"], 3);
      terminated++;
    }
  }
  EXPECT_EQ(terminated, 2);
}

TEST(NomadProcesses, KillTimeoutEscalatesToSigkill) {
  NomadTestEnv env;
  // Ignores SIGINT (the default KillSignal), so only the SIGKILL after KillTimeout ends it.
  ASSERT_EQ(env.Post("/v1/jobs",
                     ShellJob("stubborn", "trap '' INT; echo ready; while true; do sleep 1; done",
                              nullptr, 300000000LL))
                .status,
            200);
  // Wait until the trap is installed (the task printed "ready"), not just started.
  ASSERT_TRUE(NomadTestEnv::WaitFor([&] {
    json a = OnlyAllocation(env, "stubborn");
    if (!a.is_object() || a["ClientStatus"] != "running") return false;
    std::ifstream out(env.data_dir() / "alloc" / a["ID"].get<std::string>() / "t.stdout");
    std::string line;
    return std::getline(out, line) && line == "ready";
  }));
  ASSERT_EQ(env.Send("DELETE", "/v1/job/stubborn").status, 200);
  ASSERT_TRUE(NomadTestEnv::WaitFor(
      [&] { return OnlyAllocation(env, "stubborn")["ClientStatus"] == "complete"; }));
  const json events = OnlyAllocation(env, "stubborn")["TaskStates"]["t"]["Events"];
  std::vector<std::string> types;
  for (const json& e : events) types.push_back(e["Type"]);
  ASSERT_GE(types.size(), 3u);
  EXPECT_EQ(types[types.size() - 3], "Killing");
  EXPECT_EQ(types[types.size() - 2], "Terminated");
  EXPECT_EQ(events[events.size() - 2]["Signal"], SIGKILL);
  EXPECT_EQ(types.back(), "Killed");
  EXPECT_TRUE(ProcessesWithEnv("NOMAD_JOB_ID", "stubborn").empty());
}

}  // namespace
}  // namespace rollouts::sandbox::testing

namespace rollouts::sandbox::testing {
namespace {

TEST(NomadProcesses, CheckThatNeverPassesIsUnhealthyAfterHealthyDeadline) {
  NomadTestEnv env;
  // The task runs but nothing listens on the checked port.
  json body = ShellJob("deaf", "sleep 30");
  json& group = body["Job"]["TaskGroups"][0];
  group["Update"] = {{"HealthCheck", "checks"},
                     {"MinHealthyTime", 500000000LL},
                     {"HealthyDeadline", 1500000000LL}};
  group["Services"] = {{{"Name", "deaf"},
                        {"PortLabel", "http"},
                        {"Checks",
                         {{{"Name", "deaf-http"},
                           {"Type", "http"},
                           {"Path", "/"},
                           {"Interval", 1000000000LL},
                           {"Timeout", 1000000000LL}}}}}};
  ASSERT_EQ(env.Post("/v1/jobs", body).status, 200);
  ASSERT_TRUE(env.WaitDeployment("deaf", 0, "failed"));
  const json alloc = OnlyAllocation(env, "deaf");
  EXPECT_EQ(alloc["ClientStatus"], "running");
  EXPECT_EQ(alloc["DeploymentStatus"]["Healthy"], false);
  const json deployment = env.Get("/v1/job/deaf/deployment").body;
  EXPECT_EQ(deployment["TaskGroups"]["g"]["UnhealthyAllocs"], 1);
  EXPECT_EQ(deployment["StatusDescription"], "Failed due to unhealthy allocations");
}

// Run in a child process by SigkilledAgentLeavesNoOrphans: starts an agent with a job and
// waits to be killed. Skipped when run normally.
TEST(NomadProcesses, OrphanCheckChild) {
  if (!getenv("SANDBOX_NOMAD_ORPHAN_CHILD")) GTEST_SKIP() << "helper for the orphan test";
  FakeCatalog catalog;
  NomadAgentOptions options;
  options.data_dir = getenv("SANDBOX_NOMAD_ORPHAN_CHILD");
  NomadAgent agent(catalog, options);
  http::ServerRequest request;
  request.method = "POST";
  request.path = request.target = "/v1/jobs";
  json body = ShellJob("orphan-check", "sleep 120");
  body["Job"]["TaskGroups"][0]["Count"] = 2;
  request.body = body.dump();
  agent.Handle(request, [](http::Response) {});
  std::this_thread::sleep_for(std::chrono::seconds(60));  // killed long before
}

TEST(NomadProcesses, SigkilledAgentLeavesNoOrphans) {
  const std::string data_dir =
      (std::filesystem::temp_directory_path() / ("sandbox-orphan-" + std::to_string(getpid())))
          .string();
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(n, 0);
  self[n] = '\0';
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    setenv("SANDBOX_NOMAD_ORPHAN_CHILD", data_dir.c_str(), 1);
    execl(self, self, "--gtest_filter=NomadProcesses.OrphanCheckChild", nullptr);
    _exit(127);
  }
  const bool started = NomadTestEnv::WaitFor(
      // Two allocations, each a shell and its sleep: the sleep is the shell's child, so
      // only a kill of the whole process group reaches it.
      [] { return ProcessesWithEnv("NOMAD_JOB_ID", "orphan-check").size() == 4; },
      std::chrono::seconds(30));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(started);
  // PR_SET_PDEATHSIG: the tasks die with the agent, although nobody stopped them.
  EXPECT_TRUE(
      NomadTestEnv::WaitFor([] { return ProcessesWithEnv("NOMAD_JOB_ID", "orphan-check").empty(); },
                            std::chrono::seconds(10)));
  std::error_code ec;
  std::filesystem::remove_all(data_dir, ec);
}

}  // namespace
}  // namespace rollouts::sandbox::testing
