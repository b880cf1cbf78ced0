#include "controller/manager.h"

#include <glog/logging.h>

#include "clients/consul/blocking.h"

namespace rollouts::controller {

namespace {

// "rollouts/spec/hello" -> "hello" (names are flat: a '/' inside is not a Rollout).
std::optional<std::string> NameUnder(const std::string& key, const std::string& prefix) {
  if (key.rfind(prefix, 0) != 0) return std::nullopt;
  std::string name = key.substr(prefix.size());
  if (name.empty() || name.find('/') != std::string::npos) return std::nullopt;
  return name;
}

consul::BlockingPolicy Policy(std::chrono::milliseconds wait) {
  consul::BlockingPolicy p;
  p.wait = wait;
  // Wake-ups are rate limited a little: a burst of writes (a GitOps apply of many files)
  // collapses into few queries; the queue deduplicates the names anyway.
  p.min_interval = std::chrono::milliseconds(20);
  return p;
}

}  // namespace

Manager::Manager(consul::ConsulClient& consul, reconcilers::NomadClientFor nomad,
                 reconcilers::RolloutReconciler& reconciler, WorkQueue& queue,
                 std::function<bool()> is_leader, ManagerOptions options, ManagerListener* listener)
    : consul_(consul),
      nomad_(std::move(nomad)),
      reconciler_(reconciler),
      queue_(queue),
      is_leader_(std::move(is_leader)),
      options_(std::move(options)),
      listener_(listener) {}

Manager::~Manager() {
  Stop();
}

void Manager::Start() {
  threads_.emplace_back([this] { WatchPrefix("spec/", spec_watch_ok_); });
  threads_.emplace_back([this] { WatchPrefix("control/", control_watch_ok_); });
  threads_.emplace_back([this] { WatchRouters(); });
  threads_.emplace_back([this] { ResyncLoop(); });
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { Worker(); });
}

void Manager::Stop() {
  if (stop_->cancelled() && threads_.empty()) return;
  stop_->Cancel();
  // Workers finish the reconcile they are in (each step is one guarded write, so
  // stopping between steps is always safe); queued names are dropped on purpose.
  queue_.ShutDownWithDrain(options_.drain_timeout);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  std::map<std::string, std::unique_ptr<ClusterWatch>> watches;
  {
    std::lock_guard lock(mu_);
    watches.swap(cluster_watches_);
  }
  for (auto& [name, w] : watches) {
    w->cancel->Cancel();
    for (auto& t : w->threads) t.join();
  }
}

void Manager::ResyncAll() {
  std::set<std::string> names;
  {
    std::lock_guard lock(mu_);
    names = known_;
  }
  for (const auto& n : names) queue_.Add(n);
}

void Manager::WatchPrefix(const std::string& sub, std::atomic<bool>& ok) {
  const std::string prefix = options_.kv_prefix + sub;
  consul::BlockingWatcher<std::vector<consul::KvPair>> watcher(
      [&](const consul::QueryOptions& q) { return consul_.KvList(prefix, q); },
      Policy(options_.blocking_wait), stop_);
  std::map<std::string, uint64_t> seen;  // key -> ModifyIndex
  while (!stop_->cancelled()) {
    auto poll = watcher.Next();
    if (!poll.result.ok()) {
      if (poll.result.error().kind != clients::ApiErrorKind::kCancelled) {
        ok = false;
        LOG(WARNING) << "watch " << prefix << ": " << poll.result.error().ToString();
      }
      continue;
    }
    ok = true;
    if (listener_) listener_->OnWatchSuccess(sub);
    std::map<std::string, uint64_t> now;
    for (const auto& kv : poll.result.value().value) {
      auto name = NameUnder(kv.key, prefix);
      if (!name) continue;
      now[*name] = kv.modify_index;
      auto it = seen.find(*name);
      if (it == seen.end() || it->second != kv.modify_index) queue_.Add(*name);
    }
    for (const auto& [name, index] : seen) {
      if (now.count(name) == 0) queue_.Add(name);  // deleted: the reconciler cleans up
    }
    if (sub == "spec/") {
      std::lock_guard lock(mu_);
      known_.clear();
      for (const auto& [name, index] : now) known_.insert(name);
    }
    seen = std::move(now);
  }
}

void Manager::WatchRouters() {
  const std::string prefix = options_.kv_prefix + "routers/";
  consul::BlockingWatcher<std::vector<consul::KvPair>> watcher(
      [&](const consul::QueryOptions& q) { return consul_.KvList(prefix, q); },
      Policy(options_.blocking_wait), stop_);
  while (!stop_->cancelled()) {
    auto poll = watcher.Next();
    if (!poll.result.ok()) continue;
    if (listener_) listener_->OnWatchSuccess("routers/");
    // A router report matters to rollouts waiting for convergence: wake those in progress.
    std::set<std::string> names;
    {
      std::lock_guard lock(mu_);
      names = in_progress_;
    }
    for (const auto& n : names) queue_.Add(n);
  }
}

