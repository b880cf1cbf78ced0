// The Nomad HTTP API as the controller needs it: jobs (read, register with EnforceIndex,
// plan, versions, deregister), allocations (blocking), deployments, evaluations.
//
// Every method returns ApiResult: a value, or an ApiError classified from the endpoint,
// the status code and the agent's plain-text body (Nomad's codes are irregular: 500 for
// validation failures and for an EnforceIndex conflict, 400 for a scale during a
// deployment). The agent's text is kept in ApiError::message; the token never is.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "clients/common/agent_config.h"
#include "clients/common/api_error.h"
#include "clients/http/cancel.h"
#include "clients/http/http.h"
#include "clients/http/retry.h"

namespace rollouts::nomad {

using clients::ApiError;
using clients::ApiErrorKind;
using clients::ApiResult;
using clients::Unit;

// ---------------------------------------------------------------------------------------
// Job documents.
//
// A job is kept as the JSON the agent returned, so fields this code does not know (and
// future Nomad versions add) survive a read-modify-write unchanged. The views below are
// typed windows onto the fields the controller touches; they point into the Job's JSON
// and are invalidated when the Job is destroyed or its TaskGroups/Services/Tasks arrays
// are resized. A view over `const nlohmann::json` has no setters.

template <typename JsonT>
class BasicService {
 public:
  explicit BasicService(JsonT* j) : j_(j) {}
  std::string Name() const;
  std::string PortLabel() const;
  std::vector<std::string> Tags() const;
  bool HasTag(const std::string& tag) const;
  // Service Meta as strings (Nomad only allows string values there); missing = empty.
  std::map<std::string, std::string> Meta() const;
  void SetTags(const std::vector<std::string>& tags) requires(!std::is_const_v<JsonT>);
  void SetMeta(const std::string& key, const std::string& value) requires(!std::is_const_v<JsonT>);
  JsonT& json() const { return *j_; }

 private:
  JsonT* j_;
};

template <typename JsonT>
class BasicTask {
 public:
  explicit BasicTask(JsonT* j) : j_(j) {}
  std::string Name() const;
  std::string Driver() const;
  // Driver config, e.g. {"command": "...", "args": [...]} or {"image": "..."}. A mutable
  // view creates an empty object when it is absent (to edit in place); a const view
  // returns null then.
  JsonT& Config() const;
  std::map<std::string, std::string> Env() const;
  void SetEnv(const std::string& key, const std::string& value) requires(!std::is_const_v<JsonT>);
  JsonT& json() const { return *j_; }

 private:
  JsonT* j_;
};

template <typename JsonT>
class BasicTaskGroup {
 public:
  explicit BasicTaskGroup(JsonT* j) : j_(j) {}
  std::string Name() const;
  int Count() const;
  void SetCount(int count) requires(!std::is_const_v<JsonT>);
  std::map<std::string, std::string> Meta() const;
  void SetMeta(const std::string& key, const std::string& value) requires(!std::is_const_v<JsonT>);
  std::vector<BasicService<JsonT>> Services() const;
  std::vector<BasicTask<JsonT>> Tasks() const;
  std::optional<BasicTask<JsonT>> Task(const std::string& name) const;
  // The group's update stanza (durations in nanoseconds); null when absent.
  const nlohmann::json& Update() const;
  JsonT& json() const { return *j_; }

 private:
  JsonT* j_;
};

using Service = BasicService<nlohmann::json>;
using ConstService = BasicService<const nlohmann::json>;
using Task = BasicTask<nlohmann::json>;
using ConstTask = BasicTask<const nlohmann::json>;
using TaskGroup = BasicTaskGroup<nlohmann::json>;
using ConstTaskGroup = BasicTaskGroup<const nlohmann::json>;

class Job {
 public:
  Job() : doc_(nlohmann::json::object()) {}
  // Takes the job object as Nomad serializes it (GET /v1/job/<id>, Versions[i], or a
  // jobspec in API JSON form). Throws std::invalid_argument if doc is not an object.
  explicit Job(nlohmann::json doc);

  std::string ID() const;
  std::string Name() const;
  std::string Namespace() const;
  std::string Type() const;
  std::string Status() const;
  uint64_t Version() const;
  uint64_t CreateIndex() const;
  uint64_t ModifyIndex() const;
  // The index EnforceIndex compares against (changes on every register, not on status
  // updates as ModifyIndex does).
  uint64_t JobModifyIndex() const;
  bool Stop() const;
  bool Stable() const;
  // The job-level update stanza; null when absent.
  const nlohmann::json& Update() const;

  std::vector<std::string> TaskGroupNames() const;
  std::optional<TaskGroup> FindTaskGroup(const std::string& name);
  std::optional<ConstTaskGroup> FindTaskGroup(const std::string& name) const;

