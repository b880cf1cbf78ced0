// HTTP side of NomadState: routing, request decoding and the agent's response formats
// (index headers, plain-text errors, register/deregister/scale bodies).
#include <algorithm>
#include <random>

#include "sandbox/nomad/go_compat.h"
#include "sandbox/nomad/job_spec.h"
#include "sandbox/nomad/nomad_state.h"

namespace rollouts::sandbox {

using nlohmann::json;

namespace {

constexpr auto kDefaultWait = std::chrono::minutes(5);
constexpr auto kMaxWait = std::chrono::minutes(10);

http::Response TextResponse(int status, const std::string& text) {
  http::Response r;
  r.status = status;
  r.headers["Content-Type"] = "text/plain; charset=utf-8";
  r.body = text;
  return r;
}

// Writes answer with the raft index of the write and no read-consistency headers.
http::Response WriteResponse(const json& body, uint64_t index) {
  http::Response r;
  r.status = 200;
  r.headers["Content-Type"] = "application/json";
  r.headers["X-Nomad-Index"] = std::to_string(index);
  r.body = body.dump();
  return r;
}

http::Response ReadResponse(const ReadReply& reply) {
  http::Response r;
  r.status = reply.status;
  r.headers["X-Nomad-Index"] = std::to_string(reply.index);
  r.headers["X-Nomad-Knownleader"] = "true";
  r.headers["X-Nomad-Lastcontact"] = "0";
  if (reply.text.empty()) {
    r.headers["Content-Type"] = "application/json";
    r.body = reply.body.dump();
  } else {
    r.headers["Content-Type"] = "text/plain; charset=utf-8";
    r.body = reply.text;
  }
  return r;
}

ReadReply NotFound(const std::string& text, uint64_t index) {
  ReadReply r;
  r.status = 404;
  r.text = text;
  r.index = index;
  return r;
}

// Go's encoding/json messages for bodies it cannot decode.
std::string GoJsonError(const std::string& body, const json::parse_error& e) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return "EOF";
  if (e.byte >= body.size()) return "unexpected EOF";
  const size_t at = e.byte > 0 ? e.byte - 1 : 0;
  return std::string("invalid character '") + body[at] + "' looking for beginning of value";
}

// Job fields that change without the spec changing.
json SpecOnly(json job) {
  for (const char* key : {"Status", "StatusDescription", "Stable", "Version", "SubmitTime",
                          "CreateIndex", "ModifyIndex", "JobModifyIndex"}) {
    job.erase(key);
  }
  return job;
}

struct DecodedJob {
  json body;
  json job;  // canonical
  std::optional<http::Response> error;
};

DecodedJob DecodeJobRequest(const std::string& raw, const std::string& url_id) {
  DecodedJob out;
  try {
    out.body = json::parse(raw);
  } catch (const json::parse_error& e) {
    out.error = TextResponse(400, GoJsonError(raw, e));
    return out;
  }
  if (!out.body.is_object()) {
    out.error = TextResponse(400, "json: cannot unmarshal " +
                                      std::string(out.body.is_array() ? "array" : "value") +
                                      " into Go value of type api.JobRegisterRequest");
    return out;
  }
  if (!out.body.contains("Job") || out.body["Job"].is_null()) {
    out.error = TextResponse(400, "Job must be specified");
    return out;
  }
  const json& job = out.body["Job"];
  if (!url_id.empty() && job.is_object()) {
    if (!job.contains("ID") || !job["ID"].is_string()) {
      out.error = TextResponse(400, "Job ID hasn't been provided");
      return out;
    }
    if (job["ID"].get<std::string>() != url_id) {
      out.error = TextResponse(400, "Job ID does not match name");
      return out;
    }
  }
  try {
    out.job = CanonicalizeJob(job);
  } catch (const JobDecodeError& e) {
    out.error = TextResponse(400, e.what());
    return out;
  }
  std::vector<std::string> errors = ValidateJob(out.job);
  if (!errors.empty()) out.error = TextResponse(500, go::MultiError(errors));
  return out;
}

std::optional<std::string> QueryValue(const std::vector<std::pair<std::string, std::string>>& q,
                                      const std::string& key) {
  for (const auto& [k, v] : q) {
    if (k == key) return v;
  }
  return std::nullopt;
}

}  // namespace

