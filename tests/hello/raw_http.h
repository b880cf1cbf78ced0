// A deliberately small blocking HTTP/1.1 client over one TCP socket, so the tests control
// exactly when bytes are sent, which connection is reused and when it is closed (the
// graceful-shutdown test needs all three). Every wait is bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace hello::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

class RawConnection {
 public:
  // Connects to 127.0.0.1:port; nullopt with *error set to errno when refused/failed.
  static std::optional<RawConnection> Connect(uint16_t port, int* error = nullptr);
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&&) = delete;
  ~RawConnection();

  bool SendRequest(const std::string& method, const std::string& target, bool keep_alive = true);
  bool SendGet(const std::string& target, bool keep_alive = true) {
    return SendRequest("GET", target, keep_alive);
  }
  // One response (Content-Length framed); nullopt on timeout, EOF or a malformed answer.
  std::optional<RawResponse> ReadResponse(std::chrono::milliseconds timeout);
  // True when the peer closes (EOF or reset) within the timeout.
  bool WaitClosedByPeer(std::chrono::milliseconds timeout);

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string buffer_;
};

// GET on a fresh connection with "Connection: close"; nullopt on any failure.
std::optional<RawResponse> Get(uint16_t port, const std::string& target,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace hello::testing
