// Why Boost.Beast on one Asio thread (figures and commands: bench/hello/REPORT.md):
// - Speed: the demo needs >= 10k requests/s from one instance so that it is never the
//   bottleneck of the zero-downtime proof. With `wrk -t2 -c50 -d10s .../hello` on this
//   2-core box this server answered 54k requests/s (quiet machine) and 26k (load average
//   10 from other builds). The same handler on our cpprestsdk server
//   (clients/http/server.h, bench/hello/cpprest_hello.cpp) managed about 4k, and its
//   handler pool can wedge under 50 connections (see the report).
// - Shutdown control: graceful drain needs to close the listener, close *idle* keep-alive
//   connections and let in-flight ones finish with "Connection: close". cpprestsdk's
//   listener has one close() for everything at once; Asio gives us each socket.
// - Timers, not sleeps: LATENCY_MS is a steady_timer per request, so one slow request
//   never holds up the event loop or the other connections.
// - Correct HTTP/1.1 parsing (keep-alive, pipelining, chunked bodies, limits) comes from
//   Beast's parser instead of a hand-rolled one; it is header-only (libboost-dev). A
//   bare epoll loop could be a little faster still, but Beast is already several times
//   over the target and hand-written HTTP parsing is where such loops go wrong.
// One thread is enough (see the report) and keeps HelloApp and its RNG lock-free.
#include "examples/hello/server.h"

#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <unordered_set>

#include "examples/hello/app.h"

namespace hello {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
constexpr std::size_t kMaxBodyBytes = 64 * 1024;
constexpr std::chrono::seconds kWriteTimeout{30};

class Listener;

// One client connection: read a request, (wait), answer, repeat while keep-alive.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, Listener& listener);
  ~Connection();

  void Start() { ReadRequest(); }
  // Drain: a connection waiting for its next request (nothing of it received yet) is
  // closed now; one with a request under way finishes it first.
  void CloseIfIdle();
  void ForceClose();
  // The listener is going away (after io_context::run returned); never call it again.
  void Detach() { listener_ = nullptr; }

 private:
  void ReadRequest();
  void OnRead(beast::error_code ec);
  void Respond();
  void OnWrite(bool keep_alive, beast::error_code ec);
  void CloseSocket();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  net::steady_timer delay_;
  Listener* listener_;
  bool waiting_for_request_ = false;
  // The request being answered.
  Reply reply_;
  Clock::time_point started_;
  unsigned http_version_ = 11;
  bool client_keep_alive_ = true;
  bool head_ = false;
};

class Listener {
 public:
  Listener(net::io_context& io, const HelloConfig& config)
      : io_(io), acceptor_(io), signals_(io, SIGTERM, SIGINT), drain_deadline_(io) {
    tcp::endpoint endpoint(net::ip::make_address(config.host), config.port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();

    HelloConfig final_config = config;
    if (final_config.instance.empty()) {
      char host[256] = {};
      if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "localhost");
      final_config.instance = std::string(host) + ":" + std::to_string(port_);
    }
    app_.emplace(final_config);
  }

  // Connections still owned by queued handlers outlive us (io_context destroys them);
  // they must not call back.
  ~Listener() {
    for (Connection* connection : connections_) connection->Detach();
  }

  uint16_t port() const { return port_; }
  HelloApp& app() { return *app_; }
  const HelloConfig& config() const { return app_->config(); }
  bool draining() const { return draining_; }

  void Start() {
    Accept();
    WaitForSignal();
  }

  void Add(Connection* connection) { connections_.insert(connection); }
  void Remove(Connection* connection) {
    connections_.erase(connection);
    if (draining_ && connections_.empty()) Finish("drained");
  }

