#include "clients/nomad/nomad_errors.h"

#include <charconv>

#include "api/text.h"
#include "clients/nomad/nomad_client.h"

namespace rollouts::nomad {
namespace {

constexpr std::string_view kConflictMarker = "conflicting job modify index: ";
// Every EnforceIndex refusal starts with this (Nomad's RegisterEnforceIndexErrPrefix):
// "... N: job exists with conflicting job modify index: M", "... 0: job already exists"
// and "... N: job does not exist". All three mean "the job moved under you".
constexpr std::string_view kEnforcePrefix = "Enforcing job modify index ";

bool Contains(const std::string& text, std::string_view needle) {
  return text.find(needle) != std::string::npos;
}

// Nomad's validation errors come from hashicorp/go-multierror ("N errors occurred:\n\t*
// ...") or name the failed validation.
bool LooksLikeValidation(const std::string& body) {
  return Contains(body, "error occurred:") || Contains(body, "errors occurred:") ||
         Contains(body, "validation failed");
}

}  // namespace

clients::ApiError ClassifyNomadError(CallKind call, const std::string& endpoint, int status,
                                     const std::string& body) {
  clients::ApiError e;
  e.status = status;
  e.endpoint = endpoint;
  e.message = std::string(api::TrimSpace(body));
  if (e.message.empty()) e.message = "HTTP " + std::to_string(status) + " with an empty body";
  if (status == 401 || status == 403) {
    e.kind = ApiErrorKind::kUnauthorized;
  } else if (status == 404) {
    e.kind = ApiErrorKind::kNotFound;
  } else if (status == 409 || Contains(body, kConflictMarker) ||
             (call == CallKind::kRegister && Contains(body, kEnforcePrefix))) {
    e.kind = ApiErrorKind::kConflict;
  } else if (status == 429 || status >= 500) {
    e.kind = (call == CallKind::kRegister && status == 500 && LooksLikeValidation(body))
                 ? ApiErrorKind::kValidation
                 : ApiErrorKind::kUnavailable;
  } else {
    // 400 and the odd 405/413: the agent refused this request as sent.
    e.kind = ApiErrorKind::kBadRequest;
  }
  return e;
}

std::optional<uint64_t> ConflictingJobModifyIndex(const ApiError& error) {
  if (error.kind != ApiErrorKind::kConflict) return std::nullopt;
  size_t at = error.message.find(kConflictMarker);
  if (at == std::string::npos) return std::nullopt;
  const char* begin = error.message.data() + at + kConflictMarker.size();
  const char* end = error.message.data() + error.message.size();
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr == begin) return std::nullopt;
  return value;
}

}  // namespace rollouts::nomad
