// The sandbox's Nomad "server + client" in one object: the state store (jobs, versions,
// evaluations, allocations, deployments, each table with its raft-like index), the
// scheduler (placement, in-place and destructive updates, deployments and health) and the
// client (raw_exec processes, Consul registrations). One mutex guards all of it; one
// supervisor thread drives time (health, rollouts, restarts, kills, blocking-query
// timeouts) and is the only thread that forks tasks (PR_SET_PDEATHSIG is per thread).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "clients/http/server.h"
#include "sandbox/nomad/job_diff.h"
#include "sandbox/nomad/nomad_agent.h"
#include "sandbox/nomad/nomad_model.h"

namespace rollouts::sandbox {

enum class Table { kJobs, kEvals, kAllocs, kDeployments };

// A rendered answer of a read endpoint, before headers are added.
struct ReadReply {
  int status = 200;
  nlohmann::json body;  // used when text is empty
  std::string text;     // plain-text error body
  uint64_t index = 0;
};

class NomadState {
 public:
  NomadState(Catalog& catalog, NomadAgentOptions options);
  ~NomadState();

  void Handle(http::ServerRequest request, http::Responder respond);
  void Shutdown();

 private:
  struct Waiter {
    Table table;
    // Set for /v1/job/<id>/allocations: like the real agent (a memdb watch on that job's
    // allocations), the query wakes only when one of the job's allocations changes, not
    // on any change to the table; it still answers with the table's index.
    std::string alloc_job;
    uint64_t min_index;
    SteadyClock::time_point deadline;
    std::function<ReadReply()> render;
    http::Responder respond;
  };
  using Replies = std::vector<std::pair<http::Responder, http::Response>>;

  // --- HTTP (nomad_api.cpp) ---
  void Route(const http::ServerRequest& request, http::Responder& respond, Replies& replies);
  void Read(const http::ServerRequest& request, Table table, std::function<ReadReply()> render,
            http::Responder& respond, Replies& replies, std::string alloc_job = {});
  http::Response RegisterJob(const http::ServerRequest& request, const std::string& url_id);
  http::Response PlanJob(const http::ServerRequest& request, const std::string& id);
  http::Response ScaleJob(const http::ServerRequest& request, const std::string& id);
  http::Response DeregisterJob(const std::string& id, bool purge);
  ReadReply JobRead(const std::string& id);
  ReadReply JobList(const std::string& prefix);
  ReadReply JobVersions(const std::string& id, bool diffs);
  ReadReply JobSummary(const std::string& id);
  ReadReply JobScaleStatus(const std::string& id);
  ReadReply JobAllocations(const std::string& id);
  ReadReply JobEvaluations(const std::string& id);
  ReadReply JobDeployments(const std::string& id);
  ReadReply JobLatestDeployment(const std::string& id);
  nlohmann::json RenderJob(const nlohmann::json& job) const;
  nlohmann::json SummaryOf(const std::string& id) const;
  std::string JobStatus(const std::string& id) const;