 private:
  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor_.is_open()) return;  // closed by the drain
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Connection>(std::move(socket), *this)->Start();
      }
      // Errors like EMFILE are transient for a listener: keep accepting.
      Accept();
    });
  }

  void WaitForSignal() {
    signals_.async_wait([this](beast::error_code ec, int signal) {
      if (ec) return;
      if (draining_) {
        // A second signal: the operator does not want to wait.
        std::cerr << "hello: second signal " << signal << ", closing all connections\n";
        ForceCloseAll();
        Finish("interrupted");
        return;
      }
      BeginDrain(signal);
      WaitForSignal();
    });
  }

  void BeginDrain(int signal) {
    draining_ = true;
    beast::error_code ignored;
    acceptor_.close(ignored);  // from here on, connects are refused by the kernel
    std::cerr << "hello: signal " << signal << ", draining " << connections_.size()
              << " connection(s)\n";
    // CloseIfIdle never destroys a connection synchronously (the aborted read completes
    // later), so iterating the set is safe.
    for (Connection* connection : connections_) connection->CloseIfIdle();
    drain_deadline_.expires_after(config().shutdown_timeout);
    drain_deadline_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      std::cerr << "hello: shutdown timeout, cutting " << connections_.size() << " connection(s)\n";
      ForceCloseAll();
      Finish("timed out");
    });
    if (connections_.empty()) Finish("drained");
  }

  void ForceCloseAll() {
    for (Connection* connection : connections_) connection->ForceClose();
  }

  void Finish(const char* why) {
    if (finished_) return;
    finished_ = true;
    std::cerr << "hello: " << why << ", exiting\n";
    io_.stop();
  }

  net::io_context& io_;
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::steady_timer drain_deadline_;
  uint16_t port_ = 0;
  std::optional<HelloApp> app_;
  std::unordered_set<Connection*> connections_;
  bool draining_ = false;
  bool finished_ = false;
};

Connection::Connection(tcp::socket socket, Listener& listener)
    : stream_(std::move(socket)), delay_(stream_.get_executor()), listener_(&listener) {
  listener_->Add(this);
}

Connection::~Connection() {
  if (listener_ != nullptr) listener_->Remove(this);
}

void Connection::CloseIfIdle() {
  if (!waiting_for_request_) return;
  beast::error_code ec;
  // Bytes of a next request already here (read or still in the kernel): answer it.
  bool request_started =
      parser_->got_some() || buffer_.size() > 0 || stream_.socket().available(ec) > 0;
  if (!request_started) CloseSocket();
}

void Connection::ForceClose() {
  delay_.cancel();
  CloseSocket();
}

void Connection::CloseSocket() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
}

void Connection::ReadRequest() {
  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  parser_->body_limit(kMaxBodyBytes);
  waiting_for_request_ = true;
  stream_.expires_after(listener_->config().idle_timeout);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
}

void Connection::OnRead(beast::error_code ec) {
  waiting_for_request_ = false;
  if (ec) {
    // end_of_stream: the client closed between requests; timeout: idle keep-alive;
    // operation_aborted: closed by the drain. The connection simply ends.
    if (ec == http::error::end_of_stream) CloseSocket();
    return;
  }
  http::request<http::string_body>& request = parser_->get();
  started_ = Clock::now();
  http_version_ = request.version();
  client_keep_alive_ = request.keep_alive();
  head_ = request.method() == http::verb::head;
  beast::string_view target = request.target();
  std::string path(target.substr(0, target.find('?')));
  reply_ = listener_->app().Route(std::string(request.method_string()), path);
  stream_.expires_never();
  if (reply_.delay.count() > 0) {
    delay_.expires_after(reply_.delay);
    delay_.async_wait([self = shared_from_this()](beast::error_code) { self->Respond(); });
  } else {
    Respond();
  }
}

void Connection::Respond() {
  listener_->app().Finish(reply_, Clock::now() - started_);
  if (!stream_.socket().is_open()) return;  // cut by a forced shutdown while waiting
  // Once draining, every answer closes its connection so the drain converges.
  bool keep_alive = client_keep_alive_ && !listener_->draining();
  response_ = {};
  response_.version(http_version_);
  response_.result(static_cast<unsigned>(reply_.status));
  response_.set(http::field::content_type, reply_.content_type);
  if (!reply_.allow.empty()) response_.set(http::field::allow, reply_.allow);
  response_.keep_alive(keep_alive);
  response_.content_length(reply_.body.size());
  if (!head_) response_.body() = std::move(reply_.body);
  stream_.expires_after(kWriteTimeout);
  http::async_write(stream_, response_,
                    [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                      self->OnWrite(keep_alive, ec);
                    });
}

void Connection::OnWrite(bool keep_alive, beast::error_code ec) {
  if (ec) return;
  if (!keep_alive || listener_->draining()) {
    // Half-close so the client reads everything before it sees the end.
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    return;
  }
  ReadRequest();
}

}  // namespace

int RunServer(HelloConfig config,
              const std::function<void(const std::string& host, uint16_t port)>& on_listening) {
  net::io_context io(1);
  std::optional<Listener> listener;  // destroyed before io: it owns sockets on io
  try {
    listener.emplace(io, config);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + config.host + ":" + std::to_string(config.port) +
                             ": " + e.what());
  }
  listener->Start();
  on_listening(config.host, listener->port());
  io.run();
  return 0;
}

}  // namespace hello