  const nlohmann::json& json() const { return doc_; }
  nlohmann::json& mutable_json() { return doc_; }

 private:
  nlohmann::json doc_;
};

// ---------------------------------------------------------------------------------------
// Results.

// What a register / scale / deregister write returns.
struct WriteResponse {
  std::string eval_id;  // empty when no evaluation was created
  uint64_t eval_create_index = 0;
  uint64_t job_modify_index = 0;
  uint64_t index = 0;    // raft index of the write (X-Nomad-Index / body Index)
  std::string warnings;  // Nomad's warning text, usually empty
};

// Per-group scheduler decision from a plan (Annotations.DesiredTGUpdates).
struct GroupUpdatePlan {
  uint64_t ignore = 0;
  uint64_t place = 0;
  uint64_t migrate = 0;
  uint64_t stop = 0;
  uint64_t in_place_update = 0;
  uint64_t destructive_update = 0;
  uint64_t canary = 0;
  uint64_t preemptions = 0;
};

struct PlanResult {
  std::map<std::string, GroupUpdatePlan> groups;  // by task group name
  nlohmann::json diff;                            // Nomad's JobDiff (Type None/Added/Edited/...)
  nlohmann::json failed_tg_allocs;                // null when every placement fits
  uint64_t job_modify_index = 0;                  // the job's current one: use as EnforceIndex
  std::string warnings;

  // True when the plan restarts nothing: no destructive updates, stops or placements.
  bool InPlaceOnly() const;
};

struct JobVersions {
  std::vector<Job> versions;          // newest first, as Nomad returns them
  std::vector<nlohmann::json> diffs;  // diffs[i]: versions[i+1] -> versions[i]; empty if
                                      // not requested
  uint64_t index = 0;
};

// Allocation health as the deployment watcher sees it. Null (std::nullopt in
// AllocationStub::deployment_status) on new allocations AND for ~10 s after an in-place
// update (a flip): absence is "not judged yet", never "unhealthy".
struct DeploymentStatus {
  std::optional<bool> healthy;  // null until judged
  std::string timestamp;        // RFC 3339 of the verdict
  bool canary = false;
  uint64_t modify_index = 0;
};

struct TaskStateSummary {
  std::string state;  // pending / running / dead
  bool failed = false;
  uint64_t restarts = 0;
  std::string started_at;   // RFC 3339, empty if never started
  std::string finished_at;  // empty while running
  std::string last_event_type;
  std::string last_event_message;  // DisplayMessage of the newest event
};

struct AllocationStub {
  std::string id;
  std::string eval_id;
  std::string name;  // "hello.hello-blue[0]"
  std::string node_id;
  std::string node_name;
  std::string job_id;
  std::string task_group;
  uint64_t job_version = 0;
  std::string client_status;   // pending / running / complete / failed / lost
  std::string desired_status;  // run / stop / evict
  std::string client_description;
  std::string desired_description;
  std::optional<DeploymentStatus> deployment_status;
  std::map<std::string, TaskStateSummary> task_states;  // by task name
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  int64_t create_time = 0;  // unix ns
  int64_t modify_time = 0;
};

// The full allocation: the stub fields (job_version taken from Job.Version, since the
// full object has no top-level JobVersion) plus what only it carries.
struct Allocation : AllocationStub {
  std::string deployment_id;
  std::optional<Job> job;
  nlohmann::json raw;  // the whole document (AllocatedResources, ports, ...)
};

struct DeploymentGroupState {
  bool auto_revert = false;
  bool auto_promote = false;
  bool promoted = false;
  int64_t progress_deadline_ns = 0;
  std::string require_progress_by;
  uint64_t desired_canaries = 0;
  uint64_t desired_total = 0;
  uint64_t placed_allocs = 0;
  uint64_t healthy_allocs = 0;
  uint64_t unhealthy_allocs = 0;
};

struct Deployment {
  std::string id;
  std::string job_id;
  uint64_t job_version = 0;
  uint64_t job_modify_index = 0;
  uint64_t job_spec_modify_index = 0;
  uint64_t job_create_index = 0;
  std::string status;  // running / successful / failed / cancelled / paused
  std::string status_description;
  std::map<std::string, DeploymentGroupState> task_groups;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;

