#include "tests/hello/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace hello::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Parses a complete response at the front of buffer; removes it. nullopt if incomplete.
// Sets *malformed when the bytes cannot be a response.
std::optional<RawResponse> TakeResponse(std::string& buffer, bool* malformed) {
  auto header_end = buffer.find("\r\n\r\n");
  if (header_end == std::string::npos) return std::nullopt;
  RawResponse response;
  std::string head = buffer.substr(0, header_end);
  auto line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
    *malformed = true;
    return std::nullopt;
  }
  response.status = std::stoi(status_line.substr(9, 3));
  std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto next = head.find("\r\n", pos);
    if (next == std::string::npos) next = head.size();
    std::string line = head.substr(pos, next - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      response.headers[Lower(line.substr(0, colon))] = value;
    }
    pos = next + 2;
  }
  auto length_it = response.headers.find("content-length");
  if (length_it == response.headers.end()) {
    *malformed = true;  // hello always frames with Content-Length
    return std::nullopt;
  }
  std::size_t length = std::stoul(length_it->second);
  std::size_t body_start = header_end + 4;
  if (buffer.size() < body_start + length) return std::nullopt;
  response.body = buffer.substr(body_start, length);
  buffer.erase(0, body_start + length);
  return response;
}

}  // namespace

std::optional<RawConnection> RawConnection::Connect(uint16_t port, int* error) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error) *error = errno;
    return std::nullopt;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (error) *error = errno;
    ::close(fd);
    return std::nullopt;
  }
  return RawConnection(fd);
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(other.fd_), buffer_(std::move(other.buffer_)) {
  other.fd_ = -1;
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::SendRequest(const std::string& method, const std::string& target,
                                bool keep_alive) {
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                        (keep_alive ? "" : "Connection: close\r\n") + "\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

std::optional<RawResponse> RawConnection::ReadResponse(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    bool malformed = false;
    if (auto response = TakeResponse(buffer_, &malformed)) return response;
    if (malformed) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

bool RawConnection::WaitClosedByPeer(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    if (n < 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));  // unexpected bytes: keep waiting
  }
}

std::optional<RawResponse> Get(uint16_t port, const std::string& target,
                               std::chrono::milliseconds timeout) {
  auto connection = RawConnection::Connect(port);
  if (!connection || !connection->SendGet(target, /*keep_alive=*/false)) return std::nullopt;
  return connection->ReadResponse(timeout);
}

}  // namespace hello::testing
