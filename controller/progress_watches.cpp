#include "controller/progress_watches.h"

#include <glog/logging.h>

#include <algorithm>
#include <thread>

#include "clients/consul/blocking.h"

namespace rollouts::controller {

namespace {

constexpr const char* kAllocations = "allocations";
constexpr const char* kHealth = "health";
constexpr const char* kRouters = "routers";

// Field and record separators of the fingerprints (not in IDs, tags or versions).
constexpr char kField = '\x1f';
constexpr char kRecord = '\x1e';

void Put(std::string& out, const std::string& s) {
  out += s;
  out += kField;
}

// What observe() reads of the allocations, in a stable order: a change of anything else
// (the table index, timestamps) does not reconcile.
std::string AllocationsFingerprint(const std::vector<nomad::AllocationStub>& allocs) {
  std::vector<std::string> records;
  records.reserve(allocs.size());
  for (const auto& a : allocs) {
    std::string r;
    Put(r, a.id);
    Put(r, a.task_group);
    Put(r, std::to_string(a.job_version));
    Put(r, a.client_status);
    Put(r, a.desired_status);
    std::string healthy = "null";
    if (a.deployment_status && a.deployment_status->healthy) {
      healthy = *a.deployment_status->healthy ? "true" : "false";
    }
    Put(r, healthy);
    uint64_t restarts = 0;
    for (const auto& [task, state] : a.task_states) restarts += state.restarts;
    Put(r, std::to_string(restarts));
    records.push_back(std::move(r));
  }
  std::sort(records.begin(), records.end());
  std::string out;
  for (const auto& r : records) out += r + kRecord;
  return out;
}

// Instances, their tags, meta, addresses and check states; not the check output (an HTTP
// check's output can change on every run without anything changing for the rollout).
std::string HealthFingerprint(const std::vector<consul::ServiceEntry>& entries) {
  std::vector<std::string> records;
  records.reserve(entries.size());
  for (const auto& e : entries) {
    std::string r;
    Put(r, e.node.node);
    Put(r, e.node.address);
    Put(r, e.service.id);
    Put(r, e.service.address);
    Put(r, std::to_string(e.service.port));
    for (const auto& t : e.service.tags) Put(r, "tag=" + t);
    for (const auto& [k, v] : e.service.meta) {
      Put(r, "meta=" + k);
      Put(r, v);
    }
    std::vector<std::string> checks;
    for (const auto& c : e.checks) {
      std::string check = c.check_id;
      check += kField;
      check += c.service_id;
      check += kField;
      check += c.status;
      checks.push_back(std::move(check));
    }
    std::sort(checks.begin(), checks.end());
    for (const auto& c : checks) Put(r, "check=" + c);
    records.push_back(std::move(r));
  }
  std::sort(records.begin(), records.end());
  std::string out;
  for (const auto& r : records) out += r + kRecord;
  return out;
}

// A report changes its ModifyIndex on every write; a dead router loses its session.
std::string RoutersFingerprint(const std::vector<consul::KvPair>& pairs) {
  std::string out;
  for (const auto& kv : pairs) {  // Consul lists keys sorted
    Put(out, kv.key);
    Put(out, std::to_string(kv.modify_index));
    Put(out, kv.session);
    out += kRecord;
  }
  return out;
}

}  // namespace

struct ProgressWatches::Watch {
  std::string key;
  std::string kind;  // allocations | health | routers (the metrics label)
  WatchTarget target;
  std::set<std::string> rollouts;  // guarded by mu_
  bool live = false;               // guarded by mu_: the last query answered
  // Guarded by mu_: the last answer, or the start while there was none; on the wall
  // clock for the staleness metric (a timestamp) and on the steady clock for Stalled, so
  // a wall-clock jump cannot make a live watch look stalled.
  std::chrono::system_clock::time_point freshness;
  std::chrono::steady_clock::time_point answered_at;
  std::shared_ptr<http::CancelToken> cancel = std::make_shared<http::CancelToken>();
  std::thread thread;
};

ProgressWatches::ProgressWatches(consul::ConsulClient& consul, NomadFor nomad, Enqueue enqueue,
                                 ProgressWatchOptions options, ControllerMetrics* metrics)
    : consul_(consul),
      nomad_(std::move(nomad)),
      enqueue_(std::move(enqueue)),
      options_(std::move(options)),
      metrics_(metrics) {}

ProgressWatches::~ProgressWatches() {
  UntrackAll();
}

void ProgressWatches::Track(const std::string& rollout, const WatchTarget& target) {
  std::vector<std::pair<std::string, std::string>> wanted;  // key, kind
  if (!target.nomad_job.empty()) {
    wanted.emplace_back(
        std::string(kAllocations) + " " + target.nomad_namespace + "/" + target.nomad_job,
        kAllocations);
  }
  if (!target.service.empty())
    wanted.emplace_back(std::string(kHealth) + " " + target.service, kHealth);
  wanted.emplace_back(kRouters, kRouters);
  auto is_wanted = [&wanted](const std::string& key) {
    return std::any_of(wanted.begin(), wanted.end(),
                       [&key](const auto& w) { return w.first == key; });
  };

  std::vector<std::unique_ptr<Watch>> retired;
  {
    std::lock_guard lock(mu_);
    Subscription& sub = subscriptions_[rollout];
    for (auto it = sub.keys.begin(); it != sub.keys.end();) {
      if (is_wanted(*it)) {
        ++it;
        continue;
      }
      UnsubscribeLocked(rollout, *it, retired);  // the spec now points elsewhere
      it = sub.keys.erase(it);
    }
    sub.complete = true;
    for (const auto& [key, kind] : wanted) {
      if (sub.keys.contains(key)) continue;
      auto it = watches_.find(key);
      if (it == watches_.end()) {
        if (watches_.size() >= options_.max_watches) {
          sub.complete = false;
          if (!warned_cap_) {
            LOG(WARNING) << "progress watches: " << watches_.size()
                         << " running (the cap); rollouts beyond it are polled";
            warned_cap_ = true;
          }
          continue;
        }
        auto w = std::make_unique<Watch>();
        w->key = key;
        w->kind = kind;
        w->target = target;
        w->freshness = std::chrono::system_clock::now();
        w->answered_at = std::chrono::steady_clock::now();
        Watch* raw = w.get();
        it = watches_.emplace(key, std::move(w)).first;
        raw->thread = std::thread([this, raw] { Run(*raw); });
        ExportFreshnessLocked(kind);
        VLOG(1) << "progress watch started: " << key;
      }
      it->second->rollouts.insert(rollout);
      sub.keys.insert(key);
    }
  }
  StopRetired(std::move(retired));
}

void ProgressWatches::Untrack(const std::string& rollout) {
  std::vector<std::unique_ptr<Watch>> retired;
  {
    std::lock_guard lock(mu_);
    auto it = subscriptions_.find(rollout);
    if (it == subscriptions_.end()) return;
    for (const auto& key : it->second.keys) UnsubscribeLocked(rollout, key, retired);
    subscriptions_.erase(it);
  }
  StopRetired(std::move(retired));
}

void ProgressWatches::UntrackAll() {
  std::vector<std::unique_ptr<Watch>> retired;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, w] : watches_) retired.push_back(std::move(w));
    watches_.clear();
    subscriptions_.clear();
  }
  StopRetired(std::move(retired));
}