void NomadState::Handle(http::ServerRequest request, http::Responder respond) {
  Replies replies;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) {
      replies.emplace_back(std::move(respond), TextResponse(503, "agent is shutting down"));
    } else {
      try {
        Route(request, respond, replies);
      } catch (const std::exception& e) {
        // Never crash on a request: anything unexpected is the agent's 500.
        if (respond) replies.emplace_back(std::move(respond), TextResponse(500, e.what()));
      }
      AnswerWaiters(replies, true);
    }
  }
  wake_.notify_all();
  Send(replies);
}

void NomadState::Read(const http::ServerRequest& request, Table table,
                      std::function<ReadReply()> render, http::Responder& respond, Replies& replies,
                      std::string alloc_job) {
  const auto query = http::ParseQuery(request.query);
  uint64_t min_index = 0;
  if (auto index = QueryValue(query, "index")) {
    try {
      size_t used = 0;
      min_index = std::stoull(*index, &used);
      if (used != index->size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      replies.emplace_back(std::move(respond), TextResponse(400, "Invalid index"));
      return;
    }
  }
  std::chrono::nanoseconds wait = kDefaultWait;
  if (auto wait_text = QueryValue(query, "wait")) {
    std::optional<std::chrono::nanoseconds> parsed = go::ParseDuration(*wait_text);
    if (!parsed) {
      replies.emplace_back(std::move(respond), TextResponse(400, "Invalid wait time"));
      return;
    }
    wait = std::min<std::chrono::nanoseconds>(*parsed, kMaxWait);
  }
  if (min_index == 0 || table_index_[table] > min_index) {
    replies.emplace_back(std::move(respond), ReadResponse(render()));
    return;
  }
  // Like the real agent: the wait gets up to wait/16 of random jitter.
  std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(0, wait.count() / 16));
  const auto deadline = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                 wait + std::chrono::nanoseconds(jitter(rng_)));
  waiters_.push_back(Waiter{table, std::move(alloc_job), min_index, deadline, std::move(render),
                            std::move(respond)});
}

