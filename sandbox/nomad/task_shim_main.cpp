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
// Usage (from LaunchTask, not by hand), with the write end of the launch report pipe as
// fd 3 (the errno of a failed exec is written there; EOF means the task's exec succeeded):
//   rollout-task-shim PARENT_PID WORK_DIR STDOUT STDERR PATH ARGC ARGV[0..ARGC) -- ENV...
// (a count, not a separator, ends ARGV: a task's own arguments may contain "--").
// Only libc is used: a thousand shims stay a thousand tiny processes.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int kReportFd = 3;

void ReportErrno() {
  int e = errno;
  (void)!write(kReportFd, &e, sizeof(e));
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

int main(int argc, char** argv) {
  const int argv_start = 7;
  const long task_argc = argc > 6 ? std::strtol(argv[6], nullptr, 10) : 0;
  const long env_sep = argv_start + task_argc;
  if (task_argc < 1 || env_sep >= argc || std::strcmp(argv[env_sep], "--") != 0) {
    std::fprintf(stderr,
                 "usage: rollout-task-shim PARENT_PID WORK_DIR STDOUT STDERR PATH ARGC "
                 "ARGV[0..ARGC) -- ENV... (started by rollout-sandbox, report pipe on fd 3)\n");
    return 127;
  }
  const pid_t parent = static_cast<pid_t>(std::strtol(argv[1], nullptr, 10));
  const char* work_dir = argv[2];
  const char* out_path = argv[3];
  const char* err_path = argv[4];
  const char* path = argv[5];
  argv[env_sep] = nullptr;  // ends the task's argv; its environment follows
  char** task_argv = argv + argv_start;
  char** task_env = argv + env_sep + 1;

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
