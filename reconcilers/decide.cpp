#include "reconcilers/decide.h"

#include <algorithm>
#include <sstream>

#include "api/text.h"

namespace rollouts::reconcilers {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr Duration kIdleRequeue = seconds(30);
constexpr std::string_view kPreRun = "prePromotion";
constexpr std::string_view kPostRun = "postPromotion";
constexpr std::string_view kStandbyReady = "StandbyReady";
constexpr std::string_view kInvalidSpec = "InvalidSpec";
constexpr std::string_view kDegraded = "Degraded";
constexpr std::string_view kDrained = "Drained";
// Set (status False) while some router's report cannot be read, naming the routers and why;
// removed when every report reads again.
constexpr std::string_view kRouterReportsReadable = "RouterReportsReadable";
// Drained reasons while a roll back moves traffic off a version that was declared active.
constexpr std::string_view kFlippingBack = "FlippingBack";
constexpr std::string_view kFlippedBack = "FlippedBack";

bool HasTag(const std::vector<std::string>& tags, std::string_view tag) {
  return std::find(tags.begin(), tags.end(), tag) != tags.end();
}

std::string Str(std::string_view text) {
  return std::string(text);
}

Duration Clamp(Duration d) {
  return std::max(d, Duration(0));
}

// Everything a phase handler needs, resolved once.
struct Ctx {
  const Snapshot& s;
  const Rollout& rollout;
  const RolloutSpec& spec;
  const JobView& job;
  TimePoint now;

  const std::string& Service() const { return spec.nomad.service; }
  const std::string& ActiveTag() const { return spec.blue_green.active_tag; }
  const std::string& StandbyTag() const { return spec.blue_green.standby_tag; }
  std::string Other(const std::string& group) const {
    return group == spec.nomad.groups[0] ? spec.nomad.groups[1] : spec.nomad.groups[0];
  }
  int Count(const std::string& group) const {
    const GroupView* g = job.Group(group);
    return g ? g->count : 0;
  }
  // The group whose service carries the active tag in the job (the declared truth Nomad
  // holds); "" when not exactly one does.
  std::string JobActiveGroup() const {
    std::string found;
    int n = 0;
    for (const std::string& name : spec.nomad.groups) {
      const GroupView* g = job.Group(name);
      const ServiceView* svc = g ? g->Service(Service()) : nullptr;
      if (svc && HasTag(svc->tags, ActiveTag())) {
        found = name;
        ++n;
      }
    }
    return n == 1 ? found : std::string();
  }