void NomadState::Route(const http::ServerRequest& request, http::Responder& respond,
                       Replies& replies) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  const auto query = http::ParseQuery(request.query);
  auto reply = [&](http::Response r) { replies.emplace_back(std::move(respond), std::move(r)); };
  auto read = [&](Table table, std::function<ReadReply()> render, std::string alloc_job = {}) {
    if (method != "GET") {
      reply(TextResponse(405, "Invalid method"));
      return;
    }
    Read(request, table, std::move(render), respond, replies, std::move(alloc_job));
  };
  const bool is_write = method == "PUT" || method == "POST";

  if (path == "/v1/status/leader" || path == "/v1/status/peers") {
    http::Response r;
    r.status = 200;
    r.headers["Content-Type"] = "application/json";
    r.body = path == "/v1/status/leader" ? json("127.0.0.1:4647").dump()
                                         : json::array({"127.0.0.1:4647"}).dump();
    reply(r);
    return;
  }
  if (path == "/v1/jobs") {
    if (is_write) {
      reply(RegisterJob(request, ""));
      return;
    }
    const std::string prefix = QueryValue(query, "prefix").value_or("");
    read(Table::kJobs, [this, prefix] { return JobList(prefix); });
    return;
  }
  auto list_of = [&](Table table, auto& map, auto render_item) {
    const std::string prefix = QueryValue(query, "prefix").value_or("");
    read(table, [this, table, &map, prefix, render_item] {
      ReadReply r;
      r.body = json::array();
      for (const auto& [id, item] : map) {
        if (id.rfind(prefix, 0) == 0) r.body.push_back(render_item(item));
      }
      r.index = table_index_[table];
      return r;
    });
  };
  if (path == "/v1/allocations") {
    list_of(Table::kAllocs, allocs_, [](const Allocation& a) { return RenderAllocationStub(a); });
    return;
  }
  if (path == "/v1/evaluations") {
    list_of(Table::kEvals, evals_, [](const json& e) { return e; });
    return;
  }
  if (path == "/v1/deployments") {
    list_of(Table::kDeployments, deployments_,
            [](const Deployment& d) { return RenderDeployment(d); });
    return;
  }
  auto by_id = [&](const std::string& prefix) -> std::optional<std::string> {
    if (path.rfind(prefix, 0) != 0 || path.size() == prefix.size()) return std::nullopt;
    return path.substr(prefix.size());
  };
  if (auto id = by_id("/v1/allocation/")) {
    read(Table::kAllocs, [this, id = *id] {
      auto it = allocs_.find(id);
      if (it == allocs_.end()) return NotFound("alloc not found", table_index_[Table::kAllocs]);
      ReadReply r;
      r.body = RenderAllocation(it->second);
      r.index = it->second.modify_index;
      return r;
    });
    return;
  }
  if (auto id = by_id("/v1/evaluation/")) {
    read(Table::kEvals, [this, id = *id] {
      auto it = evals_.find(id);
      if (it == evals_.end()) return NotFound("eval not found", table_index_[Table::kEvals]);
      ReadReply r;
      r.body = it->second;
      r.index = it->second["ModifyIndex"];
      return r;
    });
    return;
  }
  if (auto id = by_id("/v1/deployment/")) {
    read(Table::kDeployments, [this, id = *id] {
      auto it = deployments_.find(id);
      if (it == deployments_.end()) {
        return NotFound("deployment not found", table_index_[Table::kDeployments]);
      }
      ReadReply r;
      r.body = RenderDeployment(it->second);
      r.index = it->second.modify_index;
      return r;
    });
    return;
  }
  std::optional<std::string> rest = by_id("/v1/job/");
  if (!rest) {
    reply(TextResponse(404, "404 page not found\n"));
    return;
  }
  static const std::set<std::string> kSubResources = {"allocations", "evaluations", "deployments",
                                                      "deployment",  "versions",    "summary",
                                                      "scale",       "plan"};
  std::string id = *rest;
  std::string sub;
  const size_t slash = rest->rfind('/');
  if (slash != std::string::npos && kSubResources.count(rest->substr(slash + 1))) {
    id = rest->substr(0, slash);
    sub = rest->substr(slash + 1);
  }
  if (sub.empty()) {
    if (is_write) {
      reply(RegisterJob(request, id));
    } else if (method == "DELETE") {
      reply(DeregisterJob(id, QueryValue(query, "purge").value_or("") == "true"));
    } else {
      read(Table::kJobs, [this, id] { return JobRead(id); });
    }
  } else if (sub == "allocations") {
    read(
        Table::kAllocs, [this, id] { return JobAllocations(id); }, id);
  } else if (sub == "evaluations") {
    read(Table::kEvals, [this, id] { return JobEvaluations(id); });
  } else if (sub == "deployments") {
    read(Table::kDeployments, [this, id] { return JobDeployments(id); });
  } else if (sub == "deployment") {
    read(Table::kDeployments, [this, id] { return JobLatestDeployment(id); });
  } else if (sub == "versions") {
    const bool diffs = QueryValue(query, "diffs").value_or("") == "true";
    read(Table::kJobs, [this, id, diffs] { return JobVersions(id, diffs); });
  } else if (sub == "summary") {
    read(Table::kAllocs, [this, id] { return JobSummary(id); });
  } else if (sub == "scale") {
    if (is_write) {
      reply(ScaleJob(request, id));
    } else {
      read(Table::kJobs, [this, id] { return JobScaleStatus(id); });
    }
  } else if (sub == "plan") {
    reply(is_write ? PlanJob(request, id) : TextResponse(405, "Invalid method"));
  }
}

// --- writes ------------------------------------------------------------------------------

