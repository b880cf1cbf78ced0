#include "clients/common/api_error.h"

namespace rollouts::clients {

const char* ApiErrorKindName(ApiErrorKind k) {
  switch (k) {
    case ApiErrorKind::kTransport:
      return "transport";
    case ApiErrorKind::kCancelled:
      return "cancelled";
    case ApiErrorKind::kUnauthorized:
      return "unauthorized";
    case ApiErrorKind::kNotFound:
      return "not_found";
    case ApiErrorKind::kBadRequest:
      return "bad_request";
    case ApiErrorKind::kValidation:
      return "validation";
    case ApiErrorKind::kConflict:
      return "conflict";
    case ApiErrorKind::kUnavailable:
      return "unavailable";
    case ApiErrorKind::kDecode:
      return "decode";
  }
  return "unknown";
}

std::string ApiError::ToString() const {
  std::string out = ApiErrorKindName(kind);
  if (!endpoint.empty()) out += " (" + endpoint + ")";
  if (status != 0) out += " HTTP " + std::to_string(status);
  if (!message.empty()) out += ": " + message;
  return out;
}

}  // namespace rollouts::clients
