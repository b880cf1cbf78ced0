// The rollout-sandbox executable: prints its addresses, serves, and exits cleanly on
// SIGTERM / SIGINT.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "clients/http/http.h"

namespace {

using namespace std::chrono_literals;

class SandboxProcess {
 public:
  explicit SandboxProcess(std::vector<std::string> extra_args = {}) {
    data_dir_ =
        std::filesystem::temp_directory_path() /
        ("sandbox-exe-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    std::vector<std::string> args = {ROLLOUT_SANDBOX_BINARY, "--consul-addr", "127.0.0.1:0",
                                     "--nomad-addr",         "127.0.0.1:0",   "--data-dir",
                                     data_dir_.string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_fd_ = out[0];
  }

  ~SandboxProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(stdout_fd_);
    std::error_code ignored;
    std::filesystem::remove_all(data_dir_, ignored);
  }

  // Reads "name url" lines until `count` agents are announced or `timeout` passes.
  std::map<std::string, std::string> ReadAddresses(size_t count,
                                                   std::chrono::milliseconds timeout) {
    std::map<std::string, std::string> out;
    std::string buffer;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{stdout_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      char chunk[256];
      ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<size_t>(n));
      size_t newline;
      while ((newline = buffer.find('\n')) != std::string::npos) {
        std::istringstream line(buffer.substr(0, newline));
        buffer.erase(0, newline + 1);
        std::string name, url;
        if (line >> name >> url) out[name] = url;
      }
    }
    return out;
  }

  // Exit status after `signal`, or -1 if it did not exit within the timeout.
  int StopWith(int signal, std::chrono::milliseconds timeout) {
    ::kill(pid_, signal);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path data_dir_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool exited_ = false;
};

constexpr size_t kAgents = 2;  // consul and nomad

TEST(SandboxExecutable, PrintsAddressesServesAndStopsOnSigterm) {
  SandboxProcess sandbox;
  auto addresses = sandbox.ReadAddresses(kAgents, 10s);
  ASSERT_EQ(addresses.size(), kAgents);
  ASSERT_TRUE(addresses.count("consul"));
  EXPECT_EQ(addresses["consul"].rfind("http://127.0.0.1:", 0), 0u);
  auto consul = rollouts::http::MakeClient({addresses["consul"], {}});
  rollouts::http::Request leader;
  leader.target = "/v1/status/leader";
  rollouts::http::Result result = consul->Send(leader);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.response().body, "\"127.0.0.1:8300\"");
  rollouts::http::Request faults;
  faults.target = "/_sandbox/faults";
  result = consul->Send(faults);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.response().body, "[]");  // off by default
  ASSERT_TRUE(addresses.count("nomad"));
  auto nomad = rollouts::http::MakeClient({addresses["nomad"], {}});
  result = nomad->Send(leader);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.response().status, 200);
  EXPECT_EQ(sandbox.StopWith(SIGTERM, 20s), 0);
}

TEST(SandboxExecutable, StopsOnSigintWhileAQueryIsParked) {
  SandboxProcess sandbox;
  auto addresses = sandbox.ReadAddresses(kAgents, 10s);
  ASSERT_TRUE(addresses.count("consul"));
  auto consul = rollouts::http::MakeClient({addresses["consul"], {}});
  std::thread parked([&] {
    rollouts::http::Request blocking;
    blocking.target = "/v1/kv/x?index=100000&wait=5m";
    blocking.timeout = 60s;
    consul->Send(blocking);  // answered at shutdown or cut off: either is fine
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sandbox.StopWith(SIGINT, 20s), 0);
  parked.join();
}

TEST(SandboxExecutable, AppliesFaultsFileAndConsulToken) {
  std::filesystem::path faults = std::filesystem::temp_directory_path() /
                                 ("sandbox-faults-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(faults);
    out << R"([{"agent": "consul", "path": "^/v1/kv/", "status": 503}])";
  }
  SandboxProcess sandbox({"--faults", faults.string(), "--consul-token", "t0ken"});
  auto addresses = sandbox.ReadAddresses(kAgents, 10s);
  ASSERT_TRUE(addresses.count("consul"));
  auto consul = rollouts::http::MakeClient({addresses["consul"], {}});
  rollouts::http::Request kv;
  kv.target = "/v1/kv/x";
  kv.headers["X-Consul-Token"] = "t0ken";
  rollouts::http::Result result = consul->Send(kv);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.response().status, 503);
  rollouts::http::Request catalog;
  catalog.target = "/v1/catalog/services";
  result = consul->Send(catalog);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.response().status, 403);
  EXPECT_EQ(result.response().body, "Permission denied");
  catalog.headers["X-Consul-Token"] = "t0ken";
  result = consul->Send(catalog);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.response().status, 200);
  EXPECT_EQ(sandbox.StopWith(SIGTERM, 20s), 0);
  std::filesystem::remove(faults);
}

}  // namespace