  RolloutStatus Base() const {
    RolloutStatus next = s.status;
    next.observed_spec_index = s.spec_modify_index;
    return next;
  }
  Action Write(RolloutStatus next, std::string why) const {
    return WriteStatus{std::move(next), s.status_modify_index, std::move(why)};
  }
  // No wait outlives the current step's deadline, whatever the spec's durations say: the
  // handler checks the deadline only when it runs again, so a longer wait (minHealthyTime,
  // an analysis interval) would overrun it.
  Action Wait(Duration d, std::string why) const {
    const std::optional<StepRecord>& step = s.status.current_step;
    if (step && step->deadline && *step->deadline > now) {
      return NoOp{std::clamp(d, Duration(milliseconds(1)), *step->deadline - now), std::move(why)};
    }
    return NoOp{std::max(Clamp(d), Duration(milliseconds(100))), std::move(why)};
  }
  Action Register(JobEdit edit, std::string why) const {
    JobEditResult edited = ApplyJobEdit(job.document, edit);
    if (!edited.ok()) {
      // The structure was validated before, so this means the job changed under us in a
      // way we cannot edit; do nothing to Nomad and say why.
      return NoOp{kIdleRequeue, "cannot edit job: " + edited.error};
    }
    return RegisterJob{std::move(edit), std::move(edited.job), job.job_modify_index,
                       std::move(why)};
  }
  FlipEdit Flip(const std::string& active_group) const {
    return FlipEdit{active_group, Other(active_group), Service(), ActiveTag(), StandbyTag()};
  }
};

// ---------------------------------------------------------------------------------------
// Observations

struct GroupHealth {
  int expected = 0;   // job Count
  int live = 0;       // live allocations
  int ready = 0;      // live, right version, ready in Consul (and healthy in Nomad if asked)
  int unhealthy = 0;  // live allocations Nomad marked unhealthy
  int failures = 0;   // failed allocations + restarts since the version was deployed
  bool AllReady() const { return expected > 0 && live == expected && ready == expected; }
  std::string Describe() const {
    std::ostringstream out;
    out << ready << "/" << expected << " ready (" << live << " live allocations";
    if (unhealthy) out << ", " << unhealthy << " unhealthy";
    if (failures) out << ", " << failures << " failures";
    out << ")";
    return out.str();
  }
};

// require_nomad_healthy: before the flip the standby must also be healthy in Nomad. After
// an in-place update (the flip) DeploymentStatus is null again for ~10 s even though
// nothing restarted, so after the flip only Consul's checks count.
GroupHealth ObserveGroup(const Ctx& c, const std::string& group, const std::string& version,
                         bool require_nomad_healthy, int64_t since_job_version) {
  GroupHealth h;
  h.expected = c.Count(group);
  for (const Allocation& a : c.s.allocations) {
    if (a.group != group) continue;
    if (a.job_version >= since_job_version) {
      if (a.client_status == "failed") ++h.failures;
      h.failures += a.restarts;
    }
    if (!a.Live()) continue;
    ++h.live;
    // An allocation of an earlier (superseded) deploy that is being replaced says nothing
    // about this version.
    if (a.deployment_healthy == false && a.job_version >= since_job_version) ++h.unhealthy;
    if (require_nomad_healthy && a.deployment_healthy != true) continue;
    if (a.client_status != "running") continue;
    for (const ServiceInstance& i : c.s.instances) {
      if (i.alloc_id == a.id && i.ready && i.version == version) {
        ++h.ready;
        break;
      }
    }
  }
  return h;
}

struct Convergence {
  bool consul = false;
  bool routers = false;
  std::string detail;
  bool ok() const { return consul && routers; }
};

// Consul shows the flipped tags on every instance of the service, the Active group's
// instances are ready (all of them, or for a roll back at least one: the old version was
// never stopped, and waiting for a flapping old instance would keep the failed version up),
// and every live router reports the Active version.
Convergence CheckConverged(const Ctx& c, const std::string& active_group,
                           const std::string& active_version, bool all_ready = true) {
  Convergence conv;
  const std::string other = c.Other(active_group);
  int ready_active = 0;
  int wrong = 0;
  for (const ServiceInstance& i : c.s.instances) {
    bool active = HasTag(i.tags, c.ActiveTag());
    bool standby = HasTag(i.tags, c.StandbyTag());
    if (i.group == active_group) {
      if (!active || standby || i.version != active_version) {
        ++wrong;
      } else if (i.ready) {
        ++ready_active;
      }
    } else if (i.group == other) {
      if (active) ++wrong;
    }
  }
  int expected = c.Count(active_group);
  conv.consul = wrong == 0 && ready_active >= (all_ready ? std::max(expected, 1) : 1);
  std::vector<std::string> lagging;
  for (const RouterReport& r : c.s.routers) {
    if (!r.error.empty()) {
      lagging.push_back(r.id + ": report unreadable: " + r.error);
    } else if (r.applied_version != active_version) {
      lagging.push_back(r.id);
    }
  }
  conv.routers = lagging.empty();
  std::ostringstream out;
  out << "consul: " << ready_active << "/" << expected << " " << active_group
      << " instances active and ready, " << wrong << " instances with stale tags; routers: ";
  if (lagging.empty()) {
    out << c.s.routers.size() << " converged";
  } else {
    out << lagging.size() << " not on " << active_version << " (";
    for (size_t n = 0; n < lagging.size(); ++n) out << (n ? ", " : "") << lagging[n];
    out << ")";
  }
  conv.detail = out.str();
  return conv;
}

// ---------------------------------------------------------------------------------------
// Phase entries: each sets phase, current step and what that phase needs.

void EnterStep(const Ctx& c, RolloutStatus& n, Phase phase, std::optional<TimePoint> deadline) {
  n.phase = phase;
  n.current_step = StepRecord{Str(PhaseName(phase)), c.now, deadline};
}

TimePoint Later(TimePoint t, Duration d) {
  return t + duration_cast<milliseconds>(d);
}

void StartRollout(const Ctx& c, RolloutStatus& n, const std::string& version) {
  n.target_version = version;
  n.stable_group = n.active_group;
  n.stable_version = n.active_version;
  n.rollout_started_at = c.now;
  n.progress_deadline = Later(c.now, c.spec.health.progress_deadline);
  n.converged_at.reset();
  n.standby_job_version.reset();
  n.rollback_reason.clear();
  n.rollback_message.clear();
  n.pause.reset();
  RemoveCondition(n, kStandbyReady);
  RemoveCondition(n, kDrained);
  EnterStep(c, n, Phase::kDeployingStandby, n.progress_deadline);
  AddEvent(n, c.now, "Normal", "RolloutStarted",
           "rolling out " + version + " to " + c.Other(n.active_group) + " (active " +
               n.active_version + " in " + n.active_group + ")");
}

void EnterWaitingHealthy(const Ctx& c, RolloutStatus& n) {
  TimePoint deadline = Later(c.now, c.spec.health.healthy_deadline);
  if (n.progress_deadline) deadline = std::min(deadline, *n.progress_deadline);
  EnterStep(c, n, Phase::kWaitingHealthy, deadline);
  SetCondition(n, Str(kStandbyReady), "False", "Waiting",
               "waiting for " + n.target_version + " to be ready", c.now);
}

void EnterAnalysis(const Ctx& c, RolloutStatus& n, std::string_view run_name,
                   const AnalysisSpec& analysis, const std::string& group) {
  Phase phase = run_name == kPreRun ? Phase::kAnalyzing : Phase::kVerifying;
  n.analysis_runs.push_back(AnalysisRun{Str(run_name), n.target_version, group, c.now, {}, {}, {}});
  if (n.analysis_runs.size() > kMaxAnalysisRuns) {
    n.analysis_runs.erase(n.analysis_runs.begin(),
                          n.analysis_runs.end() - static_cast<long>(kMaxAnalysisRuns));
  }
  Duration span = analysis.interval * std::max(analysis.count, 1);
  EnterStep(c, n, phase, Later(Later(c.now, span), c.spec.health.progress_deadline));
}

void EnterPaused(const Ctx& c, RolloutStatus& n, std::string why, Phase resume_phase,
                 std::string message) {
  n.pause = PauseState{why, resume_phase, c.now};
  EnterStep(c, n, Phase::kPaused, std::nullopt);
  AddEvent(n, c.now, "Normal", why, std::move(message));
}

// Time spent paused does not count against the progress deadline.
void LeavePause(const Ctx& c, RolloutStatus& n) {
  if (n.pause && n.progress_deadline) *n.progress_deadline += Clamp(c.now - n.pause->since);
  n.pause.reset();
}

void EnterPromoting(const Ctx& c, RolloutStatus& n) {
  // The declared Active changes in the same step as the flip, before it: routers select
  // active-tagged instances of the declared version, so until the job flips they keep their
  // last good set, and after it they switch.
  n.active_group = c.Other(n.stable_group);
  n.active_version = n.target_version;
  n.standby_version = n.stable_version;
  EnterStep(c, n, Phase::kPromoting, Later(c.now, c.s.settings.router_timeout));
  AddEvent(n, c.now, "Normal", "Promoting",
           "flipping " + n.active_group + " (" + n.active_version + ") to " + c.ActiveTag());
}

void EnterDraining(const Ctx& c, RolloutStatus& n) {
  EnterStep(c, n, Phase::kDraining, std::nullopt);
  SetCondition(n, Str(kDrained), "False", "Waiting",
               "waiting scaleDownDelay before stopping " + c.Other(n.active_group), c.now);
}

void AfterAnalysisPassed(const Ctx& c, RolloutStatus& n);

void AfterHealthy(const Ctx& c, RolloutStatus& n) {
  if (c.spec.pre_promotion) {
    EnterAnalysis(c, n, kPreRun, *c.spec.pre_promotion, c.Other(n.stable_group));
    AddEvent(n, c.now, "Normal", "Analyzing", "pre-promotion analysis of " + n.target_version);
    return;
  }
  AfterAnalysisPassed(c, n);
}

void AfterAnalysisPassed(const Ctx& c, RolloutStatus& n) {
  if (!c.spec.blue_green.auto_promote) {
    EnterPaused(c, n, Str(reason::kAwaitingPromotion), Phase::kPromoting,
                n.target_version + " is ready; waiting for promote");
    return;
  }
  EnterPromoting(c, n);
}

void AfterConverged(const Ctx& c, RolloutStatus& n) {
  n.converged_at = c.now;
  AddEvent(n, c.now, "Normal", "Flipped",
           n.active_version + " is active; Consul and every router converged");
  if (c.spec.post_promotion) {
    EnterAnalysis(c, n, kPostRun, *c.spec.post_promotion, n.active_group);
    return;
  }
  EnterDraining(c, n);
}

void StartRollback(const Ctx& c, RolloutStatus& n, std::string_view why, std::string message) {
  n.rollback_reason = Str(why);
  n.rollback_message = message;
  n.pause.reset();
  EnterStep(c, n, Phase::kRollingBack, Later(c.now, c.s.settings.router_timeout));
  AddEvent(n, c.now, "Warning", Str(why), std::move(message));
}

void FinishRollout(const Ctx& c, RolloutStatus& n) {
  if (n.rollout_started_at) {
    AddHistory(n, {n.active_version, "Succeeded", "", *n.rollout_started_at, c.now});
  }
  n.target_version = n.active_version;
  n.stable_group = n.active_group;
  n.stable_version = n.active_version;
  n.standby_version.clear();
  n.rollout_started_at.reset();
  n.progress_deadline.reset();
  n.standby_job_version.reset();
  n.pause.reset();
  RemoveCondition(n, kStandbyReady);
  SetCondition(n, Str(kDrained), "True", "ScaledDown", c.Other(n.active_group) + " stopped", c.now);
  if (FindCondition(n, kDegraded)) {
    SetCondition(n, Str(kDegraded), "False", "RolloutSucceeded", n.active_version + " healthy",
                 c.now);
  }
  EnterStep(c, n, Phase::kHealthy, std::nullopt);
  AddEvent(n, c.now, "Normal", "RolloutSucceeded", n.active_version + " is active");
}

void FinishRollback(const Ctx& c, RolloutStatus& n, bool failed_group_stopped,
                    const std::string& note) {
  const bool cancelled =
      n.rollback_reason == reason::kCancelled || n.rollback_reason == reason::kSpecReverted;
  if (n.rollout_started_at) {
    AddHistory(n, {n.target_version, cancelled ? "Cancelled" : "RolledBack", n.rollback_reason,
                   *n.rollout_started_at, c.now});
  }
  n.active_group = n.stable_group;
  n.active_version = n.stable_version;
  n.standby_version = failed_group_stopped ? "" : n.target_version;
  n.rollout_started_at.reset();
  n.progress_deadline.reset();
  n.converged_at.reset();
  n.pause.reset();
  RemoveCondition(n, kStandbyReady);
  if (failed_group_stopped) {
    SetCondition(n, Str(kDrained), "True", "ScaledDown", c.Other(n.active_group) + " stopped",
                 c.now);
  }
  std::string message = n.rollback_message + (note.empty() ? "" : "; " + note);
  if (c.spec.version == n.active_version) {
    EnterStep(c, n, Phase::kHealthy, std::nullopt);
    if (FindCondition(n, kDegraded)) {
      SetCondition(n, Str(kDegraded), "False", n.rollback_reason, message, c.now);
    }
    AddEvent(n, c.now, "Normal", "RolledBack", n.active_version + " active again: " + message);
  } else {
    EnterStep(c, n, Phase::kDegraded, std::nullopt);
    SetCondition(n, Str(kDegraded), "True", n.rollback_reason, message, c.now);
    AddEvent(n, c.now, "Warning", "Degraded",
             n.target_version + " rolled back, " + n.active_version + " active: " + message);
  }
}

// ---------------------------------------------------------------------------------------
// Analysis

struct Gate {
  std::string metric;
  std::string condition;
  const MetricSpec* metric_spec = nullptr;  // null: a probe gate
};

std::vector<Gate> GatesOf(const AnalysisSpec& a) {
  std::vector<Gate> gates;
  if (a.probe) {
    gates.push_back({Str(kProbeErrorRate),
                     FormatCondition({Comparator::kLessEqual, a.probe->max_error_rate}), nullptr});
    if (a.probe->max_p99_latency) {
      gates.push_back({Str(kProbeP99Latency),
                       FormatCondition({Comparator::kLessEqual,
                                        static_cast<double>(a.probe->max_p99_latency->count())}),
                       nullptr});
    }
  }
  for (const MetricSpec& m : a.metrics) gates.push_back({m.name, m.success_condition, &m});
  return gates;
}

int CountOf(const AnalysisRun& run, const std::string& metric) {
  auto it = run.tallies.find(metric);
  return it == run.tallies.end() ? 0 : it->second.taken;
}

// nullopt while the run still needs measurements and has not failed yet.
std::optional<Verdict> Conclude(const AnalysisSpec& a, const AnalysisRun& run, std::string* why) {
  int failed = 0, inconclusive = 0;
  std::string failed_metric;
  std::optional<TimePoint> last_failed;
  for (const auto& [metric, t] : run.tallies) {
    failed += t.failed;
    inconclusive += t.inconclusive + t.errors;
    if (t.last_failed && (!last_failed || *t.last_failed >= *last_failed)) {
      last_failed = t.last_failed;
      failed_metric = metric;
    }
  }
  if (failed > a.failure_limit) {
    *why = std::to_string(failed) + " failed measurements (limit " +
           std::to_string(a.failure_limit) + "), last " + failed_metric;
    return Verdict::kFailed;
  }
  if (inconclusive > a.inconclusive_limit) {
    *why = std::to_string(inconclusive) + " inconclusive measurements (limit " +
           std::to_string(a.inconclusive_limit) + ")";
    return Verdict::kInconclusive;
  }
  for (const Gate& g : GatesOf(a)) {
    if (CountOf(run, g.metric) < std::max(a.count, 1)) return std::nullopt;
  }
  *why = "all measurements passed";
  return Verdict::kSuccessful;
}

bool ProbeFailedLast(const AnalysisRun& run) {
  // The newest failure is always kept: it is among the newest of its metric.
  for (auto it = run.measurements.rbegin(); it != run.measurements.rend(); ++it) {
    if (it->verdict == Verdict::kFailed) {
      return it->metric == kProbeErrorRate || it->metric == kProbeP99Latency;
    }
  }
  return false;
}

AnalysisRun* FindRun(RolloutStatus& st, std::string_view name, const std::string& version) {
  for (auto it = st.analysis_runs.rbegin(); it != st.analysis_runs.rend(); ++it) {
    if (it->name == name && it->version == version) return &*it;
  }
  return nullptr;
}

// The next measurement of a running analysis, or a wait until it is due.
Action NextMeasurement(const Ctx& c, const AnalysisSpec& a, const AnalysisRun& run) {
  const std::vector<Gate> gates = GatesOf(a);
  const Gate* next = nullptr;
  int next_count = 0;
  for (const Gate& g : gates) {
    int n = CountOf(run, g.metric);
    if (n >= std::max(a.count, 1)) continue;
    if (!next || n < next_count) {
      next = &g;
      next_count = n;
    }
  }
  if (!next) return c.Wait(c.s.settings.poll_interval, "analysis complete");
  TimePoint due = Later(run.started_at, a.interval * next_count);
  if (c.now < due) {
    return c.Wait(due - c.now, "next " + next->metric + " measurement due at " + FormatTime(due));
  }
  if (!next->metric_spec) {
    RunProbe probe{run.name, run.version, {}, *a.probe};
    for (const ServiceInstance& i : c.s.instances) {
      if (i.group == run.group && i.version == run.version && i.ready) {
        probe.targets.push_back({i.id, i.address, i.port});
      }
    }
    return probe;
  }
  const std::map<std::string, std::string> vars = {{"service", c.Service()},
                                                   {"version", run.version},
                                                   {"job", c.spec.nomad.job},
                                                   {"group", run.group}};
  return RunMetricQuery{run.name, run.version, *next->metric_spec,
                        RenderTemplate(next->metric_spec->query, vars)};
}

// Moves fresh measurements from act() into the status with their verdicts.
std::optional<Action> RecordMeasurements(const Ctx& c) {
  if (c.s.measurements.empty()) return std::nullopt;
  RolloutStatus n = c.Base();
  int recorded = 0;
  for (const PendingMeasurement& p : c.s.measurements) {
    AnalysisRun* run = FindRun(n, p.run, p.version);
    if (!run || run->result) continue;
    const std::optional<AnalysisSpec>& spec =
        p.run == kPreRun ? c.spec.pre_promotion : c.spec.post_promotion;
    if (!spec) continue;
    bool duplicate =
        std::any_of(run->measurements.begin(), run->measurements.end(),
                    [&](const Measurement& m) { return m.metric == p.metric && m.time == p.time; });
    if (duplicate) continue;
    std::string condition;
    bool known = false;
    for (const Gate& g : GatesOf(*spec)) {
      if (g.metric == p.metric) {
        condition = g.condition;
        known = true;
      }
    }
    if (!known) continue;
    Measurement m;
    m.metric = p.metric;
    m.condition = condition;
    m.time = p.time;
    if (!p.error.empty()) {
      m.verdict = Verdict::kError;
      m.message = p.error;
    } else {
      m.value = p.value;
      m.verdict = Evaluate(condition, p.value);
      if (m.verdict == Verdict::kInconclusive) {
        m.message = p.value ? "value is not a finite number" : "empty result";
        m.value.reset();  // NaN is not valid JSON; null says "no usable value"
      }
    }
    AddMeasurement(*run, std::move(m));
    ++recorded;
  }
  if (recorded == 0) return std::nullopt;
  return c.Write(std::move(n), "record " + std::to_string(recorded) + " measurement(s)");
}

// ---------------------------------------------------------------------------------------
// Validation

std::optional<std::pair<std::string, std::string>> Invalid(const Snapshot& s, const Rollout& r) {
  const RolloutSpec& spec = r.spec;
  const std::string job_name = spec.nomad.namespace_ + "/" + spec.nomad.job;
  if (!s.settings.job_allowed) {
    return std::pair{
        Str(reason::kJobNotAllowed),
        "refused: job " + job_name + " is not in --allowed-jobs (" + s.settings.allowed_jobs + ")"};
  }
  if (spec.nomad.groups.size() != 2 || spec.nomad.groups[0] == spec.nomad.groups[1]) {
    return std::pair{Str("InvalidGroups"),
                     "spec.nomad.groups must name exactly two different groups"};
  }
  if (!s.job || s.job->stop) {
    return std::pair{Str("UnknownJob"),
                     "job " + job_name + " not found in Nomad" + (s.job ? " (it is stopped)" : "")};
  }
  for (const std::string& group : spec.nomad.groups) {
    const GroupView* g = s.job->Group(group);
    if (!g) {
      return std::pair{Str("UnknownGroup"),
                       "job " + job_name + " has no task group \"" + group + "\""};
    }
    if (!g->Service(spec.nomad.service)) {
      return std::pair{
          Str("UnknownService"),
          "task group \"" + group + "\" does not register service \"" + spec.nomad.service + "\""};
    }
    if (!spec.template_.task.empty() && !g->HasTask(spec.template_.task)) {
      return std::pair{Str("UnknownTask"),
                       "task group \"" + group + "\" has no task \"" + spec.template_.task + "\""};
    }
  }
  return std::nullopt;
}

Action InvalidSpecAction(const Snapshot& s, const std::string& why, const std::string& message) {
  const StatusCondition* existing = FindCondition(s.status, kInvalidSpec);
  if (s.status.phase == Phase::kInvalidSpec && existing && existing->status == "True" &&
      existing->reason == why && existing->message == StoredMessage(message) &&
      s.status.observed_spec_index == s.spec_modify_index) {
    return NoOp{kIdleRequeue, "spec invalid: " + message};
  }
  RolloutStatus n = s.status;
  n.observed_spec_index = s.spec_modify_index;
  n.phase = Phase::kInvalidSpec;
  n.current_step = StepRecord{"InvalidSpec", s.now, std::nullopt};
  n.pause.reset();
  SetCondition(n, Str(kInvalidSpec), "True", why, message, s.now);
  AddEvent(n, s.now, "Warning", why, message);
  return WriteStatus{std::move(n), s.status_modify_index, "invalid spec: " + message};
}

std::string JoinErrors(const std::vector<SpecError>& errors) {
  std::string out;
  for (const SpecError& e : errors) {
    if (!out.empty()) out += "; ";
    out += (e.pointer.empty() ? std::string("/") : e.pointer) + ": " + e.message;
  }
  return out;
}

// (Re)learns the Active group from the job: first sight, after InvalidSpec, or after the
// job changed outside the controller.
Action Initialize(const Ctx& c, const std::string& job_active, std::string event) {
  RolloutStatus n = c.Base();
  const GroupView* active = c.job.Group(job_active);
  const GroupView* standby = c.job.Group(c.Other(job_active));
  n.active_group = job_active;
  n.active_version = active->version;
  n.standby_version = standby->count > 0 ? standby->version : "";
  n.stable_group = n.active_group;
  n.stable_version = n.active_version;
  n.target_version = n.active_version;
  n.rollout_started_at.reset();
  n.progress_deadline.reset();
  n.converged_at.reset();
  n.standby_job_version.reset();
  n.rollback_reason.clear();
  n.rollback_message.clear();
  n.pause.reset();
  if (FindCondition(n, kInvalidSpec)) {
    SetCondition(n, Str(kInvalidSpec), "False", "SpecValid", "", c.now);
  }
  EnterStep(c, n, Phase::kHealthy, std::nullopt);
  AddEvent(n, c.now, "Normal", "Observed",
           event + ": " + n.active_version + " active in " + n.active_group);
  return c.Write(std::move(n), event);
}

// ---------------------------------------------------------------------------------------
// Gates shared by phases

bool StandbyPassedHealthGate(const Ctx& c, const GroupHealth& h) {
  const StatusCondition* ready = FindCondition(c.s.status, kStandbyReady);
  return h.AllReady() && ready && ready->status == "True" &&
         c.now - ready->last_transition_time >= c.spec.health.min_healthy_time;
}

// Standby failures that end the rollout before the flip.
std::optional<Action> StandbyFailure(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  if (!st.standby_job_version) return std::nullopt;
  const std::string group = c.Other(st.stable_group);
  GroupHealth h = ObserveGroup(c, group, st.target_version, true, *st.standby_job_version);
  if (h.failures >= kCrashLoopFailures) {
    RolloutStatus n = c.Base();
    StartRollback(c, n, reason::kCrashLoop,
                  st.target_version + " in " + group + " keeps failing: " + h.Describe());
    return c.Write(std::move(n), "standby crash loop");
  }
  if (h.unhealthy > 0) {
    RolloutStatus n = c.Base();
    StartRollback(c, n, reason::kStandbyUnhealthy,
                  "Nomad marked " + st.target_version + " allocations unhealthy: " + h.Describe());
    return c.Write(std::move(n), "standby unhealthy");
  }
  return std::nullopt;
}

// The new Active after the flip: Consul checks (not DeploymentStatus) and crash counts.
std::optional<Action> NewActiveFailure(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  GroupHealth h = ObserveGroup(c, st.active_group, st.active_version, false,
                               st.standby_job_version.value_or(0));
  RolloutStatus n = c.Base();
  if (h.failures >= kCrashLoopFailures) {
    StartRollback(c, n, reason::kCrashLoop,
                  st.active_version + " keeps failing after the flip: " + h.Describe());
    return c.Write(std::move(n), "new active crash loop");
  }
  if (!h.AllReady()) {
    StartRollback(c, n, reason::kNewVersionUnhealthy,
                  st.active_version + " not ready in Consul after the flip: " + h.Describe());
    return c.Write(std::move(n), "new active unhealthy");
  }
  return std::nullopt;
}

bool PostFlip(const RolloutStatus& st) {
  return st.active_group != st.stable_group;
}

// ---------------------------------------------------------------------------------------
// Control requests

Action Acknowledge(const Ctx& c, RolloutStatus n, const ControlRequest& req, std::string result) {
  AddAck(n, {req.id, Str(ControlVerbName(req.verb)), result, c.now});
  AddEvent(n, c.now, "Normal", "Control",
           Str(ControlVerbName(req.verb)) + " (" + req.id + "): " + result);
  return c.Write(std::move(n), Str(ControlVerbName(req.verb)) + ": " + result);
}

// A command that cannot be executed as written: the writer learns why from the ack.
Action RejectControl(const Ctx& c, const ControlRequest& req) {
  RolloutStatus n = c.Base();
  const std::string verb = req.verb_text.empty() ? "(none)" : req.verb_text;
  AddAck(n, {req.id, verb, "rejected: " + req.invalid, c.now});
  AddEvent(n, c.now, "Warning", Str(reason::kControlRejected),
           "control " + api::Quote(req.id) + " rejected: " + req.invalid);
  return c.Write(std::move(n), "control rejected: " + req.invalid);
}

Action HandleControl(const Ctx& c, const ControlRequest& req) {
  if (!req.invalid.empty()) return RejectControl(c, req);
  const RolloutStatus& st = c.s.status;
  const Phase phase = *st.phase;
  RolloutStatus n = c.Base();
  const std::string phase_name = Str(PhaseName(phase));
  switch (req.verb) {
    case ControlVerb::kPromote: {
      bool pre_flip_ready_phase =
          !PostFlip(st) &&
          (phase == Phase::kAnalyzing || (phase == Phase::kPaused && st.pause &&
                                          (st.pause->resume_phase == Phase::kAnalyzing ||
                                           st.pause->resume_phase == Phase::kPromoting)));
      if (pre_flip_ready_phase) {
        GroupHealth h = ObserveGroup(c, c.Other(st.stable_group), st.target_version, true,
                                     st.standby_job_version.value_or(0));
        if (!StandbyPassedHealthGate(c, h)) {
          return Acknowledge(c, std::move(n), req,
                             "rejected: standby not ready for minHealthyTime: " + h.Describe());
        }
        LeavePause(c, n);
        EnterPromoting(c, n);
        return Acknowledge(c, std::move(n), req, "accepted");
      }
      bool post_flip_analysis = PostFlip(st) && (phase == Phase::kVerifying ||
                                                 (phase == Phase::kPaused && st.pause &&
                                                  (st.pause->resume_phase == Phase::kVerifying ||
                                                   st.pause->resume_phase == Phase::kDraining)));
      if (post_flip_analysis) {
        LeavePause(c, n);
        EnterDraining(c, n);
        return Acknowledge(c, std::move(n), req, "accepted");
      }
      return Acknowledge(c, std::move(n), req, "rejected: nothing to promote in " + phase_name);
    }
    case ControlVerb::kAbort:
    case ControlVerb::kUndo: {
      const bool undo = req.verb == ControlVerb::kUndo;
      if (phase == Phase::kRollingBack) {
        return Acknowledge(c, std::move(n), req, "ignored: already rolling back");
      }
      if (!InProgress(phase)) {
        return Acknowledge(c, std::move(n), req, "rejected: no rollout in progress");
      }
      if (undo && !PostFlip(st)) {
        return Acknowledge(c, std::move(n), req,
                           "rejected: nothing to undo before the flip (use abort)");
      }
      if (PostFlip(st) && c.Count(st.stable_group) == 0) {
        return Acknowledge(c, std::move(n), req,
                           "rejected: " + st.stable_group + " is already scaled down");
      }
      StartRollback(c, n, undo ? reason::kUndo : reason::kAborted,
                    Str(ControlVerbName(req.verb)) + " requested (" + req.id + ")");
      return Acknowledge(c, std::move(n), req, "accepted");
    }
    case ControlVerb::kRetry:
      if (phase != Phase::kDegraded) {
        return Acknowledge(c, std::move(n), req, "rejected: retry only applies when Degraded");
      }
      StartRollout(c, n, c.spec.version);
      return Acknowledge(c, std::move(n), req, "accepted");
    case ControlVerb::kPause:
      if (phase == Phase::kPaused) {
        return Acknowledge(c, std::move(n), req, "ignored: already paused");
      }
      if (phase == Phase::kDeployingStandby || phase == Phase::kWaitingHealthy ||
          phase == Phase::kAnalyzing || phase == Phase::kVerifying || phase == Phase::kDraining) {
        EnterPaused(c, n, Str(reason::kManualPause), phase,
                    "paused in " + phase_name + " (" + req.id + ")");
        return Acknowledge(c, std::move(n), req, "accepted");
      }
      return Acknowledge(c, std::move(n), req, "rejected: cannot pause in " + phase_name);
    case ControlVerb::kResume: {
      if (phase != Phase::kPaused || !st.pause) {
        return Acknowledge(c, std::move(n), req, "ignored: not paused");
      }
      if (st.pause->reason == reason::kAwaitingPromotion) {
        return Acknowledge(c, std::move(n), req, "rejected: waiting for promote, not paused");
      }
      const PauseState pause = *st.pause;
      LeavePause(c, n);
      switch (pause.resume_phase) {
        case Phase::kWaitingHealthy:
          EnterWaitingHealthy(c, n);
          break;
        case Phase::kAnalyzing:
        case Phase::kVerifying: {
          bool pre = pause.resume_phase == Phase::kAnalyzing;
          const std::optional<AnalysisSpec>& a = pre ? c.spec.pre_promotion : c.spec.post_promotion;
          AnalysisRun* run = FindRun(n, pre ? kPreRun : kPostRun, n.target_version);
          if (!a) {
            pre ? AfterAnalysisPassed(c, n) : EnterDraining(c, n);
          } else if (pause.reason == reason::kAnalysisInconclusive || !run || run->result) {
            // An inconclusive run is judged again from scratch.
            EnterAnalysis(c, n, pre ? kPreRun : kPostRun, *a,
                          pre ? c.Other(n.stable_group) : n.active_group);
          } else {
            Duration span = a->interval * std::max(a->count, 1);
            EnterStep(c, n, pause.resume_phase,
                      Later(Later(c.now, span), c.spec.health.progress_deadline));
          }
          break;
        }
        case Phase::kDraining:
          EnterDraining(c, n);
          break;
        default:
          EnterStep(
              c, n, pause.resume_phase,
              pause.resume_phase == Phase::kDeployingStandby ? n.progress_deadline : std::nullopt);
          break;
      }
      return Acknowledge(c, std::move(n), req, "accepted");
    }
  }
  return Acknowledge(c, std::move(n), req, "rejected: unknown verb");
}

// ---------------------------------------------------------------------------------------
// Phases

Action OnHealthy(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  RolloutStatus n = c.Base();
  if (c.spec.version != st.active_version) {
    StartRollout(c, n, c.spec.version);
    return c.Write(std::move(n), "start rollout of " + c.spec.version);
  }
  const std::string standby = c.Other(st.active_group);
  if (c.Count(standby) > 0) {
    // A standby group still running while the spec wants the Active version (left over
    // by an interrupted rollout or found at first sight): drain and GC it through the same
    // verified path as a rollout.
    n.converged_at = c.now;
    n.stable_group = n.active_group;
    n.stable_version = n.active_version;
    EnterDraining(c, n);
    AddEvent(n, c.now, "Normal", "Draining", standby + " still running; draining it");
    return c.Write(std::move(n), "drain leftover standby");
  }
  if (st.observed_spec_index != c.s.spec_modify_index) {
    return c.Write(std::move(n), "observed spec");
  }
  // No timed requeue: the spec/control watches and the periodic resync bring it back.
  // A 30 s requeue of every idle Rollout kept 1,000 of them reconciling all the time
  // (bench/controller/REPORT.md).
  return NoOp{Duration(0), "healthy"};
}

Action OnDegraded(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  RolloutStatus n = c.Base();
  if (c.spec.version == st.active_version) {
    SetCondition(n, Str(kDegraded), "False", "SpecMatchesActive",
                 "spec.version is the active version " + st.active_version, c.now);
    EnterStep(c, n, Phase::kHealthy, std::nullopt);
    return c.Write(std::move(n), "spec reverted to active version");
  }
  if (c.spec.version != st.target_version) {
    StartRollout(c, n, c.spec.version);
    return c.Write(std::move(n), "start rollout of " + c.spec.version);
  }
  if (st.observed_spec_index != c.s.spec_modify_index) {
    return c.Write(std::move(n), "observed spec");
  }
  return c.Wait(kIdleRequeue, "degraded: " + st.rollback_reason);
}

std::optional<Action> ProgressDeadline(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  if (st.progress_deadline && c.now >= *st.progress_deadline) {
    RolloutStatus n = c.Base();
    StartRollback(c, n, reason::kProgressDeadlineExceeded,
                  st.target_version + " did not progress past " + Str(PhaseName(*st.phase)) +
                      " before the progress deadline");
    return c.Write(std::move(n), "progress deadline exceeded");
  }
  return std::nullopt;
}

DeployStandbyEdit StandbyEdit(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  return DeployStandbyEdit{c.Other(st.stable_group),
                           c.spec.template_.task,
                           c.Service(),
                           st.target_version,
                           std::max(c.Count(st.stable_group), 1),
                           c.spec.template_.set};
}

Action OnDeployingStandby(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  if (auto a = ProgressDeadline(c)) return *a;
  DeployStandbyEdit deploy = StandbyEdit(c);
  FlipEdit roles = c.Flip(st.stable_group);  // standby keeps the standby tag
  if (EditApplied(c.job.document, deploy) && EditApplied(c.job.document, roles)) {
    RolloutStatus n = c.Base();
    n.standby_job_version = c.job.version;
    n.standby_version = st.target_version;
    EnterWaitingHealthy(c, n);
    return c.Write(std::move(n), st.target_version + " registered in " + deploy.group);
  }
  return c.Register(deploy, "deploy " + st.target_version + " to standby " + deploy.group);
}

Action OnWaitingHealthy(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  DeployStandbyEdit deploy = StandbyEdit(c);
  if (!EditApplied(c.job.document, deploy)) {
    // The job no longer runs the target in the standby group (edited by someone else).
    RolloutStatus n = c.Base();
    EnterStep(c, n, Phase::kDeployingStandby, n.progress_deadline);
    AddEvent(n, c.now, "Warning", "StandbyChanged",
             deploy.group + " no longer runs " + st.target_version + "; redeploying");
    return c.Write(std::move(n), "standby changed outside the controller");
  }
  if (auto a = StandbyFailure(c)) return *a;
  GroupHealth h =
      ObserveGroup(c, deploy.group, st.target_version, true, st.standby_job_version.value_or(0));
  const StatusCondition* ready = FindCondition(st, kStandbyReady);
  const bool was_ready = ready && ready->status == "True";
  const bool expired =
      st.current_step && st.current_step->deadline && c.now >= *st.current_step->deadline;
  if (h.AllReady()) {
    if (!was_ready) {
      RolloutStatus n = c.Base();
      SetCondition(n, Str(kStandbyReady), "True", "AllReady", h.Describe(), c.now);
      return c.Write(std::move(n), "standby ready");
    }
    Duration held = c.now - ready->last_transition_time;
    if (held >= c.spec.health.min_healthy_time) {
      RolloutStatus n = c.Base();
      AfterHealthy(c, n);
      return c.Write(std::move(n), "standby healthy for minHealthyTime");
    }
    if (!expired) {
      return c.Wait(c.spec.health.min_healthy_time - held, "standby ready, minHealthyTime");
    }
  }
  if (expired) {
    // Ready, but not yet for minHealthyTime, is not healthy in time either.
    const std::string state =
        h.Describe() + (h.AllReady() ? ", ready for less than minHealthyTime" : "");
    RolloutStatus n = c.Base();
    if (st.progress_deadline && c.now >= *st.progress_deadline &&
        *st.progress_deadline <
            Later(st.current_step->started_at, c.spec.health.healthy_deadline)) {
      StartRollback(c, n, reason::kProgressDeadlineExceeded,
                    st.target_version + " not ready before the progress deadline: " + state);
    } else {
      StartRollback(c, n, reason::kStandbyUnhealthy,
                    st.target_version + " not ready within healthyDeadline: " + state);
    }
    return c.Write(std::move(n), "standby not healthy in time");
  }
  if (was_ready) {
    RolloutStatus n = c.Base();
    SetCondition(n, Str(kStandbyReady), "False", "NotReady", h.Describe(), c.now);
    return c.Write(std::move(n), "standby no longer ready");
  }
  return c.Wait(c.s.settings.poll_interval, "waiting for standby: " + h.Describe());
}

// Shared by Analyzing and Verifying.
Action OnAnalysis(const Ctx& c, bool pre) {
  const RolloutStatus& st = c.s.status;
  const std::optional<AnalysisSpec>& spec = pre ? c.spec.pre_promotion : c.spec.post_promotion;
  RolloutStatus n = c.Base();
  if (!spec) {  // the spec dropped its analysis meanwhile
    pre ? AfterAnalysisPassed(c, n) : EnterDraining(c, n);
    return c.Write(std::move(n), "no analysis configured");
  }
  const std::string group = pre ? c.Other(st.stable_group) : st.active_group;
  AnalysisRun* run = FindRun(n, pre ? kPreRun : kPostRun, st.target_version);
  if (!run || run->result) {
    EnterAnalysis(c, n, pre ? kPreRun : kPostRun, *spec, group);
    return c.Write(std::move(n), "start analysis run");
  }
  std::string why;
  std::optional<Verdict> verdict = Conclude(*spec, *run, &why);
  if (verdict) {
    run->result = verdict;
    const std::string what = Str(pre ? kPreRun : kPostRun) + " analysis of " + st.target_version +
                             ": " + Str(VerdictName(*verdict)) + ", " + why;
    if (*verdict == Verdict::kSuccessful) {
      AddEvent(n, c.now, "Normal", "AnalysisSuccessful", what);
      pre ? AfterAnalysisPassed(c, n) : EnterDraining(c, n);
    } else if (*verdict == Verdict::kFailed) {
      StartRollback(c, n, ProbeFailedLast(*run) ? reason::kProbeFailed : reason::kAnalysisFailed,
                    what);
    } else {
      // Not knowing is not passing: a human decides (promote, resume to re-run, abort).
      EnterPaused(c, n, Str(reason::kAnalysisInconclusive),
                  pre ? Phase::kAnalyzing : Phase::kVerifying, what);
    }
    return c.Write(std::move(n), what);
  }
  if (st.current_step && st.current_step->deadline && c.now >= *st.current_step->deadline) {
    StartRollback(c, n, pre ? reason::kProgressDeadlineExceeded : reason::kAnalysisFailed,
                  "analysis of " + st.target_version + " did not finish in time");
    return c.Write(std::move(n), "analysis deadline");
  }
  return NextMeasurement(c, *spec, *run);
}

Action OnAnalyzing(const Ctx& c) {
  if (auto a = StandbyFailure(c)) return *a;
  const RolloutStatus& st = c.s.status;
  GroupHealth h = ObserveGroup(c, c.Other(st.stable_group), st.target_version, true,
                               st.standby_job_version.value_or(0));
  if (!h.AllReady()) {
    // Analysing a standby that is not all ready would judge a different population.
    RolloutStatus n = c.Base();
    EnterWaitingHealthy(c, n);
    SetCondition(n, Str(kStandbyReady), "False", "NotReady", h.Describe(), c.now);
    AddEvent(n, c.now, "Warning", "StandbyNotReady", "analysis interrupted: " + h.Describe());
    return c.Write(std::move(n), "standby no longer ready");
  }
  return OnAnalysis(c, true);
}

Action OnPaused(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  if (PostFlip(st)) {
    if (auto a = NewActiveFailure(c)) return *a;
  } else if (st.standby_job_version) {
    if (auto a = StandbyFailure(c)) return *a;
    // Keep StandbyReady honest while waiting, so a promote after a flap still waits out
    // minHealthyTime from the moment the standby became ready again.
    GroupHealth h =
        ObserveGroup(c, c.Other(st.stable_group), st.target_version, true, *st.standby_job_version);
    const StatusCondition* ready = FindCondition(st, kStandbyReady);
    const bool was_ready = ready && ready->status == "True";
    if (h.AllReady() != was_ready) {
      RolloutStatus n = c.Base();
      SetCondition(n, Str(kStandbyReady), h.AllReady() ? "True" : "False",
                   h.AllReady() ? "AllReady" : "NotReady", h.Describe(), c.now);
      return c.Write(std::move(n), "standby readiness changed while paused");
    }
  }
  return c.Wait(kIdleRequeue, "paused: " + (st.pause ? st.pause->reason : std::string()));
}

Action OnPromoting(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  FlipEdit flip = c.Flip(st.active_group);
  if (!EditApplied(c.job.document, flip)) {
    // Never flip unless every standby instance is ready in Consul and healthy in Nomad,
    // and has been for minHealthyTime.
    GroupHealth h = ObserveGroup(c, st.active_group, st.active_version, true,
                                 st.standby_job_version.value_or(0));
    if (StandbyPassedHealthGate(c, h)) {
      return c.Register(
          flip, "flip: " + st.active_group + " (" + st.active_version + ") " + c.ActiveTag());
    }
    RolloutStatus n = c.Base();
    n.active_group = st.stable_group;
    n.active_version = st.stable_version;
    n.standby_version = st.target_version;
    EnterWaitingHealthy(c, n);
    SetCondition(n, Str(kStandbyReady), "False", "NotReady", h.Describe(), c.now);
    AddEvent(n, c.now, "Warning", "FlipBlocked", "standby not ready: " + h.Describe());
    return c.Write(std::move(n), "flip blocked: standby not ready");
  }
  Convergence conv = CheckConverged(c, st.active_group, st.active_version);
  if (conv.ok()) {
    RolloutStatus n = c.Base();
    AfterConverged(c, n);
    return c.Write(std::move(n), "flip converged");
  }
  if (st.current_step && st.current_step->deadline && c.now >= *st.current_step->deadline) {
    RolloutStatus n = c.Base();
    StartRollback(c, n, reason::kRouterTimeout,
                  "flip to " + st.active_version + " did not converge in time: " + conv.detail);
    return c.Write(std::move(n), "router timeout");
  }
  return c.Wait(c.s.settings.poll_interval, "waiting for convergence: " + conv.detail);
}

Action OnVerifying(const Ctx& c) {
  if (auto a = NewActiveFailure(c)) return *a;
  return OnAnalysis(c, false);
}

// Drain verified: Consul shows no old instance tagged active, every router serves the
// Active version, and scaleDownDelay passed since the flip converged.
struct DrainCheck {
  bool verified = false;  // Consul, routers and the job all say the old group is out
  Duration remaining{0};  // of scaleDownDelay
  std::string detail;
  bool ok() const { return verified && remaining == Duration(0); }
};

DrainCheck CheckDrained(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  DrainCheck d;
  Convergence conv = CheckConverged(c, st.active_group, st.active_version);
  bool job_flipped = EditApplied(c.job.document, c.Flip(st.active_group));
  TimePoint from = st.converged_at.value_or(st.current_step ? st.current_step->started_at : c.now);
  d.remaining = Clamp(Later(from, c.spec.blue_green.scale_down_delay) - c.now);
  d.verified = conv.ok() && job_flipped;
  d.detail = conv.detail + (job_flipped ? "" : "; job tags not flipped");
  return d;
}

Action OnDraining(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  DrainCheck d = CheckDrained(c);
  if (d.ok()) {
    RolloutStatus n = c.Base();
    SetCondition(n, Str(kDrained), "True", "Verified", d.detail, c.now);
    EnterStep(c, n, Phase::kScalingDown, std::nullopt);
    return c.Write(std::move(n), "drain verified");
  }
  if (d.verified) return c.Wait(d.remaining, "scaleDownDelay");
  const StatusCondition* drained = FindCondition(st, kDrained);
  if (!drained || drained->reason != "NotVerified" || drained->message != StoredMessage(d.detail)) {
    RolloutStatus n = c.Base();
    SetCondition(n, Str(kDrained), "False", "NotVerified", d.detail, c.now);
    return c.Write(std::move(n), "drain not verified");
  }
  return c.Wait(c.s.settings.poll_interval, "draining: " + d.detail);
}

Action OnScalingDown(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  const std::string old_group = c.Other(st.active_group);
  RolloutStatus n = c.Base();
  if (c.Count(old_group) == 0) {
    FinishRollout(c, n);
    return c.Write(std::move(n), "rollout finished");
  }
  DrainCheck d = CheckDrained(c);
  if (!d.ok()) {
    EnterDraining(c, n);
    return c.Write(std::move(n), "drain no longer verified: " + d.detail);
  }
  return c.Register(ScaleDownEdit{old_group}, "scale " + old_group + " to 0");
}

Action OnRollingBack(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  const std::string stable = st.stable_group.empty() ? st.active_group : st.stable_group;
  const std::string failed = c.Other(stable);
  if (st.active_group != stable) {
    RolloutStatus n = c.Base();
    n.active_group = stable;
    n.active_version = st.stable_version;
    AddEvent(n, c.now, "Normal", "DeclaredActive", st.stable_version + " declared active again");
    // The failed version was declared active, so it may have served: it must not be
    // stopped the moment the routers report the flip back (see below).
    SetCondition(n, Str(kDrained), "False", Str(kFlippingBack),
                 failed + " (" + st.target_version + ") may still receive traffic", c.now);
    return c.Write(std::move(n), "declare stable version active");
  }
  FlipEdit back = c.Flip(stable);
  if (!EditApplied(c.job.document, back)) {
    return c.Register(back,
                      "flip back: " + stable + " (" + st.stable_version + ") " + c.ActiveTag());
  }
  Convergence conv = CheckConverged(c, stable, st.stable_version, /*all_ready=*/false);
  if (!conv.ok()) {
    if (st.current_step && st.current_step->deadline && c.now >= *st.current_step->deadline) {
      // Stopping the failed group while routers may still send it traffic would turn a
      // degraded rollout into an outage: leave it running and say so.
      RolloutStatus n = c.Base();
      FinishRollback(c, n, false,
                     "roll back did not converge, " + failed + " left running: " + conv.detail);
      return c.Write(std::move(n), "roll back finished without convergence");
    }
    return c.Wait(c.s.settings.poll_interval, "waiting for roll back: " + conv.detail);
  }
  if (c.Count(failed) > 0) {
    // A router reports a flip once nginx has been told to reload, but nginx's old workers
    // may still accept a few connections for the failed group; stopping it at once turned
    // those into 502s (bench/zero-downtime). A failed version that served therefore gets
    // the same scaleDownDelay after the flip back as an old version after a flip.
    const StatusCondition* drained = FindCondition(st, kDrained);
    if (drained != nullptr && drained->reason == kFlippingBack) {
      RolloutStatus n = c.Base();
      SetCondition(n, Str(kDrained), "True", Str(kFlippedBack),
                   "traffic left " + failed + ": " + conv.detail, c.now);
      // The step now waits scaleDownDelay on purpose: move its deadline (RolloutStuck
      // follows it) to cover the wait and the stop.
      if (n.current_step) {
        n.current_step->deadline =
            Later(c.now, c.spec.blue_green.scale_down_delay + c.s.settings.router_timeout);
      }
      return c.Write(std::move(n), "flip back converged");
    }
    if (drained != nullptr && drained->reason == kFlippedBack) {
      Duration remaining =
          Clamp(Later(drained->last_transition_time, c.spec.blue_green.scale_down_delay) - c.now);
      if (remaining > Duration(0)) {
        return c.Wait(remaining, "scaleDownDelay before stopping " + failed);
      }
    }
    return c.Register(ScaleDownEdit{failed}, "stop " + failed + " (" + st.target_version + ")");
  }
  RolloutStatus n = c.Base();
  FinishRollback(c, n, true, "");
  return c.Write(std::move(n), "roll back finished");
}

// An unreadable router report is that router's failure: it counts as not converged
// (CheckConverged), and the status names it at once, whatever the phase, so its owner sees
// it before any timeout.
std::optional<Action> RouterReportsCondition(const Ctx& c) {
  std::string unreadable;
  for (const RouterReport& r : c.s.routers) {
    if (r.error.empty()) continue;
    unreadable += (unreadable.empty() ? "router " : "; router ") + r.id + ": " + r.error;
  }
  const StatusCondition* current = FindCondition(c.s.status, kRouterReportsReadable);
  if (unreadable.empty()) {
    if (current == nullptr) return std::nullopt;
    RolloutStatus n = c.Base();
    RemoveCondition(n, kRouterReportsReadable);
    AddEvent(n, c.now, "Normal", "RouterReportsReadable", "every router report reads again");
    return c.Write(std::move(n), "router reports readable again");
  }
  if (current != nullptr && current->message == StoredMessage(unreadable)) return std::nullopt;
  RolloutStatus n = c.Base();
  SetCondition(n, Str(kRouterReportsReadable), "False", "ReportUnreadable", unreadable, c.now);
  AddEvent(n, c.now, "Warning", "RouterReportUnreadable", unreadable);
  return c.Write(std::move(n), "router report unreadable");
}

// A new spec.version while a rollout runs; see decide.h for the rules.
std::optional<Action> Supersede(const Ctx& c) {
  const RolloutStatus& st = c.s.status;
  const Phase phase = *st.phase;
  if (!InProgress(phase) || phase == Phase::kRollingBack) return std::nullopt;
  if (c.spec.version == st.target_version) return std::nullopt;
  RolloutStatus n = c.Base();
  if (!PostFlip(st)) {
    if (c.spec.version == st.stable_version) {
      StartRollback(c, n, reason::kCancelled,
                    "spec.version is back to the active " + st.stable_version);
      return c.Write(std::move(n), "rollout cancelled");
    }
    if (st.rollout_started_at) {
      AddHistory(n, {st.target_version, "Superseded", "NewVersion", *st.rollout_started_at, c.now});
    }
    const std::string old_target = st.target_version;
    StartRollout(c, n, c.spec.version);
    AddEvent(n, c.now, "Normal", "Superseded", old_target + " superseded by " + c.spec.version);
    return c.Write(std::move(n), old_target + " superseded by " + c.spec.version);
  }
  if (c.spec.version == st.stable_version && c.Count(st.stable_group) > 0 &&
      phase != Phase::kScalingDown) {
    StartRollback(
        c, n, reason::kSpecReverted,
        "spec.version set back to " + st.stable_version + ", still running in " + st.stable_group);
    return c.Write(std::move(n), "spec reverted after the flip");
  }
  return std::nullopt;  // the newer version starts once this rollout is finished
}

}  // namespace

