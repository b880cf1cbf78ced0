// The one HTTP vocabulary of the project. Clients, the sandbox, the router and the
// tests speak it; only cpprest_client.cpp / cpprest_server.cpp know cpprestsdk.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "clients/http/cancel.h"

namespace rollouts::http {

enum class Method { kGet, kPut, kPost, kDelete, kHead };

std::string_view MethodName(Method m);
std::optional<Method> ParseMethod(std::string_view name);

// Header names compare case-insensitively (HTTP semantics); the original spelling is kept.
struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using Headers = std::map<std::string, std::string, CaseInsensitiveLess>;

struct Request {
  Method method = Method::kGet;
  // Path plus query, e.g. "/v1/kv/rollouts/spec/?recurse&index=42". Relative to the
  // client's base URL.
  std::string target;
  Headers headers;
  std::string body;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  // <= 0 means 30s
  std::shared_ptr<CancelToken> cancel;                          // optional
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;

  std::optional<std::string> Header(const std::string& name) const;
};

enum class ErrorKind {
  kConnect,    // could not reach the server (refused, DNS, reset before a response)
  kTimeout,    // no complete response within Request::timeout
  kTls,        // handshake or certificate verification failed
  kCancelled,  // Request::cancel fired
  kProtocol,   // malformed response or other transport failure
};

std::string_view ErrorKindName(ErrorKind k);

struct Error {
  ErrorKind kind = ErrorKind::kConnect;
  std::string message;
};

// Either a response (any status code) or a transport error.
class Result {
 public:
  Result(Response r) : v_(std::move(r)) {}  // NOLINT(google-explicit-constructor)
  Result(Error e) : v_(std::move(e)) {}     // NOLINT(google-explicit-constructor)
  bool ok() const { return std::holds_alternative<Response>(v_); }
  const Response& response() const { return std::get<Response>(v_); }
  Response& response() { return std::get<Response>(v_); }
  const Error& error() const { return std::get<Error>(v_); }

 private:
  std::variant<Response, Error> v_;
};

struct TlsConfig {
  std::string ca_file;      // PEM bundle to verify the server; empty = system store
  std::string cert_file;    // client certificate (mutual TLS), PEM
  std::string key_file;     // client key, PEM
  std::string server_name;  // SNI + name to verify, when it differs from the URL host
  bool insecure_skip_verify = false;
};

struct ClientOptions {
  std::string base_url;  // "http://127.0.0.1:8500" or "https://consul:8501"
  TlsConfig tls;
};

// A synchronous HTTP client. Thread-safe: many threads may call Send at once.
class Client {
 public:
  virtual ~Client() = default;
  virtual Result Send(const Request& request) = 0;
};

// The production implementation (cpprestsdk).
std::unique_ptr<Client> MakeClient(const ClientOptions& options);

}  // namespace rollouts::http