  bool Active() const { return status == "running" || status == "paused"; }
};

struct Evaluation {
  std::string id;
  std::string type;
  std::string triggered_by;
  std::string job_id;
  uint64_t job_modify_index = 0;
  std::string deployment_id;
  std::string status;  // pending / complete / failed / blocked / canceled
  std::string status_description;
  std::string blocked_eval;
  // Per group: why placements failed (NodesEvaluated, ConstraintFiltered {"missing
  // drivers": 1}, ...). Empty when everything was placed.
  std::map<std::string, nlohmann::json> failed_tg_allocs;
  std::map<std::string, uint64_t> queued_allocations;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
};

struct GroupSummary {
  uint64_t queued = 0;
  uint64_t complete = 0;
  uint64_t failed = 0;
  uint64_t running = 0;
  uint64_t starting = 0;
  uint64_t lost = 0;
};

struct JobSummary {
  std::string job_id;
  std::map<std::string, GroupSummary> groups;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
};

struct JobListStub {
  std::string id;
  std::string name;
  std::string type;
  std::string status;
  bool stop = false;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  uint64_t job_modify_index = 0;
};

struct GroupScaleStatus {
  uint64_t desired = 0;
  uint64_t placed = 0;
  uint64_t running = 0;
  uint64_t healthy = 0;
  uint64_t unhealthy = 0;
  nlohmann::json events;  // scaling events, newest first; null when none
};

struct JobScaleStatus {
  std::string job_id;
  uint64_t job_create_index = 0;
  uint64_t job_modify_index = 0;
  bool job_stopped = false;
  std::map<std::string, GroupScaleStatus> task_groups;
};

// A list plus the X-Nomad-Index it was read at (feed it back as BlockingQuery::index).
template <typename T>
struct Indexed {
  T value;
  uint64_t index = 0;
};

// Blocking query parameters: return once the index moves past `index` or after `wait`
// (Nomad adds up to wait/16 of jitter). index 0 = return at once.
struct BlockingQuery {
  uint64_t index = 0;
  std::chrono::milliseconds wait{std::chrono::minutes(5)};
  std::shared_ptr<http::CancelToken> cancel{};  // optional
};

// For an ApiError of kind kConflict from RegisterJob: the job's current JobModifyIndex M
// from "Enforcing job modify index N: job exists with conflicting job modify index: M".
std::optional<uint64_t> ConflictingJobModifyIndex(const ApiError& error);

// ---------------------------------------------------------------------------------------
// The client.

class NomadClient {
 public:
  virtual ~NomadClient() = default;

  // RPC address of the leader ("127.0.0.1:4647").
  virtual ApiResult<std::string> Leader() = 0;

  // Jobs whose ID starts with prefix (all when empty).
  virtual ApiResult<std::vector<JobListStub>> ListJobs(const std::string& prefix) = 0;

  // nullopt when the job does not exist (404 "job not found"), including after a purge.
  virtual ApiResult<std::optional<Job>> GetJob(const std::string& job_id) = 0;

  // Registers job. With enforce_index set, the write only applies if the job's current
  // JobModifyIndex equals it (0 = the job must not exist yet); otherwise the agent
  // refuses and this returns kConflict (see ConflictingJobModifyIndex). Every controller
  // write must pass enforce_index (docs/design.md invariants); it is also what makes the write
  // safe to retry. Errors: kValidation (500 multi-error text), kBadRequest (400: bad JSON,
  // ID not matching the URL).
  // Goes to POST /v1/job/<job.ID()>, or to POST /v1/jobs (what `nomad job run` uses)
  // when via_jobs_endpoint; both behave the same.
  virtual ApiResult<WriteResponse> RegisterJob(const Job& job,
                                               std::optional<uint64_t> enforce_index,
                                               bool via_jobs_endpoint = false) = 0;

  // Dry run of a register: what the scheduler would do per group (in-place vs
  // destructive), with the diff against the current version. Changes nothing.
  virtual ApiResult<PlanResult> PlanJob(const Job& job) = 0;

  virtual ApiResult<JobVersions> GetJobVersions(const std::string& job_id, bool diffs) = 0;

  // !!! THE CONTROLLER MUST NEVER CALL THIS. !!!
  // docs/design.md: "Never use /v1/job/<id>/scale". On Nomad 1.0 the scale endpoint mutates
  // the stored job before it validates: a scale REJECTED with 400 ("job scaling blocked
  // due to active deployment") still changes the group Count, without a new version, and
  // leaves the running deployment stuck until its progress deadline. So an error from
  // this call does NOT mean nothing happened. It cannot be guarded by EnforceIndex either.
  // Counts are changed with RegisterJob + enforce_index. Kept only because the API has
  // it (tooling, tests reproducing the bug). Never retried.
  virtual ApiResult<WriteResponse> ScaleJob(const std::string& job_id, const std::string& group,
                                            std::optional<int> count, const std::string& message,
                                            const nlohmann::json& meta) = 0;
  virtual ApiResult<JobScaleStatus> GetJobScaleStatus(const std::string& job_id) = 0;