nlohmann::json RegisterJob::RegisterBody() const {
  return {{"Job", job}, {"EnforceIndex", true}, {"JobModifyIndex", enforce_index}};
}

std::string_view ActionName(const Action& action) {
  static constexpr std::string_view kNames[] = {"NoOp", "WriteStatus", "RegisterJob", "RunProbe",
                                                "RunMetricQuery"};
  return kNames[action.index()];
}

Action Decide(const Snapshot& s) {
  if (!s.spec) {
    if (s.spec_errors.empty()) return NoOp{kIdleRequeue, "no spec"};
    return InvalidSpecAction(s, "InvalidSpec", JoinErrors(s.spec_errors));
  }
  if (auto problem = Invalid(s, *s.spec)) {
    return InvalidSpecAction(s, problem->first, problem->second);
  }
  const Ctx c{s, *s.spec, s.spec->spec, *s.job, s.now};
  const std::string job_active = c.JobActiveGroup();
  if (job_active.empty()) {
    return InvalidSpecAction(s, "JobNotBlueGreen",
                             "exactly one of " + c.spec.nomad.groups[0] + ", " +
                                 c.spec.nomad.groups[1] + " must carry tag \"" + c.ActiveTag() +
                                 "\" on service \"" + c.Service() + "\"");
  }
  const RolloutStatus& st = s.status;
  const auto& groups = c.spec.nomad.groups;
  if (!st.phase || *st.phase == Phase::kInvalidSpec ||
      (st.active_group != groups[0] && st.active_group != groups[1])) {
    return Initialize(c, job_active,
                      st.phase ? "spec valid again"
                      : s.status_error.empty()
                          ? "first observation"
                          : "status unreadable (" + s.status_error + "), rebuilt from the cluster");
  }
  if ((*st.phase == Phase::kHealthy || *st.phase == Phase::kDegraded) &&
      job_active != st.active_group) {
    return Initialize(c, job_active, "active group changed outside the controller");
  }
  if (auto a = RecordMeasurements(c)) return *a;
  if (auto a = RouterReportsCondition(c)) return *a;
  if (s.control && !IsAcknowledged(st, s.control->id)) return HandleControl(c, *s.control);
  if (auto a = Supersede(c)) return *a;
  switch (*st.phase) {
    case Phase::kHealthy:
      return OnHealthy(c);
    case Phase::kDegraded:
      return OnDegraded(c);
    case Phase::kDeployingStandby:
      return OnDeployingStandby(c);
    case Phase::kWaitingHealthy:
      return OnWaitingHealthy(c);
    case Phase::kAnalyzing:
      return OnAnalyzing(c);
    case Phase::kPaused:
      return OnPaused(c);
    case Phase::kPromoting:
      return OnPromoting(c);
    case Phase::kVerifying:
      return OnVerifying(c);
    case Phase::kDraining:
      return OnDraining(c);
    case Phase::kScalingDown:
      return OnScalingDown(c);
    case Phase::kRollingBack:
      return OnRollingBack(c);
    case Phase::kInvalidSpec:
      break;  // handled above
  }
  return NoOp{kIdleRequeue, "unreachable"};
}

}  // namespace rollouts::reconcilers
