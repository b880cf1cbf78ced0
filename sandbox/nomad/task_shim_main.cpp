// rollout-task-shim: the small process between the sandbox and one raw_exec task (Nomad
// has its executor in the same place). The sandbox starts it with posix_spawn, so starting
// a task never forks the sandbox itself: a fork of a big, many-threaded process copies its
// page tables under its mmap lock and then makes every page it writes fault (copy on
// write) for as long as the forked child lives.
//
// The shim leads the task's session and process group (so a kill reaches the task's own
// children too), and when the sandbox dies (PR_SET_PDEATHSIG, even on SIGKILL) it SIGKILLs
// the whole group. It ignores the kill signals the sandbox sends to the group (they are
// for the task) and exits the way the task exited.
//
// Started by LaunchTask, not by hand, as `rollout-task-shim TASK_DIR` (TASK_DIR only so
// that `ps` says which task it serves), with
//   fd 0: the launch spec, read to EOF: NUL-terminated fields
//         PARENT_PID WORK_DIR STDOUT STDERR PATH ARGC ARGV[0..ARGC) ENV...
//         (never the command line: /proc/PID/cmdline is world-readable, and a task's
//         environment may carry secrets; a count, not a separator, ends ARGV);
//   fd 3: the write end of the launch report pipe: the errno of a failed start is written
//         there, EOF means the task's exec succeeded.
// Only libc is used: a thousand shims stay a thousand tiny processes.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kReportFd = 3;

void ReportErrno() {
  int e = errno;
  (void)!write(kReportFd, &e, sizeof(e));
}

// The launch spec, read from fd 0 to EOF and split into its NUL-terminated fields.
struct Spec {
  char** fields = nullptr;
  size_t count = 0;
};

bool ReadSpec(Spec& spec) {
  size_t size = 0;
  size_t capacity = 4096;
  char* buffer = static_cast<char*>(std::malloc(capacity));
  if (buffer == nullptr) return false;
  for (;;) {
    if (size == capacity) {
      capacity *= 2;
      char* bigger = static_cast<char*>(std::realloc(buffer, capacity));
      if (bigger == nullptr) return false;
      buffer = bigger;
    }
    const ssize_t n = read(0, buffer + size, capacity - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  if (size == 0 || buffer[size - 1] != '\0') return false;  // cut short
  for (size_t i = 0; i < size; ++i) spec.count += buffer[i] == '\0';
  spec.fields = static_cast<char**>(std::calloc(spec.count, sizeof(char*)));
  if (spec.fields == nullptr) return false;
  char* field = buffer;
  for (size_t i = 0; i < spec.count; ++i) {
    spec.fields[i] = field;
    field += std::strlen(field) + 1;
  }
  return true;
}

// fields[from, to) as a NULL-terminated array (what execve wants).
char** Slice(const Spec& spec, size_t from, size_t to) {
  char** out = static_cast<char**>(std::calloc(to - from + 1, sizeof(char*)));
  if (out == nullptr) return nullptr;
  for (size_t i = from; i < to; ++i) out[i - from] = spec.fields[i];
  return out;
}

// The task process itself: default signal handling, log files, work dir, exec.
[[noreturn]] void ExecTask(const char* path, char* const argv[], char* const envp[],
                           const char* work_dir, const char* out_path, const char* err_path) {
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
    ReportErrno();
    _exit(127);
  }
  if (work_dir[0] != '\0' && chdir(work_dir) != 0) {
    ReportErrno();
    _exit(127);
  }
  // Everything but 0-2 and the (close-on-exec) report pipe.
  close_range(kReportFd + 1, ~0U, 0);
  execve(path, argv, envp);
  ReportErrno();
  _exit(127);
}

void KillOwnGroup(int) {
  kill(0, SIGKILL);
}

}  // namespace

int main() {
  // PARENT_PID WORK_DIR STDOUT STDERR PATH ARGC ARGV[0..ARGC) ENV...
  constexpr size_t kArgvStart = 6;
  Spec spec;
  const bool read = ReadSpec(spec);
  const long task_argc =
      read && spec.count > kArgvStart ? std::strtol(spec.fields[5], nullptr, 10) : 0;
  if (task_argc < 1 || kArgvStart + static_cast<size_t>(task_argc) > spec.count) {
    errno = EINVAL;
    ReportErrno();
    return 127;
  }
  const size_t env_start = kArgvStart + static_cast<size_t>(task_argc);
  const pid_t parent = static_cast<pid_t>(std::strtol(spec.fields[0], nullptr, 10));
  const char* work_dir = spec.fields[1];
  const char* out_path = spec.fields[2];
  const char* err_path = spec.fields[3];
  const char* path = spec.fields[4];
  char** task_argv = Slice(spec, kArgvStart, env_start);
  char** task_env = Slice(spec, env_start, spec.count);
  if (task_argv == nullptr || task_env == nullptr) {
    ReportErrno();
    return 127;
  }
  const int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) {
    dup2(null_fd, 0);
    if (null_fd != 0) close(null_fd);
  }

  // The report pipe must close when the task's exec succeeds; other descriptors a
  // careless parent leaked are not the task's business.
  fcntl(kReportFd, F_SETFD, FD_CLOEXEC);
  close_range(kReportFd + 1, ~0U, 0);
  setsid();
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  const int for_the_task[] = {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE};
  for (int sig : for_the_task) sigaction(sig, &ignore, nullptr);
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
    ReportErrno();
    _exit(127);
  }
  if (task == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != shim) _exit(127);
    ExecTask(path, task_argv, task_env, work_dir, out_path, err_path);
  }
  close(kReportFd);
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
