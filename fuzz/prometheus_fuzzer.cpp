// Prometheus' answers to an instant query (clients/prometheus/prometheus_decode.h), as a
// success and as an error status: a result or a typed error, never an exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "clients/prometheus/prometheus_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rollouts::prometheus;
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (int status : {200, 422, 503}) (void)DecodeQueryResponse(status, body, "/api/v1/query");
  return 0;
}
