// Property: no phase waits past its deadline (issue #20). Over generated specs, including
// ones ParseRollout now refuses (minHealthyTime >= healthyDeadline: decide() must stay safe
// for a spec that slipped past validation, e.g. one written before the rule existed), whole
// rollouts run in FakeWorld, and every observation whose step has a deadline is replayed at
// random instants before and after that deadline:
//
//   (1) now < deadline and decide() waits (NoOp)  =>  now + requeue_after <= deadline.
//       Checked in every phase with a step deadline, on the trajectory itself too.
//   (2) now >= deadline  =>  decide() does not wait, and following its status writes at
//       that same instant it leaves the phase or acts on the job within a few calls.
//       Covered phases, each of which checks the deadline itself before any wait:
//         DeployingStandby  step deadline = the progress deadline (ProgressDeadline())
//         WaitingHealthy    min(entry + healthyDeadline, progress deadline), incl. a
//                           standby that is ready but not yet for minHealthyTime
//         Analyzing         entry + interval * count + progressDeadline (OnAnalysis)
//         Verifying         the same, for the post-promotion run
//         Promoting         entry + router timeout (flip not converged -> RouterTimeout)
//         RollingBack       entry + router timeout, moved to cover scaleDownDelay once
//                           the flip back converged; past it the roll back finishes
//       Paused, Draining, ScalingDown, Healthy and Degraded have no step deadline: they
//       wait on purpose (a human, scaleDownDelay, nothing to do).
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <random>
#include <sstream>

#include "tests/reconcilers/fake_world.h"

