// Child processes for the CLI tests: run rolloutctl to completion (bounded), or keep a
// long-running one (the sandbox, `get --watch`) and read its output line by line.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rollouts::cli_test {

struct RunResult {
  int exit_code = -1;  // -1: killed after the timeout
  std::string out;
  std::string err;
};

// Runs argv[0] with argv, extra environment on top of ours, stdin from /dev/null. Kills
// it (SIGKILL) when it outlives `timeout`.
RunResult Run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const std::map<std::string, std::string>& env = {});

class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~Child();  // SIGTERM, then SIGKILL after 5 s, and reaps
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads stdout until `text` appears (true) or the deadline passes / EOF (false).
  bool WaitForOutput(const std::string& text, std::chrono::milliseconds timeout);
  // Next full stdout line, nullopt on timeout or EOF.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  // Waits for exit (true) and returns its code in `code`; drains stdout into output().
  bool WaitExit(std::chrono::milliseconds timeout, int& code);
  void Signal(int sig);
  const std::string& output() const { return out_; }
  pid_t pid() const { return pid_; }

 private:
  bool ReadMore(std::chrono::steady_clock::time_point deadline);
  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool eof_ = false;
  bool reaped_ = false;
  std::string out_;
  size_t line_pos_ = 0;
};

}  // namespace rollouts::cli_test
