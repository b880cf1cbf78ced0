// Property-style test: whole rollouts in the simulated world over many seeds and fault
// orders. At every step the invariants of docs/design.md must hold (checked by FakeWorld:
// exactly one active group in the declared job, the declared Active version runs in the
// declared Active group, no flip to a group that is not all ready, the old version never
// scaled down while a router serves it, while Consul tags it active, or before
// scaleDownDelay), and every run must end in the expected state.
#include <gtest/gtest.h>

#include <set>

#include "tests/reconcilers/fake_world.h"

namespace rollouts::reconcilers::testing {
namespace {

struct Outcome {
  Phase phase = Phase::kInvalidSpec;
  std::string active_version;
  int flips = 0;
};

// Drives decide() against the world until it rests in Healthy/Degraded (or the bound).
Outcome RunToRest(FakeWorld& world, int max_steps = 20000) {
  int idle_terminal = 0;
  for (int step = 0; step < max_steps; ++step) {
    Snapshot snapshot = world.Observe();
    Action action = Decide(snapshot);
    world.Apply(action);
    world.Advance(world.StepAfter(action));
    if (!world.violations().empty()) break;
    const RolloutStatus& st = world.status();
    bool terminal = st.phase && (*st.phase == Phase::kHealthy || *st.phase == Phase::kDegraded);
    idle_terminal = terminal && std::holds_alternative<NoOp>(action) ? idle_terminal + 1 : 0;
    if (idle_terminal >= 3) break;
  }
  const RolloutStatus& st = world.status();
  return {st.phase.value_or(Phase::kInvalidSpec), st.active_version, world.flips()};
}

std::string Describe(const FakeWorld& world) {
  std::string out = "phase " +
                    std::string(PhaseName(world.status().phase.value_or(Phase::kInvalidSpec))) +
                    ", flips " + std::to_string(world.flips()) + ", violations:";
  for (const std::string& v : world.violations()) out += " [" + v + "]";
  out += " events:";
  for (const Event& e : world.status().events) out += " " + e.reason;
  return out;
}

FaultPlan Faulty(uint32_t seed) {
  FaultPlan plan;
  // Seeds cycle through fault mixes; every third seed has none.
  switch (seed % 3) {
    case 0:
      break;
    case 1:
      plan.cas_conflict = 0.2;
      plan.register_conflict = 0.2;
      plan.register_error = 0.2;
      break;
    case 2:
      plan.crash = 0.3;
      plan.cas_conflict = 0.1;
      plan.register_error = 0.1;
      break;
  }
  return plan;
}

Rollout WithAnalysis(const std::string& version) {
  Rollout r = HelloRollout(version);
  r.spec.pre_promotion = ErrorRateAnalysis(2);
  r.spec.pre_promotion->probe = ProbeSpec{};
  r.spec.post_promotion = ErrorRateAnalysis(3);
  return r;
}

constexpr uint32_t kSeeds = 60;

TEST(RolloutSimulation, HappyPathEndsHealthyWithOneFlipUnderFaults) {
  int crashes = 0;
  for (uint32_t seed = 0; seed < kSeeds; ++seed) {
    FakeWorld world(WithAnalysis("v2"), seed, Faulty(seed));
    Outcome out = RunToRest(world);
    crashes += world.crashes();
    // A level-triggered loop must not write the status over and over while it waits.
    EXPECT_LT(world.status_writes(), 80) << "seed " << seed;
    ASSERT_TRUE(world.violations().empty()) << "seed " << seed << ": " << Describe(world);
    ASSERT_EQ(out.phase, Phase::kHealthy) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(out.active_version, "v2") << "seed " << seed;
    EXPECT_EQ(out.flips, 1) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(world.ActiveGroupInJob(), "hello-green") << "seed " << seed;
    EXPECT_EQ(world.Count("hello-blue"), 0) << "seed " << seed;
    EXPECT_EQ(world.Count("hello-green"), 2) << "seed " << seed;
    ASSERT_FALSE(world.status().history.empty());
    EXPECT_EQ(world.status().history.back().outcome, "Succeeded");
  }
  EXPECT_GT(crashes, 0) << "the fault plans must actually restart the controller";
}

TEST(RolloutSimulation, CrashingVersionRollsBackWithoutFlip) {
  for (uint32_t seed = 0; seed < kSeeds; ++seed) {
    FaultPlan plan = Faulty(seed);
    plan.crashing_version = "v2";
    FakeWorld world(WithAnalysis("v2"), seed, plan);
    Outcome out = RunToRest(world);
    ASSERT_TRUE(world.violations().empty()) << "seed " << seed << ": " << Describe(world);
    ASSERT_EQ(out.phase, Phase::kDegraded) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(out.active_version, "v1");
    EXPECT_EQ(out.flips, 0) << "seed " << seed;
    EXPECT_EQ(world.ActiveGroupInJob(), "hello-blue");
    EXPECT_EQ(world.Count("hello-blue"), 2);
    EXPECT_EQ(world.Count("hello-green"), 0);
    const std::string reason = world.status().rollback_reason;
    EXPECT_TRUE(reason == "CrashLoop" || reason == "StandbyUnhealthy") << reason;
  }
}

TEST(RolloutSimulation, FailedPrePromotionAnalysisNeverFlips) {
  for (uint32_t seed = 0; seed < kSeeds; ++seed) {
    FaultPlan plan = Faulty(seed);
    plan.pre_metric = 0.5;
    FakeWorld world(WithAnalysis("v2"), seed, plan);
    Outcome out = RunToRest(world);
    ASSERT_TRUE(world.violations().empty()) << "seed " << seed << ": " << Describe(world);
    ASSERT_EQ(out.phase, Phase::kDegraded) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(out.flips, 0);
    EXPECT_EQ(world.status().rollback_reason, "AnalysisFailed");
    EXPECT_EQ(world.Count("hello-green"), 0);
  }
}

TEST(RolloutSimulation, FailedPostPromotionAnalysisFlipsBack) {
  for (uint32_t seed = 0; seed < kSeeds; ++seed) {
    FaultPlan plan = Faulty(seed);
    plan.post_metric = 0.5;
    FakeWorld world(WithAnalysis("v2"), seed, plan);
    Outcome out = RunToRest(world);
    ASSERT_TRUE(world.violations().empty()) << "seed " << seed << ": " << Describe(world);
    ASSERT_EQ(out.phase, Phase::kDegraded) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(out.active_version, "v1");
    EXPECT_EQ(out.flips, 2) << "flip and flip back, seed " << seed;
    EXPECT_EQ(world.ActiveGroupInJob(), "hello-blue");
    EXPECT_EQ(world.Count("hello-blue"), 2);
    EXPECT_EQ(world.Count("hello-green"), 0);
    EXPECT_EQ(world.status().rollback_reason, "AnalysisFailed");
  }
}

TEST(RolloutSimulation, StuckRouterTimesOutAndFlipsBack) {
  for (uint32_t seed = 0; seed < kSeeds / 2; ++seed) {
    FaultPlan plan = Faulty(seed);
    plan.stuck_router = true;
    FakeWorld world(HelloRollout("v2"), seed, plan);
    Outcome out = RunToRest(world);
    ASSERT_TRUE(world.violations().empty()) << "seed " << seed << ": " << Describe(world);
    ASSERT_EQ(out.phase, Phase::kDegraded) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(out.flips, 2);
    EXPECT_EQ(world.status().rollback_reason, "RouterTimeout");
    EXPECT_EQ(world.ActiveGroupInJob(), "hello-blue");
  }
}

TEST(RolloutSimulation, NewVersionDuringRolloutSupersedesAndFinishes) {
  for (uint32_t seed = 0; seed < kSeeds / 2; ++seed) {
    FakeWorld world(WithAnalysis("v2"), seed, Faulty(seed));
    // Run into the pre-flip part of the rollout, then change the spec.
    for (int step = 0; step < 5000; ++step) {
      Action action = Decide(world.Observe());
      world.Apply(action);
      world.Advance(world.StepAfter(action));
      if (world.status().phase == Phase::kAnalyzing) break;
    }
    ASSERT_EQ(world.status().phase, Phase::kAnalyzing) << "seed " << seed;
    world.SetSpecVersion("v3");
    Outcome out = RunToRest(world);
    ASSERT_TRUE(world.violations().empty()) << "seed " << seed << ": " << Describe(world);
    ASSERT_EQ(out.phase, Phase::kHealthy) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(out.active_version, "v3");
    EXPECT_EQ(out.flips, 1);
    EXPECT_EQ(world.Version("hello-green"), "v3");
    bool superseded = false;
    for (const HistoryEntry& h : world.status().history)
      superseded |= h.version == "v2" && h.outcome == "Superseded";
    EXPECT_TRUE(superseded);
  }
}

TEST(RolloutSimulation, SecondRolloutGoesBackToTheFirstGroup) {
  FakeWorld world(HelloRollout("v2"), 7, Faulty(7));
  ASSERT_EQ(RunToRest(world).active_version, "v2");
  world.SetSpecVersion("v3");
  Outcome out = RunToRest(world);
  ASSERT_TRUE(world.violations().empty()) << Describe(world);
  EXPECT_EQ(out.phase, Phase::kHealthy);
  EXPECT_EQ(out.active_version, "v3");
  EXPECT_EQ(world.ActiveGroupInJob(), "hello-blue");
  EXPECT_EQ(world.Count("hello-green"), 0);
}

// Runs `steps` decide/act rounds (or fewer if the rollout rests first).
void Steps(FakeWorld& world, int steps) {
  for (int step = 0; step < steps; ++step) {
    Action action = Decide(world.Observe());
    world.Apply(action);
    world.Advance(world.StepAfter(action));
  }
}

std::string LastAck(const FakeWorld& world, const std::string& id) {
  for (const ControlAck& a : world.status().acknowledged) {
    if (a.id == id) return a.result;
  }
  return "";
}

TEST(RolloutSimulation, AbortAtAnyPointRestoresTheOldVersion) {
  std::set<std::string> aborted_in;
  for (uint32_t seed = 0; seed < kSeeds; ++seed) {
    FakeWorld world(WithAnalysis("v2"), seed, Faulty(seed));
    Steps(world, 5 + static_cast<int>(seed * 7 % 150));  // abort somewhere along the way
    const Phase when = world.status().phase.value_or(Phase::kInvalidSpec);
    world.SetControl("abort-" + std::to_string(seed), ControlVerb::kAbort);
    Outcome out = RunToRest(world);
    ASSERT_TRUE(world.violations().empty()) << "seed " << seed << ": " << Describe(world);
    const std::string ack = LastAck(world, "abort-" + std::to_string(seed));
    if (ack == "accepted") {
      aborted_in.insert(std::string(PhaseName(when)));
      EXPECT_EQ(out.phase, Phase::kDegraded)
          << "seed " << seed << " aborted in " << PhaseName(when);
      EXPECT_EQ(out.active_version, "v1");
      EXPECT_EQ(world.ActiveGroupInJob(), "hello-blue");
      EXPECT_EQ(world.Count("hello-green"), 0);
      EXPECT_TRUE(out.flips == 0 || out.flips == 2) << out.flips;
    } else {
      // Rejected (before the rollout started, or after the old group was scaled down): the
      // rollout completes normally.
      EXPECT_EQ(out.phase, Phase::kHealthy) << "seed " << seed << " ack '" << ack << "'";
      EXPECT_EQ(out.active_version, "v2");
    }
  }
  // The seeds must reach the interesting phases, before and after the flip.
  for (const char* phase : {"DeployingStandby", "WaitingHealthy", "Analyzing", "Verifying"}) {
    EXPECT_TRUE(aborted_in.count(phase)) << "no abort in " << phase;
  }
}

TEST(RolloutSimulation, PauseAndResumeAnywhereStillFinishes) {
  for (uint32_t seed = 0; seed < kSeeds; ++seed) {
    FakeWorld world(WithAnalysis("v2"), seed, Faulty(seed));
    Steps(world, 5 + static_cast<int>(seed * 11 % 150));
    world.SetControl("pause-" + std::to_string(seed), ControlVerb::kPause);
    Steps(world, 3);
    if (world.status().phase == Phase::kPaused) {
      world.Advance(std::chrono::minutes(30));  // a long pause must not trip any deadline
      Steps(world, 3);
      EXPECT_EQ(world.status().phase, Phase::kPaused) << "seed " << seed;
    }
    world.SetControl("resume-" + std::to_string(seed), ControlVerb::kResume);
    Outcome out = RunToRest(world);
    ASSERT_TRUE(world.violations().empty()) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(out.phase, Phase::kHealthy) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(out.active_version, "v2");
    EXPECT_EQ(out.flips, 1);
  }
}

TEST(RolloutSimulation, ManualPromotionWaitsForPromote) {
  for (uint32_t seed = 0; seed < kSeeds / 2; ++seed) {
    Rollout r = WithAnalysis("v2");
    r.spec.blue_green.auto_promote = false;
    FakeWorld world(r, seed, Faulty(seed));
    Outcome waiting = RunToRest(world, 800);  // rests in Paused: never flips on its own
    ASSERT_TRUE(world.violations().empty()) << Describe(world);
    ASSERT_EQ(waiting.phase, Phase::kPaused) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(waiting.flips, 0);
    world.SetControl("promote-" + std::to_string(seed), ControlVerb::kPromote);
    Outcome out = RunToRest(world);
    ASSERT_TRUE(world.violations().empty()) << Describe(world);
    EXPECT_EQ(out.phase, Phase::kHealthy) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(out.flips, 1);
    EXPECT_EQ(LastAck(world, "promote-" + std::to_string(seed)), "accepted");
  }
}

TEST(RolloutSimulation, EmptyMetricsNeverPromoteOnTheirOwn) {
  for (uint32_t seed = 0; seed < kSeeds / 2; ++seed) {
    FaultPlan plan = Faulty(seed);
    plan.pre_metric = std::nullopt;  // the query matches no series
    FakeWorld world(WithAnalysis("v2"), seed, plan);
    Outcome out = RunToRest(world, 800);
    ASSERT_TRUE(world.violations().empty()) << Describe(world);
    EXPECT_EQ(out.phase, Phase::kPaused) << "seed " << seed << ": " << Describe(world);
    EXPECT_EQ(world.status().pause->reason, "AnalysisInconclusive");
    EXPECT_EQ(out.flips, 0);
    EXPECT_EQ(out.active_version, "v1");
  }
}

}  // namespace
}  // namespace rollouts::reconcilers::testing