namespace rollouts::reconcilers::testing {
namespace {

using std::chrono::minutes;

Duration RandomMs(std::mt19937& rng, int64_t lo, int64_t hi) {
  return milliseconds(std::uniform_int_distribution<int64_t>(lo, hi)(rng));
}

struct Generated {
  Rollout rollout;
  FaultPlan plan;
  std::string text;  // for failure messages
};

AnalysisSpec RandomAnalysis(std::mt19937& rng) {
  AnalysisSpec a = ErrorRateAnalysis(std::uniform_int_distribution<int>(1, 4)(rng));
  a.interval = RandomMs(rng, 100, 20'000);
  if (rng() % 2 == 0) a.probe = ProbeSpec{};
  return a;
}

Generated Generate(std::mt19937& rng) {
  Generated g{HelloRollout("v2"), {}, ""};
  HealthSpec& h = g.rollout.spec.health;
  h.healthy_deadline = RandomMs(rng, 1'000, 60'000);
  switch (rng() % 3) {
    case 0:  // refused by ParseRollout since issue #20, equal values included
      h.min_healthy_time = RandomMs(rng, h.healthy_deadline.count(), 4 * 60'000);
      break;
    case 1:  // anywhere below the deadline, up to just under it
      h.min_healthy_time = RandomMs(rng, 0, h.healthy_deadline.count() - 1);
      break;
    default:  // short, the common case: the standby gets through
      h.min_healthy_time = RandomMs(rng, 0, 5'000);
      break;
  }
  h.progress_deadline = RandomMs(rng, 2'000, 240'000);
  g.rollout.spec.blue_green.scale_down_delay = RandomMs(rng, 0, 30'000);
  if (rng() % 2 == 0) g.rollout.spec.pre_promotion = RandomAnalysis(rng);
  if (rng() % 2 == 0) g.rollout.spec.post_promotion = RandomAnalysis(rng);
  switch (rng() % 6) {
    case 0:
      g.plan.crashing_version = "v2";
      break;
    case 1:
      g.plan.pre_metric = 0.5;  // fails "< 0.01"
      break;
    case 2:
      g.plan.post_metric = 0.5;
      break;
    case 3:
      g.plan.stuck_router = true;
      break;
    case 4:
      g.plan.cas_conflict = 0.2;
      g.plan.register_error = 0.2;
      break;
    default:
      break;
  }
  std::ostringstream text;
  text << "minHealthyTime " << FormatDuration(h.min_healthy_time) << ", healthyDeadline "
       << FormatDuration(h.healthy_deadline) << ", progressDeadline "
       << FormatDuration(h.progress_deadline) << ", scaleDownDelay "
       << FormatDuration(g.rollout.spec.blue_green.scale_down_delay);
  for (const auto* a : {&g.rollout.spec.pre_promotion, &g.rollout.spec.post_promotion}) {
    text << (a == &g.rollout.spec.pre_promotion ? ", pre " : ", post ");
    if (*a) {
      text << (*a)->count << "x" << FormatDuration((*a)->interval) << ((*a)->probe ? "+probe" : "");
    } else {
      text << "none";
    }
  }
  text << ", faults: " << g.plan.crashing_version << (g.plan.stuck_router ? " stuck-router" : "")
       << " pre " << g.plan.pre_metric.value_or(-1) << " post " << g.plan.post_metric.value_or(-1)
       << " cas " << g.plan.cas_conflict;
  g.text = text.str();
  return g;
}

std::string PhaseOf(const Snapshot& s) {
  return std::string(PhaseName(s.status.phase.value_or(Phase::kInvalidSpec)));
}

std::string Describe(const Action& a) {
  std::string out(ActionName(a));
  if (const auto* n = std::get_if<NoOp>(&a)) {
    out += " " + FormatDuration(n->requeue_after) + " (" + n->reason + ")";
  } else if (const auto* w = std::get_if<WriteStatus>(&a)) {
    out += " -> " + std::string(PhaseName(w->status.phase.value_or(Phase::kInvalidSpec))) + " (" +
           w->reason + ")";
  } else if (const auto* r = std::get_if<RegisterJob>(&a)) {
    out += " (" + r->reason + ")";
  }
  return out;
}

bool StandbyReadyTrue(const RolloutStatus& st) {
  for (const StatusCondition& c : st.conditions) {
    if (c.type == "StandbyReady") return c.status == "True";
  }
  return false;
}

bool CoveredByDeadlineAction(Phase p) {
  return p == Phase::kDeployingStandby || p == Phase::kWaitingHealthy || p == Phase::kAnalyzing ||
         p == Phase::kVerifying || p == Phase::kPromoting || p == Phase::kRollingBack;
}

class PropertyCheck {
 public:
  // (1): a wait before the step deadline ends by the deadline.
  void CheckWait(const Snapshot& s, const Action& a, const std::string& context) {
    const TimePoint deadline = *s.status.current_step->deadline;
    ++before_[PhaseOf(s)];
    const auto* wait = std::get_if<NoOp>(&a);
    if (wait == nullptr) return;
    ++waits_;
    EXPECT_LE(s.now + wait->requeue_after, deadline)
        << "phase " << PhaseOf(s) << " waits " << FormatDuration(wait->requeue_after) << " at "
        << FormatDuration(deadline - s.now) << " before its deadline (" << wait->reason << "); "
        << context;
  }

  // (2): at or past the step deadline the rollout acts. Status writes are applied to the
  // observation (CAS index bumped, pending measurements taken) and decide() runs again at
  // the same instant; it must leave the phase or register a job edit within a few calls.
  // One write may instead renew the step: RollingBack moves its deadline to cover
  // scaleDownDelay once the flip back converged (OnRollingBack); the wait that follows is
  // then held to the new deadline by (1). No other phase may push its own deadline.
  void CheckActs(Snapshot s, const std::string& context) {
    const Phase from = *s.status.phase;
    const TimePoint deadline = Deadline(s);
    const bool ready_not_held = from == Phase::kWaitingHealthy && StandbyReadyTrue(s.status);
    ++after_[PhaseOf(s)];
    if (ready_not_held) ++ready_after_deadline_;
    std::string trail;
    for (int call = 0; call < 4; ++call) {
      Action a = Decide(s);
      trail += " " + Describe(a) + ";";
      if (std::holds_alternative<RegisterJob>(a)) return;
      if (s.now < Deadline(s)) {  // renewed by an earlier write of this chain
        CheckWait(s, a, context + " after the step was renewed:" + trail);
        return;
      }
      const auto* w = std::get_if<WriteStatus>(&a);
      if (w == nullptr) break;  // a wait, a probe or a query past the deadline
      if (w->status.phase != from) return;
      const std::optional<StepRecord>& step = w->status.current_step;
      if (step && step->deadline && *step->deadline > s.now) {
        ++renewed_[PhaseOf(s)];
        if (from != Phase::kRollingBack) break;
      }
      s.status = w->status;
      s.status_modify_index += 1;
      s.measurements.clear();
    }
    ADD_FAILURE() << "phase " << PhaseName(from) << " at " << FormatDuration(s.now - deadline)
                  << " past its deadline" << (ready_not_held ? " (standby ready, not held)" : "")
                  << " did not act:" << trail << " " << context;
  }

  // Replays one observation at instants around its step deadline.
  void Probe(const Snapshot& observed, std::mt19937& rng, const std::string& context) {
    const TimePoint deadline = Deadline(observed);
    const Phase phase = *observed.status.phase;
    std::vector<TimePoint> times;
    if (observed.now < deadline) {
      // Only forward in time: the observation stays one the world could have produced.
      const int64_t room = (deadline - observed.now).count();
      times.push_back(observed.now +
                      milliseconds(std::uniform_int_distribution<int64_t>(0, room - 1)(rng)));
      times.push_back(deadline - milliseconds(1));
    }
    const TimePoint after = std::max(observed.now, deadline);
    times.push_back(after);
    times.push_back(after + RandomMs(rng, 1, 10 * 60'000));
    for (TimePoint t : times) {
      Snapshot s = observed;
      s.now = t;
      if (t < deadline) {
        CheckWait(s, Decide(s), context);
      } else if (CoveredByDeadlineAction(phase)) {
        CheckActs(s, context);
      }
      if (phase == Phase::kWaitingHealthy && StandbyReadyTrue(s.status) && t < deadline) {
        ++ready_before_deadline_;
      }
    }
  }

  static TimePoint Deadline(const Snapshot& s) { return *s.status.current_step->deadline; }

  int Cases() const {
    int n = 0;
    for (const auto& [phase, count] : before_) n += count;
    for (const auto& [phase, count] : after_) n += count;
    return n;
  }
  std::map<std::string, int> before_, after_, renewed_;
  int waits_ = 0;
  int ready_before_deadline_ = 0;
  int ready_after_deadline_ = 0;
};

bool HasStepDeadline(const Snapshot& s) {
  return s.status.phase && s.status.current_step && s.status.current_step->deadline;
}

TEST(DeadlineProperty, NoPhaseWaitsPastItsDeadline) {
  std::mt19937 rng(20);  // fixed: a failure names the spec and replays
  PropertyCheck property;
  constexpr int kSpecs = 150;
  for (int i = 0; i < kSpecs; ++i) {
    Generated g = Generate(rng);
    FakeWorld world(g.rollout, static_cast<uint32_t>(i), g.plan);
    const std::string context = "[spec " + std::to_string(i) + ": " + g.text + "]";
    int idle_terminal = 0;
    for (int step = 0; step < 3000 && !::testing::Test::HasFailure(); ++step) {
      Snapshot s = world.Observe();
      Action a = Decide(s);
      if (HasStepDeadline(s)) {
        if (s.now < PropertyCheck::Deadline(s)) property.CheckWait(s, a, context);
        if (step % 3 == 0) property.Probe(s, rng, context);
      }
      world.Apply(a);
      world.Advance(world.StepAfter(a));
      const RolloutStatus& st = world.status();
      const bool resting =
          st.phase && (*st.phase == Phase::kHealthy || *st.phase == Phase::kDegraded ||
                       *st.phase == Phase::kPaused);
      idle_terminal = resting && std::holds_alternative<NoOp>(a) ? idle_terminal + 1 : 0;
      if (idle_terminal >= 3) break;
    }
    ASSERT_FALSE(::testing::Test::HasFailure()) << context;
    ASSERT_TRUE(world.violations().empty()) << world.violations().front() << " " << context;
  }
  // The generator must reach every phase the property speaks of, on both sides of the
  // deadline, and the state issue #20 was about.
  for (const char* phase : {"DeployingStandby", "WaitingHealthy", "Analyzing", "Verifying",
                            "Promoting", "RollingBack"}) {
    EXPECT_GE(property.before_[phase], 20) << phase;
    EXPECT_GE(property.after_[phase], 20) << phase;
  }
  EXPECT_GE(property.ready_before_deadline_, 20);
  EXPECT_GE(property.ready_after_deadline_, 20);
  EXPECT_GE(property.Cases(), 3000);
  EXPECT_GE(property.waits_, 1000);
  EXPECT_GE(property.renewed_["RollingBack"], 1);  // the scaleDownDelay extension was seen
  std::string summary;
  for (const auto& [phase, count] : property.before_) {
    summary +=
        " " + phase + " " + std::to_string(count) + "/" + std::to_string(property.after_[phase]);
  }
  std::cout << "cases before/after the deadline:" << summary << "; ready, not held "
            << property.ready_before_deadline_ << "/" << property.ready_after_deadline_
            << "; waits checked " << property.waits_ << "\n";
}

// Issue #20's exact case: minHealthyTime 10m (past validation), healthyDeadline 30s. The
// standby has been all ready for 5s when the step deadline passes: roll back, saying it was
// ready for less than minHealthyTime, rather than wait out the remaining 9m55s.
std::optional<Snapshot> ReadyInWaitingHealthy(FakeWorld& world) {
  for (int step = 0; step < 1000; ++step) {
    Snapshot s = world.Observe();
    if (s.status.phase == Phase::kWaitingHealthy && StandbyReadyTrue(s.status)) return s;
    Action a = Decide(s);
    world.Apply(a);
    world.Advance(world.StepAfter(a));
  }
  return std::nullopt;
}

void SetReadySince(Snapshot& s, TimePoint since) {
  for (StatusCondition& c : s.status.conditions) {
    if (c.type == "StandbyReady") c.last_transition_time = since;
  }
}

TEST(DeadlineProperty, MinHealthyTimeBeyondHealthyDeadlineRollsBackAtTheDeadline) {
  Rollout r = HelloRollout("v2");
  r.spec.health.min_healthy_time = minutes(10);
  r.spec.health.healthy_deadline = seconds(30);
  FakeWorld world(r, 1, FaultPlan{});
  std::optional<Snapshot> ready = ReadyInWaitingHealthy(world);
  ASSERT_TRUE(ready) << "the standby never became ready";
  const TimePoint deadline = PropertyCheck::Deadline(*ready);
  ASSERT_EQ(deadline, ready->status.current_step->started_at + seconds(30));

  // Before the deadline: the wait for minHealthyTime ends at the deadline, not 9m55s later.
  Snapshot before = *ready;
  before.now = deadline - seconds(10);
  SetReadySince(before, before.now - seconds(5));
  Action wait = Decide(before);
  ASSERT_TRUE(std::holds_alternative<NoOp>(wait)) << Describe(wait);
  EXPECT_EQ(std::get<NoOp>(wait).requeue_after, seconds(10));

  // Past it: roll back.
  Snapshot past = *ready;
  past.now = deadline + seconds(1);
  SetReadySince(past, past.now - seconds(5));
  Action act = Decide(past);
  ASSERT_TRUE(std::holds_alternative<WriteStatus>(act)) << Describe(act);
  const RolloutStatus& st = std::get<WriteStatus>(act).status;
  ASSERT_TRUE(st.phase);
  EXPECT_EQ(PhaseName(*st.phase), "RollingBack");
  EXPECT_EQ(st.rollback_reason, reason::kStandbyUnhealthy);
  EXPECT_NE(st.rollback_message.find("minHealthyTime"), std::string::npos) << st.rollback_message;
  EXPECT_NE(st.rollback_message.find("2/2 ready"), std::string::npos) << st.rollback_message;
}

}  // namespace
}  // namespace rollouts::reconcilers::testing
