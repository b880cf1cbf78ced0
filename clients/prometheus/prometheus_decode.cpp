#include "clients/prometheus/prometheus_decode.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "api/text.h"

namespace rollouts::prometheus {
namespace {

using nlohmann::json;

// Prometheus' errorType values (web/api/v1): bad_data and execution are the query's
// fault, timeout/canceled/unavailable/internal the server's.
ApiErrorKind KindForErrorType(const std::string& error_type, int status) {
  if (error_type == "bad_data" || error_type == "execution") return ApiErrorKind::kBadRequest;
  if (error_type == "not_found") return ApiErrorKind::kNotFound;
  if (error_type == "timeout" || error_type == "canceled" || error_type == "unavailable" ||
      error_type == "internal") {
    return ApiErrorKind::kUnavailable;
  }
  if (status == 401 || status == 403) return ApiErrorKind::kUnauthorized;
  return status >= 500 ? ApiErrorKind::kUnavailable : ApiErrorKind::kBadRequest;
}

// [<unix seconds>, "<value>"]
void DecodePoint(const json& point, Sample& sample) {
  if (!point.is_array() || point.size() != 2 || !point[0].is_number() || !point[1].is_string()) {
    throw std::invalid_argument("a sample must be [<time>, \"<value>\"], got " + point.dump());
  }
  sample.timestamp = point[0].get<double>();
  auto value = SampleValue::Parse(point[1].get<std::string>());
  if (!value) throw std::invalid_argument("not a sample value: " + point[1].dump());
  sample.value = *value;
}

QueryResult DecodeData(const json& data) {
  if (!data.is_object()) throw std::invalid_argument("\"data\" is not an object");
  const std::string type = data.at("resultType").get<std::string>();
  const json& result = data.at("result");
  QueryResult out;
  if (type == "vector") {
    out.type = ResultType::kVector;
    if (!result.is_array()) throw std::invalid_argument("vector result is not an array");
    for (const json& element : result) {
      Sample sample;
      const json& metric = element.at("metric");
      for (auto it = metric.begin(); it != metric.end(); ++it) {
        sample.labels[it.key()] = it.value().get<std::string>();
      }
      DecodePoint(element.at("value"), sample);
      out.samples.push_back(std::move(sample));
    }
  } else if (type == "scalar") {
    out.type = ResultType::kScalar;
    Sample sample;
    DecodePoint(result, sample);
    out.samples.push_back(std::move(sample));
  } else {
    throw std::domain_error("unsupported result type \"" + type +
                            "\": an analysis query must return an instant vector or a scalar");
  }
  return out;
}

}  // namespace

ApiResult<QueryResult> DecodeQueryResponse(int status, const std::string& body,
                                           const std::string& endpoint) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  bool is_envelope = doc.is_object() && doc.contains("status") && doc["status"].is_string();
  if (is_envelope && doc["status"] == "error") {
    std::string error_type = doc.value("errorType", std::string());
    std::string error = doc.value("error", std::string());
    return ApiError{KindForErrorType(error_type, status), status, endpoint,
                    (error_type.empty() ? std::string("error") : error_type) + ": " + error};
  }
  if (status < 200 || status >= 300) {
    // Not Prometheus' envelope: a proxy or a server that is not Prometheus.
    std::string text(api::TrimSpace(body));
    if (text.empty()) text = "HTTP " + std::to_string(status) + " with an empty body";
    return ApiError{KindForErrorType("", status), status, endpoint, text};
  }
  if (!is_envelope || doc["status"] != "success") {
    return ApiError{
        ApiErrorKind::kDecode, status, endpoint,
        "not a Prometheus API response: " + std::string(api::TrimSpace(body).substr(0, 200))};
  }
  try {
    QueryResult result = DecodeData(doc.at("data"));
    if (doc.contains("warnings") && doc["warnings"].is_array()) {
      for (const json& w : doc["warnings"]) {
        if (w.is_string()) result.warnings.push_back(w.get<std::string>());
      }
    }
    return result;
  } catch (const std::exception& e) {
    return ApiError{ApiErrorKind::kDecode, status, endpoint, e.what()};
  }
}

}  // namespace rollouts::prometheus