http::Response NomadState::RegisterJob(const http::ServerRequest& request,
                                       const std::string& url_id) {
  DecodedJob decoded = DecodeJobRequest(request.body, url_id);
  if (decoded.error) return *decoded.error;
  const json& body = decoded.body;
  const std::string id = decoded.job["ID"];
  bool enforce = false;
  uint64_t enforce_index = 0;
  if (body.contains("EnforceIndex") && !body["EnforceIndex"].is_null()) {
    if (!body["EnforceIndex"].is_boolean()) {
      return TextResponse(
          400, "json: cannot unmarshal " + std::string(body["EnforceIndex"].type_name()) +
                   " into Go struct field JobRegisterRequest.EnforceIndex of type bool");
    }
    enforce = body["EnforceIndex"];
  }
  if (body.contains("JobModifyIndex") && !body["JobModifyIndex"].is_null()) {
    if (!body["JobModifyIndex"].is_number_unsigned() &&
        !body["JobModifyIndex"].is_number_integer()) {
      return TextResponse(
          400, "json: cannot unmarshal " + std::string(body["JobModifyIndex"].type_name()) +
                   " into Go struct field JobRegisterRequest.JobModifyIndex of type uint64");
    }
    enforce_index = body["JobModifyIndex"].get<uint64_t>();
  }
  auto existing = jobs_.find(id);
  const bool exists = existing != jobs_.end();
  if (enforce) {
    const std::string prefix = "Enforcing job modify index " + std::to_string(enforce_index) + ": ";
    if (enforce_index == 0 && exists) return TextResponse(500, prefix + "job already exists");
    if (enforce_index != 0 && !exists) return TextResponse(500, prefix + "job does not exist");
    if (exists) {
      const uint64_t current = existing->second.current["JobModifyIndex"];
      if (current != enforce_index) {
        return TextResponse(500, prefix + "job exists with conflicting job modify index: " +
                                     std::to_string(current));
      }
    }
  }
  const uint64_t index = NextIndex();
  if (!exists || SpecOnly(existing->second.current) != SpecOnly(decoded.job)) {
    StoreJobVersion(decoded.job, index);
    StartDeployment(id, index);
  }
  const uint64_t job_modify_index = jobs_[id].current["JobModifyIndex"];
  const std::string eval = CreateEvaluation(id, "job-register", index, job_modify_index);
  Reconcile(id, eval);
  return WriteResponse({{"EvalID", eval},
                        {"EvalCreateIndex", index},
                        {"JobModifyIndex", job_modify_index},
                        {"Warnings", ""},
                        {"Index", index},
                        {"LastContact", 0},
                        {"KnownLeader", false}},
                       index);
}

