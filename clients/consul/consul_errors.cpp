// Consul's status codes are irregular (see tests/fixtures/api/README.md "Errors"), so the
// meaning of a status depends on the endpoint that answered.
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "clients/consul/consul_client.h"
#include "clients/consul/consul_decode.h"

namespace rollouts::consul {
namespace {

bool ContainsNoCase(const std::string& haystack, const std::string& needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) ==
                                 std::tolower(static_cast<unsigned char>(b));
                        });
  return it != haystack.end();
}

std::string AgentText(const http::Response& response) {
  std::string text = response.body;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  constexpr size_t kMax = 2000;  // keep error messages readable
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  if (text.empty()) text = "HTTP " + std::to_string(response.status) + " with an empty body";
  return text;
}

// A 500 from a write endpoint is the agent rejecting our input when its text says so
// (bad cas=, unknown session, TTL out of range); otherwise the cluster is in trouble.
bool RejectsInput(const std::string& text) {
  for (const char* needle : {"strconv.", "invalid", "missing", "must be"}) {
    if (ContainsNoCase(text, needle)) return true;
  }
  return false;
}

std::string TxnConflictText(const http::Response& response) {
  try {
    auto body = nlohmann::json::parse(response.body);
    std::string out;
    for (const auto& e : DecodeTxnErrors(body)) {
      if (!out.empty()) out += "; ";
      out += "op " + std::to_string(e.op_index) + ": " + e.what;
    }
    if (!out.empty()) return out;
  } catch (const std::exception&) {
    // Not the JSON we expect: fall back to the raw text.
  }
  return AgentText(response);
}

}  // namespace

std::optional<ApiError> ClassifyConsulResponse(Endpoint endpoint, const std::string& label,
                                               const http::Response& response,
                                               const std::string& token) {
  int s = response.status;
  if (s >= 200 && s < 300) return std::nullopt;
  // A KV read answers a missing key or an empty prefix with an empty 404.
  if (endpoint == Endpoint::kKvRead && s == 404) return std::nullopt;

  ApiError error;
  error.status = s;
  error.endpoint = clients::Redact(label, token);
  std::string text = AgentText(response);

  const bool write_endpoint = endpoint == Endpoint::kKvWrite ||
                              endpoint == Endpoint::kSessionCreate || endpoint == Endpoint::kTxn;
  // Throttling (429) is a busy agent, like a 5xx. But Consul answers 500 to a bad cas=, an
  // unknown session on acquire or a TTL out of range: our input's fault, not the agent's.
  const bool bad_input_500 = s == 500 && write_endpoint && RejectsInput(text);
  const bool unavailable = s == 429 || (s >= 500 && !bad_input_500);

  if (s == 401 || s == 403) {
    error.kind = ApiErrorKind::kUnauthorized;
  } else if (s == 404) {
    // Renew of a gone session says so in text; an unknown endpoint is an empty 404.
    error.kind = ApiErrorKind::kNotFound;
  } else if (s == 409 && endpoint == Endpoint::kTxn) {
    error.kind = ApiErrorKind::kConflict;
    text = TxnConflictText(response);
  } else if (unavailable) {
    error.kind = ApiErrorKind::kUnavailable;
  } else if (s >= 400) {
    error.kind = ApiErrorKind::kBadRequest;
  } else {
    // 1xx/3xx: not something Consul's API answers; report it as a protocol surprise.
    error.kind = ApiErrorKind::kDecode;
    text = "unexpected HTTP " + std::to_string(s) + ": " + text;
  }
  error.message = clients::Redact(text, token);
  return error;
}

ApiError FromTransportError(const std::string& label, const http::Error& error,
                            const std::string& token) {
  ApiError out;
  out.kind = error.kind == http::ErrorKind::kCancelled ? ApiErrorKind::kCancelled
                                                       : ApiErrorKind::kTransport;
  out.endpoint = clients::Redact(label, token);
  out.message =
      clients::Redact(std::string(http::ErrorKindName(error.kind)) + ": " + error.message, token);
  return out;
}

std::string FormatWait(std::chrono::milliseconds wait) {
  if (wait.count() % 1000 == 0) return std::to_string(wait.count() / 1000) + "s";
  return std::to_string(wait.count()) + "ms";
}

}  // namespace rollouts::consul
