#include "router/upstream_selection.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/router/test_instances.h"

namespace rollouts::router {
namespace {

using testing::Inst;

struct Case {
  const char* name;
  std::vector<Instance> instances;
  std::optional<std::string> declared;
  std::vector<int> last_good_ports;  // of version "v1"
  std::vector<int> want_ports;
  bool want_kept_last_good;
};
// gtest names a failing case by its parameter: the case's name, not a dump of its bytes.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class SelectActiveTable : public ::testing::TestWithParam<Case> {};

TEST_P(SelectActiveTable, FollowsTheDeclaredVersionNeverMixesAndNeverEmpties) {
  const Case& c = GetParam();
  Selection last;
  for (int p : c.last_good_ports) last.backends.push_back({"127.0.0.1", p, "v1"});
  last.version = c.last_good_ports.empty() ? "" : "v1";
  Selection got = SelectActive({c.instances, "active", c.declared}, last);
  std::vector<int> ports;
  std::set<std::string> versions;
  for (const auto& b : got.backends) {
    ports.push_back(b.port);
    versions.insert(b.version);
  }
  EXPECT_EQ(ports, c.want_ports) << got.reason;
  EXPECT_EQ(got.kept_last_good, c.want_kept_last_good) << got.reason;
  EXPECT_LE(versions.size(), 1u) << "two versions in one upstream";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SelectActiveTable,
    ::testing::Values(Case{"steady_state",
                           {Inst("a", 1, "active", "v1"), Inst("b", 2, "active", "v1"),
                            Inst("c", 3, "standby", "v2")},
                           "v1",
                           {},
                           {1, 2},
                           false},
                      Case{"mid_flip_both_tagged_active_follows_declared_new",
                           {Inst("a", 1, "active", "v1"), Inst("b", 2, "active", "v1"),
                            Inst("c", 3, "active", "v2"), Inst("d", 4, "standby", "v2")},
                           "v2",
                           {1, 2},
                           {3},
                           false},
                      Case{"mid_flip_both_tagged_active_still_declared_old",
                           {Inst("a", 1, "active", "v1"), Inst("c", 3, "active", "v2")},
                           "v1",
                           {1},
                           {1},
                           false},
                      Case{"mid_flip_neither_tagged_active_keeps_last_good",
                           {Inst("a", 1, "standby", "v1"), Inst("c", 3, "standby", "v2")},
                           "v2",
                           {1},
                           {1},
                           true},
                      Case{"unhealthy_instances_are_skipped",
                           {Inst("a", 1, "active", "v1", false), Inst("b", 2, "active", "v1")},
                           "v1",
                           {},
                           {2},
                           false},
                      Case{"all_unhealthy_keeps_last_good",
                           {Inst("a", 1, "active", "v1", false),
                            Inst("b", 2, "active", "v1", false)},
                           "v1",
                           {1, 2},
                           {1, 2},
                           true},
                      Case{"nothing_and_no_last_good_is_empty",
                           {Inst("a", 1, "standby", "v1")},
                           "v1",
                           {},
                           {},
                           false},
                      Case{"no_declared_version_single_version_is_used",
                           {Inst("a", 1, "active", "v1"), Inst("b", 2, "active", "v1")},
                           std::nullopt,
                           {},
                           {1, 2},
                           false},
                      Case{"no_declared_version_mixed_versions_keeps_last_good",
                           {Inst("a", 1, "active", "v1"), Inst("c", 3, "active", "v2")},
                           std::nullopt,
                           {1},
                           {1},
                           true}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(SelectPreview, ReadyStandbyInstancesOfAnyVersion) {
  auto got = SelectPreview({Inst("a", 1, "active", "v1"), Inst("c", 3, "standby", "v2"),
                            Inst("d", 4, "standby", "v2", false)},
                           "standby");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].port, 3);
}

}  // namespace
}  // namespace rollouts::router