http::Response NomadState::PlanJob(const http::ServerRequest& request, const std::string& id) {
  DecodedJob decoded = DecodeJobRequest(request.body, id);
  if (decoded.error) return *decoded.error;
  const bool want_diff = decoded.body.value("Diff", false) == true;
  auto existing = jobs_.find(id);
  const json old_job = existing != jobs_.end() ? existing->second.current : json(nullptr);
  const bool changed = old_job.is_null() || SpecOnly(old_job) != SpecOnly(decoded.job);
  json updates = json::object();
  std::map<std::string, bool> destructive_groups;
  for (const json& group : decoded.job["TaskGroups"]) {
    const std::string name = group["Name"];
    const int64_t count = decoded.job["Stop"].get<bool>() ? 0 : group["Count"].get<int64_t>();
    int64_t ignore = 0, place = 0, stop = 0, in_place = 0, destructive = 0;
    std::vector<const Allocation*> outdated;
    int64_t live = 0;
    for (const Allocation* alloc_ptr : AllocsOf(id)) {
      const Allocation& alloc = *alloc_ptr;
      if (alloc.group != name || !alloc.Live()) continue;
      live++;
      const json* old_group = nullptr;
      for (const json& g : (*alloc.job)["TaskGroups"]) {
        if (g["Name"] == name) old_group = &g;
      }
      const GroupChange change =
          old_group ? ClassifyGroupChange(*old_group, group) : GroupChange::kDestructive;
      if (change == GroupChange::kDestructive) {
        outdated.push_back(&alloc);
      } else if (!changed && alloc.job_version == old_job["Version"]) {
        ignore++;
      } else {
        in_place++;
      }
    }
    if (live > count) {
      int64_t excess = live - count;
      stop = excess;
      const int64_t from_outdated = std::min<int64_t>(excess, outdated.size());
      outdated.resize(outdated.size() - from_outdated);
      excess -= from_outdated;
      const int64_t from_in_place = std::min(excess, in_place);
      in_place -= from_in_place;
      excess -= from_in_place;
      ignore -= std::min(excess, ignore);
    } else {
      place = count - live;
    }
    int64_t max_parallel =
        group["Update"].is_object() ? group["Update"]["MaxParallel"].get<int64_t>() : 0;
    if (max_parallel <= 0) max_parallel = static_cast<int64_t>(outdated.size());
    destructive = std::min<int64_t>(max_parallel, outdated.size());
    ignore += static_cast<int64_t>(outdated.size()) - destructive;
    destructive_groups[name] = destructive > 0;
    updates[name] = {{"Ignore", ignore},
                     {"Place", place},
                     {"Migrate", 0},
                     {"Stop", stop},
                     {"InPlaceUpdate", in_place},
                     {"DestructiveUpdate", destructive},
                     {"Canary", 0},
                     {"Preemptions", 0}};
  }
  json diff = nullptr;
  if (want_diff) {
    diff = DiffJobs(old_job, decoded.job);
    if (diff["TaskGroups"].is_array()) {
      for (json& group : diff["TaskGroups"]) {
        const std::string name = group["Name"];
        if (!updates.contains(name)) continue;
        const json& u = updates[name];
        json labels = json::object();
        auto add = [&](const char* label, const char* key) {
          if (u[key].get<int64_t>() > 0) labels[label] = u[key];
        };
        add("ignore", "Ignore");
        add("create", "Place");
        add("destroy", "Stop");
        add("in-place update", "InPlaceUpdate");
        add("create/destroy update", "DestructiveUpdate");
        group["Updates"] = labels.empty() ? json(nullptr) : labels;
        if (destructive_groups[name] && group["Tasks"].is_array()) {
          for (json& task : group["Tasks"]) {
            if (task["Type"] == "Edited") task["Annotations"] = {"forces create/destroy update"};
          }
        }
      }
    }
  }
  const uint64_t job_modify_index =
      old_job.is_null() ? 0 : old_job["JobModifyIndex"].get<uint64_t>();
  return WriteResponse(
      {{"Annotations", {{"DesiredTGUpdates", updates}, {"PreemptedAllocs", nullptr}}},
       {"FailedTGAllocs", nullptr},
       {"JobModifyIndex", job_modify_index},
       {"CreatedEvals", nullptr},
       {"Diff", diff},
       {"NextPeriodicLaunch", nullptr},
       {"Warnings", ""},
       {"Index", job_modify_index}},
      job_modify_index);
}

