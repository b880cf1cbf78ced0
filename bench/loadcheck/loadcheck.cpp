// rollout-loadcheck: a steady, paced HTTP sampler that records every response (send time,
// latency, status, which version answered). wrk gives the load and the totals; this gives
// the per-request timeline a zero-downtime claim needs: no error at any instant, which
// version served each request, and latency in steady state vs around each flip.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>
#include <vector>

#include "clients/http/http.h"

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};

struct Sample {
  int64_t t_ms;    // wall clock (epoch ms) when the request was sent
  int64_t lat_us;  // until the full response arrived
  int status;      // 0 on a transport error
  std::string version;
  std::string error;
};

// The demo service answers {"version": "..."} on success and "... from <version>" on an
// injected error; other services may send an X-Version header.
std::string VersionOf(const rollouts::http::Response& r) {
  if (auto h = r.Header("X-Version")) return *h;
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (doc.is_object() && doc.contains("version") && doc["version"].is_string()) {
    return doc["version"].get<std::string>();
  }
  static const std::regex kFrom(R"(from (\S+))");
  std::smatch m;
  if (std::regex_search(r.body, m, kFrom)) return m[1];
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rollout-loadcheck - paced HTTP sampler recording every response"};
  std::string base, path = "/hello", out_file, host;
  double rate = 100;
  int concurrency = 4;
  double duration_s = 10;
  int64_t max_requests = 0;
  app.add_option("--url", base, "base URL, e.g. http://127.0.0.1:8080")->required();
  app.add_option("--path", path, "request path")->capture_default_str();
  app.add_option("--host", host, "Host header");
  app.add_option("--rate", rate, "requests per second in total")->check(CLI::Range(1.0, 100000.0));
  app.add_option("--concurrency", concurrency, "connections")->check(CLI::Range(1, 256));
  app.add_option("--duration", duration_s, "seconds to run (until SIGINT/SIGTERM if 0)");
  app.add_option("--max-requests", max_requests, "stop after this many requests (0: no limit)");
  app.add_option("--out", out_file, "write one JSON line per response here")->required();
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });

  std::ofstream out(out_file);
  if (!out) {
    std::cerr << "cannot write " << out_file << "\n";
    return 2;
  }
  std::mutex out_mu;
  std::atomic<int64_t> sent{0}, errors{0}, non2xx{0};
  auto start = Clock::now();
  auto end = duration_s > 0
                 ? start + std::chrono::milliseconds(static_cast<int64_t>(duration_s * 1000))
                 : Clock::time_point::max();
  // Each connection sends at rate/concurrency on its own fixed schedule, so a slow
  // response delays only its own connection (and shows as latency, not as lost load).
  auto period = std::chrono::nanoseconds(static_cast<int64_t>(1e9 * concurrency / rate));
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&, w] {
      auto client = rollouts::http::MakeClient({base, {}});
      auto next = start + period * w / concurrency;
      while (!g_stop && Clock::now() < end) {
        if (max_requests > 0 && sent.fetch_add(1) >= max_requests) break;
        if (max_requests == 0) sent.fetch_add(1);
        std::this_thread::sleep_until(next);
        next += period;
        rollouts::http::Request req;
        req.target = path;
        req.timeout = std::chrono::seconds(10);
        if (!host.empty()) req.headers["Host"] = host;
        auto t0 = Clock::now();
        int64_t wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
        auto r = client->Send(req);
        auto lat = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
        Sample s{wall, lat, 0, "", ""};
        if (r.ok()) {
          s.status = r.response().status;
          s.version = VersionOf(r.response());
          if (s.status < 200 || s.status >= 300) non2xx++;
        } else {
          s.error =
              std::string(rollouts::http::ErrorKindName(r.error().kind)) + ": " + r.error().message;
          errors++;
        }
        nlohmann::json line = {
            {"t", s.t_ms}, {"lat_us", s.lat_us}, {"status", s.status}, {"version", s.version}};
        if (!s.error.empty()) line["error"] = s.error;
        std::lock_guard lock(out_mu);
        out << line.dump() << "\n";
      }
    });
  }
  for (auto& t : workers) t.join();
  out.flush();
  int64_t total = max_requests > 0 ? std::min<int64_t>(sent.load(), max_requests) : sent.load();
  std::cout << nlohmann::json{{"requests", total},
                              {"non2xx", non2xx.load()},
                              {"errors", errors.load()}}
                   .dump()
            << "\n";
  return 0;
}
