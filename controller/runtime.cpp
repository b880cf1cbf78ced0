#include "controller/runtime.h"

#include <glog/logging.h>

#include "clients/consul/blocking.h"
#include "reconcilers/rollout_reconciler.h"

namespace rollouts::controller {

ReconcileResult ResultOf(const reconcilers::ReconcileOutcome& outcome) {
  ReconcileResult result;
  result.error = outcome.error;
  result.error_kind = outcome.error_kind;
  result.message = outcome.message;
  result.requeue_after = outcome.requeue_after;
  result.deleted = outcome.deleted;
  if (outcome.InProgress()) {
    result.progress = WatchTarget{outcome.nomad_namespace, outcome.nomad_job, outcome.service};
  }
  return result;
}

ControllerRuntime::ControllerRuntime(consul::ConsulClient& consul, ReconcileFn reconcile,
                                     RuntimeOptions options, ControllerMetrics* metrics,
                                     std::function<bool()> is_leader,
                                     ProgressWatches::NomadFor nomad)
    : consul_(consul),
      reconcile_(std::move(reconcile)),
      options_(std::move(options)),
      metrics_(metrics),
      is_leader_(std::move(is_leader)),
      queue_(options_.queue, nullptr, metrics) {
  if (nomad) {
    ProgressWatchOptions progress = options_.progress;
    progress.kv_prefix = options_.kv_prefix;
    progress_ = std::make_unique<ProgressWatches>(
        consul_, std::move(nomad), [this](const std::string& name) { queue_.Add(name); },
        std::move(progress), metrics_);
  }
}

ControllerRuntime::~ControllerRuntime() {
  Stop(std::chrono::seconds(0));
}

void ControllerRuntime::Start() {
  threads_.emplace_back([this] { WatchLoop("spec", options_.kv_prefix + "spec/"); });
  threads_.emplace_back([this] { WatchLoop("control", options_.kv_prefix + "control/"); });
  threads_.emplace_back([this] { ResyncLoop(); });
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

bool ControllerRuntime::Stop(std::chrono::milliseconds drain_timeout) {
  stop_->Cancel();  // watches and resync stop; blocking queries are cancelled
  bool drained = queue_.ShutDownWithDrain(drain_timeout);
  if (!drained) work_cancel_->Cancel();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  // Workers return from Get() once the queue is shut down; one still inside a reconcile
  // past the drain deadline is joined too (its cancel token has fired).
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
  // After the workers: none of them can track a Rollout again.
  if (progress_) progress_->UntrackAll();
  return drained;
}

void ControllerRuntime::LeadershipLost() {
  // A reconcile finishing right now may track its Rollout again; its next visit (the
  // requeue, or the first watch event) finds this instance a follower and untracks it.
  if (progress_) progress_->UntrackAll();
}

void ControllerRuntime::EnqueueAll() {
  for (const auto& name : KnownRollouts()) queue_.Add(name);
}

void ControllerRuntime::ResyncAll() {
  for (const auto& name : KnownRollouts()) queue_.AddBackground(name);
}

std::set<std::string> ControllerRuntime::KnownRollouts() const {
  std::lock_guard lock(mu_);
  return known_;
}

Readiness ControllerRuntime::WatchesLive() const {
  // A blocking query answers at the latest after wait + wait/16; allow a little more for
  // latency and one error backoff.
  const auto slack = options_.watch_wait + options_.watch_wait / 16 + options_.watch_slack;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  for (const char* watch : {"spec", "control"}) {
    auto it = last_success_.find(watch);
    if (it == last_success_.end()) {
      return {false, std::string("the ") + watch + " watch has not answered yet"};
    }
    if (now - it->second > slack) {
      auto age = std::chrono::duration_cast<std::chrono::seconds>(now - it->second).count();
      return {false, std::string("the ") + watch + " watch last answered " + std::to_string(age) +
                         "s ago"};
    }
  }
  // The watches of rollouts in progress: a stalled one does not stop reconciles (the
  // safety poll remains) but its rollouts react a poll interval late, so say so.
  if (progress_) {
    const auto& p = options_.progress;
    const auto max_age = p.wait + p.wait / 16 + options_.watch_slack;
    if (auto stalled = progress_->Stalled(std::chrono::steady_clock::now(), max_age)) {
      return {false, "progress watch " + *stalled};
    }
  }
  return {true, ""};
}

void ControllerRuntime::WatchLoop(const std::string& watch, const std::string& prefix) {
  consul::BlockingPolicy policy;
  policy.wait = options_.watch_wait;
  policy.min_interval = options_.watch_min_interval;
  // Only names and ModifyIndex: a change enqueues the key, whose reconcile reads it.
  consul::BlockingWatcher<std::vector<consul::KvIndex>> watcher(
      [this, prefix](const consul::QueryOptions& q) { return consul_.KvListIndexes(prefix, q); },
      policy, stop_);
  while (!stop_->cancelled()) {
    auto poll = watcher.PollOnce();
    if (!poll.result.ok()) {
      if (poll.result.error().kind != clients::ApiErrorKind::kCancelled) {
        LOG(WARNING) << "watch " << watch << ": " << poll.result.error().ToString();
      }
      continue;
    }
    if (metrics_ != nullptr) metrics_->RecordWatchSuccess(watch, std::chrono::system_clock::now());
    std::vector<std::string> changed;
    {
      std::lock_guard lock(mu_);
      last_success_[watch] = std::chrono::steady_clock::now();
      std::map<std::string, uint64_t> current;
      for (const auto& kv : poll.result.value().value) {
        if (kv.key.size() <= prefix.size()) continue;  // the folder key itself
        std::string name = kv.key.substr(prefix.size());
        if (name.find('/') != std::string::npos) continue;  // not a Rollout key
        current[name] = kv.modify_index;
      }
      auto& previous = seen_[watch];
      for (const auto& [name, index] : current) {
        auto it = previous.find(name);
        if (it == previous.end() || it->second != index) changed.push_back(name);
      }
      for (const auto& [name, index] : previous) {
        if (!current.contains(name)) changed.push_back(name);  // deleted
      }
      previous = std::move(current);
      if (watch == "spec") {
        known_.clear();
        for (const auto& [name, index] : previous) known_.insert(name);
      }
    }
    for (const auto& name : changed) queue_.Add(name);
  }
}

void ControllerRuntime::FollowProgress(const std::string& name, ReconcileResult& result) {
  // An error says nothing about the phase: keep the watches as they are (the key is
  // retried with backoff anyway).
  if (result.error) return;
  if (result.deleted || !result.progress || !is_leader_ || !is_leader_()) {
    if (progress_) progress_->Untrack(name);
    return;
  }
  if (progress_) progress_->Track(name, *result.progress);
  if (progress_ && progress_->Covered(name)) return;
  // Not covered by live watches: poll as often as before watches existed.
  if (result.requeue_after.count() == 0 || result.requeue_after > options_.unwatched_poll) {
    result.requeue_after = options_.unwatched_poll;
  }
}

void ControllerRuntime::ResyncLoop() {
  while (stop_->SleepFor(options_.resync)) ResyncAll();
}

void ControllerRuntime::WorkerLoop() {
  while (auto name = queue_.Get()) {
    if (!is_leader_ || !is_leader_()) {
      // Not ours to act on; becoming leader enqueues everything again.
      if (progress_) progress_->Untrack(*name);
      queue_.Forget(*name);
      queue_.Done(*name);
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    ReconcileResult result;
    try {
      result = reconcile_(*name, work_cancel_);
    } catch (const std::exception& e) {
      result.error = true;
      result.error_kind = "internal";
      result.message = e.what();
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    FollowProgress(*name, result);
    if (metrics_ != nullptr) {
      const std::string kind =
          !result.error ? "" : (result.error_kind.empty() ? "internal" : result.error_kind);
      metrics_->RecordReconcile(seconds, kind);
      if (result.deleted) metrics_->ForgetRollout(*name);
    }
    if (result.error) {
      LOG(WARNING) << "reconcile " << *name << " failed (" << result.error_kind
                   << "): " << result.message;
      queue_.AddRateLimited(*name);
    } else {
      queue_.Forget(*name);
      if (result.requeue_after.count() > 0) queue_.AddAfter(*name, result.requeue_after);
    }
    queue_.Done(*name);
  }
}

}  // namespace rollouts::controller
