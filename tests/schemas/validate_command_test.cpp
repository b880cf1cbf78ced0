// `rolloutctl validate` as a library: file discovery, verdicts, rendering, exit codes.
#include "cli/validate_command.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace rollouts::cli {
namespace {

namespace fs = std::filesystem;

const fs::path kValid = fs::path(ROLLOUTS_SOURCE_DIR) / "crd-schemas/examples/valid";

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteText(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A scratch directory removed when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("rolloutctl-validate-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(ValidatePathsTest, DirectoriesAreSearchedRecursivelyInSortedOrder) {
  ScratchDir dir;
  std::string hello = ReadText(kValid / "hello.json");
  WriteText(dir.path() / "b.json", hello);
  WriteText(dir.path() / "a/z.json", hello);
  WriteText(dir.path() / "a/notes.txt", "not a rollout");
  WriteText(dir.path() / ".git/config.json", "{");  // hidden: skipped
  WriteText(dir.path() / ".hidden.json", "{");      // hidden: skipped
  ValidateReport report = ValidatePaths({dir.path().string()});
  ASSERT_EQ(report.files.size(), 2u);
  EXPECT_EQ(report.files[0].file, (dir.path() / "a/z.json").string());
  EXPECT_EQ(report.files[1].file, (dir.path() / "b.json").string());
  EXPECT_TRUE(report.usage_errors.empty());
  EXPECT_EQ(ValidateExitCode(report), kExitAllValid);
}

TEST(ValidatePathsTest, OneInvalidFileMakesTheRunFail) {
  ScratchDir dir;
  WriteText(dir.path() / "good.json", ReadText(kValid / "minimal.json"));
  WriteText(dir.path() / "bad.json", R"({"apiVersion": "rollouts.nomad.io/v1"})");
  ValidateReport report = ValidatePaths({dir.path().string()});
  ASSERT_EQ(report.files.size(), 2u);
  EXPECT_EQ(report.files[0].errors.size(), 3u);  // kind, metadata, spec are missing
  EXPECT_TRUE(report.files[1].errors.empty());
  EXPECT_EQ(ValidateExitCode(report), kExitSomeInvalid);
  std::string bad = (dir.path() / "bad.json").string();
  std::string good = (dir.path() / "good.json").string();
  EXPECT_EQ(RenderValidateTable(report),
            bad + ": /kind: is required\n" + bad + ": /metadata: is required\n" + bad +
                ": /spec: is required\n" + good +
                ": OK\n2 file(s) checked: 1 valid, 1 invalid, 3 error(s)\n");
}

TEST(ValidatePathsTest, MissingFileIsAnIoErrorWithExitCode2) {
  ScratchDir dir;
  WriteText(dir.path() / "bad.json", "[]");
  std::string missing = (dir.path() / "nope.json").string();
  ValidateReport report = ValidatePaths({missing, (dir.path() / "bad.json").string()});
  ASSERT_EQ(report.files.size(), 2u);
  EXPECT_TRUE(report.files[0].io_error);
  ASSERT_EQ(report.files[0].errors.size(), 1u);
  EXPECT_EQ(report.files[0].errors[0].message, "cannot read file: No such file or directory");
  // An I/O problem outranks an invalid document: CI must not read it as "just invalid".
  EXPECT_EQ(ValidateExitCode(report), kExitUsageOrIo);
}

TEST(ValidatePathsTest, DirectoryWithoutJsonFilesIsAUsageError) {
  ScratchDir dir;
  WriteText(dir.path() / "README.md", "nothing here");
  ValidateReport report = ValidatePaths({dir.path().string()});
  EXPECT_TRUE(report.files.empty());
  ASSERT_EQ(report.usage_errors.size(), 1u);
  EXPECT_EQ(ValidateExitCode(report), kExitUsageOrIo);
  EXPECT_EQ(RenderValidateTable(report), "error: " + dir.path().string() +
                                             ": no .json files in this directory\n"
                                             "0 file(s) checked: 0 valid, 0 invalid, 0 error(s)\n");
}

TEST(ValidatePathsTest, JsonOutputCarriesPointersAndSummary) {
  ScratchDir dir;
  WriteText(dir.path() / "x.json", "{");
  ValidateReport report = ValidatePaths({(dir.path() / "x.json").string()});
  nlohmann::json out = nlohmann::json::parse(RenderValidateJson(report));
  ASSERT_EQ(out["files"].size(), 1u);
  EXPECT_EQ(out["files"][0]["valid"], false);
  EXPECT_EQ(out["files"][0]["ioError"], false);
  EXPECT_EQ(out["files"][0]["errors"][0]["pointer"], "");
  EXPECT_EQ(out["summary"],
            (nlohmann::json{{"files", 1}, {"valid", 0}, {"invalid", 1}, {"errors", 1}}));
}

}  // namespace
}  // namespace rollouts::cli
