// decide() table tests: each case is a named observation (phase x what Nomad, Consul, the
// routers, the clock and the control key say) and the action decide() must return.
#include "reconcilers/decide.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "tests/reconcilers/test_rollout.h"

namespace rollouts::reconcilers {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::ErrorRateAnalysis;
using testing::HelloJob;
using testing::HelloRollout;

const TimePoint T0{milliseconds(1795426881000)};  // 2026-11-23T09:41:21Z
constexpr const char* kBlue = "hello-blue";
constexpr const char* kGreen = "hello-green";

DeployStandbyEdit DeployGreen(const Rollout& r, const std::string& version) {
  return DeployStandbyEdit{kGreen, "app", "hello", version, 2, r.spec.template_.set};
}

void SetJob(Snapshot& s, const json& doc, int64_t version, uint64_t index) {
  json d = doc;
  d["Version"] = version;
  d["JobModifyIndex"] = index;
  s.job = JobView::FromDocument(d);
}

void AddGroup(Snapshot& s, const std::string& group, const std::string& version, int n,
              std::optional<bool> healthy, bool ready, const std::string& tag,
              int64_t job_version) {
  for (int k = 0; k < n; ++k) {
    Allocation a;
    a.id = group + "-" + version + "-" + std::to_string(k);
    a.group = group;
    a.job_version = job_version;
    a.client_status = "running";
    a.desired_status = "run";
    a.deployment_healthy = healthy;
    s.allocations.push_back(a);
    ServiceInstance i;
    i.id = "_nomad-task-" + a.id + "-group-" + group + "-hello-http";
    i.alloc_id = a.id;
    i.group = group;
    i.address = "127.0.0.1";
    i.port = 21000 + static_cast<int>(s.instances.size());
    i.tags = {tag};
    i.version = version;
    i.ready = ready;
    s.instances.push_back(i);
  }
}

void SetRouters(Snapshot& s, const std::string& version) {
  s.routers = {{"r1", version, T0 - seconds(5), ""}, {"r2", version, T0 - seconds(5), ""}};
}

void ClearGroup(Snapshot& s, const std::string& group) {
  std::erase_if(s.allocations, [&](const Allocation& a) { return a.group == group; });
  std::erase_if(s.instances, [&](const ServiceInstance& i) { return i.group == group; });
}

void SetInstanceTags(Snapshot& s, const std::string& group, const std::string& tag) {
  for (ServiceInstance& i : s.instances) {
    if (i.group == group) i.tags = {tag};
  }
}

bool IsPostFlip(Phase p) {
  return p == Phase::kPromoting || p == Phase::kVerifying || p == Phase::kDraining ||
         p == Phase::kScalingDown;
}

// A consistent observation of the v1 (hello-blue) -> v2 (hello-green) rollout in `phase`.
Snapshot At(Phase phase) {
  Snapshot s;
  s.name = "hello";
  s.spec = HelloRollout("v2");
  s.spec_modify_index = 7;
  s.status_modify_index = 100;
  s.now = T0;
  s.settings.router_timeout = seconds(60);
  s.settings.poll_interval = seconds(2);

  json job = HelloJob();
  job["TaskGroups"][1]["Count"] = 0;
  const bool deployed =
      phase != Phase::kHealthy && phase != Phase::kDeployingStandby && phase != Phase::kDegraded;
  const bool flipped = IsPostFlip(phase);
  int64_t job_version = 0;
  uint64_t index = 10;
  if (deployed) {
    job = ApplyJobEdit(job, DeployGreen(*s.spec, "v2")).job;
    job_version = 1;
    index = 20;
  }
  if (flipped) {
    job = ApplyJobEdit(job, FlipEdit{kGreen, kBlue, "hello", "active", "standby"}).job;
    job_version = 2;
    index = 30;
  }
  SetJob(s, job, job_version, index);
  // After the flip (an in-place update) DeploymentStatus is null again on every alloc.
  std::optional<bool> healthy = flipped ? std::nullopt : std::optional<bool>(true);
  AddGroup(s, kBlue, "v1", 2, healthy, true, flipped ? "standby" : "active", job_version);
  if (deployed) AddGroup(s, kGreen, "v2", 2, healthy, true, flipped ? "active" : "standby", 1);
  SetRouters(s, flipped ? "v2" : "v1");

  RolloutStatus& st = s.status;
  st.phase = phase;
  st.active_version = flipped ? "v2" : "v1";
  st.active_group = flipped ? kGreen : kBlue;
  st.stable_version = "v1";
  st.stable_group = kBlue;
  st.target_version = "v2";
  st.standby_version = flipped ? "v1" : (deployed ? "v2" : "");
  st.observed_spec_index = 7;
  if (phase == Phase::kHealthy) {
    st.target_version = "v1";
    st.standby_version = "";
    st.current_step = StepRecord{"Healthy", T0 - minutes(60), std::nullopt};
    return s;
  }
  st.rollout_started_at = T0 - minutes(2);
  st.progress_deadline = T0 + minutes(8);
  if (deployed) st.standby_job_version = 1;
  if (deployed && phase != Phase::kWaitingHealthy) {
    st.conditions.push_back({"StandbyReady", "True", "AllReady", "2/2", T0 - seconds(60)});
  }
  if (flipped && phase != Phase::kPromoting) st.converged_at = T0 - seconds(40);
  std::optional<TimePoint> deadline;
  if (phase == Phase::kWaitingHealthy) deadline = T0 + seconds(100);
  if (phase == Phase::kPromoting || phase == Phase::kRollingBack) deadline = T0 + seconds(50);
  st.current_step = StepRecord{std::string(PhaseName(phase)), T0 - seconds(10), deadline};
  return s;
}

Snapshot WithPre(Phase phase, int count = 2) {
  Snapshot s = At(phase);
  s.spec->spec.pre_promotion = ErrorRateAnalysis(count);
  if (phase == Phase::kAnalyzing) {
    s.status.analysis_runs.push_back({"prePromotion", "v2", kGreen, T0 - seconds(10), {}, {}, {}});
  }
  return s;
}

Snapshot WithPost(Phase phase) {
  Snapshot s = At(phase);
  s.spec->spec.post_promotion = ErrorRateAnalysis(3);
  if (phase == Phase::kVerifying) {
    s.status.analysis_runs.push_back({"postPromotion", "v2", kGreen, T0 - seconds(10), {}, {}, {}});
  }
  return s;
}

void AddMeasurement(Snapshot& s, const std::string& metric, std::optional<double> value,
                    Verdict verdict, TimePoint time) {
  AddMeasurement(s.status.analysis_runs.back(), {metric, value, "< 0.01", verdict, time, ""});
}

Snapshot WithControl(Snapshot s, ControlVerb verb, std::string id = "req-1") {
  s.control = ControlRequest{std::move(id), verb};
  return s;
}

Snapshot Paused(std::string reason, Phase resume) {
  const bool after_flip = resume == Phase::kVerifying || resume == Phase::kDraining;
  Snapshot s = after_flip ? At(Phase::kVerifying) : At(Phase::kAnalyzing);
  s.status.phase = Phase::kPaused;
  s.status.pause = PauseState{std::move(reason), resume, T0 - seconds(100)};
  s.status.current_step = StepRecord{"Paused", T0 - seconds(100), std::nullopt};
  return s;
}

template <typename T>
const T& As(const Action& action) {
  static const T kEmpty{};
  if (!std::holds_alternative<T>(action)) {
    ADD_FAILURE() << "expected a different action, got " << ActionName(action)
                  << (std::holds_alternative<NoOp>(action)
                          ? " (" + std::get<NoOp>(action).reason + ")"
                          : std::string());
    return kEmpty;
  }
  return std::get<T>(action);
}

const RolloutStatus& Written(const Action& action) {
  return As<WriteStatus>(action).status;
}

void ExpectPhase(const Action& action, Phase phase) {
  const RolloutStatus& st = Written(action);
  ASSERT_TRUE(st.phase);
  EXPECT_EQ(PhaseName(*st.phase), PhaseName(phase));
}

void ExpectRollback(const Action& action, std::string_view why) {
  ExpectPhase(action, Phase::kRollingBack);
  EXPECT_EQ(Written(action).rollback_reason, why);
}

void ExpectAck(const Action& action, const std::string& id, const std::string& result_prefix) {
  const RolloutStatus& st = Written(action);
  ASSERT_FALSE(st.acknowledged.empty());
  EXPECT_EQ(st.acknowledged.back().id, id);
  EXPECT_EQ(st.acknowledged.back().result.substr(0, result_prefix.size()), result_prefix)
      << st.acknowledged.back().result;
}

template <typename Edit>
const Edit& ExpectRegister(const Action& action, uint64_t enforce_index) {
  const RegisterJob& r = As<RegisterJob>(action);
  EXPECT_EQ(r.enforce_index, enforce_index);
  EXPECT_EQ(r.RegisterBody()["EnforceIndex"], true);
  EXPECT_EQ(r.RegisterBody()["JobModifyIndex"], enforce_index);
  static const Edit kEmpty{};
  if (!std::holds_alternative<Edit>(r.edit)) {
    ADD_FAILURE() << "register with another edit: " << DescribeJobEdit(r.edit);
    return kEmpty;
  }
  return std::get<Edit>(r.edit);
}

struct Case {
  std::string name;
  std::function<Snapshot()> observe;
  std::function<void(const Action&)> expect;
};
// gtest names a failing case by its parameter: the case's name, not a dump of its bytes.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  auto add = [&](std::string name, std::function<Snapshot()> observe,
                 std::function<void(const Action&)> expect) {
    cases.push_back({std::move(name), std::move(observe), std::move(expect)});
  };

  // ---- Validation: nothing in Nomad is touched.
  add(
      "ParseErrorsGiveInvalidSpec",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.spec.reset();
        s.spec_errors = {{"/spec/version", "is required"}};
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kInvalidSpec);
        const StatusCondition* c = FindCondition(Written(a), "InvalidSpec");
        ASSERT_TRUE(c);
        EXPECT_EQ(c->status, "True");
        EXPECT_EQ(c->message, "/spec/version: is required");
      });
  add(
      "InvalidSpecAlreadyRecordedIsNoOp",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.spec.reset();
        s.spec_errors = {{"/spec/version", "is required"}};
        s.status.phase = Phase::kInvalidSpec;
        SetCondition(s.status, "InvalidSpec", "True", "InvalidSpec", "/spec/version: is required",
                     T0);
        return s;
      },
      [](const Action& a) { As<NoOp>(a); });
  add(
      "JobNotAllowedIsRefused",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.settings.job_allowed = false;
        s.settings.allowed_jobs = "default/web-*";
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kInvalidSpec);
        const StatusCondition* c = FindCondition(Written(a), "InvalidSpec");
        ASSERT_TRUE(c);
        EXPECT_EQ(c->reason, "JobNotAllowed");
        EXPECT_NE(c->message.find("refused"), std::string::npos);
        EXPECT_NE(c->message.find("default/hello"), std::string::npos);
      });
  add(
      "UnknownJob",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.job.reset();
        return s;
      },
      [](const Action& a) {
        EXPECT_EQ(FindCondition(Written(a), "InvalidSpec")->reason, "UnknownJob");
      });
  add(
      "UnknownGroup",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.spec->spec.nomad.groups[1] = "hello-red";
        return s;
      },
      [](const Action& a) {
        const StatusCondition* c = FindCondition(Written(a), "InvalidSpec");
        EXPECT_EQ(c->reason, "UnknownGroup");
        EXPECT_NE(c->message.find("hello-red"), std::string::npos);
      });
  add(
      "UnknownTask",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.spec->spec.template_.task = "web";
        return s;
      },
      [](const Action& a) {
        EXPECT_EQ(FindCondition(Written(a), "InvalidSpec")->reason, "UnknownTask");
      });
  add(
      "BothGroupsActiveInJobIsNotTouched",
      [] {
        Snapshot s = At(Phase::kHealthy);
        json job =
            ApplyJobEdit(s.job->document, FlipEdit{kBlue, kGreen, "hello", "active", "standby"})
                .job;
        job["TaskGroups"][1]["Services"][0]["Tags"] = {"active"};
        SetJob(s, job, 0, 10);
        return s;
      },
      [](const Action& a) {
        EXPECT_EQ(FindCondition(Written(a), "InvalidSpec")->reason, "JobNotBlueGreen");
      });
  add(
      "ValidSpecAgainReinitializesFromJob",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.status.phase = Phase::kInvalidSpec;
        SetCondition(s.status, "InvalidSpec", "True", "UnknownTask", "x", T0 - seconds(5));
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kHealthy);
        EXPECT_EQ(Written(a).active_version, "v1");
        EXPECT_EQ(FindCondition(Written(a), "InvalidSpec")->status, "False");
      });

  // ---- Healthy
  add(
      "FirstObservationLearnsActiveFromJob",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.status = RolloutStatus{};
        s.status_modify_index = 0;
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kHealthy);
        EXPECT_EQ(As<WriteStatus>(a).cas_index, 0u);
        EXPECT_EQ(Written(a).active_version, "v1");
        EXPECT_EQ(Written(a).active_group, kBlue);
      });
  add(
      "HealthyNewVersionStartsRollout", [] { return At(Phase::kHealthy); },
      [](const Action& a) {
        ExpectPhase(a, Phase::kDeployingStandby);
        const RolloutStatus& st = Written(a);
        EXPECT_EQ(st.target_version, "v2");
        EXPECT_EQ(st.stable_version, "v1");
        EXPECT_EQ(st.active_version, "v1");  // nothing flips yet
        EXPECT_EQ(st.progress_deadline, T0 + minutes(10));
        EXPECT_EQ(As<WriteStatus>(a).cas_index, 100u);
      });
  add(
      "HealthyUpToDateIsNoOp",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.spec->spec.version = "v1";
        return s;
      },
      // Idle: no timed requeue (watches and the resync bring it back).
      [](const Action& a) { EXPECT_EQ(As<NoOp>(a).requeue_after, milliseconds(0)); });
  add(
      "HealthyRecordsNewSpecIndex",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.spec->spec.version = "v1";
        s.spec_modify_index = 8;
        return s;
      },
      [](const Action& a) { EXPECT_EQ(Written(a).observed_spec_index, 8u); });
  add(
      "HealthyLeftoverStandbyIsDrainedNotKilled",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.spec->spec.version = "v1";
        json job = s.job->document;
        job["TaskGroups"][1]["Count"] = 2;
        SetJob(s, job, 0, 10);
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kDraining);
        EXPECT_EQ(Written(a).converged_at, T0);
      });
  add(
      "HealthyActiveChangedOutsideControllerIsRelearned",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.spec->spec.version = "v1";
        s.status.active_group = kGreen;
        s.status.active_version = "v2";
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kHealthy);
        EXPECT_EQ(Written(a).active_group, kBlue);
      });

  // ---- DeployingStandby
  add(
      "DeployingStandbyRegistersTemplateInStandbyGroup",
      [] { return At(Phase::kDeployingStandby); },
      [](const Action& a) {
        const auto& e = ExpectRegister<DeployStandbyEdit>(a, 10);
        EXPECT_EQ(e.group, kGreen);
        EXPECT_EQ(e.version, "v2");
        EXPECT_EQ(e.count, 2);
        const json& green = As<RegisterJob>(a).job["TaskGroups"][1];
        EXPECT_EQ(green["Tasks"][0]["Config"]["image"], "registry.local/hello:v2");
        EXPECT_EQ(green["Services"][0]["Tags"], json::array({"standby"}));
        EXPECT_EQ(As<RegisterJob>(a).job["TaskGroups"][0]["Services"][0]["Tags"],
                  json::array({"active"}));
      });
  add(
      "DeployingStandbyCountFollowsActive",
      [] {
        Snapshot s = At(Phase::kDeployingStandby);
        json job = s.job->document;
        job["TaskGroups"][0]["Count"] = 5;
        SetJob(s, job, 0, 10);
        return s;
      },
      [](const Action& a) { EXPECT_EQ(ExpectRegister<DeployStandbyEdit>(a, 10).count, 5); });
  add(
      "DeployingStandbyAlreadyRegisteredWaitsForHealth",
      [] {
        Snapshot s = At(Phase::kDeployingStandby);
        SetJob(s, ApplyJobEdit(s.job->document, DeployGreen(*s.spec, "v2")).job, 1, 20);
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kWaitingHealthy);
        EXPECT_EQ(Written(a).standby_job_version, 1);
        EXPECT_EQ(Written(a).current_step->deadline, T0 + minutes(2));
      });
  add(
      "DeployingStandbyProgressDeadline",
      [] {
        Snapshot s = At(Phase::kDeployingStandby);
        s.now = T0 + minutes(9);
        return s;
      },
      [](const Action& a) { ExpectRollback(a, reason::kProgressDeadlineExceeded); });

  // ---- WaitingHealthy
  add(
      "WaitingHealthyAllReadyStartsMinHealthyClock", [] { return At(Phase::kWaitingHealthy); },
      [](const Action& a) {
        ExpectPhase(a, Phase::kWaitingHealthy);
        const StatusCondition* c = FindCondition(Written(a), "StandbyReady");
        ASSERT_TRUE(c);
        EXPECT_EQ(c->status, "True");
        EXPECT_EQ(c->last_transition_time, T0);
      });
  add(
      "WaitingHealthyOnlySerfHealthIsNotReady",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        for (ServiceInstance& i : s.instances) {
          if (i.group == kGreen) i.ready = false;
        }
        return s;
      },
      [](const Action& a) { EXPECT_LE(As<NoOp>(a).requeue_after, seconds(2)); });
  add(
      "WaitingHealthyNeedsNomadHealthyToo",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        for (Allocation& al : s.allocations) {
          if (al.group == kGreen) al.deployment_healthy.reset();
        }
        return s;
      },
      [](const Action& a) { As<NoOp>(a); });
  add(
      "WaitingHealthyOldVersionInstanceDoesNotCount",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.instances.back().version = "v1";
        return s;
      },
      [](const Action& a) { As<NoOp>(a); });
  add(
      "WaitingHealthyWaitsMinHealthyTime",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.status.conditions.push_back({"StandbyReady", "True", "AllReady", "", T0 - seconds(2)});
        return s;
      },
      [](const Action& a) { EXPECT_EQ(As<NoOp>(a).requeue_after, seconds(3)); });
  add(
      "WaitingHealthyThenPromotesWithoutAnalysis",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.status.conditions.push_back({"StandbyReady", "True", "AllReady", "", T0 - seconds(5)});
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPromoting);
        EXPECT_EQ(Written(a).active_version, "v2");
        EXPECT_EQ(Written(a).active_group, kGreen);
        EXPECT_EQ(Written(a).current_step->deadline, T0 + seconds(60));
      });
  add(
      "WaitingHealthyThenAnalyzes",
      [] {
        Snapshot s = WithPre(Phase::kWaitingHealthy);
        s.status.conditions.push_back({"StandbyReady", "True", "AllReady", "", T0 - seconds(5)});
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kAnalyzing);
        ASSERT_FALSE(Written(a).analysis_runs.empty());
        EXPECT_EQ(Written(a).analysis_runs.back().name, "prePromotion");
        EXPECT_EQ(Written(a).analysis_runs.back().started_at, T0);
      });
  add(
      "WaitingHealthyThenPausesWithoutAutoPromote",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.spec->spec.blue_green.auto_promote = false;
        s.status.conditions.push_back({"StandbyReady", "True", "AllReady", "", T0 - seconds(5)});
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPaused);
        EXPECT_EQ(Written(a).pause->reason, "AwaitingPromotion");
        EXPECT_EQ(Written(a).active_version, "v1");
      });
  add(
      "WaitingHealthyDeadline",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.instances.back().ready = false;
        s.now = T0 + seconds(100);
        return s;
      },
      [](const Action& a) {
        ExpectRollback(a, reason::kStandbyUnhealthy);
        EXPECT_NE(Written(a).rollback_message.find("1/2 ready"), std::string::npos);
      });
  add(
      "WaitingHealthyNomadUnhealthy",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.allocations.back().deployment_healthy = false;
        return s;
      },
      [](const Action& a) { ExpectRollback(a, reason::kStandbyUnhealthy); });
  add(
      "WaitingHealthyCrashLoop",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.allocations.back().restarts = 2;
        Allocation failed = s.allocations.back();
        failed.id = "failed-1";
        failed.client_status = "failed";
        s.allocations.push_back(failed);
        return s;
      },
      [](const Action& a) { ExpectRollback(a, reason::kCrashLoop); });
  add(
      "WaitingHealthyIgnoresFailuresOfEarlierVersions",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        for (int k = 0; k < 5; ++k) {
          Allocation old{"old-" + std::to_string(k), kGreen, 0, "failed", "stop", false, 3};
          s.allocations.push_back(old);
        }
        return s;
      },
      [](const Action& a) { ExpectPhase(a, Phase::kWaitingHealthy); });
  add(
      "WaitingHealthyStandbyChangedOutside",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        json job = s.job->document;
        job["TaskGroups"][1]["Count"] = 1;
        SetJob(s, job, 2, 25);
        return s;
      },
      [](const Action& a) { ExpectPhase(a, Phase::kDeployingStandby); });

  // ---- Analyzing
  add(
      "AnalyzingRunsRenderedQuery", [] { return WithPre(Phase::kAnalyzing); },
      [](const Action& a) {
        const RunMetricQuery& q = As<RunMetricQuery>(a);
        EXPECT_EQ(q.run, "prePromotion");
        EXPECT_EQ(q.version, "v2");
        EXPECT_EQ(q.query, "sum(rate(errors{service=\"hello\",version=\"v2\"}[1m]))");
      });
  add(
      "AnalyzingProbesStandbyInstances",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.spec->spec.pre_promotion->probe = ProbeSpec{};
        return s;
      },
      [](const Action& a) {
        const RunProbe& p = As<RunProbe>(a);
        ASSERT_EQ(p.targets.size(), 2u);
        for (const ProbeTarget& t : p.targets)
          EXPECT_NE(t.instance_id.find(kGreen), std::string::npos);
      });
  add(
      "AnalyzingNextMeasurementNotDue",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.status.analysis_runs.back().started_at = T0 - seconds(2);
        AddMeasurement(s, "error-rate", 0.001, Verdict::kSuccessful, T0 - seconds(1));
        return s;
      },
      [](const Action& a) { EXPECT_EQ(As<NoOp>(a).requeue_after, seconds(8)); });
  add(
      "AnalyzingRecordsMeasurementWithVerdict",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.measurements.push_back({"prePromotion", "v2", "error-rate", 0.002, "", T0});
        return s;
      },
      [](const Action& a) {
        const Measurement& m = Written(a).analysis_runs.back().measurements.at(0);
        EXPECT_EQ(m.verdict, Verdict::kSuccessful);
        EXPECT_EQ(m.condition, "< 0.01");
        EXPECT_EQ(m.value, 0.002);
      });
  add(
      "AnalyzingEmptyResultIsInconclusive",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.measurements.push_back({"prePromotion", "v2", "error-rate", std::nullopt, "", T0});
        return s;
      },
      [](const Action& a) {
        const Measurement& m = Written(a).analysis_runs.back().measurements.at(0);
        EXPECT_EQ(m.verdict, Verdict::kInconclusive);
        EXPECT_FALSE(m.value);
        EXPECT_EQ(m.message, "empty result");
      });
  add(
      "AnalyzingQueryErrorIsError",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.measurements.push_back({"prePromotion", "v2", "error-rate", std::nullopt, "503", T0});
        return s;
      },
      [](const Action& a) {
        EXPECT_EQ(Written(a).analysis_runs.back().measurements.at(0).verdict, Verdict::kError);
      });
  add(
      "AnalyzingIgnoresMeasurementOfOtherVersion",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.measurements.push_back({"prePromotion", "v1", "error-rate", 0.5, "", T0});
        return s;
      },
      [](const Action& a) { As<RunMetricQuery>(a); });
  add(
      "AnalyzingInconclusivePausesForAHuman",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        AddMeasurement(s, "error-rate", std::nullopt, Verdict::kInconclusive, T0 - seconds(9));
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPaused);
        EXPECT_EQ(Written(a).pause->reason, "AnalysisInconclusive");
        EXPECT_EQ(Written(a).analysis_runs.back().result, Verdict::kInconclusive);
        EXPECT_EQ(Written(a).active_version, "v1");
      });
  add(
      "AnalyzingFailed",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        AddMeasurement(s, "error-rate", 0.3, Verdict::kFailed, T0 - seconds(9));
        return s;
      },
      [](const Action& a) {
        ExpectRollback(a, reason::kAnalysisFailed);
        EXPECT_EQ(Written(a).analysis_runs.back().result, Verdict::kFailed);
      });
  add(
      "AnalyzingToleratesFailuresUpToLimit",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.spec->spec.pre_promotion->failure_limit = 1;
        AddMeasurement(s, "error-rate", 0.3, Verdict::kFailed, T0 - seconds(9));
        s.now = T0 + seconds(1);
        return s;
      },
      [](const Action& a) { As<RunMetricQuery>(a); });
  add(
      "AnalyzingRecordsFailedProbe",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.spec->spec.pre_promotion->probe = ProbeSpec{};
        s.measurements.push_back(
            {"prePromotion", "v2", std::string(kProbeErrorRate), 0.2, "", T0 - seconds(1)});
        return s;
      },
      [](const Action& a) {
        EXPECT_EQ(Written(a).analysis_runs.back().measurements.at(0).verdict, Verdict::kFailed);
      });
  add(
      "AnalyzingProbeFailedRollsBack",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.spec->spec.pre_promotion->probe = ProbeSpec{};
        AddMeasurement(s.status.analysis_runs.back(), {std::string(kProbeErrorRate), 0.2, "<= 0",
                                                       Verdict::kFailed, T0 - seconds(1), ""});
        return s;
      },
      [](const Action& a) { ExpectRollback(a, reason::kProbeFailed); });
  add(
      "AnalyzingPassedPromotes",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        AddMeasurement(s, "error-rate", 0.001, Verdict::kSuccessful, T0 - seconds(9));
        AddMeasurement(s, "error-rate", 0.001, Verdict::kSuccessful, T0);
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPromoting);
        EXPECT_EQ(Written(a).analysis_runs.back().result, Verdict::kSuccessful);
      });
  add(
      "AnalyzingStandbyLostReadinessGoesBackToWaiting",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.instances.back().ready = false;
        return s;
      },
      [](const Action& a) { ExpectPhase(a, Phase::kWaitingHealthy); });
  add(
      "AnalyzingDeadline",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.status.current_step->deadline = T0 - seconds(1);
        AddMeasurement(s, "error-rate", 0.001, Verdict::kSuccessful, T0 - seconds(9));
        return s;
      },
      [](const Action& a) { ExpectRollback(a, reason::kProgressDeadlineExceeded); });

  // ---- Supersede
  add(
      "SupersedeBeforeFlipRedeploysStandby",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.spec->spec.version = "v3";
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kDeployingStandby);
        EXPECT_EQ(Written(a).target_version, "v3");
        EXPECT_EQ(Written(a).stable_version, "v1");
        ASSERT_FALSE(Written(a).history.empty());
        EXPECT_EQ(Written(a).history.back().version, "v2");
        EXPECT_EQ(Written(a).history.back().outcome, "Superseded");
      });
  add(
      "SupersedeWhileWaitingHealthy",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.spec->spec.version = "v3";
        return s;
      },
      [](const Action& a) { EXPECT_EQ(Written(a).target_version, "v3"); });
  add(
      "SpecBackToActiveCancels",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.spec->spec.version = "v1";
        return s;
      },
      [](const Action& a) { ExpectRollback(a, reason::kCancelled); });
  add(
      "NewerVersionAfterFlipWaitsForThisRollout",
      [] {
        Snapshot s = WithPost(Phase::kVerifying);
        s.spec->spec.version = "v3";
        return s;
      },
      [](const Action& a) { EXPECT_EQ(As<RunMetricQuery>(a).version, "v2"); });
  add(
      "SpecRevertedAfterFlipFlipsBack",
      [] {
        Snapshot s = At(Phase::kDraining);
        s.spec->spec.version = "v1";
        return s;
      },
      [](const Action& a) { ExpectRollback(a, reason::kSpecReverted); });

  // ---- Paused and control requests
  add(
      "PausedAwaitingPromotionWaits", [] { return Paused("AwaitingPromotion", Phase::kPromoting); },
      [](const Action& a) { EXPECT_EQ(As<NoOp>(a).requeue_after, seconds(30)); });
  add(
      "PausedTracksStandbyReadiness",
      [] {
        Snapshot s = Paused("AwaitingPromotion", Phase::kPromoting);
        s.instances.back().ready = false;
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPaused);
        EXPECT_EQ(FindCondition(Written(a), "StandbyReady")->status, "False");
      });
  add(
      "PromoteRightAfterAFlapWaitsMinHealthyTime",
      [] {
        Snapshot s =
            WithControl(Paused("AwaitingPromotion", Phase::kPromoting), ControlVerb::kPromote);
        SetCondition(s.status, "StandbyReady", "False", "NotReady", "", T0 - seconds(10));
        SetCondition(s.status, "StandbyReady", "True", "AllReady", "", T0 - seconds(1));
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPaused);
        ExpectAck(a, "req-1", "rejected: standby not ready");
      });
  add(
      "UnhealthyAllocOfSupersededDeployIsIgnored",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.status.standby_job_version = 3;  // v2 was redeployed at job version 3
        for (Allocation& al : s.allocations) {
          if (al.group == kGreen) al.job_version = 3;
        }
        Allocation old{"old-v", kGreen, 1, "running", "run", false, 0};
        s.allocations.push_back(old);  // still being replaced
        return s;
      },
      [](const Action& a) { As<NoOp>(a); });
  add(
      "PromoteWhenPausedFlips",
      [] {
        return WithControl(Paused("AwaitingPromotion", Phase::kPromoting), ControlVerb::kPromote);
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPromoting);
        ExpectAck(a, "req-1", "accepted");
        EXPECT_EQ(Written(a).active_version, "v2");
        EXPECT_FALSE(Written(a).pause);
        EXPECT_EQ(Written(a).progress_deadline, T0 + minutes(8) + seconds(100));
      });
  add(
      "PromoteRejectedWhenStandbyNotReady",
      [] {
        Snapshot s =
            WithControl(Paused("AwaitingPromotion", Phase::kPromoting), ControlVerb::kPromote);
        s.instances.back().ready = false;
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPaused);
        ExpectAck(a, "req-1", "rejected: standby not ready");
      });
  add(
      "PromoteDuringWaitingHealthyRejected",
      [] { return WithControl(At(Phase::kWaitingHealthy), ControlVerb::kPromote); },
      [](const Action& a) {
        ExpectPhase(a, Phase::kWaitingHealthy);
        ExpectAck(a, "req-1", "rejected");
      });
  add(
      "PromoteSkipsRemainingAnalysis",
      [] { return WithControl(WithPre(Phase::kAnalyzing), ControlVerb::kPromote); },
      [](const Action& a) { ExpectPhase(a, Phase::kPromoting); });
  add(
      "PromoteInconclusivePostAnalysisContinuesToDrain",
      [] {
        return WithControl(Paused("AnalysisInconclusive", Phase::kVerifying),
                           ControlVerb::kPromote);
      },
      [](const Action& a) { ExpectPhase(a, Phase::kDraining); });
  add(
      "ResumeRejectedWhileAwaitingPromotion",
      [] {
        return WithControl(Paused("AwaitingPromotion", Phase::kPromoting), ControlVerb::kResume);
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPaused);
        ExpectAck(a, "req-1", "rejected");
      });
  add(
      "PauseAnalyzing", [] { return WithControl(WithPre(Phase::kAnalyzing), ControlVerb::kPause); },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPaused);
        EXPECT_EQ(Written(a).pause->reason, "Manual");
        EXPECT_EQ(Written(a).pause->resume_phase, Phase::kAnalyzing);
        ExpectAck(a, "req-1", "accepted");
      });
  add(
      "ManualPauseHasNoDeadline",
      [] {
        Snapshot s = Paused("Manual", Phase::kWaitingHealthy);
        s.now = T0 + minutes(60);
        return s;
      },
      [](const Action& a) { As<NoOp>(a); });
  add(
      "ResumeGoesBackWithPauseNotCounted",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.status.phase = Phase::kPaused;
        s.status.pause = PauseState{"Manual", Phase::kAnalyzing, T0 - seconds(100)};
        return WithControl(s, ControlVerb::kResume);
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kAnalyzing);
        EXPECT_EQ(Written(a).progress_deadline, T0 + minutes(8) + seconds(100));
        EXPECT_EQ(Written(a).analysis_runs.size(), 1u);  // the same run continues
      });
  add(
      "ResumeAfterInconclusiveStartsNewRun",
      [] {
        Snapshot s = WithPre(Phase::kAnalyzing);
        s.status.analysis_runs.back().result = Verdict::kInconclusive;
        s.status.phase = Phase::kPaused;
        s.status.pause = PauseState{"AnalysisInconclusive", Phase::kAnalyzing, T0 - seconds(100)};
        return WithControl(s, ControlVerb::kResume);
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kAnalyzing);
        EXPECT_EQ(Written(a).analysis_runs.size(), 2u);
        EXPECT_FALSE(Written(a).analysis_runs.back().result);
      });
  add(
      "PauseInPromotingRejected",
      [] { return WithControl(At(Phase::kPromoting), ControlVerb::kPause); },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPromoting);
        ExpectAck(a, "req-1", "rejected");
      });
  add(
      "AcknowledgedControlIsNotRepeated",
      [] {
        Snapshot s = WithControl(WithPre(Phase::kAnalyzing), ControlVerb::kAbort);
        AddAck(s.status, {"req-1", "abort", "accepted", T0 - seconds(1)});
        return s;
      },
      [](const Action& a) { As<RunMetricQuery>(a); });
  add(
      "AbortBeforeFlip",
      [] { return WithControl(WithPre(Phase::kAnalyzing), ControlVerb::kAbort); },
      [](const Action& a) {
        ExpectRollback(a, reason::kAborted);
        ExpectAck(a, "req-1", "accepted");
      });
  add(
      "AbortWhenHealthyRejected",
      [] {
        Snapshot s = At(Phase::kHealthy);
        s.spec->spec.version = "v1";
        return WithControl(s, ControlVerb::kAbort);
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kHealthy);
        ExpectAck(a, "req-1", "rejected");
      });
  add(
      "UndoBeforeFlipRejected",
      [] { return WithControl(At(Phase::kWaitingHealthy), ControlVerb::kUndo); },
      [](const Action& a) { ExpectAck(a, "req-1", "rejected"); });
  add(
      "UndoWhileDraining", [] { return WithControl(At(Phase::kDraining), ControlVerb::kUndo); },
      [](const Action& a) { ExpectRollback(a, reason::kUndo); });
  add(
      "RetryWhenDegraded",
      [] {
        Snapshot s = At(Phase::kDegraded);
        s.status.rollback_reason = "CrashLoop";
        return WithControl(s, ControlVerb::kRetry);
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kDeployingStandby);
        EXPECT_EQ(Written(a).target_version, "v2");
        ExpectAck(a, "req-1", "accepted");
      });
  add(
      "RetryWhenNotDegradedRejected",
      [] { return WithControl(At(Phase::kWaitingHealthy), ControlVerb::kRetry); },
      [](const Action& a) { ExpectAck(a, "req-1", "rejected"); });

  // ---- Promoting (the flip)
  add(
      "PromotingFlipsOnce",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);  // job deployed, not flipped
        s.status.phase = Phase::kPromoting;
        s.status.active_group = kGreen;
        s.status.active_version = "v2";
        s.status.conditions.push_back({"StandbyReady", "True", "AllReady", "", T0 - seconds(60)});
        return s;
      },
      [](const Action& a) {
        const FlipEdit& f = ExpectRegister<FlipEdit>(a, 20);
        EXPECT_EQ(f.active_group, kGreen);
        const json& job = As<RegisterJob>(a).job;
        EXPECT_EQ(job["TaskGroups"][0]["Services"][0]["Tags"], json::array({"standby"}));
        EXPECT_EQ(job["TaskGroups"][1]["Services"][0]["Tags"], json::array({"active"}));
      });
  add(
      "PromotingNeverFlipsUnreadyStandby",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.status.phase = Phase::kPromoting;
        s.status.active_group = kGreen;
        s.status.active_version = "v2";
        s.status.conditions.push_back({"StandbyReady", "True", "AllReady", "", T0 - seconds(60)});
        s.instances.back().ready = false;
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kWaitingHealthy);
        EXPECT_EQ(Written(a).active_version, "v1");
        EXPECT_EQ(Written(a).active_group, kBlue);
      });
  add(
      "CrashRestartMidPromotingDoesNotFlipAgain",
      [] {
        Snapshot s = At(Phase::kPromoting);
        // The job is flipped; Consul has updated only one allocation so far.
        SetInstanceTags(s, kGreen, "standby");
        s.instances[2].tags = {"active"};
        SetRouters(s, "v1");
        return s;
      },
      [](const Action& a) { EXPECT_EQ(As<NoOp>(a).requeue_after, seconds(2)); });
  add(
      "PromotingStaggeredBothActiveInConsulWaits",
      [] {
        Snapshot s = At(Phase::kPromoting);
        SetInstanceTags(s, kBlue, "active");
        return s;
      },
      [](const Action& a) { As<NoOp>(a); });
  add(
      "PromotingRouterLaggingWaits",
      [] {
        Snapshot s = At(Phase::kPromoting);
        s.routers[1].applied_version = "v1";
        return s;
      },
      [](const Action& a) { EXPECT_NE(As<NoOp>(a).reason.find("r2"), std::string::npos); });
  add(
      "PromotingRouterTimeout",
      [] {
        Snapshot s = At(Phase::kPromoting);
        s.routers[1].applied_version = "v1";
        s.now = T0 + seconds(50);
        return s;
      },
      [](const Action& a) {
        ExpectRollback(a, reason::kRouterTimeout);
        EXPECT_NE(Written(a).rollback_message.find("r2"), std::string::npos);
      });
  add(
      "PromotingConvergedWithNullDeploymentStatusDrains", [] { return At(Phase::kPromoting); },
      [](const Action& a) {
        ExpectPhase(a, Phase::kDraining);
        EXPECT_EQ(Written(a).converged_at, T0);
      });
  add(
      "PromotingConvergedStartsPostAnalysis", [] { return WithPost(Phase::kPromoting); },
      [](const Action& a) {
        ExpectPhase(a, Phase::kVerifying);
        EXPECT_EQ(Written(a).analysis_runs.back().name, "postPromotion");
        EXPECT_EQ(Written(a).analysis_runs.back().group, kGreen);
      });
  add(
      "PromotingNoRoutersNeedsOnlyConsul",
      [] {
        Snapshot s = At(Phase::kPromoting);
        s.routers.clear();
        return s;
      },
      [](const Action& a) { ExpectPhase(a, Phase::kDraining); });

  // ---- Verifying
  add(
      "VerifyingNullDeploymentStatusIsNotUnhealthy", [] { return WithPost(Phase::kVerifying); },
      [](const Action& a) {
        const RunMetricQuery& q = As<RunMetricQuery>(a);
        EXPECT_EQ(q.run, "postPromotion");
        EXPECT_NE(q.query.find("v2"), std::string::npos);
      });
  add(
      "VerifyingFailedRollsBack",
      [] {
        Snapshot s = WithPost(Phase::kVerifying);
        AddMeasurement(s, "error-rate", 0.2, Verdict::kFailed, T0);
        return s;
      },
      [](const Action& a) { ExpectRollback(a, reason::kAnalysisFailed); });
  add(
      "VerifyingNewActiveNotReadyRollsBack",
      [] {
        Snapshot s = WithPost(Phase::kVerifying);
        s.instances.back().ready = false;
        return s;
      },
      [](const Action& a) { ExpectRollback(a, reason::kNewVersionUnhealthy); });
  add(
      "VerifyingPassedDrains",
      [] {
        Snapshot s = WithPost(Phase::kVerifying);
        for (int k = 0; k < 3; ++k) AddMeasurement(s, "error-rate", 0.0, Verdict::kSuccessful, T0);
        return s;
      },
      [](const Action& a) { ExpectPhase(a, Phase::kDraining); });
  add(
      "VerifyingInconclusivePauses",
      [] {
        Snapshot s = WithPost(Phase::kVerifying);
        AddMeasurement(s, "error-rate", std::nullopt, Verdict::kInconclusive, T0);
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kPaused);
        EXPECT_EQ(Written(a).pause->resume_phase, Phase::kVerifying);
      });

  // ---- Draining / ScalingDown
  add(
      "DrainingWaitsScaleDownDelay",
      [] {
        Snapshot s = At(Phase::kDraining);
        s.status.converged_at = T0 - seconds(10);
        return s;
      },
      [](const Action& a) { EXPECT_EQ(As<NoOp>(a).requeue_after, seconds(20)); });
  add(
      "DrainingAfterDelayScalesDown",
      [] {
        Snapshot s = At(Phase::kDraining);
        s.now = T0 + seconds(30);
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kScalingDown);
        EXPECT_EQ(FindCondition(Written(a), "Drained")->status, "True");
      });
  add(
      "DrainingRouterStillOnOldVersionBlocks",
      [] {
        Snapshot s = At(Phase::kDraining);
        s.now = T0 + minutes(5);
        s.routers[0].applied_version = "v1";
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kDraining);
        EXPECT_EQ(FindCondition(Written(a), "Drained")->reason, "NotVerified");
      });
  add(
      "ScalingDownRegistersCountZero", [] { return At(Phase::kScalingDown); },
      [](const Action& a) {
        EXPECT_EQ(ExpectRegister<ScaleDownEdit>(a, 30).group, kBlue);
        EXPECT_EQ(As<RegisterJob>(a).job["TaskGroups"][0]["Count"], 0);
        EXPECT_EQ(As<RegisterJob>(a).job["TaskGroups"][1]["Count"], 2);
      });
  add(
      "ScalingDownRechecksRouters",
      [] {
        Snapshot s = At(Phase::kScalingDown);
        s.routers[1].applied_version = "v1";
        return s;
      },
      [](const Action& a) { ExpectPhase(a, Phase::kDraining); });
  add(
      "ScalingDownDoneIsHealthy",
      [] {
        Snapshot s = At(Phase::kScalingDown);
        json job = ApplyJobEdit(s.job->document, ScaleDownEdit{kBlue}).job;
        SetJob(s, job, 3, 40);
        ClearGroup(s, kBlue);
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kHealthy);
        const RolloutStatus& st = Written(a);
        EXPECT_EQ(st.active_version, "v2");
        EXPECT_EQ(st.stable_group, kGreen);
        EXPECT_EQ(st.history.back().outcome, "Succeeded");
        EXPECT_EQ(st.history.back().started_at, T0 - minutes(2));
      });

  // ---- RollingBack
  auto rolling_back_after_flip = [] {
    Snapshot s = At(Phase::kVerifying);
    s.status.phase = Phase::kRollingBack;
    s.status.rollback_reason = "AnalysisFailed";
    s.status.rollback_message = "error-rate 0.2";
    s.status.current_step = StepRecord{"RollingBack", T0 - seconds(10), T0 + seconds(50)};
    return s;
  };
  add("RollingBackDeclaresStableFirst", rolling_back_after_flip, [](const Action& a) {
    ExpectPhase(a, Phase::kRollingBack);
    EXPECT_EQ(Written(a).active_version, "v1");
    EXPECT_EQ(Written(a).active_group, kBlue);
    // The failed version was active: say it may still receive traffic.
    const StatusCondition* drained = FindCondition(Written(a), "Drained");
    ASSERT_NE(drained, nullptr);
    EXPECT_EQ(drained->status, "False");
    EXPECT_EQ(drained->reason, "FlippingBack");
  });
  auto declared_back = [rolling_back_after_flip] {
    Snapshot s = rolling_back_after_flip();
    s.status.active_group = kBlue;
    s.status.active_version = "v1";
    SetCondition(s.status, "Drained", "False", "FlippingBack", "green may still receive traffic",
                 T0 - seconds(5));
    return s;
  };
  add("RollingBackFlipsBack", declared_back,
      [](const Action& a) { EXPECT_EQ(ExpectRegister<FlipEdit>(a, 30).active_group, kBlue); });
  auto flipped_back = [declared_back] {
    Snapshot s = declared_back();
    json job =
        ApplyJobEdit(s.job->document, FlipEdit{kBlue, kGreen, "hello", "active", "standby"}).job;
    SetJob(s, job, 3, 40);
    return s;
  };
  add("RollingBackWaitsForConvergence", flipped_back, [](const Action& a) { As<NoOp>(a); });
  auto converged_back = [flipped_back] {
    Snapshot s = flipped_back();
    SetInstanceTags(s, kBlue, "active");
    SetInstanceTags(s, kGreen, "standby");
    SetRouters(s, "v1");
    return s;
  };
  add("RollingBackRecordsWhenTrafficLeftTheFailedVersion", converged_back, [](const Action& a) {
    ExpectPhase(a, Phase::kRollingBack);
    const StatusCondition* drained = FindCondition(Written(a), "Drained");
    ASSERT_NE(drained, nullptr);
    EXPECT_EQ(drained->status, "True");
    EXPECT_EQ(drained->reason, "FlippedBack");
    EXPECT_EQ(drained->last_transition_time, T0);
    // The step deadline covers the wait that follows.
    ASSERT_TRUE(Written(a).current_step && Written(a).current_step->deadline);
    EXPECT_GT(*Written(a).current_step->deadline, T0 + seconds(30));
  });
  // Traffic left the failed version `ago` before now.
  auto traffic_left = [converged_back](Duration ago) {
    return [converged_back, ago] {
      Snapshot s = converged_back();
      SetCondition(s.status, "Drained", "True", "FlippedBack", "traffic left green", T0 - ago);
      return s;
    };
  };
  add("RollingBackKeepsFailedGroupForScaleDownDelay", traffic_left(seconds(10)),
      [](const Action& a) {
        // Routers reported the flip back, but nginx's old workers may still hold it.
        EXPECT_EQ(As<NoOp>(a).requeue_after, Duration(seconds(20)));
      });
  add(
      "RollingBackDoesNotWaitForEveryOldInstance",
      [traffic_left] {
        Snapshot s = traffic_left(seconds(31))();
        s.instances[0].ready = false;
        return s;
      },
      [](const Action& a) { EXPECT_EQ(ExpectRegister<ScaleDownEdit>(a, 40).group, kGreen); });
  add("RollingBackStopsFailedGroupAfterScaleDownDelay", traffic_left(seconds(30)),
      [](const Action& a) { EXPECT_EQ(ExpectRegister<ScaleDownEdit>(a, 40).group, kGreen); });
  add(
      "RollingBackDoneIsDegraded",
      [converged_back] {
        Snapshot s = converged_back();
        SetJob(s, ApplyJobEdit(s.job->document, ScaleDownEdit{kGreen}).job, 4, 50);
        ClearGroup(s, kGreen);
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kDegraded);
        const RolloutStatus& st = Written(a);
        EXPECT_EQ(st.active_version, "v1");
        EXPECT_EQ(FindCondition(st, "Degraded")->status, "True");
        EXPECT_EQ(FindCondition(st, "Degraded")->reason, "AnalysisFailed");
        EXPECT_EQ(FindCondition(st, "Drained")->reason, "ScaledDown");
        EXPECT_EQ(st.history.back().outcome, "RolledBack");
        EXPECT_EQ(st.target_version, "v2");
      });
  add(
      "RollingBackTimeoutLeavesFailedGroupRunning",
      [flipped_back] {
        Snapshot s = flipped_back();
        s.now = T0 + seconds(50);
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kDegraded);
        EXPECT_EQ(Written(a).standby_version, "v2");
        EXPECT_NE(FindCondition(Written(a), "Degraded")->message.find("left running"),
                  std::string::npos);
      });
  add(
      "RollingBackBeforeFlipOnlyStopsStandby",
      [] {
        Snapshot s = At(Phase::kWaitingHealthy);
        s.status.phase = Phase::kRollingBack;
        s.status.rollback_reason = "StandbyUnhealthy";
        s.status.current_step = StepRecord{"RollingBack", T0, T0 + seconds(60)};
        return s;
      },
      [](const Action& a) { EXPECT_EQ(ExpectRegister<ScaleDownEdit>(a, 20).group, kGreen); });
  add(
      "CancelledRollbackEndsHealthy",
      [] {
        Snapshot s = At(Phase::kDegraded);
        s.spec->spec.version = "v1";
        s.status.phase = Phase::kRollingBack;
        s.status.rollback_reason = "Cancelled";
        s.status.current_step = StepRecord{"RollingBack", T0, T0 + seconds(60)};
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kHealthy);
        EXPECT_EQ(Written(a).history.back().outcome, "Cancelled");
      });
  add(
      "RollingBackFinishesEvenIfSpecChanges",
      [traffic_left] {
        Snapshot s = traffic_left(seconds(31))();
        s.spec->spec.version = "v3";
        return s;
      },
      [](const Action& a) { As<RegisterJob>(a); });

  // ---- Degraded
  add(
      "DegradedSameVersionStays",
      [] {
        Snapshot s = At(Phase::kDegraded);
        s.status.rollback_reason = "CrashLoop";
        return s;
      },
      [](const Action& a) { As<NoOp>(a); });
  add(
      "DegradedNewVersionStartsRollout",
      [] {
        Snapshot s = At(Phase::kDegraded);
        s.spec->spec.version = "v3";
        return s;
      },
      [](const Action& a) {
        ExpectPhase(a, Phase::kDeployingStandby);
        EXPECT_EQ(Written(a).target_version, "v3");
      });
  add(
      "DegradedSpecRevertedIsHealthy",
      [] {
        Snapshot s = At(Phase::kDegraded);
        s.spec->spec.version = "v1";
        return s;
      },
      [](const Action& a) { ExpectPhase(a, Phase::kHealthy); });
  return cases;
}

