// The typed errors every API client (Consul, Nomad, Prometheus) returns. The agents
// answer mostly in plain text with irregular status codes; each client classifies per
// endpoint and keeps the agent's own text for the user.
#pragma once

#include <optional>
#include <string>
#include <variant>

namespace rollouts::clients {

enum class ApiErrorKind {
  kTransport,     // connect / timeout / TLS (see http::ErrorKind in message)
  kCancelled,     // the caller's cancel token fired
  kUnauthorized,  // 401/403: missing or bad token (ACL)
  kNotFound,      // 404 where the endpoint uses it for "no such thing"
  kBadRequest,    // the agent rejected the request (400, Consul's 500 for a bad cas=)
  kValidation,    // Nomad job validation failed (500 multi-error text)
  kConflict,      // Nomad EnforceIndex conflict, Consul txn 409, failed CAS
  kUnavailable,   // 5xx that is not one of the above (no leader, overloaded)
  kDecode,        // the body did not have the shape we expect
};

const char* ApiErrorKindName(ApiErrorKind k);

struct ApiError {
  ApiErrorKind kind = ApiErrorKind::kTransport;
  int status = 0;        // HTTP status, 0 for transport errors
  std::string endpoint;  // e.g. "PUT /v1/kv/rollouts/status/hello" (no query secrets)
  std::string message;   // the agent's text or ours; never contains a token

  std::string ToString() const;
};

// Value or ApiError. Small on purpose: C++20 has no std::expected.
template <typename T>
class ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const { return value(); }
  const T* operator->() const { return &value(); }
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

struct Unit {};  // for calls that return nothing but can fail

}  // namespace rollouts::clients