bool ProgressWatches::Covered(const std::string& rollout) const {
  std::lock_guard lock(mu_);
  auto it = subscriptions_.find(rollout);
  if (it == subscriptions_.end() || !it->second.complete) return false;
  return std::all_of(it->second.keys.begin(), it->second.keys.end(), [this](const auto& key) {
    auto w = watches_.find(key);
    return w != watches_.end() && w->second->live;
  });
}

std::vector<std::string> ProgressWatches::RunningWatches() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [key, w] : watches_) out.push_back(key);
  return out;
}

std::set<std::string> ProgressWatches::Subscribers(const std::string& watch_key) const {
  std::lock_guard lock(mu_);
  auto it = watches_.find(watch_key);
  return it == watches_.end() ? std::set<std::string>{} : it->second->rollouts;
}

void ProgressWatches::UnsubscribeLocked(const std::string& rollout, const std::string& key,
                                        std::vector<std::unique_ptr<Watch>>& retired) {
  auto it = watches_.find(key);
  if (it == watches_.end()) return;
  it->second->rollouts.erase(rollout);
  if (!it->second->rollouts.empty()) return;
  retired.push_back(std::move(it->second));
  watches_.erase(it);
}

void ProgressWatches::StopRetired(std::vector<std::unique_ptr<Watch>> retired) {
  if (retired.empty()) return;
  // Cancel all first: each cancel aborts the watch's blocking query at once, so the joins
  // below wait for no more than the watch's current enqueue.
  for (auto& w : retired) w->cancel->Cancel();
  std::set<std::string> kinds;
  for (auto& w : retired) {
    if (w->thread.joinable()) w->thread.join();
    kinds.insert(w->kind);
    VLOG(1) << "progress watch stopped: " << w->key;
  }
  std::lock_guard lock(mu_);
  for (const auto& kind : kinds) ExportFreshnessLocked(kind);
  if (watches_.size() < options_.max_watches) warned_cap_ = false;
}

std::optional<std::string> ProgressWatches::Stalled(std::chrono::steady_clock::time_point now,
                                                    std::chrono::milliseconds max_age) const {
  std::lock_guard lock(mu_);
  for (const auto& [key, w] : watches_) {
    if (now - w->answered_at <= max_age) continue;
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - w->answered_at);
    return key + ": no answer for " + std::to_string(age.count()) + " s";
  }
  return std::nullopt;
}