void Manager::ResyncLoop() {
  bool was_leader = false;
  auto next = std::chrono::steady_clock::now() + options_.resync;
  while (!stop_->cancelled()) {
    bool leader = is_leader_();
    if (leader && !was_leader) {
      LOG(INFO) << "leading: resyncing every Rollout";
      ResyncAll();
    }
    was_leader = leader;
    if (std::chrono::steady_clock::now() >= next) {
      if (leader) ResyncAll();
      next = std::chrono::steady_clock::now() + options_.resync;
    }
    stop_->SleepFor(std::chrono::milliseconds(100));
  }
}

void Manager::Worker() {
  while (!stop_->cancelled()) {
    if (!is_leader_()) {
      // Followers keep their queue but do not act; the new leader resyncs everything.
      stop_->SleepFor(std::chrono::milliseconds(100));
      continue;
    }
    auto key = queue_.Get();
    if (!key) return;
    if (!is_leader_()) {
      queue_.Done(*key);
      queue_.AddAfter(*key, std::chrono::milliseconds(500));
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    reconcilers::ReconcileOutcome outcome = reconciler_.Reconcile(*key, stop_);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    if (listener_) listener_->OnReconciled(*key, outcome, took);
    TrackInProgress(*key, outcome);
    if (outcome.error) {
      LOG(WARNING) << *key << ": " << outcome.message << " (retry with backoff)";
      queue_.Done(*key);
      queue_.AddRateLimited(*key);
      continue;
    }
    queue_.Forget(*key);
    queue_.Done(*key);
    if (outcome.requeue_after.count() > 0) queue_.AddAfter(*key, outcome.requeue_after);
  }
}

void Manager::TrackInProgress(const std::string& name,
                              const reconcilers::ReconcileOutcome& outcome) {
  bool running = outcome.phase && reconcilers::InProgress(*outcome.phase) && !outcome.deleted;
  {
    std::lock_guard lock(mu_);
    if (running) {
      in_progress_.insert(name);
    } else {
      in_progress_.erase(name);
    }
  }
  if (running && !outcome.nomad_job.empty()) {
    StartClusterWatch(name, outcome);
  } else {
    StopClusterWatch(name);
  }
}

void Manager::StartClusterWatch(const std::string& name,
                                const reconcilers::ReconcileOutcome& outcome) {
  std::lock_guard lock(mu_);
  auto it = cluster_watches_.find(name);
  if (it != cluster_watches_.end()) {
    if (it->second->job == outcome.nomad_job && it->second->service == outcome.service) return;
  }
  if (stop_->cancelled()) return;
  auto w = std::make_unique<ClusterWatch>();
  w->cancel = std::make_shared<http::CancelToken>();
  w->job = outcome.nomad_job;
  w->service = outcome.service;
  auto cancel = w->cancel;
  std::string ns = outcome.nomad_namespace, job = outcome.nomad_job, service = outcome.service;
  // Allocation changes (placed, healthy, failed) wake the rollout at once instead of at
  // its next poll.
  w->threads.emplace_back([this, name, ns, job, cancel] {
    uint64_t index = 0;
    http::Backoff backoff({std::chrono::milliseconds(250), std::chrono::seconds(10), 2.0, 0.5});
    while (!cancel->cancelled() && !stop_->cancelled()) {
      nomad::BlockingQuery q;
      q.index = index;
      q.wait = options_.blocking_wait;
      q.cancel = cancel;
      auto r = nomad_(ns).JobAllocations(job, q);
      if (!r.ok()) {
        if (!cancel->SleepFor(backoff.Next())) return;
        continue;
      }
      backoff.Reset();
      uint64_t got = r.value().index;
      if (got < index) got = 0;  // index went backwards: read afresh
      if (got != index && index != 0) queue_.Add(name);
      index = std::max<uint64_t>(got, 1);
    }
  });
  w->threads.emplace_back([this, name, service, cancel] {
    consul::BlockingWatcher<std::vector<consul::ServiceEntry>> watcher(
        [&](const consul::QueryOptions& q) { return consul_.HealthService(service, {}, q); },
        Policy(options_.blocking_wait), cancel);
    bool first = true;
    while (!cancel->cancelled() && !stop_->cancelled()) {
      auto poll = watcher.Next();
      if (!poll.result.ok()) continue;
      if (!first) queue_.Add(name);
      first = false;
    }
  });
  std::unique_ptr<ClusterWatch> old;
  if (it != cluster_watches_.end()) old = std::move(it->second);
  cluster_watches_[name] = std::move(w);
  if (old) {
    old->cancel->Cancel();
    for (auto& t : old->threads) t.detach();  // they exit on their own once cancelled
  }
}

void Manager::StopClusterWatch(const std::string& name) {
  std::unique_ptr<ClusterWatch> w;
  {
    std::lock_guard lock(mu_);
    auto it = cluster_watches_.find(name);
    if (it == cluster_watches_.end()) return;
    w = std::move(it->second);
    cluster_watches_.erase(it);
  }
  w->cancel->Cancel();
  // Joining here would block a worker for up to one HTTP round trip; the threads only
  // touch this Manager's queue and clients, which outlive them (Stop() joins the rest).
  for (auto& t : w->threads) t.detach();
}

}  // namespace rollouts::controller
