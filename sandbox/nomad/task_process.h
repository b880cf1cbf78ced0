// Running raw_exec tasks as real local processes. Each task runs under a small shim
// (rollout-task-shim, started with posix_spawn: see task_shim_main.cpp) in its own session
// and process group (so a kill reaches the task's children too); the shim has
// PR_SET_PDEATHSIG and SIGKILLs the whole group when the sandbox dies, even when the
// sandbox is SIGKILLed. The pid the caller gets is the shim's (= the group's).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace rollouts::sandbox {

struct TaskLaunch {
  std::string command;            // absolute, or looked up in PATH
  std::vector<std::string> args;  // without argv[0]
  std::vector<std::string> env;   // "KEY=VALUE", the complete environment
  std::string work_dir;
  std::string stdout_path;
  std::string stderr_path;
};

struct LaunchResult {
  pid_t pid = -1;     // > 0 when the exec succeeded
  std::string error;  // why it could not start (Nomad's "Driver Failure" text)
};

// PR_SET_PDEATHSIG fires when the *thread* that forked exits, so call this only from a
// thread that lives as long as the sandbox. Returns after the exec succeeded or failed.
LaunchResult LaunchTask(const TaskLaunch& launch);

struct ExitStatus {
  int exit_code = 0;
  int signal = 0;  // the signal that killed it, 0 if it exited
};

// Non-blocking reap of one of our children; nullopt while it is still running.
std::optional<ExitStatus> PollExit(pid_t pid);

// Sends a signal to the task's whole process group.
void SignalTask(pid_t pid, int signal);

// "SIGINT"/"INT"/"" (-> SIGINT, raw_exec's default) to a signal number; -1 if unknown.
int ParseSignalName(const std::string& name);

// True when nothing listens on 127.0.0.1:port (checked by binding it).
bool PortIsFree(int port);

}  // namespace rollouts::sandbox
