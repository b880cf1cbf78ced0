// The controller-runtime shape: watches feed a work queue, workers take Rollout names
// from it and reconcile them, one worker per name at a time, only while this process
// leads. Watches: one recursive blocking query each on <prefix>spec/ and
// <prefix>control/, one on <prefix>routers/ (convergence of a flip), blocking queries on
// the allocations and the service health of every job with a rollout in progress, and a
// periodic resync of every name.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "clients/consul/consul_client.h"
#include "clients/http/cancel.h"
#include "clients/nomad/nomad_client.h"
#include "controller/work_queue.h"
#include "reconcilers/rollout_reconciler.h"

namespace rollouts::controller {

struct ManagerOptions {
  std::string kv_prefix = "rollouts/";
  int workers = 2;
  std::chrono::milliseconds resync{std::chrono::seconds(30)};
  std::chrono::milliseconds blocking_wait{std::chrono::seconds(30)};
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(30)};
};

// Hooks for metrics and logs.
class ManagerListener {
 public:
  virtual ~ManagerListener() = default;
  virtual void OnReconciled(const std::string& /*name*/,
                            const reconcilers::ReconcileOutcome& /*outcome*/,
                            std::chrono::duration<double> /*took*/) {}
  // A watch answered (successfully) at this time; staleness = now - last success.
  virtual void OnWatchSuccess(const std::string& /*watch*/) {}
};

class Manager {
 public:
  Manager(consul::ConsulClient& consul, reconcilers::NomadClientFor nomad,
          reconcilers::RolloutReconciler& reconciler, WorkQueue& queue,
          std::function<bool()> is_leader, ManagerOptions options,
          ManagerListener* listener = nullptr);
  ~Manager();

  // Starts watches and workers; returns at once.
  void Start();
  // Stops watches, lets workers finish their current reconcile (bounded), joins.
  void Stop();
  // Enqueues every known Rollout (on becoming leader, and by the resync timer).
  void ResyncAll();
  // The spec/control watches have answered at least once and not failed since.
  bool WatchesLive() const { return spec_watch_ok_ && control_watch_ok_; }

 private:
  void WatchPrefix(const std::string& sub, std::atomic<bool>& ok);
  void WatchRouters();
  void Worker();
  void ResyncLoop();
  void TrackInProgress(const std::string& name, const reconcilers::ReconcileOutcome& outcome);
  void StartClusterWatch(const std::string& name, const reconcilers::ReconcileOutcome& outcome);
  void StopClusterWatch(const std::string& name);

  consul::ConsulClient& consul_;
  reconcilers::NomadClientFor nomad_;
  reconcilers::RolloutReconciler& reconciler_;
  WorkQueue& queue_;
  std::function<bool()> is_leader_;
  ManagerOptions options_;
  ManagerListener* listener_;

  std::shared_ptr<http::CancelToken> stop_ = std::make_shared<http::CancelToken>();
  std::vector<std::thread> threads_;
  std::atomic<bool> spec_watch_ok_{false};
  std::atomic<bool> control_watch_ok_{false};

  struct ClusterWatch {
    std::shared_ptr<http::CancelToken> cancel;
    std::vector<std::thread> threads;
    std::string job;
    std::string service;
  };
  std::mutex mu_;
  std::set<std::string> known_;        // every Rollout name seen in spec/
  std::set<std::string> in_progress_;  // names whose last reconcile left a rollout running
  std::map<std::string, std::unique_ptr<ClusterWatch>> cluster_watches_;
};

}  // namespace rollouts::controller
