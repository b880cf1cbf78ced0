#include "reconcilers/prober.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "clients/http/http.h"

namespace rollouts::reconcilers {

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

ProbeResult HttpProber::Probe(const std::vector<ProbeTarget>& targets, const ProbeSpec& spec,
                              const std::shared_ptr<http::CancelToken>& cancel) {
  ProbeResult out;
  std::vector<double> latencies;
  for (const ProbeTarget& t : targets) {
    auto client = http::MakeClient({"http://" + t.address + ":" + std::to_string(t.port), {}});
    for (int i = 0; i < spec.requests; ++i) {
      if (cancel && cancel->cancelled()) break;
      http::Request req;
      req.target = spec.path;
      req.timeout = spec.timeout;
      req.cancel = cancel;
      auto start = std::chrono::steady_clock::now();
      http::Result r = client->Send(req);
      latencies.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      ++out.total;
      bool ok = r.ok() && r.response().status >= 200 && r.response().status < 300;
      if (!ok) {
        ++out.failed;
        if (out.first_error.empty()) {
          out.first_error = t.instance_id + ": " +
                            (r.ok() ? "HTTP " + std::to_string(r.response().status)
                                    : std::string(http::ErrorKindName(r.error().kind)) + ": " +
                                          r.error().message);
        }
      }
    }
  }
  out.error_rate = out.total == 0 ? 1.0 : static_cast<double>(out.failed) / out.total;
  if (out.total == 0 && out.first_error.empty()) out.first_error = "no probe request was sent";
  out.p99_ms = Percentile(latencies, 0.99);
  return out;
}

}  // namespace rollouts::reconcilers
