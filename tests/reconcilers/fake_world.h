// A small simulated Nomad + Consul + routers world for decide(): it performs decide()'s
// actions the way act() and the real agents would (EnforceIndex, CAS, destructive vs
// in-place updates, staggered tag updates in Consul, DeploymentStatus null after an
// in-place update, routers that only follow the declared Active version) and injects
// faults (lost CAS, register conflicts and errors, controller crashes that lose pending
// measurements, crashing versions, stuck routers). Tests drive it step by step and check
// the invariants of docs/design.md at every step.
#pragma once

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "reconcilers/decide.h"
#include "tests/reconcilers/test_rollout.h"

namespace rollouts::reconcilers::testing {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct FaultPlan {
  double cas_conflict = 0;       // a status write loses its CAS
  double register_conflict = 0;  // someone re-registers the job first (EnforceIndex fails)
  double register_error = 0;     // Nomad answers 500, nothing applied
  double crash = 0;              // the controller restarts after an action
  std::string crashing_version;  // tasks of this version crash in a loop
  std::optional<double> pre_metric = 0.001;   // value of pre-promotion queries
  std::optional<double> post_metric = 0.001;  // value of post-promotion queries
  bool stuck_router = false;                  // router r2 never applies anything new
};

class FakeWorld {
 public:
  FakeWorld(Rollout rollout, uint32_t seed, FaultPlan plan)
      : rollout_(std::move(rollout)), rng_(seed), plan_(plan) {
    now_ = TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 11 / 23}.time_since_epoch() +
                     std::chrono::hours(9)};
    job_ = HelloJob();
    // Start from the usual steady state: blue runs v1 and is active, green is stopped.
    for (auto& group : job_["TaskGroups"]) {
      if (group["Name"] == "hello-green") group["Count"] = 0;
    }
    initial_version_ = "v1";
    job_modify_index_ = 10;
    raft_ = 10;
    CreateAllocs("hello-blue", "v1", 2, {"active"}, /*settled=*/true);
    for (const char* id : {"r1", "r2"}) {
      routers_.push_back(SimRouter{id, "v1", "", now_, now_, plan_.stuck_router && id[1] == '2'});
    }
  }

  Snapshot Observe() const {
    Snapshot s;
    s.name = rollout_.name;
    s.spec = rollout_;
    s.spec_modify_index = spec_index_;
    s.status = status_;
    s.status_modify_index = status_index_;
    s.control = control_;
    nlohmann::json doc = job_;
    doc["Version"] = job_version_;
    doc["JobModifyIndex"] = job_modify_index_;
    s.job = JobView::FromDocument(doc);
    for (const SimAlloc& a : allocs_) {
      s.allocations.push_back(a.alloc);
      if (a.registered && a.alloc.Live() && a.alloc.client_status == "running") {
        ServiceInstance i;
        i.id = "_nomad-task-" + a.alloc.id + "-group-" + a.alloc.group + "-hello-http";
        i.alloc_id = a.alloc.id;
        i.group = a.alloc.group;
        i.address = "127.0.0.1";
        i.port = a.port;
        i.tags = a.consul_tags;
        i.version = a.version;
        i.ready = a.consul_ready;
        s.instances.push_back(i);
      }
    }
    for (const SimRouter& r : routers_) s.routers.push_back({r.id, r.applied, r.applied_at, ""});
    s.measurements = pending_;
    s.now = now_;
    s.settings.router_timeout = seconds(60);
    s.settings.poll_interval = seconds(1);
    return s;
  }

  // Performs an action as act() would, with faults.
  void Apply(const Action& action) {
    if (auto* w = std::get_if<WriteStatus>(&action)) {
      ++status_writes_;
      if (Chance(plan_.cas_conflict)) {
        status_index_ = ++raft_;  // someone else's write: this CAS loses
        return;
      }
      if (w->cas_index != status_index_) return;
      status_ = w->status;
      status_index_ = ++raft_;
      pending_.clear();  // the runtime drops measurements once a status write took them
      CheckDeclared();
    } else if (auto* r = std::get_if<RegisterJob>(&action)) {
      if (Chance(plan_.register_conflict)) job_modify_index_ = ++raft_;
      if (r->enforce_index != job_modify_index_) return;  // 500 EnforceIndex conflict
      if (Chance(plan_.register_error)) return;
      Register(r->job);
    } else if (auto* q = std::get_if<RunMetricQuery>(&action)) {
      std::optional<double> value = q->run == "prePromotion" ? plan_.pre_metric : plan_.post_metric;
      pending_.push_back({q->run, q->version, q->metric.name, value, "", now_});
    } else if (auto* p = std::get_if<RunProbe>(&action)) {
      if (p->targets.empty()) violations_.push_back("probe with no targets");
      pending_.push_back({p->run, p->version, std::string(kProbeErrorRate), 0.0, "", now_});
    }
    if (!std::holds_alternative<NoOp>(action) && Chance(plan_.crash)) {
      pending_.clear();  // a restarted controller has only what Consul and Nomad say
      ++crashes_;
    }
  }

  void Advance(Duration d) {
    now_ += std::chrono::duration_cast<milliseconds>(d);
    for (SimAlloc& a : allocs_) Evolve(a);
    for (SimRouter& r : routers_) EvolveRouter(r);
    for (const SimRouter& r : routers_) last_served_[r.applied] = now_;
  }

  // A random step length, so fault orders and timings vary with the seed.
  Duration StepAfter(const Action& action) {
    Duration base = milliseconds(50);
    if (auto* n = std::get_if<NoOp>(&action))
      base = std::min<Duration>(n->requeue_after, seconds(2));
    return base + milliseconds(std::uniform_int_distribution<int>(0, 400)(rng_));
  }

  void SetControl(std::string id, ControlVerb verb) {
    control_ = ControlRequest{std::move(id), verb};
  }
  void SetSpecVersion(std::string version) {
    rollout_.spec.version = std::move(version);
    ++spec_index_;
  }

  const RolloutStatus& status() const { return status_; }
  const nlohmann::json& job() const { return job_; }
  TimePoint now() const { return now_; }
  int flips() const { return flips_; }
  int crashes() const { return crashes_; }
  int status_writes() const { return status_writes_; }
  const std::vector<std::string>& violations() const { return violations_; }
  int Count(const std::string& group) const { return GroupJson(group)["Count"].get<int>(); }
  std::string ActiveGroupInJob() const {
    std::vector<std::string> active = ActiveGroups(job_);
    return active.size() == 1 ? active[0] : "";
  }
  std::string Version(const std::string& group) const {
    return GroupJson(group)["Meta"]["version"].get<std::string>();
  }

 private:
  struct SimAlloc {
    Allocation alloc;
    std::string version;
    int port = 0;
    TimePoint start_at{}, consul_ready_at{}, nomad_healthy_at{}, tags_at{};
    bool crashing = false;
    bool registered = false;
    bool consul_ready = false;
    std::vector<std::string> consul_tags, next_tags;
  };
  struct SimRouter {
    std::string id;
    std::string applied;
    std::string pending;
    TimePoint apply_at{}, applied_at{};
    bool stuck = false;
  };

  bool Chance(double p) { return p > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  Duration Jitter(int lo_ms, int hi_ms) {
    return milliseconds(std::uniform_int_distribution<int>(lo_ms, hi_ms)(rng_));
  }

  const nlohmann::json& GroupJson(const std::string& name) const {
    for (const auto& g : job_["TaskGroups"]) {
      if (g["Name"] == name) return g;
    }
    static const nlohmann::json kNone = {{"Count", 0}, {"Meta", {{"version", ""}}}};
    return kNone;
  }

  static std::vector<std::string> Tags(const nlohmann::json& group) {
    for (const auto& s : group["Services"]) {
      if (s["Name"] == "hello") return s["Tags"].get<std::vector<std::string>>();
    }
    return {};
  }

  static std::vector<std::string> ActiveGroups(const nlohmann::json& job) {
    std::vector<std::string> out;
    for (const auto& g : job["TaskGroups"]) {
      std::vector<std::string> tags = Tags(g);
      if (std::find(tags.begin(), tags.end(), "active") != tags.end()) {
        out.push_back(g["Name"].get<std::string>());
      }
    }
    return out;
  }

  void CreateAllocs(const std::string& group, const std::string& version, int n,
                    const std::vector<std::string>& tags, bool settled) {
    for (int k = 0; k < n; ++k) {
      SimAlloc a;
      a.alloc.id = "alloc-" + std::to_string(++alloc_seq_);
      a.alloc.group = group;
      a.alloc.job_version = job_version_;
      a.alloc.client_status = settled ? "running" : "pending";
      a.alloc.desired_status = "run";
      a.version = version;
      a.port = 20000 + alloc_seq_;
      a.crashing = version == plan_.crashing_version;
      a.start_at = settled ? now_ : now_ + Jitter(300, 1500);
      a.consul_ready_at = a.start_at + Jitter(500, 3000);
      a.nomad_healthy_at = a.consul_ready_at + seconds(10);
      a.registered = settled;
      a.consul_ready = settled;
      if (settled) a.alloc.deployment_healthy = true;
      a.consul_tags = a.next_tags = tags;
      a.tags_at = now_;
      allocs_.push_back(a);
    }
  }

  void Register(const nlohmann::json& new_job) {
    const nlohmann::json old_job = job_;
    std::vector<std::string> before = ActiveGroups(old_job);
    std::vector<std::string> after = ActiveGroups(new_job);
    if (after.size() != 1)
      violations_.push_back("job would have " + std::to_string(after.size()) + " active groups");
    if (before != after && after.size() == 1) {
      ++flips_;
      // Never flip to a group that is not all ready in Consul.
      const std::string& g = after[0];
      int ready = 0, live = 0;
      for (const SimAlloc& a : allocs_) {
        if (a.alloc.group != g || !a.alloc.Live()) continue;
        ++live;
        if (a.consul_ready && a.alloc.client_status == "running") ++ready;
      }
      if (live == 0 || ready != live)
        violations_.push_back("flip to " + g + " with " + std::to_string(ready) + "/" +
                              std::to_string(live) + " ready");
    }
    job_ = new_job;
    ++job_version_;
    job_modify_index_ = ++raft_;
    for (const auto& group : job_["TaskGroups"]) {
      const std::string name = group["Name"];
      const nlohmann::json* old_group = nullptr;
      for (const auto& og : old_job["TaskGroups"]) {
        if (og["Name"] == name) old_group = &og;
      }
      const int count = group["Count"];
      const std::string version = group["Meta"]["version"];
      const std::vector<std::string> tags = Tags(group);
      const bool destructive = !old_group || (*old_group)["Tasks"] != group["Tasks"] ||
                               (*old_group)["Meta"] != group["Meta"];
      if (old_group && (*old_group)["Count"].get<int>() > 0 && count == 0) CheckScaleDown(name);
      int live = 0;
      for (SimAlloc& a : allocs_) {
        if (a.alloc.group != name || !a.alloc.Live()) continue;
        if (destructive || live >= count) {
          Stop(a);
          continue;
        }
        ++live;
        a.alloc.job_version = job_version_;
        a.alloc.deployment_healthy.reset();  // in-place update: null again
        a.nomad_healthy_at = now_ + seconds(10);
        a.next_tags = tags;
        a.tags_at = now_ + Jitter(20, 300);  // staggered per allocation
      }
      if (live < count) CreateAllocs(name, version, count - live, tags, false);
    }
  }

  void Stop(SimAlloc& a) {
    a.alloc.desired_status = "stop";
    a.alloc.client_status = "complete";
    a.registered = false;
  }

  void CheckScaleDown(const std::string& group) {
    const std::string version = Version(group);
    for (const SimRouter& r : routers_) {
      if (r.applied == version)
        violations_.push_back("scaled down " + group + " while router " + r.id + " serves it");
    }
    for (const SimAlloc& a : allocs_) {
      if (a.alloc.group == group && a.registered &&
          std::find(a.consul_tags.begin(), a.consul_tags.end(), "active") != a.consul_tags.end()) {
        violations_.push_back("scaled down " + group + " while Consul tags it active");
      }
    }
    // Any version that served, the old one after a flip as much as a failed one after a
    // flip back: routers may still finish requests to it for a while after they report.
    auto served = last_served_.find(version);
    if (served != last_served_.end() &&
        now_ - served->second < rollout_.spec.blue_green.scale_down_delay) {
      violations_.push_back("version " + version + " scaled down before scaleDownDelay");
    }
  }

  void Evolve(SimAlloc& a) {
    if (!a.alloc.Live()) return;
    if (a.alloc.client_status == "pending" && now_ >= a.start_at) {
      a.alloc.client_status = "running";
      a.registered = true;
    }
    if (now_ >= a.tags_at) a.consul_tags = a.next_tags;
    if (a.alloc.client_status != "running") return;
    if (a.crashing) {
      a.alloc.restarts = static_cast<int>((now_ - a.start_at) / seconds(3));
      if (now_ - a.start_at >= seconds(5)) a.alloc.deployment_healthy = false;
      a.consul_ready = false;
      return;
    }
    if (now_ >= a.consul_ready_at) a.consul_ready = true;
    if (now_ >= a.nomad_healthy_at) a.alloc.deployment_healthy = true;
  }

  void EvolveRouter(SimRouter& r) {
    const std::string declared = status_.active_version;
    if (declared.empty() || r.stuck) return;
    bool candidates = false;
    for (const SimAlloc& a : allocs_) {
      candidates |=
          a.registered && a.alloc.Live() && a.consul_ready && a.version == declared &&
          std::find(a.consul_tags.begin(), a.consul_tags.end(), "active") != a.consul_tags.end();
    }
    if (!candidates || r.applied == declared) {
      r.pending.clear();  // keeps its last good set
      return;
    }
    if (r.pending != declared) {
      r.pending = declared;
      r.apply_at = now_ + Jitter(100, 2000);
    }
    if (now_ >= r.apply_at) {
      r.applied = declared;
      r.applied_at = now_;
      r.pending.clear();
    }
  }

  // The declared state: the status' Active group runs the status' Active version and the
  // job tags exactly one group active.
  void CheckDeclared() {
    if (ActiveGroups(job_).size() != 1)
      violations_.push_back("job does not have exactly one active group");
    if (!status_.phase || *status_.phase == Phase::kInvalidSpec || status_.active_group.empty())
      return;
    if (Version(status_.active_group) != status_.active_version) {
      violations_.push_back("declared " + status_.active_version + " in " + status_.active_group +
                            " which runs " + Version(status_.active_group));
    }
  }

  Rollout rollout_;
  std::mt19937 rng_;
  FaultPlan plan_;
  TimePoint now_{};
  nlohmann::json job_;
  int64_t job_version_ = 0;
  uint64_t job_modify_index_ = 0;
  uint64_t raft_ = 0;
  uint64_t spec_index_ = 5;
  RolloutStatus status_;
  uint64_t status_index_ = 0;
  std::optional<ControlRequest> control_;
  std::vector<SimAlloc> allocs_;
  std::vector<SimRouter> routers_;
  std::vector<PendingMeasurement> pending_;
  std::map<std::string, TimePoint> last_served_;
  std::string initial_version_;
  int alloc_seq_ = 0;
  int flips_ = 0;
  int crashes_ = 0;
  int status_writes_ = 0;
  std::vector<std::string> violations_;
};

}  // namespace rollouts::reconcilers::testing
