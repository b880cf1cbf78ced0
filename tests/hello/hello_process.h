// Runs the real hello binary for a test: fork/exec with a chosen environment, reads the
// bound port from its one stdout line, and always reaps it (SIGKILL in the destructor if
// the test did not stop it).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hello::testing {

class HelloProcess {
 public:
  // Starts `binary --port 0` with exactly `env` (plus PATH) as its environment.
  HelloProcess(const std::string& binary, const std::map<std::string, std::string>& env,
               std::vector<std::string> extra_args = {});
  ~HelloProcess();
  HelloProcess(const HelloProcess&) = delete;
  HelloProcess& operator=(const HelloProcess&) = delete;

  // Waits (bounded) for the "listening on" line; nullopt if the process exited or the
  // line did not come in time.
  std::optional<uint16_t> WaitListening(std::chrono::milliseconds timeout);
  // Waits (bounded) for the exit; the exit code, or -signal when killed by a signal;
  // nullopt while it still runs.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  bool Running();
  void Signal(int signal);
  pid_t pid() const { return pid_; }
  const std::string& stdout_text() const { return stdout_text_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string stdout_text_;
  std::optional<int> exit_code_;
};

}  // namespace hello::testing
