// The built-in pre-promotion probe: N HTTP GETs to each standby instance, directly (not
// through the router), measuring the error rate and the p99 latency. An answer that is not
// 2xx, or no answer within the timeout, is an error.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clients/http/cancel.h"
#include "reconcilers/decide.h"

namespace rollouts::reconcilers {

struct ProbeResult {
  int total = 0;
  int failed = 0;
  double error_rate = 0;  // failed / total (1 when nothing could be sent)
  double p99_ms = 0;      // over successful and failed requests alike
  std::string first_error;
};

class Prober {
 public:
  virtual ~Prober() = default;
  virtual ProbeResult Probe(const std::vector<ProbeTarget>& targets, const ProbeSpec& spec,
                            const std::shared_ptr<http::CancelToken>& cancel) = 0;
};

class HttpProber final : public Prober {
 public:
  ProbeResult Probe(const std::vector<ProbeTarget>& targets, const ProbeSpec& spec,
                    const std::shared_ptr<http::CancelToken>& cancel) override;
};

// The 99th percentile (nearest-rank) of a list of values; 0 for an empty list.
double Percentile(std::vector<double> values, double q);

}  // namespace rollouts::reconcilers