  // Stops the job (new Version with Stop=true); purge also removes it (GET then 404s,
  // but its allocations stay listed until GC).
  virtual ApiResult<WriteResponse> DeregisterJob(const std::string& job_id, bool purge) = 0;

  // Allocation stubs of the job; blocks when query.index > 0. The index is that of the
  // whole allocations table, so it may move without this job's allocations changing.
  virtual ApiResult<Indexed<std::vector<AllocationStub>>> JobAllocations(
      const std::string& job_id, const BlockingQuery& query) = 0;
  virtual ApiResult<std::optional<Allocation>> GetAllocation(const std::string& alloc_id) = 0;

  // Every deployment of the job sorted by JobVersion ascending (the agent answers in
  // deployment-ID order, which is random).
  virtual ApiResult<std::vector<Deployment>> JobDeployments(const std::string& job_id) = 0;
  // The job's latest deployment; nullopt when it never had one.
  virtual ApiResult<std::optional<Deployment>> LatestDeployment(const std::string& job_id) = 0;
  virtual ApiResult<std::optional<Deployment>> GetDeployment(const std::string& deployment_id) = 0;

  // nullopt for 404 "eval not found".
  virtual ApiResult<std::optional<Evaluation>> GetEvaluation(const std::string& eval_id) = 0;
  virtual ApiResult<std::vector<Evaluation>> JobEvaluations(const std::string& job_id) = 0;

  virtual ApiResult<JobSummary> GetJobSummary(const std::string& job_id) = 0;
};

struct NomadClientOptions {
  clients::AgentConfig agent;  // from NomadConfigFromEnv(...) plus flags
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  // Retry budget for reads and guarded writes (safety is set per call).
  http::RetryOptions retry;
};

// The implementation over the project's HTTP layer. Reads are retried (Safety::kRead),
// registers with enforce_index and deregisters as kGuardedWrite, other writes never.
// Sends the token as X-Nomad-Token, NOMAD_NAMESPACE as ?namespace=, NOMAD_REGION as
// ?region=. Thread-safe.
class HttpNomadClient : public NomadClient {
 public:
  // http_client defaults to http::MakeClient for options.agent (base URL + TLS).
  explicit HttpNomadClient(NomadClientOptions options,
                           std::shared_ptr<http::Client> http_client = nullptr);

  ApiResult<std::string> Leader() override;
  ApiResult<std::vector<JobListStub>> ListJobs(const std::string& prefix) override;
  ApiResult<std::optional<Job>> GetJob(const std::string& job_id) override;
  ApiResult<WriteResponse> RegisterJob(const Job& job, std::optional<uint64_t> enforce_index,
                                       bool via_jobs_endpoint = false) override;
  ApiResult<PlanResult> PlanJob(const Job& job) override;
  ApiResult<JobVersions> GetJobVersions(const std::string& job_id, bool diffs) override;
  ApiResult<WriteResponse> ScaleJob(const std::string& job_id, const std::string& group,
                                    std::optional<int> count, const std::string& message,
                                    const nlohmann::json& meta) override;
  ApiResult<JobScaleStatus> GetJobScaleStatus(const std::string& job_id) override;
  ApiResult<WriteResponse> DeregisterJob(const std::string& job_id, bool purge) override;
  ApiResult<Indexed<std::vector<AllocationStub>>> JobAllocations(
      const std::string& job_id, const BlockingQuery& query) override;
  ApiResult<std::optional<Allocation>> GetAllocation(const std::string& alloc_id) override;
  ApiResult<std::vector<Deployment>> JobDeployments(const std::string& job_id) override;
  ApiResult<std::optional<Deployment>> LatestDeployment(const std::string& job_id) override;
  ApiResult<std::optional<Deployment>> GetDeployment(const std::string& deployment_id) override;
  ApiResult<std::optional<Evaluation>> GetEvaluation(const std::string& eval_id) override;
  ApiResult<std::vector<Evaluation>> JobEvaluations(const std::string& job_id) override;
  ApiResult<JobSummary> GetJobSummary(const std::string& job_id) override;

 private:
  struct Call;
  // Sends one call with retries; returns the response (any status) or a transport error
  // already turned into an ApiError.
  ApiResult<http::Response> Send(const Call& call);
  // GET of one object that Nomad answers 404 "... not found" for when it does not exist
  // (nullopt then). decode maps the JSON body to std::optional<T>.
  template <typename T, typename Decode>
  ApiResult<std::optional<T>> GetOptional(const std::string& path, Decode decode);

  NomadClientOptions options_;
  std::shared_ptr<http::Client> http_;
};

}  // namespace rollouts::nomad
