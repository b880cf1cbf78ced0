#include "sandbox/nomad/task_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

namespace rollouts::sandbox {

namespace {

std::string ResolveCommand(const std::string& command, const std::vector<std::string>& env) {
  if (command.find('/') != std::string::npos) return command;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& entry : env) {
    if (entry.rfind("PATH=", 0) == 0) path = entry.substr(5);
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string candidate = path.substr(start, end - start) + "/" + command;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return command;
}

// The shim binary: $ROLLOUT_TASK_SHIM, else next to this executable (rollout-sandbox and
// rollout-task-shim are built side by side), else where this build put it
// (test binaries that link the sandbox live elsewhere in the build tree).
std::string ShimPath() {
  if (const char* env = std::getenv("ROLLOUT_TASK_SHIM"); env != nullptr && env[0] != '\0') {
    return env;
  }
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path beside = self.parent_path() / "rollout-task-shim";
    if (access(beside.c_str(), X_OK) == 0) return beside.string();
  }
  return ROLLOUTS_TASK_SHIM_BUILD_PATH;
}

// An errno as Go's syscall.Errno prints it: glibc's text with a lower-case first letter
// ("no such file or directory", "permission denied", "exec format error").
std::string GoErrnoText(int error) {
  std::string text = std::strerror(error);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

}  // namespace

LaunchResult LaunchTask(const TaskLaunch& launch) {
  const std::string path = ResolveCommand(launch.command, launch.env);
  std::vector<std::string> argv_storage;
  argv_storage.push_back(launch.command);
  argv_storage.insert(argv_storage.end(), launch.args.begin(), launch.args.end());

  // The shim's command line (see task_shim_main.cpp); its own environment stays empty, so
  // only the task carries the task's environment.
  static const std::string shim = ShimPath();
  std::vector<std::string> shim_args = {shim,
                                        std::to_string(getpid()),
                                        launch.work_dir,
                                        launch.stdout_path,
                                        launch.stderr_path,
                                        path,
                                        std::to_string(argv_storage.size())};
  shim_args.insert(shim_args.end(), argv_storage.begin(), argv_storage.end());
  shim_args.emplace_back("--");
  shim_args.insert(shim_args.end(), launch.env.begin(), launch.env.end());
  std::vector<char*> shim_argv;
  for (std::string& a : shim_args) shim_argv.push_back(a.data());
  shim_argv.push_back(nullptr);
  char* no_env[] = {nullptr};

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    return {-1, std::string("failed to create pipe: ") + std::strerror(errno)};
  }
  // posix_spawn (vfork-like: no copy of the sandbox's address space) with the report pipe
  // as the shim's fd 3 (dup2 clears close-on-exec), /dev/null as its stdin, an empty
  // signal mask and default dispositions whatever the sandbox's threads block or ignore.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, report[1], 3);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int spawn_error =
      posix_spawn(&pid, shim.c_str(), &actions, &attr, shim_argv.data(), no_env);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(report[1]);
  if (spawn_error != 0) {
    close(report[0]);
    return {-1, "failed to launch command with executor: cannot start " + shim + ": " +
                    std::strerror(spawn_error)};
  }
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    int status = 0;
    waitpid(pid, &status, 0);
    return {-1, "failed to launch command with executor: rpc error: code = Unknown desc = " +
                    std::string("fork/exec ") + path + ": " + GoErrnoText(child_errno)};
  }
  return {pid, ""};
}

std::optional<ExitStatus> PollExit(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return std::nullopt;
  if (r < 0) return ExitStatus{0, 0};  // not our child any more (already reaped)
  if (WIFSIGNALED(status)) return ExitStatus{128 + WTERMSIG(status), WTERMSIG(status)};
  return ExitStatus{WEXITSTATUS(status), 0};
}

void SignalTask(pid_t pid, int signal) {
  if (pid <= 0) return;
  // The task leads its own process group (setsid); fall back to the pid alone if the
  // group is gone.
  if (kill(-pid, signal) != 0) kill(pid, signal);
}

int ParseSignalName(const std::string& name) {
  static const std::map<std::string, int> kSignals = {
      {"SIGINT", SIGINT},   {"SIGTERM", SIGTERM}, {"SIGKILL", SIGKILL}, {"SIGHUP", SIGHUP},
      {"SIGQUIT", SIGQUIT}, {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}};
  if (name.empty()) return SIGINT;
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper.rfind("SIG", 0) != 0) upper = "SIG" + upper;
  auto it = kSignals.find(upper);
  return it == kSignals.end() ? -1 : it->second;
}

bool PortIsFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace rollouts::sandbox