class DecideTable : public ::testing::TestWithParam<Case> {};

TEST_P(DecideTable, ReturnsExpectedAction) {
  const Case& c = GetParam();
  Snapshot snapshot = c.observe();
  Action action = Decide(snapshot);
  c.expect(action);
  // Every status write keeps CAS and records the spec it acted on.
  if (auto* w = std::get_if<WriteStatus>(&action)) {
    EXPECT_EQ(w->cas_index, snapshot.status_modify_index);
    EXPECT_EQ(w->status.observed_spec_index, snapshot.spec_modify_index);
    EXPECT_LE(w->status.events.size(), kMaxEvents);
  }
  // Every register is based on the observed job and index.
  if (auto* r = std::get_if<RegisterJob>(&action)) {
    ASSERT_TRUE(snapshot.job);
    EXPECT_EQ(r->enforce_index, snapshot.job->job_modify_index);
    EXPECT_EQ(r->job, ApplyJobEdit(snapshot.job->document, r->edit).job);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, DecideTable, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(DecideTableCoverage, EveryPhaseHasACase) {
  std::set<Phase> seen;
  for (const Case& c : Cases()) {
    Snapshot s = c.observe();
    if (s.status.phase) seen.insert(*s.status.phase);
  }
  for (int p = 0; p <= static_cast<int>(Phase::kInvalidSpec); ++p) {
    EXPECT_TRUE(seen.count(static_cast<Phase>(p))) << PhaseName(static_cast<Phase>(p));
  }
}

TEST(DecideActions, NamesAndRegisterBody) {
  EXPECT_EQ(ActionName(Action{NoOp{}}), "NoOp");
  EXPECT_EQ(ActionName(Action{RunProbe{}}), "RunProbe");
  RegisterJob r{ScaleDownEdit{"g"}, json{{"ID", "hello"}}, 42, ""};
  EXPECT_EQ(r.RegisterBody(),
            json::parse(R"({"Job":{"ID":"hello"},"EnforceIndex":true,"JobModifyIndex":42})"));
}

TEST(DecidePurity, SameSnapshotSameAction) {
  for (const Case& c : Cases()) {
    Snapshot s = c.observe();
    Action a = Decide(s), b = Decide(s);
    ASSERT_EQ(a.index(), b.index()) << c.name;
    if (auto* w = std::get_if<WriteStatus>(&a)) {
      EXPECT_EQ(StatusToJson(w->status), StatusToJson(std::get<WriteStatus>(b).status)) << c.name;
    }
  }
}

}  // namespace
}  // namespace rollouts::reconcilers
