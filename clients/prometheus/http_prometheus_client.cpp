#include <glog/logging.h>

#include <cstdio>
#include <utility>

#include "clients/common/agent_config.h"
#include "clients/http/server.h"
#include "clients/prometheus/prometheus_client.h"
#include "clients/prometheus/prometheus_decode.h"

namespace rollouts::prometheus {
namespace {

constexpr char kEndpoint[] = "GET /api/v1/query";

// Unix seconds with millisecond precision, the form Prometheus documents for `time`.
std::string FormatTime(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld.%03lld", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  return buf;
}

}  // namespace

HttpPrometheusClient::HttpPrometheusClient(PrometheusClientOptions options,
                                           std::shared_ptr<http::Client> http_client)
    : options_(std::move(options)), http_(std::move(http_client)) {
  if (!http_) http_ = http::MakeClient(http::ClientOptions{options_.base_url, options_.tls});
}

ApiResult<QueryResult> HttpPrometheusClient::Query(
    const std::string& promql, std::optional<std::chrono::system_clock::time_point> time,
    std::shared_ptr<http::CancelToken> cancel) {
  http::Request request;
  request.method = http::Method::kGet;
  request.target = "/api/v1/query?query=" + http::PercentEncode(promql, false);
  if (time) request.target += "&time=" + FormatTime(*time);
  if (!options_.bearer_token.empty()) {
    request.headers["Authorization"] = "Bearer " + options_.bearer_token;
  }
  request.timeout = options_.request_timeout;
  request.cancel = std::move(cancel);

  http::RetryOptions retry = options_.retry;
  retry.safety = http::Safety::kRead;
  const std::string& token = options_.bearer_token;
  retry.on_retry = [&token, outer = options_.retry.on_retry](int attempt,
                                                             const http::Result& result) {
    if (result.ok()) {
      LOG(WARNING) << "prometheus " << kEndpoint << ": HTTP " << result.response().status
                   << ", retrying (attempt " << attempt << ")";
    } else {
      LOG(WARNING) << "prometheus " << kEndpoint << ": " << http::ErrorKindName(result.error().kind)
                   << ": " << clients::Redact(result.error().message, token)
                   << ", retrying (attempt " << attempt << ")";
    }
    if (outer) outer(attempt, result);
  };

  http::Result result = http::SendWithRetry(*http_, request, retry);
  if (!result.ok()) {
    const http::Error& e = result.error();
    return ApiError{
        e.kind == http::ErrorKind::kCancelled ? ApiErrorKind::kCancelled : ApiErrorKind::kTransport,
        0, kEndpoint,
        std::string(http::ErrorKindName(e.kind)) + ": " + clients::Redact(e.message, token)};
  }
  auto decoded = DecodeQueryResponse(result.response().status, result.response().body, kEndpoint);
  if (!decoded.ok()) {
    ApiError error = decoded.error();
    error.message = clients::Redact(error.message, token);
    return error;
  }
  return decoded;
}

}  // namespace rollouts::prometheus
