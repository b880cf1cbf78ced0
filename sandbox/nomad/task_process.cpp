#include "sandbox/nomad/task_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
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

void ReportErrno(int report_fd) {
  int e = errno;
  (void)!write(report_fd, &e, sizeof(e));
}

// The task process itself: default signal handling, log files, work dir, exec.
[[noreturn]] void ExecTask(const char* path, char* const argv[], char* const envp[],
                           const char* work_dir, const char* out_path, const char* err_path,
                           int report_fd) {
  // Dispositions and the mask are inherited through fork and exec; the sandbox (and the
  // shim) block or ignore some, tasks must get the defaults.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int in = open("/dev/null", O_RDONLY);
  int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  int err = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
    ReportErrno(report_fd);
    _exit(127);
  }
  if (work_dir[0] != '\0' && chdir(work_dir) != 0) {
    ReportErrno(report_fd);
    _exit(127);
  }
  // Close everything else (server sockets, other tasks' files) except the report pipe,
  // which is close-on-exec.
  if (report_fd > 3) close_range(3, static_cast<unsigned>(report_fd) - 1, 0);
  close_range(static_cast<unsigned>(report_fd) + 1, ~0U, 0);
  execve(path, argv, envp);
  ReportErrno(report_fd);
  _exit(127);
}

void KillOwnGroup(int) {
  kill(0, SIGKILL);
}

// Between the sandbox and the task sits a small shim (this forked child, never exec'd):
// it leads the task's process group, and when the sandbox dies (PR_SET_PDEATHSIG, even
// on SIGKILL) it SIGKILLs the whole group, so the task's own children (a shell's
// commands) die too, not only the direct child. It ignores the kill signals the sandbox
// sends to the group (they are for the task) and exits the way the task exited.
// Only async-signal-safe calls here: the sandbox has other threads.
[[noreturn]] void RunShim(pid_t parent, const char* path, char* const argv[], char* const envp[],
                          const char* work_dir, const char* out_path, const char* err_path,
                          int report_fd) {
  setsid();
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE}) {
    sigaction(sig, &ignore, nullptr);
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &dfl, nullptr);
  const int parent_death = SIGRTMAX;
  struct sigaction orphaned {};
  orphaned.sa_handler = KillOwnGroup;
  sigaction(parent_death, &orphaned, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  prctl(PR_SET_PDEATHSIG, parent_death);
  // The sandbox may have died before prctl took effect.
  if (getppid() != parent) _exit(127);
  const pid_t shim = getpid();
  const pid_t task = fork();
  if (task < 0) {
    ReportErrno(report_fd);
    _exit(127);
  }
  if (task == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != shim) _exit(127);
    ExecTask(path, argv, envp, work_dir, out_path, err_path, report_fd);
  }
  close(report_fd);
  int status = 0;
  while (waitpid(task, &status, 0) < 0) {
    if (errno != EINTR) _exit(127);
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    sigaction(sig, &dfl, nullptr);
    kill(shim, sig);
    _exit(128 + sig);
  }
  _exit(WEXITSTATUS(status));
}

}  // namespace

LaunchResult LaunchTask(const TaskLaunch& launch) {
  const std::string path = ResolveCommand(launch.command, launch.env);
  std::vector<std::string> argv_storage;
  argv_storage.push_back(launch.command);
  argv_storage.insert(argv_storage.end(), launch.args.begin(), launch.args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = launch.env;
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    return {-1, std::string("failed to create pipe: ") + std::strerror(errno)};
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(report[0]);
    close(report[1]);
    return {-1, std::string("failed to fork: ") + std::strerror(errno)};
  }
  if (pid == 0) {
    RunShim(parent, path.c_str(), argv.data(), envp.data(), launch.work_dir.c_str(),
            launch.stdout_path.c_str(), launch.stderr_path.c_str(), report[1]);
  }
  close(report[1]);
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
                    std::string("fork/exec ") + path + ": " + std::strerror(child_errno)};
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
