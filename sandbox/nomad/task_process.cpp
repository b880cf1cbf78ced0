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

  // The launch spec (see task_shim_main.cpp) goes to the shim's stdin, never its command
  // line, which anyone on the host can read: the environment may carry secrets.
  std::string spec;
  auto add = [&spec](const std::string& field) {
    spec += field;
    spec += '\0';
  };
  static const std::string shim = ShimPath();
  add(std::to_string(getpid()));
  add(launch.work_dir);
  add(launch.stdout_path);
  add(launch.stderr_path);
  add(path);
  add(std::to_string(argv_storage.size()));
  for (const std::string& arg : argv_storage) add(arg);
  for (const std::string& entry : launch.env) add(entry);
  std::string shim_arg0 = shim;
  std::string shim_arg1 = launch.work_dir;
  char* shim_argv[] = {shim_arg0.data(), shim_arg1.data(), nullptr};
  char* no_env[] = {nullptr};

  // A socket for the spec (send with MSG_NOSIGNAL: a shim that died early must not
  // SIGPIPE the sandbox) and a pipe for the report.
  int spec_fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, spec_fds) != 0) {
    return {-1, std::string("failed to create socket pair: ") + std::strerror(errno)};
  }
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    const int error = errno;
    close(spec_fds[0]);
    close(spec_fds[1]);
    return {-1, std::string("failed to create pipe: ") + std::strerror(error)};
  }
  // posix_spawn (vfork-like: no copy of the sandbox's address space) with the spec socket
  // as the shim's fd 0 and the report pipe as its fd 3 (dup2 clears close-on-exec), an
  // empty signal mask and default dispositions whatever the sandbox's threads block or
  // ignore.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, spec_fds[1], 0);
  posix_spawn_file_actions_adddup2(&actions, report[1], 3);
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
  const int spawn_error = posix_spawn(&pid, shim.c_str(), &actions, &attr, shim_argv, no_env);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(spec_fds[1]);
  close(report[1]);
  if (spawn_error != 0) {
    close(spec_fds[0]);
    close(report[0]);
    return {-1, "failed to launch command with executor: cannot start " + shim + ": " +
                    std::strerror(spawn_error)};
  }
  // A shim that dies before reading it all fails the send; it has exited (or will), so
  // the report read below ends, and its errno (if any) or this failure is the answer.
  bool spec_sent = true;
  for (size_t sent = 0; sent < spec.size();) {
    const ssize_t n = send(spec_fds[0], spec.data() + sent, spec.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      spec_sent = false;
      break;
    }
    sent += static_cast<size_t>(n);
  }
  close(spec_fds[0]);  // EOF: the spec is complete
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof(child_errno)) || !spec_sent) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (n != static_cast<ssize_t>(sizeof(child_errno))) {
      return {-1,
              "failed to launch command with executor: the task shim exited before "
              "reading its launch spec"};
    }
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
