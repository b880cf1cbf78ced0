// Prometheus instant queries (GET /api/v1/query) for analysis gates.
//
// A gate must be able to tell "no data" from "0" and from "NaN" (0/0: no requests at
// all in an error-rate ratio) and from "+Inf" (x/0): treating any of those as 0 would pass
// a gate that saw nothing. So a result keeps "empty" visible and each value says which
// kind of number it is.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clients/common/api_error.h"
#include "clients/http/cancel.h"
#include "clients/http/http.h"
#include "clients/http/retry.h"

namespace rollouts::prometheus {

using clients::ApiError;
using clients::ApiErrorKind;
using clients::ApiResult;

enum class ValueKind {
  kNumber,            // a finite number (value holds it)
  kNaN,               // "NaN"
  kPositiveInfinity,  // "+Inf"
  kNegativeInfinity,  // "-Inf"
};

const char* ValueKindName(ValueKind kind);

struct SampleValue {
  ValueKind kind = ValueKind::kNumber;
  double number = 0;  // meaningful only for kNumber (also set to NaN / +-inf otherwise)

  bool finite() const { return kind == ValueKind::kNumber; }
  // Parses Prometheus' string form ("1", "0.25", "1e-3", "NaN", "+Inf", "-Inf").
  // nullopt when it is not a number.
  static std::optional<SampleValue> Parse(const std::string& text);
};

struct Sample {
  std::map<std::string, std::string> labels;  // empty for a scalar
  double timestamp = 0;                       // unix seconds with fraction
  SampleValue value;
};

enum class ResultType { kVector, kScalar };

struct QueryResult {
  ResultType type = ResultType::kVector;
  // kVector: zero or more samples (zero = the query matched nothing, which is NOT 0).
  // kScalar: exactly one sample without labels.
  std::vector<Sample> samples;
  std::vector<std::string> warnings;  // Prometheus' "warnings", if any

  bool empty() const { return samples.empty(); }
};

class PrometheusClient {
 public:
  virtual ~PrometheusClient() = default;
  // Evaluates promql at `time` (now, as the server sees it, when absent). Errors:
  // kBadRequest for Prometheus' 400 bad_data and 422 execution errors, kUnavailable for
  // 503 (timeout, canceled) and other 5xx, kDecode for a matrix or string result (range
  // vectors are not supported: gate queries must reduce to a vector or scalar) or a body
  // that is not the documented format. The message starts with Prometheus' errorType
  // ("bad_data: ...") and keeps its error text.
  virtual ApiResult<QueryResult> Query(
      const std::string& promql,
      std::optional<std::chrono::system_clock::time_point> time = std::nullopt,
      std::shared_ptr<http::CancelToken> cancel = nullptr) = 0;
};

struct PrometheusClientOptions {
  std::string base_url;  // "http://127.0.0.1:9090"
  http::TlsConfig tls;
  // Sent as "Authorization: Bearer ..." when non-empty (for authenticating proxies);
  // never logged, never in an error.
  std::string bearer_token;
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  http::RetryOptions retry;  // queries are reads: retried on transport errors and 5xx
};

class HttpPrometheusClient : public PrometheusClient {
 public:
  // http_client defaults to http::MakeClient for options.base_url + tls.
  explicit HttpPrometheusClient(PrometheusClientOptions options,
                                std::shared_ptr<http::Client> http_client = nullptr);

  ApiResult<QueryResult> Query(
      const std::string& promql,
      std::optional<std::chrono::system_clock::time_point> time = std::nullopt,
      std::shared_ptr<http::CancelToken> cancel = nullptr) override;

 private:
  PrometheusClientOptions options_;
  std::shared_ptr<http::Client> http_;
};

}  // namespace rollouts::prometheus
