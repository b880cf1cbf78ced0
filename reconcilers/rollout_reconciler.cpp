#include "reconcilers/rollout_reconciler.h"

#include <fnmatch.h>
#include <glog/logging.h>

#include <future>
#include <variant>

#include "api/router_report.h"
#include "api/text.h"

namespace rollouts::reconcilers {

namespace {

constexpr size_t kUuidLength = 36;

std::string ErrorText(const clients::ApiError& e) {
  return e.ToString();
}

constexpr const char* kNotLeader = "not_leader";

// How old an observation may be for the standby deploy that follows a status write to be
// decided on it (see Reconcile); older, and it is observed again.
constexpr Duration kFollowUpMaxAge{500};

// One observe read on its own thread. The clients are thread-safe (http::Client is); the
// future is always waited for before Observe returns, so references to locals stay valid.
template <typename Read>
auto Concurrently(Read&& read) {
  return std::async(std::launch::async, std::forward<Read>(read));
}

}  // namespace

Duration CapAtDeadline(const Snapshot& s, Duration requeue_after) {
  // The next deadline still ahead: the current step's or the rollout's progress deadline.
  std::optional<Duration> until;
  auto consider = [&](const std::optional<TimePoint>& deadline) {
    if (!deadline || *deadline <= s.now) return;  // passed: decide() has acted on it
    Duration d = *deadline - s.now;
    if (!until || d < *until) until = d;
  };
  if (s.status.phase && InProgress(*s.status.phase)) {
    if (s.status.current_step) consider(s.status.current_step->deadline);
    consider(s.status.progress_deadline);
  }
  if (!until) return requeue_after;
  // Not below decide()'s own floor for waits, so a close deadline cannot spin the queue.
  constexpr Duration kFloor{100};
  Duration capped = std::max(*until, kFloor);
  return requeue_after.count() == 0 ? capped : std::min(requeue_after, capped);
}

bool JobAllowed(const std::vector<std::string>& globs, const std::string& namespace_,
                const std::string& job) {
  std::string subject = (namespace_.empty() ? "default" : namespace_) + "/" + job;
  for (const auto& g : globs) {
    if (::fnmatch(g.c_str(), subject.c_str(), 0) == 0) return true;
  }
  return false;
}

std::string AllocIdFromServiceId(const std::string& service_id) {
  static const std::string kPrefix = "_nomad-task-";
  if (service_id.rfind(kPrefix, 0) != 0 || service_id.size() < kPrefix.size() + kUuidLength) {
    return "";
  }
  return service_id.substr(kPrefix.size(), kUuidLength);
}

std::vector<ServiceInstance> InstancesFromHealth(
    const std::vector<consul::ServiceEntry>& entries,
    const std::map<std::string, std::string>& group_of_alloc) {
  std::vector<ServiceInstance> out;
  out.reserve(entries.size());
  for (const auto& e : entries) {
    ServiceInstance i;
    i.id = e.service.id;
    i.alloc_id = AllocIdFromServiceId(e.service.id);
    auto g = group_of_alloc.find(i.alloc_id);
    if (g != group_of_alloc.end()) i.group = g->second;
    i.address = consul::ServiceAddress(e);
    i.port = e.service.port;
    i.tags = e.service.tags;
    auto v = e.service.meta.find("version");
    if (v != e.service.meta.end()) i.version = v->second;
    i.ready = consul::IsReady(e);
    out.push_back(std::move(i));
  }
  return out;
}

RolloutReconciler::RolloutReconciler(consul::ConsulClient& consul, NomadClientFor nomad,
                                     prometheus::PrometheusClient* prometheus, Prober& prober,
                                     std::function<TimePoint()> now,
                                     std::function<bool()> may_write, ReconcilerOptions options,
                                     ReconcileListener* listener)
    : consul_(consul),
      nomad_(std::move(nomad)),
      prometheus_(prometheus),
      prober_(prober),
      now_(std::move(now)),
      may_write_(std::move(may_write)),
      options_(std::move(options)),
      listener_(listener) {}

// The cluster half of an observe, each read on its own thread. The allocations are read
// with the job, not after it: when the job turns out not to exist, their answer (and any
// error) is ignored. Health is read unfiltered on purpose (docs/design.md "Lessons"): tags are
// filtered here, not by Consul.
struct RolloutReconciler::ClusterReads {
  std::future<nomad::ApiResult<std::optional<nomad::Job>>> job;
  std::future<nomad::ApiResult<nomad::Indexed<std::vector<nomad::AllocationStub>>>> allocs;
  std::future<clients::ApiResult<consul::QueryResult<std::vector<consul::ServiceEntry>>>> health;
  std::future<clients::ApiResult<consul::QueryResult<std::vector<consul::KvPair>>>> routers;
};

RolloutReconciler::ClusterReads RolloutReconciler::StartClusterReads(const ClusterTarget& t) {
  nomad::NomadClient& nomad = nomad_(t.nomad_namespace);
  ClusterReads reads;
  reads.job = Concurrently([&nomad, job = t.job] { return nomad.GetJob(job); });
  reads.allocs = Concurrently([&nomad, job = t.job] { return nomad.JobAllocations(job, {}); });
  reads.health =
      Concurrently([this, service = t.service] { return consul_.HealthService(service, {}, {}); });
  reads.routers =
      Concurrently([this] { return consul_.KvList(options_.kv_prefix + "routers/", {}); });
  return reads;
}

std::optional<RolloutReconciler::ClusterTarget> RolloutReconciler::LastTarget(
    const std::string& name) {
  std::lock_guard lock(targets_mu_);
  auto it = last_target_.find(name);
  if (it == last_target_.end()) return std::nullopt;
  return it->second;
}

void RolloutReconciler::RememberTarget(const std::string& name,
                                       std::optional<ClusterTarget> target) {
  std::lock_guard lock(targets_mu_);
  if (target) {
    last_target_[name] = std::move(*target);
  } else {
    last_target_.erase(name);
  }
}

void RolloutReconciler::LogInvalidInputs(const Snapshot& s) {
  std::string what;
  if (!s.status_error.empty()) what += "; status: " + s.status_error;
  if (s.control && !s.control->invalid.empty()) what += "; control: " + s.control->invalid;
  for (const RouterReport& r : s.routers) {
    if (!r.error.empty()) what += "; router " + r.id + ": " + r.error;
  }
  std::lock_guard lock(invalid_mu_);
  auto it = last_invalid_.find(s.name);
  if (what == (it == last_invalid_.end() ? std::string() : it->second)) return;
  if (what.empty()) {
    last_invalid_.erase(it);
    LOG(INFO) << s.name << ": every key it reads is readable again";
  } else {
    last_invalid_[s.name] = what;
    LOG(WARNING) << s.name << ": keys it cannot read (refused and reported): " << what.substr(2);
  }
}

clients::ApiResult<Snapshot> RolloutReconciler::Observe(const std::string& name) {
  Snapshot s;
  s.name = name;
  s.now = now_();
  s.settings.router_timeout = options_.router_timeout;
  s.settings.poll_interval = options_.poll_interval;
  std::string allowed;
  for (const auto& g : options_.allowed_jobs) allowed += (allowed.empty() ? "" : ",") + g;
  s.settings.allowed_jobs = allowed;

  // The reads are independent, so they run at once: an observe costs its slowest read,
  // not the sum of seven (this is most of the KV write -> standby registered latency,
  // bench/controller). The cluster reads need the spec's job and service: those of the
  // last observe are read along with the spec, and again after it if the spec moved.
  const std::string& p = options_.kv_prefix;
  // The target of the last observe, read along with the KV keys (see ClusterTarget).
  const std::optional<ClusterTarget> hint = LastTarget(name);
  std::optional<ClusterReads> prefetched;
  if (hint && JobAllowed(options_.allowed_jobs, hint->nomad_namespace, hint->job)) {
    prefetched = StartClusterReads(*hint);
  }
  auto status = Concurrently([&] { return consul_.KvGet(p + "status/" + name, {}); });
  auto control = Concurrently([&] { return consul_.KvGet(p + "control/" + name, {}); });
  auto spec = consul_.KvGet(p + "spec/" + name, {});
  // Errors in the order the reads were written before they ran at once: deterministic.
  auto status_read = status.get();
  auto control_read = control.get();
  if (!spec.ok()) return spec.error();
  if (!status_read.ok()) return status_read.error();
  if (!control_read.ok()) return control_read.error();
  if (spec.value().value) {
    s.spec_modify_index = spec.value().value->modify_index;
    ParseResult parsed = ParseRollout(spec.value().value->value);
    if (parsed.rollout) {
      s.spec = std::move(parsed.rollout);
    } else {
      s.spec_errors = std::move(parsed.errors);
    }
  }
  if (status_read.value().value) {
    s.status_modify_index = status_read.value().value->modify_index;
    DecodedStatus decoded = DecodeStatus(status_read.value().value->value);
    s.status = std::move(decoded.status);
    s.status_error = std::move(decoded.error);
  }
  if (control_read.value().value) {
    s.control = api::DecodeControl(control_read.value().value->value,
                                   control_read.value().value->modify_index);
  }
  if (!s.spec) {
    RememberTarget(name, std::nullopt);
    return s;  // invalid or deleted: decide() must not need the cluster
  }

  const Rollout& r = *s.spec;
  const ClusterTarget target{r.spec.nomad.namespace_, r.spec.nomad.job, r.spec.nomad.service};
  RememberTarget(name, target);
  s.settings.job_allowed =
      JobAllowed(options_.allowed_jobs, r.spec.nomad.namespace_, r.spec.nomad.job);
  if (!s.settings.job_allowed) return s;  // refused: do not even read the job

  ClusterReads reads =
      prefetched && *hint == target ? std::move(*prefetched) : StartClusterReads(target);
  auto job = reads.job.get();
  auto allocs_read = reads.allocs.get();
  auto health_read = reads.health.get();
  auto routers_read = reads.routers.get();
  if (!job.ok()) return job.error();
  if (job.value()) s.job = JobView::FromDocument(job.value()->json());

  std::map<std::string, std::string> group_of_alloc;
  if (s.job) {
    if (!allocs_read.ok()) return allocs_read.error();
    for (const auto& a : allocs_read.value().value) {
      Allocation out;
      out.id = a.id;
      out.group = a.task_group;
      out.job_version = static_cast<int64_t>(a.job_version);
      out.client_status = a.client_status;
      out.desired_status = a.desired_status;
      if (a.deployment_status) out.deployment_healthy = a.deployment_status->healthy;
      for (const auto& [task, state] : a.task_states)
        out.restarts += static_cast<int>(state.restarts);
      group_of_alloc[a.id] = a.task_group;
      s.allocations.push_back(std::move(out));
    }
  }

  if (!health_read.ok()) return health_read.error();
  s.instances = InstancesFromHealth(health_read.value().value, group_of_alloc);

  if (!routers_read.ok()) return routers_read.error();
  for (const auto& kv : routers_read.value().value) {
    // Only live routers count: their report key is held by their session.
    if (kv.session.empty()) continue;
    RouterReport rep;
    rep.id = api::Truncate(std::string_view(kv.key).substr(p.size() + 8), api::kMaxIdBytes);
    auto decoded = api::DecodeRouterReport(kv.value);
    if (auto* why = std::get_if<std::string>(&decoded)) {
      rep.error = std::move(*why);  // not converged, and named by decide()
      s.routers.push_back(std::move(rep));
      continue;
    }
    const auto& doc = std::get<api::RouterReportDocument>(decoded);
    if (!doc.id.empty()) rep.id = doc.id;
    // A router that does not route this service lags forever unless it is told to:
    // decide() sees an empty version.
    if (auto svc = doc.services.find(r.spec.nomad.service); svc != doc.services.end()) {
      rep.applied_version = svc->second.version;
      if (auto t = ParseTime(svc->second.applied_at)) rep.time = *t;
    }
    s.routers.push_back(std::move(rep));
  }
  return s;
}

RolloutReconciler::ActResult RolloutReconciler::Act(
    const Snapshot& s, const Action& action, const std::shared_ptr<http::CancelToken>& cancel) {
  // One overload per action kind: a new kind does not compile until it is handled.
  return std::visit([&](const auto& a) { return ActOn(s, a, cancel); }, action);
}

RolloutReconciler::ActResult RolloutReconciler::ActOn(const Snapshot&, const NoOp&,
                                                      const std::shared_ptr<http::CancelToken>&) {
  return {};
}

RolloutReconciler::ActResult RolloutReconciler::ActOn(const Snapshot& s, const WriteStatus& w,
                                                      const std::shared_ptr<http::CancelToken>&) {
  if (!may_write_()) return Failed(kNotLeader, "not the leader: status not written");
  consul::PutOptions put;
  put.cas = w.cas_index;
  // replace: a byte that slipped past the decoders must not make the write throw.
  const std::string body =
      StatusToJson(w.status).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto r = consul_.KvPut(options_.kv_prefix + "status/" + s.name, body, put);
  if (!r.ok()) {
    return Failed(clients::ApiErrorKindName(r.error().kind),
                  "status write: " + ErrorText(r.error()));
  }
  if (!r.value()) {
    return Conflict("status changed under us (CAS " + std::to_string(w.cas_index) + ")");
  }
  if (listener_) listener_->OnStatusWritten(s.name, s.status, w.status);
  return {};
}

RolloutReconciler::ActResult RolloutReconciler::ActOn(const Snapshot& s, const RegisterJob& reg,
                                                      const std::shared_ptr<http::CancelToken>&) {
  if (!may_write_()) return Failed(kNotLeader, "not the leader: job not registered");
  nomad::NomadClient& nomad = nomad_(s.spec->spec.nomad.namespace_);
  auto r = nomad.RegisterJob(nomad::Job(reg.job), reg.enforce_index);
  if (!r.ok()) {
    std::string message = "job register (" + reg.reason + "): " + ErrorText(r.error());
    if (r.error().kind == clients::ApiErrorKind::kConflict) return Conflict(std::move(message));
    return Failed(clients::ApiErrorKindName(r.error().kind), std::move(message));
  }
  LOG(INFO) << s.name << ": registered job " << s.spec->spec.nomad.job << " ("
            << DescribeJobEdit(reg.edit) << "), JobModifyIndex " << r.value().job_modify_index;
  return {};
}

RolloutReconciler::ActResult RolloutReconciler::ActOn(
    const Snapshot& s, const RunProbe& probe, const std::shared_ptr<http::CancelToken>& cancel) {
  ActResult out;
  ProbeResult pr = prober_.Probe(probe.targets, probe.probe, cancel);
  PendingMeasurement m{probe.run,
                       probe.version,
                       std::string(kProbeErrorRate),
                       pr.error_rate,
                       pr.total == 0 ? pr.first_error : "",
                       s.now};
  m.time = now_();
  out.measurements.push_back(m);
  if (probe.probe.max_p99_latency) {
    PendingMeasurement lat = m;
    lat.metric = std::string(kProbeP99Latency);
    lat.value = pr.p99_ms;
    out.measurements.push_back(lat);
  }
  if (pr.failed > 0) {
    LOG(INFO) << s.name << ": probe " << pr.failed << "/" << pr.total
              << " failed, first: " << pr.first_error;
  }
  return out;
}

RolloutReconciler::ActResult RolloutReconciler::ActOn(
    const Snapshot&, const RunMetricQuery& q, const std::shared_ptr<http::CancelToken>& cancel) {
  ActResult out;
  PendingMeasurement m{q.run, q.version, q.metric.name, std::nullopt, "", now_()};
  if (prometheus_ == nullptr) {
    m.error = "no Prometheus configured (--prometheus-addr)";
  } else {
    auto r = prometheus_->Query(q.query, std::nullopt, cancel);
    if (!r.ok()) {
      m.error = ErrorText(r.error());
    } else if (r.value().samples.size() > 1) {
      m.error = "query returned " + std::to_string(r.value().samples.size()) +
                " series; a gate query must reduce to one (use sum/avg/max)";
    } else if (!r.value().samples.empty()) {
      const auto& v = r.value().samples[0].value;
      // NaN stays "no value" (Inconclusive); infinities are real, comparable values.
      if (v.kind != prometheus::ValueKind::kNaN) m.value = v.number;
      if (v.kind == prometheus::ValueKind::kNaN) m.error = "NaN";
    }
  }
  out.measurements.push_back(m);
  return out;
}

ReconcileOutcome RolloutReconciler::Reconcile(const std::string& name,
                                              const std::shared_ptr<http::CancelToken>& cancel) {
  ReconcileOutcome outcome;
  std::vector<PendingMeasurement> carried;
  // After a status write: the observation it was decided on, with the written status.
  std::optional<Snapshot> after_write;
  for (int round = 0; round < options_.max_actions; ++round) {
    if (cancel && cancel->cancelled()) {
      outcome.message = "cancelled";
      return outcome;
    }
    Snapshot s;
    Action action;
    bool follow_up = false;  // acting on after_write, without a new observe
    // A status write that starts a rollout is followed by deploying the standby. decide()
    // on the same observation with the write applied says so without observing
    // everything again: the register is guarded by EnforceIndex (a job that changed
    // meanwhile refuses it and we observe afresh), and a standby deployed just before an
    // abort or a crash is stopped by the roll back like any other. Only that register,
    // and only on a fresh observation: the flip and the scale-down wait on health, router
    // and control state that a slow status write may have outlived, so they (and every
    // status write, which needs the key's new CAS index) start from a full observe.
    if (after_write) {
      action = Decide(*after_write);
      const auto* reg = std::get_if<RegisterJob>(&action);
      follow_up = reg != nullptr && std::holds_alternative<DeployStandbyEdit>(reg->edit) &&
                  now_() - after_write->now <= kFollowUpMaxAge;
      if (follow_up) s = std::move(*after_write);
      after_write.reset();
    }
    if (!follow_up) {
      auto observed = Observe(name);
      if (!observed.ok()) {
        outcome.error = true;
        outcome.error_kind = clients::ApiErrorKindName(observed.error().kind);
        outcome.message = "observe: " + ErrorText(observed.error());
        return outcome;
      }
      s = std::move(observed).value();
      if (!s.spec && s.spec_errors.empty() && !s.status.phase) {
        outcome.deleted = true;
        return outcome;
      }
      if (listener_ && s.status.phase) listener_->OnStatusObserved(name, s.status);
      if (listener_) listener_->OnInputsObserved(name, InvalidInputs(s));
      LogInvalidInputs(s);
      s.measurements = carried;
      if (s.spec) {
        outcome.nomad_namespace = s.spec->spec.nomad.namespace_;
        outcome.nomad_job = s.spec->spec.nomad.job;
        outcome.service = s.spec->spec.nomad.service;
      }
      action = Decide(s);
      outcome.phase = s.status.phase;
      if (const auto* noop = std::get_if<NoOp>(&action)) {
        outcome.requeue_after = CapAtDeadline(s, noop->requeue_after);
        outcome.message = noop->reason;
        if (listener_) listener_->OnAction(name, action, true);
        return outcome;
      }
    }
    ++outcome.actions;
    ActResult r = Act(s, action, cancel);
    if (listener_) listener_->OnAction(name, action, r.ok);
    for (const auto& m : r.measurements) {
      if (listener_) listener_->OnMeasurement(name, m);
    }
    if (const auto* written = std::get_if<WriteStatus>(&action); written && r.ok) {
      carried.clear();  // recorded in the status now
      outcome.phase = written->status.phase;
      after_write = std::move(s);
      after_write->status = written->status;
      after_write->measurements.clear();
    }
    carried.insert(carried.end(), r.measurements.begin(), r.measurements.end());
    if (!r.ok) {
      if (r.conflict) {
        VLOG(1) << name << ": " << r.message << "; observing again";
        continue;
      }
      outcome.error = true;
      outcome.error_kind = r.error_kind;
      outcome.message = r.message;
      return outcome;
    }
  }
  outcome.message = "action budget used up; requeued";
  outcome.requeue_after = Duration(1);
  return outcome;
}

}  // namespace rollouts::reconcilers
