#include "sandbox/consul/check_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rollouts::sandbox {
namespace {

// Go's http.StatusText for the codes a health endpoint answers with.
std::string StatusText(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

// Consul keeps at most 4 KiB of a check's output.
constexpr size_t kMaxOutput = 4096;

}  // namespace

HttpProbe::HttpProbe(std::string url) : url_(std::move(url)) {
  size_t scheme_end = url_.find("://");
  size_t path_start =
      scheme_end == std::string::npos ? std::string::npos : url_.find('/', scheme_end + 3);
  std::string base = path_start == std::string::npos ? url_ : url_.substr(0, path_start);
  target_ = path_start == std::string::npos ? "/" : url_.substr(path_start);
  try {
    client_ = http::MakeClient({base, {}});
  } catch (const std::exception& e) {
    setup_error_ = e.what();
  }
}

ProbeResult HttpProbe::Run(std::chrono::milliseconds timeout) {
  if (!client_) return {"critical", "Get \"" + url_ + "\": " + setup_error_};
  http::Request request;
  request.target = target_;
  request.timeout = timeout;
  request.headers["User-Agent"] = "Consul Health Check";
  request.headers["Accept"] = "text/plain, text/*, */*";
  http::Result result = client_->Send(request);
  if (!result.ok()) {
    std::string host_port = url_.substr(url_.find("://") + 3);
    host_port = host_port.substr(0, host_port.find('/'));
    switch (result.error().kind) {
      case http::ErrorKind::kTimeout:
        return {"critical", "Get \"" + url_ +
                                "\": context deadline exceeded (Client.Timeout exceeded while "
                                "awaiting headers)"};
      case http::ErrorKind::kConnect:
        return {"critical",
                "Get \"" + url_ + "\": dial tcp " + host_port + ": connect: connection refused"};
      default:
        return {"critical", "Get \"" + url_ + "\": " + result.error().message};
    }
  }
  const http::Response& response = result.response();
  std::string body = response.body.substr(0, kMaxOutput);
  std::string output = "HTTP GET " + url_ + ": " + std::to_string(response.status) + " " +
                       StatusText(response.status) + " Output: " + body;
  if (response.status >= 200 && response.status <= 299) return {"passing", output};
  if (response.status == 429) return {"warning", output};
  return {"critical", output};
}

ProbeResult RunTcpProbe(const std::string& host_port, std::chrono::milliseconds timeout) {
  size_t colon = host_port.rfind(':');
  std::string failure = "dial tcp " + host_port + ": ";
  if (colon == std::string::npos) return {"critical", failure + "missing port in address"};
  std::string host = host_port.substr(0, colon);
  int port = std::atoi(host_port.c_str() + colon + 1);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return {"critical", failure + "lookup " + host + ": no such host"};
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return {"critical", failure + std::strerror(errno)};
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int error = rc == 0 ? 0 : errno;
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd pfd{fd, POLLOUT, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    if (ready == 0) {
      ::close(fd);
      return {"critical", failure + "i/o timeout"};
    }
    socklen_t len = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  }
  ::close(fd);
  if (error == 0) return {"passing", "TCP connect " + host_port + ": Success"};
  if (error == ECONNREFUSED) return {"critical", failure + "connect: connection refused"};
  return {"critical", failure + "connect: " + std::strerror(error)};
}

}  // namespace rollouts::sandbox
