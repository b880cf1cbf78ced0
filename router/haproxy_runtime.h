// HAProxy's runtime API (the "stats socket" at level admin): one connection per command
// line, the answer is everything HAProxy writes before it closes the connection. Several
// commands may share a line, separated by ';' (their answers are concatenated). What a
// command changed is never taken from its answer text (which varies between versions and
// is informational for most `set` commands) but read back with `show servers state` and
// `show map`, parsed here.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rollouts::router {

struct RuntimeAnswer {
  bool ok = false;   // the exchange happened (connected, sent, read to the end)
  std::string text;  // HAProxy's answer (ok) or why the exchange failed (!ok)
};

class HaproxyRuntime {
 public:
  virtual ~HaproxyRuntime() = default;
  virtual RuntimeAnswer Execute(const std::string& command_line) = 0;
};

// The real socket: a Unix stream socket at `path`; every exchange is bounded by `timeout`.
class UnixSocketRuntime final : public HaproxyRuntime {
 public:
  explicit UnixSocketRuntime(std::string path,
                             std::chrono::milliseconds timeout = std::chrono::seconds(2));
  RuntimeAnswer Execute(const std::string& command_line) override;

 private:
  std::string path_;
  std::chrono::milliseconds timeout_;
};

// One server line of `show servers state` (format version 1).
struct ServerState {
  std::string backend;
  std::string server;
  std::string address;
  int port = 0;
  int operational = 0;  // srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping
  int admin = 0;        // srv_admin_state: bit flags, see Routable()
  int weight = 0;       // srv_uweight
  // Receives new requests: running, not in forced/inherited/resolver maintenance and not
  // draining. (0x04, "disabled" in the config, alone does not stop traffic once the
  // forced flag is cleared by `set server ... state ready`.)
  bool Routable() const;
  std::string Endpoint() const { return address + ":" + std::to_string(port); }
};

// Parses the answer to `show servers state [backend]`; nullopt (with *error set) when the
// text is not that answer (an error message, a different format version, a cut line).
std::optional<std::vector<ServerState>> ParseServersState(const std::string& text,
                                                          std::string* error);

// Parses the answer to `show map <file>` ("<entry-id> <key> <value>" lines) into key ->
// value; nullopt (with *error set) for an error answer such as "Unknown map identifier".
std::optional<std::map<std::string, std::string>> ParseMapEntries(const std::string& text,
                                                                  std::string* error);

// Quotes nothing: the runtime API has no quoting, so every argument we send is checked
// here to hold no separator (space, ';', newline) and no escape.
bool IsSafeRuntimeArgument(const std::string& arg);

}  // namespace rollouts::router
