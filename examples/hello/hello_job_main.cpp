// hello-job: prints examples/hello/hello.nomad.json with the app task's command pointing
// at a real hello binary (default: the one built next to this tool), ready to POST to
// /v1/jobs. No jq needed in the demo script.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "examples/hello/job_command.h"

int main(int argc, char** argv) {
  CLI::App cli{"Print the hello Nomad job with Config.command set to an absolute path"};
  std::string job_file = HELLO_JOB_FILE;
  std::string command;
  std::string task = "app";
  cli.add_option("--job", job_file, "job JSON ({\"Job\": ...})")->capture_default_str();
  cli.add_option("--command", command, "absolute path of hello (default: next to hello-job)");
  cli.add_option("--task", task, "task whose command is set")->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  if (command.empty()) {
    std::error_code ec;
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) {
      std::cerr << "hello-job: cannot find my own path: " << ec.message() << "\n";
      return 2;
    }
    command = (self.parent_path() / "hello").string();
  }
  std::ifstream in(job_file);
  if (!in) {
    std::cerr << "hello-job: cannot read " << job_file << "\n";
    return 2;
  }
  try {
    nlohmann::json job = nlohmann::json::parse(in);
    std::cout << hello::WithTaskCommand(std::move(job), task, command).dump(2) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "hello-job: " << job_file << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