http::Response NomadState::ScaleJob(const http::ServerRequest& request, const std::string& id) {
  json body;
  try {
    body = json::parse(request.body);
  } catch (const json::parse_error& e) {
    return TextResponse(400, GoJsonError(request.body, e));
  }
  if (!body.is_object()) return TextResponse(400, "json: cannot unmarshal into api.ScalingRequest");
  auto job_it = jobs_.find(id);
  if (job_it == jobs_.end()) return TextResponse(404, "job not found");
  std::string group_name;
  if (body.contains("Target") && body["Target"].is_object() && body["Target"].contains("Group") &&
      body["Target"]["Group"].is_string()) {
    group_name = body["Target"]["Group"];
  }
  if (group_name.empty()) return TextResponse(400, "missing task group name for scaling action");
  json* group = nullptr;
  for (json& g : job_it->second.current["TaskGroups"]) {
    if (g["Name"] == group_name) group = &g;
  }
  if (!group) {
    return TextResponse(400,
                        "task group \"" + group_name + "\" specified for scaling does not exist");
  }
  std::optional<int64_t> count;
  if (body.contains("Count") && !body["Count"].is_null()) {
    if (!body["Count"].is_number_integer()) {
      return TextResponse(400, "json: cannot unmarshal " + std::string(body["Count"].type_name()) +
                                   " into Go struct field ScalingRequest.Count of type int64");
    }
    count = body["Count"].get<int64_t>();
    if (*count < 0) return TextResponse(400, "scaling action count can't be negative");
  }
  const std::string message =
      body.value("Message", json("")).is_string() ? body.value("Message", "") : "";
  const json meta = body.contains("Meta") ? body["Meta"] : json(nullptr);
  const int64_t previous = (*group)["Count"];
  Deployment* deployment = LatestDeployment(id);
  if (count && deployment && deployment->Active()) {
    ScalingEvent event;
    event.time = SystemClock::now();
    event.previous_count = previous;
    event.message = "job scaling blocked due to active deployment";
    event.error = true;
    event.meta = {{"OriginalMessage", message}, {"OriginalCount", *count}, {"OriginalMeta", meta}};
    event.create_index = NextIndex();
    auto& events = job_it->second.scaling_events[group_name];
    events.insert(events.begin(), event);
    Bump(Table::kJobs, event.create_index);
    if (options_.apply_rejected_scale) {
      // Nomad 1.0's bug, on request: the rejected count lands in the stored job anyway.
      (*group)["Count"] = *count;
      for (json& g : job_it->second.versions.back()["TaskGroups"]) {
        if (g["Name"] == group_name) g["Count"] = *count;
      }
      job_it->second.current_ptr = std::make_shared<const json>(job_it->second.current);
      MarkDirty(id);
      Reconcile(id, "");
    }
    return TextResponse(400, "job scaling blocked due to active deployment");
  }
  std::string eval_id;
  uint64_t eval_index = 0;
  uint64_t job_modify_index = job_it->second.current["JobModifyIndex"];
  if (count) {
    json job = job_it->second.current;
    for (json& g : job["TaskGroups"]) {
      if (g["Name"] == group_name) g["Count"] = *count;
    }
    job_modify_index = NextIndex();
    StoreJobVersion(job, job_modify_index);
    StartDeployment(id, job_modify_index);
    eval_index = NextIndex();
    eval_id = CreateEvaluation(id, "job-scaling", eval_index, job_modify_index);
    Reconcile(id, eval_id);
  }
  ScalingEvent event;
  event.time = SystemClock::now();
  event.count = count;
  event.previous_count = previous;
  event.message = message;
  event.error = body.value("Error", json(false)) == true;
  event.meta = meta;
  event.eval_id = eval_id;
  event.create_index = NextIndex();
  auto& events = jobs_[id].scaling_events[group_name];
  events.insert(events.begin(), event);
  Bump(Table::kJobs, event.create_index);
  return WriteResponse({{"EvalID", eval_id},
                        {"EvalCreateIndex", eval_index},
                        {"JobModifyIndex", job_modify_index},
                        {"Warnings", ""},
                        {"Index", event.create_index},
                        {"LastContact", 0},
                        {"KnownLeader", true}},
                       event.create_index);
}

http::Response NomadState::DeregisterJob(const std::string& id, bool purge) {
  auto job_it = jobs_.find(id);
  if (job_it == jobs_.end()) return TextResponse(404, "job not found");
  const uint64_t index = NextIndex();
  if (!job_it->second.current["Stop"].get<bool>()) {
    json job = job_it->second.current;
    job["Stop"] = true;
    StoreJobVersion(job, index);
    CancelActiveDeployments(id, "Cancelled because job is stopped", index);
  }
  const std::string eval = CreateEvaluation(id, "job-deregister", index, index);
  if (purge) {
    jobs_.erase(id);
    Bump(Table::kJobs, index);
    MarkDirty(id);
  }
  Reconcile(id, eval);
  return WriteResponse({{"EvalID", eval},
                        {"EvalCreateIndex", index},
                        {"JobModifyIndex", index},
                        {"VolumeEvalID", ""},
                        {"VolumeEvalIndex", 0},
                        {"Index", index},
                        {"LastContact", 0},
                        {"KnownLeader", false}},
                       index);
}