void ProgressWatches::ExportFreshnessLocked(const std::string& kind) {
  if (metrics_ == nullptr) return;
  std::optional<std::chrono::system_clock::time_point> oldest;
  for (const auto& [key, w] : watches_) {
    if (w->kind != kind) continue;
    if (!oldest || w->freshness < *oldest) oldest = w->freshness;
  }
  if (oldest) {
    metrics_->RecordWatchSuccess(kind, *oldest);
  } else {
    metrics_->ForgetWatch(kind);
  }
}

void ProgressWatches::Run(Watch& w) {
  try {
    if (w.kind == kAllocations) {
      nomad::NomadClient& nomad = nomad_(w.target.nomad_namespace);
      const std::string job = w.target.nomad_job;
      Loop<std::vector<nomad::AllocationStub>>(
          w,
          [&nomad, job](const consul::QueryOptions& q)
              -> clients::ApiResult<consul::QueryResult<std::vector<nomad::AllocationStub>>> {
            auto r = nomad.JobAllocations(job, nomad::BlockingQuery{q.index, q.wait, q.cancel});
            if (!r.ok()) return r.error();
            consul::QueryResult<std::vector<nomad::AllocationStub>> out;
            out.value = std::move(r.value().value);
            out.meta.index = r.value().index;
            return out;
          },
          AllocationsFingerprint);
    } else if (w.kind == kHealth) {
      // Unfiltered on purpose (docs/design.md "Lessons"): no ?tag=, no ?passing.
      const std::string service = w.target.service;
      Loop<std::vector<consul::ServiceEntry>>(
          w,
          [this, service](const consul::QueryOptions& q) {
            return consul_.HealthService(service, {}, q);
          },
          HealthFingerprint);
    } else {
      const std::string prefix = options_.kv_prefix + "routers/";
      Loop<std::vector<consul::KvPair>>(
          w, [this, prefix](const consul::QueryOptions& q) { return consul_.KvList(prefix, q); },
          RoutersFingerprint);
    }
  } catch (const std::exception& e) {
    // Not expected (the clients return errors as values); the rollouts fall back to polling.
    LOG(ERROR) << "progress watch " << w.key << " ended: " << e.what();
    std::lock_guard lock(mu_);
    w.live = false;
  }
}

template <typename T>
void ProgressWatches::Loop(
    Watch& w,
    std::function<clients::ApiResult<consul::QueryResult<T>>(const consul::QueryOptions&)> fetch,
    const std::function<std::string(const T&)>& fingerprint) {
  consul::BlockingPolicy policy;
  policy.wait = options_.wait;
  policy.min_interval = options_.min_interval;
  policy.error_backoff = options_.error_backoff;
  typename consul::BlockingWatcher<T>::Sleep sleep;
  if (options_.sleep) {
    sleep = [hook = options_.sleep, token = w.cancel](std::chrono::milliseconds d) {
      return hook(d, *token);
    };
  }
  consul::BlockingWatcher<T> watcher(std::move(fetch), policy, w.cancel, std::move(sleep), {},
                                     options_.uniform01);
  std::optional<std::string> last;
  while (!w.cancel->cancelled()) {
    auto poll = watcher.PollOnce();
    if (w.cancel->cancelled()) break;
    if (!poll.result.ok()) {
      OnError(w, poll.result.error());
      // A cancellation that is not ours gets no backoff from the watcher: do not spin.
      if (poll.result.error().kind == clients::ApiErrorKind::kCancelled) {
        w.cancel->SleepFor(options_.error_backoff.initial);
      }
      continue;
    }
    std::string current = fingerprint(poll.result.value().value);
    bool changed = !last || *last != current;
    last = std::move(current);
    OnAnswer(w, changed);
  }
}

void ProgressWatches::OnAnswer(Watch& w, bool changed) {
  std::vector<std::string> rollouts;
  {
    std::lock_guard lock(mu_);
    w.live = true;
    w.freshness = std::chrono::system_clock::now();
    w.answered_at = std::chrono::steady_clock::now();
    ExportFreshnessLocked(w.kind);
    if (changed) rollouts.assign(w.rollouts.begin(), w.rollouts.end());
  }
  for (const auto& r : rollouts) enqueue_(r);
}

void ProgressWatches::OnError(Watch& w, const clients::ApiError& error) {
  if (metrics_ != nullptr)
    metrics_->RecordWatchError(w.kind, clients::ApiErrorKindName(error.kind));
  LOG(WARNING) << "progress watch " << w.key << ": " << error.ToString();
  std::vector<std::string> rollouts;
  {
    std::lock_guard lock(mu_);
    // Hand the rollouts back to the short poll once (Covered() is false from now on);
    // while the errors go on the watcher backs off and they stay polled.
    if (w.live) rollouts.assign(w.rollouts.begin(), w.rollouts.end());
    w.live = false;
  }
  for (const auto& r : rollouts) enqueue_(r);
}

}  // namespace rollouts::controller
