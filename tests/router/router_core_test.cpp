#include "router/router_core.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "router/nginx_applier.h"
#include "tests/router/test_instances.h"

namespace rollouts::router {
namespace {

class ScriptedRunner : public CommandRunner {
 public:
  int Run(const std::vector<std::string>& argv, std::string* output) override {
    bool is_test = std::find(argv.begin(), argv.end(), "-t") != argv.end();
    if (is_test && !accept) {
      *output = "nginx: [emerg] rejected";
      return 1;
    }
    return 0;
  }
  bool accept = true;
};

using testing::Inst;

class RouterCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("router-core-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    applier_ =
        std::make_unique<NginxApplier>(NginxSetup{"/usr/sbin/nginx", (dir_ / "nginx.conf").string(),
                                                  "", (dir_ / "routes.conf").string()},
                                       runner_);
    core_ = std::make_unique<RouterCore>(
        "r1", std::vector<RoutedService>{{"hello", "", "127.0.0.1:8080", "", "active", "standby"}},
        *applier_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  ScriptedRunner runner_;
  std::unique_ptr<NginxApplier> applier_;
  std::unique_ptr<RouterCore> core_;
};

TEST_F(RouterCoreTest, ReportsTheAppliedVersionAndBackends) {
  core_->SetInstances("hello", {Inst("a", 1, "active", "v1"), Inst("b", 2, "standby", "v2")}, 7);
  core_->SetDeclaredVersion("hello", "v1");
  auto out = core_->Sync(std::chrono::system_clock::now());
  EXPECT_EQ(out.apply.outcome, ApplyResult::Outcome::kChanged);
  EXPECT_TRUE(out.report_changed);
  const auto& svc = core_->report()["services"]["hello"];
  EXPECT_EQ(svc["version"], "v1");
  EXPECT_EQ(svc["backends"], nlohmann::json::array({"127.0.0.1:1"}));
  EXPECT_EQ(svc["consulIndex"], 7);
  EXPECT_EQ(core_->report()["id"], "r1");
}

TEST_F(RouterCoreTest, FollowsTheFlipOnlyWhenTheDeclaredVersionChanges) {
  core_->SetInstances("hello", {Inst("a", 1, "active", "v1"), Inst("b", 2, "standby", "v2")}, 7);
  core_->SetDeclaredVersion("hello", "v1");
  core_->Sync(std::chrono::system_clock::now());
  // Staggered flip: both tagged active while the declared version is still v1.
  core_->SetInstances("hello", {Inst("a", 1, "active", "v1"), Inst("b", 2, "active", "v2")}, 8);
  core_->Sync(std::chrono::system_clock::now());
  EXPECT_EQ(core_->report()["services"]["hello"]["version"], "v1");
  // The controller declares v2; the other half of the flip is still on its way.
  core_->SetDeclaredVersion("hello", "v2");
  core_->Sync(std::chrono::system_clock::now());
  EXPECT_EQ(core_->report()["services"]["hello"]["version"], "v2");
  EXPECT_EQ(core_->AppliedBackends("hello").size(), 1u);
  EXPECT_EQ(core_->AppliedBackends("hello")[0].port, 2);
}

TEST_F(RouterCoreTest, ARejectedConfigDoesNotClaimTheNewVersion) {
  core_->SetInstances("hello", {Inst("a", 1, "active", "v1")}, 7);
  core_->SetDeclaredVersion("hello", "v1");
  core_->Sync(std::chrono::system_clock::now());
  runner_.accept = false;
  core_->SetInstances("hello", {Inst("b", 2, "active", "v2")}, 9);
  core_->SetDeclaredVersion("hello", "v2");
  auto out = core_->Sync(std::chrono::system_clock::now());
  EXPECT_EQ(out.apply.outcome, ApplyResult::Outcome::kRejected);
  EXPECT_EQ(core_->report()["services"]["hello"]["version"], "v1");
  EXPECT_NE(core_->report()["lastError"].get<std::string>().find("rejected"), std::string::npos);
}

}  // namespace
}  // namespace rollouts::router
