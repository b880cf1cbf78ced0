#include <glog/logging.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <utility>

#include "clients/http/server.h"
#include "clients/nomad/nomad_client.h"
#include "clients/nomad/nomad_decode.h"
#include "clients/nomad/nomad_errors.h"

namespace rollouts::nomad {

using nlohmann::json;

struct HttpNomadClient::Call {
  http::Method method = http::Method::kGet;
  std::string path{};  // already percent-encoded
  std::vector<std::pair<std::string, std::string>> query{};
  std::optional<std::string> body{};
  http::Safety safety = http::Safety::kRead;
  CallKind kind = CallKind::kRead;
  std::chrono::milliseconds extra_timeout{0};  // blocking wait on top of the usual budget
  std::shared_ptr<http::CancelToken> cancel{};
  // For reads of one object: a 404 that says "... not found" is an answer (nullopt), not
  // an error.
  bool not_found_is_answer = false;

  std::string Endpoint() const { return std::string(http::MethodName(method)) + " " + path; }
};

namespace {

std::string Segment(const std::string& id) {
  return http::PercentEncode(id, false);
}

std::string FormatWait(std::chrono::milliseconds wait) {
  if (wait.count() % 1000 == 0) return std::to_string(wait.count() / 1000) + "s";
  return std::to_string(wait.count()) + "ms";
}

uint64_t IndexHeader(const http::Response& r) {
  auto value = r.Header("X-Nomad-Index");
  if (!value) return 0;
  uint64_t index = 0;
  std::from_chars(value->data(), value->data() + value->size(), index);
  return index;
}

bool IsSuccess(int status) {
  return status >= 200 && status < 300;
}

// A 404 whose text says the object is gone ("job not found", "eval not found", ...). An
// empty 404 comes from a wrong address or a proxy and must not read as "deleted".
bool IsNotFoundAnswer(const http::Response& r) {
  return r.status == 404 && r.body.find("not found") != std::string::npos;
}

ApiError DecodeError(const std::string& endpoint, int status, const std::string& what) {
  return ApiError{ApiErrorKind::kDecode, status, endpoint, "unexpected response body: " + what};
}

// Parses the body and applies decode, mapping every shape problem to kDecode.
template <typename T, typename Decode>
ApiResult<T> DecodeBody(const std::string& endpoint, const http::Response& r, Decode decode) {
  try {
    json j = json::parse(r.body);
    return ApiResult<T>(decode(j));
  } catch (const std::exception& e) {
    return DecodeError(endpoint, r.status, e.what());
  }
}

}  // namespace

HttpNomadClient::HttpNomadClient(NomadClientOptions options,
                                 std::shared_ptr<http::Client> http_client)
    : options_(std::move(options)), http_(std::move(http_client)) {
  if (!http_) {
    http_ = http::MakeClient(http::ClientOptions{options_.agent.base_url, options_.agent.tls});
  }
}

ApiResult<http::Response> HttpNomadClient::Send(const Call& call) {
  http::Request request;
  request.method = call.method;
  request.target = call.path;
  auto query = call.query;
  if (!options_.agent.namespace_.empty())
    query.emplace_back("namespace", options_.agent.namespace_);
  if (!options_.agent.region.empty()) query.emplace_back("region", options_.agent.region);
  for (size_t i = 0; i < query.size(); ++i) {
    request.target += (i == 0 ? "?" : "&");
    request.target += http::PercentEncode(query[i].first, false) + "=" +
                      http::PercentEncode(query[i].second, false);
  }
  if (!options_.agent.token.empty()) request.headers["X-Nomad-Token"] = options_.agent.token;
  if (call.body) {
    request.body = *call.body;
    request.headers["Content-Type"] = "application/json";
  }
  request.timeout = options_.request_timeout + call.extra_timeout;
  request.cancel = call.cancel;

  http::RetryOptions retry = options_.retry;
  retry.safety = call.safety;
  const std::string endpoint = call.Endpoint();
  const std::string& token = options_.agent.token;
  retry.on_retry = [&endpoint, &token, outer = options_.retry.on_retry](
                       int attempt, const http::Result& result) {
    // Only the endpoint and the outcome: never headers (the token) or bodies.
    if (result.ok()) {
      LOG(WARNING) << "nomad " << endpoint << ": HTTP " << result.response().status
                   << ", retrying (attempt " << attempt << ")";
    } else {
      LOG(WARNING) << "nomad " << endpoint << ": " << http::ErrorKindName(result.error().kind)
                   << ": " << clients::Redact(result.error().message, token)
                   << ", retrying (attempt " << attempt << ")";
    }
    if (outer) outer(attempt, result);
  };

  http::Result result = http::SendWithRetry(*http_, request, retry);
  if (!result.ok()) {
    const http::Error& e = result.error();
    ApiError error;
    error.kind =
        e.kind == http::ErrorKind::kCancelled ? ApiErrorKind::kCancelled : ApiErrorKind::kTransport;
    error.endpoint = endpoint;
    error.message = std::string(http::ErrorKindName(e.kind)) + ": " +
                    clients::Redact(e.message, options_.agent.token);
    return error;
  }
  http::Response response = std::move(result.response());
  if (!IsSuccess(response.status) && !(call.not_found_is_answer && IsNotFoundAnswer(response))) {
    ApiError error = ClassifyNomadError(call.kind, endpoint, response.status, response.body);
    error.message = clients::Redact(error.message, options_.agent.token);
    return error;
  }
  return response;
}

ApiResult<std::string> HttpNomadClient::Leader() {
  Call call{.path = "/v1/status/leader"};
  auto r = Send(call);
  if (!r) return r.error();
  return DecodeBody<std::string>(call.Endpoint(), *r,
                                 [](const json& j) { return j.get<std::string>(); });
}

ApiResult<std::vector<JobListStub>> HttpNomadClient::ListJobs(const std::string& prefix) {
  Call call{.path = "/v1/jobs"};
  if (!prefix.empty()) call.query.emplace_back("prefix", prefix);
  auto r = Send(call);
  if (!r) return r.error();
  return DecodeBody<std::vector<JobListStub>>(call.Endpoint(), *r, [](const json& j) {
    return decode::DecodeList<JobListStub>(j, decode::DecodeJobListStub);
  });
}

template <typename T, typename Decode>
ApiResult<std::optional<T>> HttpNomadClient::GetOptional(const std::string& path, Decode decode) {
  Call call{.path = path};
  call.not_found_is_answer = true;
  auto r = Send(call);
  if (!r) return r.error();
  if (IsNotFoundAnswer(*r)) return std::optional<T>();
  return DecodeBody<std::optional<T>>(call.Endpoint(), *r, decode);
}

ApiResult<std::optional<Job>> HttpNomadClient::GetJob(const std::string& job_id) {
  return GetOptional<Job>("/v1/job/" + Segment(job_id),
                          [](const json& j) { return std::optional<Job>(Job(j)); });
}

ApiResult<WriteResponse> HttpNomadClient::RegisterJob(const Job& job,
                                                      std::optional<uint64_t> enforce_index,
                                                      bool via_jobs_endpoint) {
  json body = {{"Job", job.json()}};
  if (enforce_index) {
    body["EnforceIndex"] = true;
    body["JobModifyIndex"] = *enforce_index;
  }
  Call call{.method = http::Method::kPost,
            .path = via_jobs_endpoint ? "/v1/jobs" : "/v1/job/" + Segment(job.ID()),
            .body = body.dump(),
            // An unguarded register that timed out may have landed: never repeat it.
            .safety = enforce_index ? http::Safety::kGuardedWrite : http::Safety::kUnsafe,
            .kind = CallKind::kRegister};
  auto r = Send(call);
  if (!r) return r.error();
  uint64_t header_index = IndexHeader(*r);
  return DecodeBody<WriteResponse>(call.Endpoint(), *r, [header_index](const json& j) {
    WriteResponse w = decode::DecodeWriteResponse(j);
    if (w.index == 0) w.index = header_index;
    return w;
  });
}

ApiResult<PlanResult> HttpNomadClient::PlanJob(const Job& job) {
  json body = {{"Job", job.json()}, {"Diff", true}};
  Call call{.method = http::Method::kPost,
            .path = "/v1/job/" + Segment(job.ID()) + "/plan",
            .body = body.dump(),
            .safety = http::Safety::kRead,  // a plan changes nothing
            .kind = CallKind::kRegister};
  auto r = Send(call);
  if (!r) return r.error();
  return DecodeBody<PlanResult>(call.Endpoint(), *r, decode::DecodePlan);
}

ApiResult<JobVersions> HttpNomadClient::GetJobVersions(const std::string& job_id, bool diffs) {
  Call call{.path = "/v1/job/" + Segment(job_id) + "/versions"};
  if (diffs) call.query.emplace_back("diffs", "true");
  auto r = Send(call);
  if (!r) return r.error();
  uint64_t header_index = IndexHeader(*r);
  return DecodeBody<JobVersions>(call.Endpoint(), *r, [header_index](const json& j) {
    JobVersions v = decode::DecodeJobVersions(j);
    if (v.index == 0) v.index = header_index;
    return v;
  });
}

ApiResult<WriteResponse> HttpNomadClient::ScaleJob(const std::string& job_id,
                                                   const std::string& group,
                                                   std::optional<int> count,
                                                   const std::string& message,
                                                   const nlohmann::json& meta) {
  json body = {{"Target", {{"Group", group}}}, {"Message", message}};
  body["Count"] = count ? json(*count) : json();
  if (!meta.is_null()) body["Meta"] = meta;
  Call call{.method = http::Method::kPost,
            .path = "/v1/job/" + Segment(job_id) + "/scale",
            .body = body.dump(),
            .safety = http::Safety::kUnsafe,  // see the header: even a 400 may have applied
            .kind = CallKind::kWrite};
  auto r = Send(call);
  if (!r) return r.error();
  uint64_t header_index = IndexHeader(*r);
  return DecodeBody<WriteResponse>(call.Endpoint(), *r, [header_index](const json& j) {
    WriteResponse w = decode::DecodeWriteResponse(j);
    if (w.index == 0) w.index = header_index;
    return w;
  });
}

ApiResult<JobScaleStatus> HttpNomadClient::GetJobScaleStatus(const std::string& job_id) {
  Call call{.path = "/v1/job/" + Segment(job_id) + "/scale"};
  auto r = Send(call);
  if (!r) return r.error();
  return DecodeBody<JobScaleStatus>(call.Endpoint(), *r, decode::DecodeJobScaleStatus);
}

ApiResult<WriteResponse> HttpNomadClient::DeregisterJob(const std::string& job_id, bool purge) {
  Call call{.method = http::Method::kDelete,
            .path = "/v1/job/" + Segment(job_id),
            // Stopping or purging twice ends in the same state, so a retry after a lost
            // answer is harmless.
            .safety = http::Safety::kGuardedWrite,
            .kind = CallKind::kWrite};
  if (purge) call.query.emplace_back("purge", "true");
  auto r = Send(call);
  if (!r) return r.error();
  uint64_t header_index = IndexHeader(*r);
  return DecodeBody<WriteResponse>(call.Endpoint(), *r, [header_index](const json& j) {
    WriteResponse w = decode::DecodeWriteResponse(j);
    if (w.index == 0) w.index = header_index;
    return w;
  });
}

ApiResult<Indexed<std::vector<AllocationStub>>> HttpNomadClient::JobAllocations(
    const std::string& job_id, const BlockingQuery& query) {
  Call call{.path = "/v1/job/" + Segment(job_id) + "/allocations", .cancel = query.cancel};
  if (query.index > 0) {
    call.query.emplace_back("index", std::to_string(query.index));
    call.query.emplace_back("wait", FormatWait(query.wait));
    // Nomad may overshoot the wait by up to wait/16.
    call.extra_timeout = query.wait + query.wait / 16;
  }
  auto r = Send(call);
  if (!r) return r.error();
  uint64_t index = IndexHeader(*r);
  return DecodeBody<Indexed<std::vector<AllocationStub>>>(
      call.Endpoint(), *r, [index](const json& j) {
        return Indexed<std::vector<AllocationStub>>{
            decode::DecodeList<AllocationStub>(j, decode::DecodeAllocationStub), index};
      });
}

ApiResult<std::optional<Allocation>> HttpNomadClient::GetAllocation(const std::string& alloc_id) {
  return GetOptional<Allocation>("/v1/allocation/" + Segment(alloc_id), [](const json& j) {
    return std::optional<Allocation>(decode::DecodeAllocation(j));
  });
}

ApiResult<std::vector<Deployment>> HttpNomadClient::JobDeployments(const std::string& job_id) {
  Call call{.path = "/v1/job/" + Segment(job_id) + "/deployments"};
  auto r = Send(call);
  if (!r) return r.error();
  return DecodeBody<std::vector<Deployment>>(call.Endpoint(), *r, [](const json& j) {
    auto list = decode::DecodeList<Deployment>(j, decode::DecodeDeployment);
    std::sort(list.begin(), list.end(), [](const Deployment& a, const Deployment& b) {
      return std::tie(a.job_version, a.create_index) < std::tie(b.job_version, b.create_index);
    });
    return list;
  });
}

ApiResult<std::optional<Deployment>> HttpNomadClient::LatestDeployment(const std::string& job_id) {
  return GetOptional<Deployment>("/v1/job/" + Segment(job_id) + "/deployment", [](const json& j) {
    // A job that never had a deployment answers 200 null.
    if (j.is_null()) return std::optional<Deployment>();
    return std::optional<Deployment>(decode::DecodeDeployment(j));
  });
}

ApiResult<std::optional<Deployment>> HttpNomadClient::GetDeployment(
    const std::string& deployment_id) {
  return GetOptional<Deployment>("/v1/deployment/" + Segment(deployment_id), [](const json& j) {
    return std::optional<Deployment>(decode::DecodeDeployment(j));
  });
}

ApiResult<std::optional<Evaluation>> HttpNomadClient::GetEvaluation(const std::string& eval_id) {
  return GetOptional<Evaluation>("/v1/evaluation/" + Segment(eval_id), [](const json& j) {
    return std::optional<Evaluation>(decode::DecodeEvaluation(j));
  });
}

ApiResult<std::vector<Evaluation>> HttpNomadClient::JobEvaluations(const std::string& job_id) {
  Call call{.path = "/v1/job/" + Segment(job_id) + "/evaluations"};
  auto r = Send(call);
  if (!r) return r.error();
  return DecodeBody<std::vector<Evaluation>>(call.Endpoint(), *r, [](const json& j) {
    return decode::DecodeList<Evaluation>(j, decode::DecodeEvaluation);
  });
}

ApiResult<JobSummary> HttpNomadClient::GetJobSummary(const std::string& job_id) {
  Call call{.path = "/v1/job/" + Segment(job_id) + "/summary"};
  auto r = Send(call);
  if (!r) return r.error();
  return DecodeBody<JobSummary>(call.Endpoint(), *r, decode::DecodeJobSummary);
}

}  // namespace rollouts::nomad
