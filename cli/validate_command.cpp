#include "cli/validate_command.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <system_error>

namespace rollouts::cli {
namespace {

namespace fs = std::filesystem;

bool IsHidden(const fs::path& p) {
  std::string name = p.filename().string();
  return name.size() > 1 && name.front() == '.';
}

// *.json files under dir, sorted so that output (and golden files) do not depend on the
// order the file system lists them in.
std::vector<std::string> JsonFilesUnder(const std::string& dir, std::string& error) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (IsHidden(it->path())) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && it->path().extension() == ".json") {
      files.push_back(it->path().string());
    }
  }
  if (ec) error = dir + ": cannot list directory: " + ec.message();
  std::sort(files.begin(), files.end());
  return files;
}

FileVerdict ValidateFile(const std::string& file) {
  FileVerdict verdict{file, false, {}};
  std::ifstream in(file, std::ios::binary);
  if (!in.is_open()) {
    std::error_code ec(errno, std::generic_category());
    verdict.io_error = true;
    verdict.errors.push_back({"", "cannot read file: " + ec.message()});
    return verdict;
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    verdict.io_error = true;
    verdict.errors.push_back({"", "cannot read file: read error"});
    return verdict;
  }
  verdict.errors = reconcilers::ParseRollout(text.str()).errors;
  return verdict;
}

std::string ShownPointer(const std::string& pointer) {
  return pointer.empty() ? "(root)" : pointer;
}

size_t ErrorCount(const ValidateReport& report) {
  size_t n = 0;
  for (const FileVerdict& f : report.files) n += f.errors.size();
  return n;
}

size_t ValidCount(const ValidateReport& report) {
  return static_cast<size_t>(std::count_if(report.files.begin(), report.files.end(),
                                           [](const FileVerdict& f) { return f.errors.empty(); }));
}

}  // namespace

ValidateReport ValidatePaths(const std::vector<std::string>& paths) {
  ValidateReport report;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::string error;
      std::vector<std::string> files = JsonFilesUnder(path, error);
      if (!error.empty()) report.usage_errors.push_back(error);
      if (files.empty() && error.empty()) {
        report.usage_errors.push_back(path + ": no .json files in this directory");
      }
      for (const std::string& file : files) report.files.push_back(ValidateFile(file));
    } else {
      report.files.push_back(ValidateFile(path));
    }
  }
  return report;
}

std::string RenderValidateTable(const ValidateReport& report) {
  std::string out;
  for (const std::string& error : report.usage_errors) out += "error: " + error + "\n";
  for (const FileVerdict& f : report.files) {
    if (f.errors.empty()) out += f.file + ": OK\n";
    for (const reconcilers::SpecError& e : f.errors) {
      out += f.file + ": " + ShownPointer(e.pointer) + ": " + e.message + "\n";
    }
  }
  size_t valid = ValidCount(report);
  out += std::to_string(report.files.size()) + " file(s) checked: " + std::to_string(valid) +
         " valid, " + std::to_string(report.files.size() - valid) + " invalid, " +
         std::to_string(ErrorCount(report)) + " error(s)\n";
  return out;
}

std::string RenderValidateJson(const ValidateReport& report) {
  nlohmann::json files = nlohmann::json::array();
  for (const FileVerdict& f : report.files) {
    nlohmann::json errors = nlohmann::json::array();
    for (const reconcilers::SpecError& e : f.errors) {
      errors.push_back({{"pointer", e.pointer}, {"message", e.message}});
    }
    files.push_back({{"file", f.file},
                     {"valid", f.errors.empty()},
                     {"ioError", f.io_error},
                     {"errors", std::move(errors)}});
  }
  size_t valid = ValidCount(report);
  nlohmann::json out = {{"files", std::move(files)},
                        {"usageErrors", report.usage_errors},
                        {"summary",
                         {{"files", report.files.size()},
                          {"valid", valid},
                          {"invalid", report.files.size() - valid},
                          {"errors", ErrorCount(report)}}}};
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

int ValidateExitCode(const ValidateReport& report) {
  bool io_error =
      !report.usage_errors.empty() || std::any_of(report.files.begin(), report.files.end(),
                                                  [](const FileVerdict& f) { return f.io_error; });
  if (io_error) return kExitUsageOrIo;
  return ValidCount(report) == report.files.size() ? kExitAllValid : kExitSomeInvalid;
}

void AddValidateCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::vector<std::string> paths;
    std::string output = "table";
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "validate", "Check Rollout files offline, for GitOps CI (no Consul or Nomad needed)");
  cmd->add_option("paths", options->paths, "Rollout files (JSON) or directories")
      ->required()
      ->type_name("FILE|DIR");
  cmd->add_option("-o,--output", options->output, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->footer(
      "Directories are searched recursively for *.json files (hidden entries skipped).\n"
      "\n"
      "Output (table): one line per error, `FILE: POINTER: REASON` (POINTER is an RFC 6901\n"
      "JSON pointer into the document, \"(root)\" for the whole document), `FILE: OK` per\n"
      "valid file, then a summary line.\n"
      "\n"
      "Exit codes:\n"
      "  0  every file is a valid Rollout\n"
      "  1  at least one file is invalid (each error is printed)\n"
      "  2  usage or I/O error: bad flags, unreadable file, directory without .json files");
  cmd->callback([options, &exit_code] {
    ValidateReport report = ValidatePaths(options->paths);
    std::cout << (options->output == "json" ? RenderValidateJson(report)
                                            : RenderValidateTable(report));
    exit_code = ValidateExitCode(report);
  });
}

}  // namespace rollouts::cli