// --- reads -------------------------------------------------------------------------------

std::string NomadState::JobStatus(const std::string& id) const {
  bool any = false;
  for (const Allocation* alloc : AllocsOf(id)) {
    any = true;
    if (!alloc->Terminal()) return "running";
  }
  auto it = jobs_.find(id);
  if (it != jobs_.end() && it->second.current["Stop"].get<bool>()) return "dead";
  return any ? "dead" : "pending";
}

json NomadState::RenderJob(const json& job) const {
  json out = job;
  out["Status"] = JobStatus(job["ID"]);
  return out;
}

ReadReply NomadState::JobRead(const std::string& id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return NotFound("job not found", table_index_[Table::kJobs]);
  ReadReply r;
  r.body = RenderJob(it->second.current);
  r.index = it->second.current["ModifyIndex"];
  return r;
}

json NomadState::SummaryOf(const std::string& id) const {
  const json& job = jobs_.at(id).current;
  json summary = json::object();
  uint64_t modify_index = job["CreateIndex"];
  auto zero = [] {
    return json{{"Queued", 0},  {"Complete", 0}, {"Failed", 0},
                {"Running", 0}, {"Starting", 0}, {"Lost", 0}};
  };
  for (const json& group : job["TaskGroups"]) {
    json counts = zero();
    bool driver_ok = true;
    for (const json& task : group["Tasks"])
      driver_ok = driver_ok && IsSupportedDriver(task["Driver"]);
    if (!driver_ok && !job["Stop"].get<bool>()) counts["Queued"] = group["Count"];
    summary[group["Name"].get<std::string>()] = counts;
  }
  for (const Allocation* alloc_ptr : AllocsOf(id)) {
    const Allocation& alloc = *alloc_ptr;
    if (alloc.create_index < job["CreateIndex"].get<uint64_t>()) continue;
    if (!summary.contains(alloc.group)) summary[alloc.group] = zero();
    json& counts = summary[alloc.group];
    if (alloc.client_status == "running") counts["Running"] = counts["Running"].get<int>() + 1;
    if (alloc.client_status == "pending") counts["Starting"] = counts["Starting"].get<int>() + 1;
    if (alloc.client_status == "complete") counts["Complete"] = counts["Complete"].get<int>() + 1;
    if (alloc.client_status == "failed") counts["Failed"] = counts["Failed"].get<int>() + 1;
    modify_index = std::max(modify_index, alloc.modify_index);
  }
  return json{{"JobID", id},
              {"Namespace", "default"},
              {"Summary", summary},
              {"Children", {{"Pending", 0}, {"Running", 0}, {"Dead", 0}}},
              {"CreateIndex", job["CreateIndex"]},
              {"ModifyIndex", modify_index}};
}

ReadReply NomadState::JobSummary(const std::string& id) {
  if (!jobs_.count(id)) return NotFound("job not found", table_index_[Table::kJobs]);
  ReadReply r;
  r.body = SummaryOf(id);
  r.index = r.body["ModifyIndex"];
  return r;
}

ReadReply NomadState::JobList(const std::string& prefix) {
  ReadReply r;
  r.body = json::array();
  for (const auto& [id, record] : jobs_) {
    if (id.rfind(prefix, 0) != 0) continue;
    const json& job = record.current;
    r.body.push_back({{"ID", id},
                      {"ParentID", job["ParentID"]},
                      {"Name", job["Name"]},
                      {"Namespace", ""},
                      {"Datacenters", job["Datacenters"]},
                      {"Multiregion", job["Multiregion"]},
                      {"Type", job["Type"]},
                      {"Priority", job["Priority"]},
                      {"Periodic", !job["Periodic"].is_null()},
                      {"ParameterizedJob", !job["ParameterizedJob"].is_null()},
                      {"Stop", job["Stop"]},
                      {"Status", JobStatus(id)},
                      {"StatusDescription", job["StatusDescription"]},
                      {"JobSummary", SummaryOf(id)},
                      {"CreateIndex", job["CreateIndex"]},
                      {"ModifyIndex", job["ModifyIndex"]},
                      {"JobModifyIndex", job["JobModifyIndex"]},
                      {"SubmitTime", job["SubmitTime"]}});
  }
  r.index = table_index_[Table::kJobs];
  return r;
}

