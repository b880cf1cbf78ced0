// What the hello service answers, independent of how bytes reach it: the server asks
// Route() for a Reply, waits Reply::delay on a timer (never blocking its loop), then
// sends it and reports back with Finish().
#pragma once

#include <chrono>
#include <random>
#include <string>

#include "examples/hello/config.h"
#include "examples/hello/metrics.h"

namespace hello {

struct Reply {
  int status = 200;
  std::string content_type;
  std::string body;
  std::chrono::milliseconds delay{0};  // LATENCY_MS, for application paths only
  bool counted = false;                // counted in http_requests_total
  std::string allow;                   // Allow header for 405
};

class HelloApp {
 public:
  // config.instance must be final (the server fills hostname:port once bound).
  explicit HelloApp(const HelloConfig& config);

  Reply Route(const std::string& method, const std::string& path);
  // Called once the reply is handed to the connection (after its delay).
  void Finish(const Reply& reply, std::chrono::steady_clock::duration elapsed);

  const HelloConfig& config() const { return config_; }

 private:
  bool DrawError();

  HelloConfig config_;
  std::string hello_body_;  // constant for the life of the process: built once
  HelloMetrics metrics_;
  std::mt19937_64 random_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
};

}  // namespace hello
