// Decodes Prometheus HTTP API answers (https://prometheus.io/docs/prometheus/latest/
// querying/api/#format-overview) for instant queries: the success envelope with a vector
// or scalar result, and the error envelope {"status":"error","errorType","error"}.
#pragma once

#include <string>

#include "clients/prometheus/prometheus_client.h"

namespace rollouts::prometheus {

// status: the HTTP status; body: the response body; endpoint: for ApiError::endpoint.
ApiResult<QueryResult> DecodeQueryResponse(int status, const std::string& body,
                                           const std::string& endpoint);

}  // namespace rollouts::prometheus