ReadReply NomadState::JobVersions(const std::string& id, bool diffs) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return NotFound("job versions not found", table_index_[Table::kJobs]);
  const std::vector<json>& versions = it->second.versions;
  json list = json::array();
  for (auto v = versions.rbegin(); v != versions.rend(); ++v) list.push_back(*v);
  json diff_list = nullptr;
  if (diffs) {
    diff_list = json::array();
    for (size_t i = 0; i + 1 < list.size(); ++i)
      diff_list.push_back(DiffJobs(list[i + 1], list[i]));
  }
  ReadReply r;
  r.index = it->second.current["ModifyIndex"];
  r.body = {{"Versions", list},
            {"Diffs", diff_list},
            {"Index", r.index},
            {"KnownLeader", true},
            {"LastContact", 0}};
  return r;
}

ReadReply NomadState::JobScaleStatus(const std::string& id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return NotFound("job not found", table_index_[Table::kJobs]);
  const json& job = it->second.current;
  uint64_t index = job["ModifyIndex"];
  json groups = json::object();
  for (const json& group : job["TaskGroups"]) {
    const std::string name = group["Name"];
    int64_t placed = 0, running = 0, healthy = 0, unhealthy = 0;
    for (const Allocation* alloc_ptr : AllocsOf(id)) {
      const Allocation& alloc = *alloc_ptr;
      if (alloc.group != name || !alloc.Live()) continue;
      placed++;
      if (alloc.client_status == "running") running++;
      if (alloc.deployment_status.is_object()) {
        (alloc.deployment_status["Healthy"].get<bool>() ? healthy : unhealthy)++;
      }
    }
    json events = nullptr;
    auto ev = it->second.scaling_events.find(name);
    if (ev != it->second.scaling_events.end() && !ev->second.empty()) {
      events = json::array();
      for (const ScalingEvent& e : ev->second) {
        events.push_back(RenderScalingEvent(e));
        index = std::max(index, e.create_index);
      }
    }
    groups[name] = {{"Desired", group["Count"]}, {"Placed", placed},       {"Running", running},
                    {"Healthy", healthy},        {"Unhealthy", unhealthy}, {"Events", events}};
  }
  ReadReply r;
  r.body = {{"JobID", id},
            {"Namespace", "default"},
            {"JobCreateIndex", job["CreateIndex"]},
            {"JobModifyIndex", job["JobModifyIndex"]},
            {"JobStopped", job["Stop"]},
            {"TaskGroups", groups}};
  r.index = index;
  return r;
}

ReadReply NomadState::JobAllocations(const std::string& id) {
  ReadReply r;
  r.body = json::array();
  for (const Allocation* alloc : AllocsOf(id)) r.body.push_back(RenderAllocationStub(*alloc));
  r.index = table_index_[Table::kAllocs];
  return r;
}

ReadReply NomadState::JobEvaluations(const std::string& id) {
  ReadReply r;
  r.body = json::array();
  for (const auto& [eval_id, eval] : evals_) {
    if (eval["JobID"] == id) r.body.push_back(eval);
  }
  r.index = table_index_[Table::kEvals];
  return r;
}

ReadReply NomadState::JobDeployments(const std::string& id) {
  ReadReply r;
  r.body = json::array();
  auto by_job = deployments_by_job_.find(id);
  if (by_job != deployments_by_job_.end()) {
    for (const auto& [deployment_id, d] : by_job->second) r.body.push_back(RenderDeployment(*d));
  }
  r.index = table_index_[Table::kDeployments];
  return r;
}

ReadReply NomadState::JobLatestDeployment(const std::string& id) {
  ReadReply r;
  Deployment* d = LatestDeployment(id);
  r.body = d ? RenderDeployment(*d) : json(nullptr);
  r.index = d ? d->modify_index : table_index_[Table::kDeployments];
  return r;
}

}  // namespace rollouts::sandbox