  // --- scheduler and client (nomad_state.cpp) ---
  uint64_t NextIndex();
  void Bump(Table table, uint64_t index);
  void TouchAlloc(Allocation& alloc, uint64_t index);
  std::string CreateEvaluation(const std::string& job_id, const std::string& triggered_by,
                               uint64_t index, uint64_t job_modify_index);
  // Stores `job` as the next version (or replaces the current one, keep_version) and
  // starts its deployment; returns the job modify index.
  uint64_t StoreJobVersion(nlohmann::json job, uint64_t index);
  // Nomad's JobTrackedVersions: how many versions of a job /versions keeps.
  static constexpr size_t kJobTrackedVersions = 6;
  static void TrimJobVersions(std::vector<nlohmann::json>& versions);
  void StartDeployment(const std::string& job_id, uint64_t index);
  Deployment* LatestDeployment(const std::string& job_id);
  // The job's allocations / deployments in ID order (the order of allocs_ / deployments_),
  // through the per-job indexes instead of a scan of the whole table.
  std::vector<Allocation*> AllocsOf(const std::string& job_id);
  std::vector<const Allocation*> AllocsOf(const std::string& job_id) const;
  std::vector<Deployment*> DeploymentsOf(const std::string& job_id);
  // The job needs a reconcile pass at the next tick (its record, one of its allocations or
  // one of its deployments changed).
  void MarkDirty(const std::string& job_id);
  void CancelActiveDeployments(const std::string& job_id, const std::string& description,
                               uint64_t index);
  void Reconcile(const std::string& job_id, const std::string& eval_id);
  Allocation& PlaceAllocation(const nlohmann::json& job, const std::string& group, int index,
                              const std::string& eval_id, const std::string& deployment_id,
                              uint64_t raft_index);
  void UpdateInPlace(Allocation& alloc, std::shared_ptr<const nlohmann::json> job,
                     const std::string& deployment_id, bool services_changed, uint64_t raft_index,
                     std::vector<std::string>& consul_updates);
  void StopAllocation(Allocation& alloc, const std::string& description, uint64_t index);
  std::vector<ServiceRegistration> BuildRegistrations(const Allocation& alloc) const;
  void SyncRegistrations(Allocation& alloc);
  void DeregisterAll(Allocation& alloc);
  int PickPort();
  std::vector<std::string> TaskEnvironment(const Allocation& alloc, const TaskRun& task) const;

  void SupervisorLoop();
  void Tick(Replies& replies);
  void LaunchDueTasks(SteadyClock::time_point now);
  void ReapTasks(SteadyClock::time_point now);
  void HandleTaskExit(Allocation& alloc, TaskRun& task, int exit_code, int signal);
  void RefreshClientStatus(Allocation& alloc);
  void UpdateHealth(SteadyClock::time_point now);
  void UpdateDeployments(SteadyClock::time_point now);
  void RunDueActions(SteadyClock::time_point now);
  void AnswerWaiters(Replies& replies, bool timeouts_only_if_due);
  static void Send(Replies& replies);

  Catalog& catalog_;
  NomadAgentOptions options_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool draining_ = false;  // shutting down: stop tasks, schedule nothing new
  bool stopping_ = false;
  bool shut_down_ = false;
  std::thread supervisor_;

  uint64_t index_ = 1;
  std::map<Table, uint64_t> table_index_;
  std::map<std::string, uint64_t> job_allocs_index_;  // by job: its allocations' last change
  std::map<std::string, JobRecord> jobs_;
  std::map<std::string, nlohmann::json> evals_;  // by ID, rendered
  std::map<std::string, Allocation> allocs_;     // by ID (Nomad lists in ID order)
  std::map<std::string, Deployment> deployments_;
  // Per-job indexes of allocs_ and deployments_ (the sandbox has one namespace, so the job
  // ID is the key). Neither table ever erases a record (no GC; a purge keeps the job's
  // allocations and deployments, as Nomad does until GC), so the pointers stay valid; an
  // erase must remove the entry here too.
  std::map<std::string, std::map<std::string, Allocation*>> allocs_by_job_;
  std::map<std::string, std::map<std::string, Deployment*>> deployments_by_job_;
  // Jobs that need a reconcile pass at the next tick. Reconcile reads only the job record,
  // the job's latest deployment and its allocations, and every change to those marks the
  // job (TouchAlloc, deployment and job writes), so a job that is not marked would be a
  // no-op pass: the tick skips it. A pass that throws (e.g. no free port) stays marked.
  std::set<std::string> dirty_jobs_;
  std::vector<std::pair<SteadyClock::time_point, std::function<void()>>> actions_;
  std::vector<Waiter> waiters_;
  std::set<int> used_ports_;
  std::string last_scheduler_error_;
  std::mt19937 rng_{std::random_device{}()};
};

}  // namespace rollouts::sandbox
