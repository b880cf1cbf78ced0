#include "router/haproxy_runtime.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace rollouts::router {
namespace {

// The fd closes with the object, on every return path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string ErrnoText(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Waits until fd is ready for `events` or the deadline passes.
bool WaitFor(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

std::vector<std::string> Fields(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string f;
  while (in >> f) out.push_back(f);
  return out;
}

bool ToInt(const std::string& s, int* out) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *out = std::stoi(s);
  return true;
}

}  // namespace

UnixSocketRuntime::UnixSocketRuntime(std::string path, std::chrono::milliseconds timeout)
    : path_(std::move(path)), timeout_(timeout) {}

RuntimeAnswer UnixSocketRuntime::Execute(const std::string& command_line) {
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) return {false, "socket path too long: " + path_};
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return {false, ErrnoText("socket")};
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 &&
      errno != EINPROGRESS) {
    return {false, ErrnoText("connect " + path_)};
  }
  std::string line = command_line + "\n";
  size_t off = 0;
  while (off < line.size()) {
    if (!WaitFor(fd.get(), POLLOUT, deadline)) return {false, "timed out sending to " + path_};
    ssize_t n = ::send(fd.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return {false, ErrnoText("send to " + path_)};
    off += static_cast<size_t>(n);
  }
  std::string answer;
  std::array<char, 16384> buf{};
  for (;;) {
    if (!WaitFor(fd.get(), POLLIN, deadline)) {
      return {false, "timed out waiting for the answer of " + path_};
    }
    ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return {false, ErrnoText("recv from " + path_)};
    if (n == 0) break;  // HAProxy closes after the last answer in non-interactive mode
    answer.append(buf.data(), static_cast<size_t>(n));
  }
  return {true, answer};
}

bool ServerState::Routable() const {
  constexpr int kForcedMaint = 0x01, kInheritedMaint = 0x02, kForcedDrain = 0x08,
                kInheritedDrain = 0x10, kResolverMaint = 0x20;
  return operational == 2 && (admin & (kForcedMaint | kInheritedMaint | kForcedDrain |
                                       kInheritedDrain | kResolverMaint)) == 0;
}

std::optional<std::vector<ServerState>> ParseServersState(const std::string& text,
                                                          std::string* error) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != "1") {
    *error = "not a version 1 'show servers state' answer: " + text.substr(0, 200);
    return std::nullopt;
  }
  if (!std::getline(in, line) || line.rfind("# ", 0) != 0) {
    *error = "'show servers state' answer without its header line";
    return std::nullopt;
  }
  // Columns by name: later HAProxy versions append columns, never reorder the named ones.
  std::map<std::string, size_t> col;
  auto names = Fields(line.substr(2));
  for (size_t i = 0; i < names.size(); ++i) col[names[i]] = i;
  for (const char* need : {"be_name", "srv_name", "srv_addr", "srv_op_state", "srv_admin_state",
                           "srv_uweight", "srv_port"}) {
    if (col.count(need) == 0) {
      *error = std::string("'show servers state' has no column ") + need;
      return std::nullopt;
    }
  }
  std::vector<ServerState> out;
  bool ended = false;
  while (std::getline(in, line)) {
    if (line.empty()) {
      ended = true;  // the blank line that ends every answer
      continue;
    }
    auto f = Fields(line);
    if (ended || f.size() < names.size()) {
      *error = "unexpected line in 'show servers state': " + line.substr(0, 200);
      return std::nullopt;
    }
    ServerState s;
    s.backend = f[col["be_name"]];
    s.server = f[col["srv_name"]];
    s.address = f[col["srv_addr"]];
    if (!ToInt(f[col["srv_port"]], &s.port) || !ToInt(f[col["srv_op_state"]], &s.operational) ||
        !ToInt(f[col["srv_admin_state"]], &s.admin) || !ToInt(f[col["srv_uweight"]], &s.weight)) {
      *error = "unreadable numbers in 'show servers state' line: " + line.substr(0, 200);
      return std::nullopt;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<std::map<std::string, std::string>> ParseMapEntries(const std::string& text,
                                                                  std::string* error) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto f = Fields(line);
    if (f.size() != 3 || f[0].rfind("0x", 0) != 0) {
      *error = "not a 'show map' answer: " + text.substr(0, 200);
      return std::nullopt;
    }
    out[f[1]] = f[2];
  }
  return out;
}

bool IsSafeRuntimeArgument(const std::string& arg) {
  if (arg.empty()) return false;
  for (char c : arg) {
    if (c == ' ' || c == ';' || c == '\\' || c == '\n' || c == '\r' || c == '\t' ||
        static_cast<unsigned char>(c) < 0x20) {
      return false;
    }
  }
  return true;
}

}  // namespace rollouts::router
