#include "tests/cli/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <thread>

namespace rollouts::cli_test {
namespace {

using Clock = std::chrono::steady_clock;

int MillisLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// fork + exec with stdout/stderr to the given fds (-1: inherit).
pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            int out_fd, int err_fd, const std::vector<int>& close_in_child) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  if (out_fd >= 0) dup2(out_fd, STDOUT_FILENO);
  if (err_fd >= 0) dup2(err_fd, STDERR_FILENO);
  // Only 0-2 may stay: a daemon the child forks (tmux's server) must not keep our pipes
  // open, or we would never see EOF.
  if (out_fd > STDERR_FILENO) close(out_fd);
  if (err_fd > STDERR_FILENO && err_fd != out_fd) close(err_fd);
  if (devnull > STDERR_FILENO) close(devnull);
  for (int fd : close_in_child) close(fd);
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

RunResult Run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const std::map<std::string, std::string>& env) {
  int out[2], err[2];
  RunResult r;
  if (pipe(out) != 0 || pipe(err) != 0) return r;
  pid_t pid = Spawn(argv, env, out[1], err[1], {out[0], err[0]});
  close(out[1]);
  close(err[1]);
  const auto deadline = Clock::now() + timeout;
  bool out_open = true, err_open = true, killed = false;
  while (out_open || err_open) {
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int left = MillisLeft(deadline);
    if (left == 0 && !killed) {
      kill(pid, SIGKILL);
      killed = true;
    }
    int n = poll(fds, 2, killed ? 1000 : left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 && killed) break;
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(got));
      }
    }
  }
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = killed ? -1 : DecodeStatus(status);
  return r;
}

Child::Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  int out[2];
  if (pipe(out) != 0) return;
  pid_ = Spawn(argv, env, out[1], -1, {out[0]});
  close(out[1]);
  out_fd_ = out[0];
}

Child::~Child() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGTERM);
    int code = 0;
    if (!WaitExit(std::chrono::seconds(5), code)) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  if (out_fd_ >= 0) close(out_fd_);
}

bool Child::ReadMore(Clock::time_point deadline) {
  if (eof_ || out_fd_ < 0) return false;
  pollfd fd{out_fd_, POLLIN, 0};
  int n = poll(&fd, 1, MillisLeft(deadline));
  if (n <= 0) return false;
  char buf[4096];
  ssize_t got = read(out_fd_, buf, sizeof buf);
  if (got <= 0) {
    eof_ = true;
    return false;
  }
  out_.append(buf, static_cast<size_t>(got));
  return true;
}

bool Child::WaitForOutput(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (out_.find(text) == std::string::npos) {
    if (!ReadMore(deadline)) return out_.find(text) != std::string::npos;
  }
  return true;
}

std::optional<std::string> Child::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (out_.find('\n', line_pos_) == std::string::npos) {
    if (!ReadMore(deadline)) return std::nullopt;
  }
  size_t end = out_.find('\n', line_pos_);
  std::string line = out_.substr(line_pos_, end - line_pos_);
  line_pos_ = end + 1;
  return line;
}

bool Child::WaitExit(std::chrono::milliseconds timeout, int& code) {
  const auto deadline = Clock::now() + timeout;
  while (!eof_ && ReadMore(deadline)) {
  }
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      code = DecodeStatus(status);
      return true;
    }
    if (MillisLeft(deadline) == 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Child::Signal(int sig) {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

}  // namespace rollouts::cli_test
