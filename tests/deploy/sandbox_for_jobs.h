// A rollout-sandbox for the deploy/ job tests: started on free ports with its data in
// `data_dir`, HTTP clients for its Consul and Nomad APIs, stopped (with every task it
// started) and its folder removed when the object goes.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "clients/http/http.h"
#include "tests/cli/subprocess.h"

namespace rollouts::deploy_test {

class SandboxForJobs {
 public:
  // Use as ASSERT_NO_FATAL_FAILURE(sandbox.Start(dir)) in SetUp.
  void Start(const std::string& data_dir) {
    data_dir_ = data_dir;
    child_ = std::make_unique<cli_test::Child>(
        std::vector<std::string>{ROLLOUT_SANDBOX_PATH, "--consul-addr", "127.0.0.1:0",
                                 "--nomad-addr", "127.0.0.1:0", "--data-dir", data_dir_});
    for (int i = 0; i < 2; ++i) {
      std::optional<std::string> line = child_->ReadLine(std::chrono::seconds(20));
      ASSERT_TRUE(line.has_value()) << "sandbox did not start: " << child_->output();
      std::smatch match;
      ASSERT_TRUE(std::regex_match(*line, match, std::regex(R"((consul|nomad) (http://\S+))")))
          << *line;
      (match[1] == "consul" ? consul_url : nomad_url) = match[2];
    }
    consul = http::MakeClient({consul_url, {}});
    nomad = http::MakeClient({nomad_url, {}});
  }

  ~SandboxForJobs() {
    child_.reset();  // SIGTERM: the sandbox stops every task it started
    std::error_code ignored;
    if (!data_dir_.empty()) std::filesystem::remove_all(data_dir_, ignored);
  }

  std::string output() const { return child_ ? child_->output() : ""; }
  const std::string& data_dir() const { return data_dir_; }

  std::string consul_url, nomad_url;
  std::unique_ptr<http::Client> consul, nomad;

 private:
  std::string data_dir_;
  std::unique_ptr<cli_test::Child> child_;
};

}  // namespace rollouts::deploy_test
