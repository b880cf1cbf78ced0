// The only place (with cpprest_server.cpp) that includes cpprestsdk.
#include <cpprest/http_client.h>

#include <boost/asio/ssl.hpp>
#include <mutex>
#include <unordered_map>

#include "clients/http/http.h"

namespace rollouts::http {
namespace {

namespace ws = web::http;
namespace wc = web::http::client;

ws::method ToCpprest(Method m) {
  switch (m) {
    case Method::kGet:
      return ws::methods::GET;
    case Method::kPut:
      return ws::methods::PUT;
    case Method::kPost:
      return ws::methods::POST;
    case Method::kDelete:
      return ws::methods::DEL;
    case Method::kHead:
      return ws::methods::HEAD;
  }
  return ws::methods::GET;
}

bool LooksLikeTls(const std::string& what) {
  for (const char* needle : {"ssl", "SSL", "certificate", "handshake", "tls", "TLS"}) {
    if (what.find(needle) != std::string::npos) return true;
  }
  return false;
}

Error Classify(const std::error_code& code, const std::string& what) {
  if (code == std::errc::timed_out || what.find("timed out") != std::string::npos) {
    return {ErrorKind::kTimeout, what};
  }
  if (LooksLikeTls(what) || std::string(code.category().name()).find("ssl") != std::string::npos) {
    return {ErrorKind::kTls, what};
  }
  if (code == std::errc::connection_refused || code == std::errc::connection_reset ||
      code == std::errc::host_unreachable || code == std::errc::network_unreachable ||
      code == std::errc::connection_aborted || code == std::errc::broken_pipe ||
      what.find("resolve") != std::string::npos || what.find("connect") != std::string::npos) {
    return {ErrorKind::kConnect, what};
  }
  return {ErrorKind::kProtocol, what};
}

class CpprestClient final : public Client {
 public:
  explicit CpprestClient(ClientOptions options) : options_(std::move(options)) {}

  Result Send(const Request& request) override {
    if (request.cancel && request.cancel->cancelled()) {
      return Error{ErrorKind::kCancelled, "request cancelled before it was sent"};
    }
    // A zero timeout is an unset one (aggregate-initialised requests), not "fail now".
    auto timeout = request.timeout.count() > 0 ? request.timeout : std::chrono::seconds(30);
    wc::http_client& client = ClientFor(timeout);
    ws::http_request req(ToCpprest(request.method));
    req.set_request_uri(web::uri(request.target));
    if (!request.body.empty() || request.method == Method::kPut ||
        request.method == Method::kPost) {
      req.set_body(std::vector<unsigned char>(request.body.begin(), request.body.end()));
      req.headers().remove(ws::header_names::content_type);
    }
    for (const auto& [name, value] : request.headers) req.headers().add(name, value);
    // cpprestsdk verifies the certificate against the Host header and sends it as SNI, so
    // a server name that differs from the URL host goes there (switching its check off
    // and verifying on the SSL context instead would verify nothing: it then forces
    // verify_none on the connection).
    if (!options_.tls.server_name.empty() && !req.headers().has(ws::header_names::host)) {
      req.headers().add(ws::header_names::host, options_.tls.server_name);
    }

    pplx::cancellation_token_source cts;
    int sub = -1;
    if (request.cancel) sub = request.cancel->Subscribe([&cts] { cts.cancel(); });
    struct Unsub {
      const Request& r;
      int id;
      ~Unsub() {
        if (r.cancel && id >= 0) r.cancel->Unsubscribe(id);
      }
    } unsub{request, sub};

    try {
      ws::http_response resp = client.request(req, cts.get_token()).get();
      Response out;
      out.status = resp.status_code();
      for (const auto& [name, value] : resp.headers()) out.headers.emplace(name, value);
      if (request.method != Method::kHead) {
        std::vector<unsigned char> bytes = resp.extract_vector().get();
        out.body.assign(bytes.begin(), bytes.end());
      }
      return out;
    } catch (const pplx::task_canceled&) {
      return Error{ErrorKind::kCancelled, "request cancelled"};
    } catch (const ws::http_exception& e) {
      if (request.cancel && request.cancel->cancelled()) {
        return Error{ErrorKind::kCancelled, "request cancelled"};
      }
      return Classify(e.error_code(), e.what());
    } catch (const std::exception& e) {
      return Error{ErrorKind::kProtocol, e.what()};
    }
  }

 private:
  // cpprestsdk fixes the timeout per http_client, and blocking queries need long ones:
  // keep one client (and its connection pool) per distinct timeout.
  wc::http_client& ClientFor(std::chrono::milliseconds timeout) {
    std::lock_guard lock(mu_);
    auto it = clients_.find(timeout.count());
    if (it != clients_.end()) return *it->second;
    wc::http_client_config cfg;
    cfg.set_timeout(timeout);
    const TlsConfig& tls = options_.tls;
    cfg.set_validate_certificates(!tls.insecure_skip_verify);
    if (!tls.ca_file.empty() || !tls.cert_file.empty()) {
      TlsConfig copy = tls;
      cfg.set_ssl_context_callback([copy](boost::asio::ssl::context& ctx) {
        if (!copy.ca_file.empty()) ctx.load_verify_file(copy.ca_file);
        if (!copy.cert_file.empty()) ctx.use_certificate_chain_file(copy.cert_file);
        if (!copy.key_file.empty()) {
          ctx.use_private_key_file(copy.key_file, boost::asio::ssl::context::pem);
        }
      });
    }
    auto client = std::make_unique<wc::http_client>(web::uri(options_.base_url), cfg);
    auto& ref = *client;
    clients_.emplace(timeout.count(), std::move(client));
    return ref;
  }

  ClientOptions options_;
  std::mutex mu_;
  std::unordered_map<int64_t, std::unique_ptr<wc::http_client>> clients_;
};

}  // namespace

std::unique_ptr<Client> MakeClient(const ClientOptions& options) {
  return std::make_unique<CpprestClient>(options);
}

}  // namespace rollouts::http
