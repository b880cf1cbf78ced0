// One run of a Consul HTTP or TCP health check, with Consul's status rules and output
// text ("HTTP GET <url>: 200 OK Output: ...", "TCP connect <addr>: Success").
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "clients/http/http.h"

namespace rollouts::sandbox {

struct ProbeResult {
  std::string status;  // "passing" | "warning" | "critical"
  std::string output;
};

// Reuses one HTTP client per check, as Consul's checker keeps its http.Client.
class HttpProbe {
 public:
  explicit HttpProbe(std::string url);
  ProbeResult Run(std::chrono::milliseconds timeout);

 private:
  std::string url_;
  std::string target_;
  std::unique_ptr<http::Client> client_;
  std::string setup_error_;
};

ProbeResult RunTcpProbe(const std::string& host_port, std::chrono::milliseconds timeout);

}  // namespace rollouts::sandbox
