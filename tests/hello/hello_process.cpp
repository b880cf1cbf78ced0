#include "tests/hello/hello_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace hello::testing {
namespace {

using Clock = std::chrono::steady_clock;

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

}  // namespace

HelloProcess::HelloProcess(const std::string& binary, const std::map<std::string, std::string>& env,
                           std::vector<std::string> extra_args) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  // Everything the child needs is prepared before fork: only async-signal-safe calls
  // happen in the child.
  std::vector<std::string> env_strings;
  const char* path = std::getenv("PATH");
  env_strings.push_back(std::string("PATH=") + (path ? path : "/usr/bin:/bin"));
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings = {binary, "--host", "127.0.0.1", "--port", "0"};
  for (auto& a : extra_args) arg_strings.push_back(std::move(a));
  std::vector<char*> argv;
  for (auto& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::execve(binary.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  stdout_fd_ = pipe_fds[0];
}

HelloProcess::~HelloProcess() {
  if (Running()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::optional<uint16_t> HelloProcess::WaitListening(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string marker = "listening on http://127.0.0.1:";
  while (Clock::now() < deadline) {
    auto pos = stdout_text_.find(marker);
    if (pos != std::string::npos) {
      auto end = stdout_text_.find('\n', pos);
      if (end != std::string::npos) {
        return static_cast<uint16_t>(
            std::stoi(stdout_text_.substr(pos + marker.size(), end - pos - marker.size())));
      }
    }
    pollfd p{stdout_fd_, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 1))) <= 0) continue;
    char buffer[512];
    ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
    if (n <= 0) return std::nullopt;  // closed: the process is gone
    stdout_text_.append(buffer, static_cast<std::size_t>(n));
  }
  return std::nullopt;
}

std::optional<int> HelloProcess::WaitExit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (exit_code_) return exit_code_;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = DecodeStatus(status);
      return exit_code_;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool HelloProcess::Running() {
  return !WaitExit(std::chrono::milliseconds(0)).has_value();
}

void HelloProcess::Signal(int signal) {
  if (Running()) ::kill(pid_, signal);
}

}  // namespace hello::testing
