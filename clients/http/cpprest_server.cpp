// The only place (with cpprest_client.cpp) that includes cpprestsdk.
#include <arpa/inet.h>
#include <cpprest/http_listener.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "clients/http/server.h"

namespace rollouts::http {
namespace {

namespace ws = web::http;
namespace wl = web::http::experimental::listener;

// cpprestsdk cannot report the port it bound, so port 0 is resolved here first: ask
// the kernel for a free port, release it, and listen on it. The window is tiny and
// StartServer retries on a bind failure.
uint16_t PickFreePort(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("bind " + host + ":0: " + std::strerror(errno));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Replies being written. cpprestsdk's asio listener crashes (SIGSEGV in
// epoll_reactor::start_op) when close() runs while a connection is still finishing a reply
// and starting its next read, e.g. answering a blocking query whose client has gone
// (NomadClient.BlockingQueryIsCancellable: about 1 run in 20). Stop() therefore lets the
// replies in flight finish, within a bound, before it closes the listener.
class RepliesInFlight {
 public:
  void Begin() {
    std::lock_guard lock(mu_);
    ++count_;
  }
  void End() {
    std::lock_guard lock(mu_);
    if (--count_ == 0) idle_.notify_all();
  }
  void WaitIdle(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    idle_.wait_for(lock, limit, [this] { return count_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  int count_ = 0;
};

class CpprestServer final : public Server {
 public:
  CpprestServer(const ServerOptions& options, Handler handler, uint16_t port)
      : port_(port),
        base_url_(std::string(options.tls ? "https://" : "http://") + options.host + ":" +
                  std::to_string(port)) {
    wl::http_listener_config cfg;
    if (options.tls) {
      ServerTls files = options.tls_files;
      cfg.set_ssl_context_callback([files](boost::asio::ssl::context& ctx) {
        ctx.set_options(boost::asio::ssl::context::default_workarounds |
                        boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3);
        ctx.use_certificate_chain_file(files.cert_file);
        ctx.use_private_key_file(files.key_file, boost::asio::ssl::context::pem);
      });
    }
    listener_ = std::make_unique<wl::http_listener>(web::uri(base_url_), cfg);
    listener_->support(
        [handler = std::move(handler), replies = replies_](const ws::http_request& request) {
          Dispatch(request, handler, replies);
        });
    listener_->open().wait();
  }

  ~CpprestServer() override { Stop(); }

  uint16_t port() const override { return port_; }
  std::string base_url() const override { return base_url_; }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    replies_->WaitIdle(std::chrono::seconds(2));
    try {
      listener_->close().wait();
    } catch (const std::exception&) {
      // Closing a listener whose connections already failed is not an error for us.
    }
  }

 private:
  static void Dispatch(ws::http_request request, const Handler& handler,  // NOLINT
                       const std::shared_ptr<RepliesInFlight>& replies) {
    ServerRequest in;
    in.method = request.method();
    const web::uri& uri = request.request_uri();
    in.path = web::uri::decode(uri.path());
    in.query = uri.query();
    in.target = uri.path() + (in.query.empty() ? "" : "?" + in.query);
    for (const auto& [name, value] : request.headers()) in.headers.emplace(name, value);
    in.remote_address = request.remote_address();
    auto replied = std::make_shared<std::atomic<bool>>(false);
    Responder respond = [request, replied, replies](Response out) mutable {
      if (replied->exchange(true)) return;
      ws::http_response resp(static_cast<ws::status_code>(out.status));
      if (!out.body.empty()) {
        resp.set_body(std::vector<unsigned char>(out.body.begin(), out.body.end()));
      }
      // set_body adds its own Content-Type; only the handler decides ours.
      resp.headers().remove(ws::header_names::content_type);
      for (const auto& [name, value] : out.headers) resp.headers().add(name, value);
      replies->Begin();
      request.reply(resp).then([replies](const pplx::task<void>& t) {
        try {
          t.get();
        } catch (const std::exception&) {
          // The peer went away while we were answering (a cancelled blocking query).
        }
        replies->End();
      });
    };
    // The body arrives on the listener's own thread pool: waiting for it with .get() on a
    // pool thread deadlocks once every pool thread waits (seen with 50+ connections), so
    // the handler runs in a continuation when the body is there.
    request.extract_vector().then([in = std::move(in), respond,
                                   handler](pplx::task<std::vector<unsigned char>> body) mutable {
      try {
        std::vector<unsigned char> bytes = body.get();
        in.body.assign(bytes.begin(), bytes.end());
      } catch (const std::exception&) {
        in.body.clear();
      }
      try {
        handler(std::move(in), respond);
      } catch (const std::exception& e) {
        respond(Response{500, {{"Content-Type", "text/plain; charset=utf-8"}}, e.what()});
      }
    });
  }

  uint16_t port_;
  std::string base_url_;
  std::shared_ptr<RepliesInFlight> replies_ = std::make_shared<RepliesInFlight>();
  std::unique_ptr<wl::http_listener> listener_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

std::unique_ptr<Server> StartServer(const ServerOptions& options, Handler handler) {
  std::string last_error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    uint16_t port = options.port != 0 ? options.port : PickFreePort(options.host);
    try {
      return std::make_unique<CpprestServer>(options, handler, port);
    } catch (const std::exception& e) {
      last_error = e.what();
      if (options.port != 0) break;
    }
  }
  throw std::runtime_error("cannot listen on " + options.host + ":" + std::to_string(options.port) +
                           ": " + last_error);
}

}  // namespace rollouts::http
