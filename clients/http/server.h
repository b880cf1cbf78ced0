// A small HTTP server interface, for the sandbox, the test fixture servers, the
// controller's /metrics-adjacent endpoints and the router. Handlers may answer later
// from any thread (blocking queries hold a request open), so a handler gets a Responder
// instead of returning a Response.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clients/http/http.h"

namespace rollouts::http {

struct ServerRequest {
  std::string method;  // "GET", "PUT", ... as received
  std::string target;  // path + "?" + raw query, still percent-encoded
  std::string path;    // decoded path
  std::string query;   // raw query string without '?'
  Headers headers;
  std::string body;
  std::string remote_address;
};

// Must be called exactly once; may be called from any thread, also after the handler
// returned.
using Responder = std::function<void(Response)>;
using Handler = std::function<void(ServerRequest, Responder)>;

struct ServerTls {
  std::string cert_file;  // PEM chain
  std::string key_file;   // PEM key
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: pick a free port
  bool tls = false;
  ServerTls tls_files;
};

class Server {
 public:
  virtual ~Server() = default;
  virtual uint16_t port() const = 0;
  virtual std::string base_url() const = 0;
  // Stops accepting and closes the listener. Idempotent.
  virtual void Stop() = 0;
};

// Starts listening before it returns. Throws std::runtime_error when it cannot bind.
std::unique_ptr<Server> StartServer(const ServerOptions& options, Handler handler);

// Query helpers shared by every server-side user.
// Splits "a=1&b&c=%2F" into ordered (key, value) pairs, percent-decoding both; a key
// without '=' has an empty value and counts as present.
std::vector<std::pair<std::string, std::string>> ParseQuery(const std::string& query);
std::string PercentDecode(const std::string& s);
// Percent-encodes everything but unreserved characters and, if keep_slash, '/'.
std::string PercentEncode(const std::string& s, bool keep_slash = true);

}  // namespace rollouts::http
