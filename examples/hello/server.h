// The hello demo service's HTTP/1.1 server (see server.cpp for why it is built on
// Boost.Beast rather than on clients/http/server.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "examples/hello/config.h"

namespace hello {

// Binds config.host:config.port (port 0: any free port), calls on_listening with the
// bound address, then serves until SIGTERM or SIGINT and a completed drain:
//   1. the listening socket is closed (new connections are refused),
//   2. idle keep-alive connections are closed,
//   3. in-flight requests are answered with "Connection: close",
//   4. returns 0 when the last connection is gone, or once config.shutdown_timeout has
//      passed (remaining connections are cut; still 0: the drain was bounded as designed).
// Throws std::runtime_error when it cannot listen.
int RunServer(HelloConfig config,
              const std::function<void(const std::string& host, uint16_t port)>& on_listening);

}  // namespace hello
