// rollout-controller-bench: the driver of bench/controller/run.sh (see REPORT.md).
//
//   setup    registers N two-group Nomad jobs (one small `hello` task each, TCP check) and
//            writes N Rollouts to Consul KV, then waits until every Rollout's status is
//            Healthy and every instance passes its check.
//   latency  writes a new spec.version to W distinct Rollouts, one at a time, and measures
//            how long after the KV write returned the Standby group is registered in Nomad
//            with that version (blocking query on /v1/job/<id>, parked before the write).
//   settle   waits until the given Rollouts are Healthy on the given version.
//
// Everything is plain HTTP to the agents' APIs (the same calls work on real agents).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "clients/http/http.h"

namespace {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;
constexpr int64_t kSecondNs = 1000000000;

struct Agents {
  std::unique_ptr<rollouts::http::Client> consul;
  std::unique_ptr<rollouts::http::Client> nomad;
};

std::string Name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "bench-%04d", i);
  return buf;
}

json Group(const std::string& service, const std::string& group, int count, const std::string& tag,
           const std::string& hello, int check_interval_s) {
  return {{"Name", group},
          {"Count", count},
          {"Meta", {{"version", "v1"}}},
          {"Networks", json::array({{{"DynamicPorts", json::array({{{"Label", "http"}}})}}})},
          {"Services",
           json::array({{{"Name", service},
                         {"PortLabel", "http"},
                         {"Tags", json::array({tag})},
                         {"Meta", {{"version", "v1"}}},
                         {"Checks", json::array({{{"Name", "tcp"},
                                                  {"Type", "tcp"},
                                                  {"Interval", check_interval_s * kSecondNs},
                                                  {"Timeout", kSecondNs}}})}}})},
          {"Tasks", json::array({{{"Name", "app"},
                                  {"Driver", "raw_exec"},
                                  {"Config", {{"command", hello}}},
                                  {"Env", {{"APP_VERSION", "v1"}, {"SERVICE_NAME", service}}},
                                  {"KillSignal", "SIGTERM"},
                                  {"KillTimeout", 5 * kSecondNs},
                                  {"Resources", {{"CPU", 20}, {"MemoryMB", 16}}}}})}};
}

json Job(const std::string& name, const std::string& hello, int check_interval_s) {
  return {{"Job",
           {{"ID", name},
            {"Name", name},
            {"Type", "service"},
            {"Datacenters", json::array({"dc1"})},
            {"Update",
             {{"MaxParallel", 1},
              {"HealthCheck", "checks"},
              {"MinHealthyTime", kSecondNs},
              {"HealthyDeadline", 60 * kSecondNs},
              {"ProgressDeadline", 120 * kSecondNs},
              {"AutoRevert", false},
              {"Canary", 0}}},
            {"TaskGroups",
             json::array({Group(name, "blue", 1, "active", hello, check_interval_s),
                          Group(name, "green", 0, "standby", hello, check_interval_s)})}}}};
}

// A Rollout with no analysis: the rollouts started by the latency run finish on their own
// (health gate, flip, drain, scale down) while the next writes are measured.
json Rollout(const std::string& name, const std::string& version) {
  return {{"apiVersion", "rollouts.nomad.io/v1"},
          {"kind", "Rollout"},
          {"metadata", {{"name", name}, {"labels", {{"team", "bench"}}}}},
          {"spec",
           {{"version", version},
            {"nomad",
             {{"namespace", "default"},
              {"job", name},
              {"groups", json::array({"blue", "green"})},
              {"service", name}}},
            {"template", {{"task", "app"}, {"set", {{"/Env/APP_VERSION", "{{version}}"}}}}},
            {"strategy",
             {{"blueGreen",
               {{"autoPromote", true},
                {"scaleDownDelay", "5s"},
                {"activeTag", "active"},
                {"standbyTag", "standby"}}}}},
            {"health",
             {{"minHealthyTime", "1s"}, {"healthyDeadline", "60s"}, {"progressDeadline", "3m"}}}}}};
}

rollouts::http::Result Send(rollouts::http::Client& c, rollouts::http::Method m,
                            const std::string& target, const std::string& body = "",
                            std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  rollouts::http::Request r;
  r.method = m;
  r.target = target;
  r.body = body;
  r.timeout = timeout;
  return c.Send(r);
}

// Retries transport errors and 5xx a few times (bounded, jittered); dies on anything else.
rollouts::http::Response Must(rollouts::http::Client& c, rollouts::http::Method m,
                              const std::string& target, const std::string& body = "") {
  std::string last;
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto r = Send(c, m, target, body);
    if (r.ok() && r.response().status < 500) {
      if (r.response().status >= 300) {
        throw std::runtime_error(target + ": " + std::to_string(r.response().status) + " " +
                                 r.response().body);
      }
      return r.response();
    }
    last =
        r.ok() ? std::to_string(r.response().status) + " " + r.response().body : r.error().message;
    std::this_thread::sleep_for(std::chrono::milliseconds(50 << attempt) *
                                (0.5 + 0.5 * (attempt % 2)));
  }
  throw std::runtime_error(target + ": " + last);
}

uint64_t IndexOf(const rollouts::http::Response& r, const char* header) {
  auto h = r.Header(header);
  return h ? std::stoull(*h) : 0;
}

// Runs fn(i) for i in [0, n) on `parallel` threads.
template <typename Fn>
void ParallelFor(int n, int parallel, Fn fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  std::mutex mu;
  std::exception_ptr failure;
  threads.reserve(static_cast<size_t>(parallel));
  for (int t = 0; t < parallel; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < n; i = next++) {
        try {
          fn(i);
        } catch (...) {
          std::lock_guard lock(mu);
          if (!failure) failure = std::current_exception();
          next = n;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
}

double Since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

// Status phase/activeVersion of every Rollout from one recursive KV read.
std::map<std::string, std::pair<std::string, std::string>> Statuses(Agents& a,
                                                                    const std::string& prefix) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  auto r = Send(*a.consul, rollouts::http::Method::kGet, "/v1/kv/" + prefix + "status/?recurse");
  if (!r.ok() || r.response().status != 200) return out;
  auto list = json::parse(r.response().body, nullptr, false);
  if (!list.is_array()) return out;
  for (const auto& kv : list) {
    if (!kv["Value"].is_string()) continue;
    std::string key = kv["Key"];
    // Values are base64; decode.
    static const std::string kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string in = kv["Value"], decoded;
    int val = 0, bits = -8;
    for (char ch : in) {
      auto pos = kAlphabet.find(ch);
      if (pos == std::string::npos) break;
      val = (val << 6) + static_cast<int>(pos);
      bits += 6;
      if (bits >= 0) {
        decoded.push_back(static_cast<char>((val >> bits) & 0xFF));
        bits -= 8;
      }
    }
    auto doc = json::parse(decoded, nullptr, false);
    if (!doc.is_object()) continue;
    out[key.substr(key.rfind('/') + 1)] = {doc.value("phase", ""), doc.value("activeVersion", "")};
  }
  return out;
}

// Waits until every named Rollout is Healthy with `version` active; false at the deadline.
bool WaitHealthy(Agents& a, const std::string& prefix, const std::vector<std::string>& names,
                 const std::string& version, double timeout_s) {
  auto t0 = SteadyClock::now();
  size_t last = SIZE_MAX;
  while (Since(t0) < timeout_s) {
    auto st = Statuses(a, prefix);
    size_t healthy = 0;
    for (const auto& n : names) {
      auto it = st.find(n);
      if (it != st.end() && it->second.first == "Healthy" && it->second.second == version) {
        ++healthy;
      }
    }
    if (healthy != last) {
      std::cerr << "  " << healthy << "/" << names.size() << " Healthy on " << version << " after "
                << static_cast<int>(Since(t0)) << " s\n";
      last = healthy;
    }
    if (healthy == names.size()) return true;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return false;
}

// Number of the named services whose every instance is registered and passing.
int PassingServices(Agents& a, const std::vector<std::string>& names) {
  std::atomic<int> passing{0};
  ParallelFor(static_cast<int>(names.size()), 4, [&](int i) {
    auto r = Send(*a.consul, rollouts::http::Method::kGet, "/v1/health/service/" + names[i]);
    if (!r.ok() || r.response().status != 200) return;
    auto list = json::parse(r.response().body, nullptr, false);
    if (!list.is_array() || list.empty()) return;
    for (const auto& e : list) {
      int own = 0;
      for (const auto& c : e["Checks"]) {
        if (c.value("ServiceID", "").empty()) continue;
        if (c.value("Status", "") != "passing") return;
        ++own;
      }
      if (own == 0) return;
    }
    ++passing;
  });
  return passing;
}

struct Sample {
  std::string rollout;
  std::string version;
  double write_ms = 0;     // duration of the KV PUT itself
  double observed_ms = 0;  // PUT returned -> blocking query on the job returned the new version
  double submit_ms = 0;    // PUT returned -> the job's SubmitTime (agent's wall clock)
  uint64_t job_version = 0;
  int queries = 0;  // blocking-query answers needed (1 = the first wake was it)
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  // Nearest rank.
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

json Summary(const std::vector<double>& v) {
  return {{"p50", Percentile(v, 50)},  {"p90", Percentile(v, 90)}, {"p99", Percentile(v, 99)},
          {"max", Percentile(v, 100)}, {"min", Percentile(v, 0)},  {"n", v.size()}};
}

// The version the group `group` of the job document carries (group Meta.version) and its
// count.
std::pair<std::string, int> GroupVersion(const json& job, const std::string& group) {
  for (const auto& g : job["TaskGroups"]) {
    if (g.value("Name", "") != group) continue;
    std::string v;
    if (g.contains("Meta") && g["Meta"].is_object()) v = g["Meta"].value("version", "");
    return {v, g.value("Count", 0)};
  }
  return {"", 0};
}

std::string ActiveGroup(const json& job) {
  for (const auto& g : job["TaskGroups"]) {
    for (const auto& s : g["Services"]) {
      for (const auto& t : s["Tags"]) {
        if (t == "active") return g["Name"];
      }
    }
  }
  return "";
}

Sample MeasureOne(Agents& a, const std::string& prefix, const std::string& name,
                  const std::string& version, std::chrono::milliseconds park) {
  Sample s;
  s.rollout = name;
  s.version = version;
  auto current = json::parse(Must(*a.nomad, rollouts::http::Method::kGet, "/v1/job/" + name).body);
  std::string standby = ActiveGroup(current) == "blue" ? "green" : "blue";
  // Nomad's /v1/job/<id> answers with the job's ModifyIndex but blocks on the jobs table
  // index, so blocking on it with the job's own index returns at once whenever any other
  // job changed (a busy loop). The job list (prefix = this job) answers with the table
  // index: block on that, and look at this job's JobModifyIndex on each wake.
  auto listing = Must(*a.nomad, rollouts::http::Method::kGet, "/v1/jobs?prefix=" + name);
  uint64_t table_index = IndexOf(listing, "X-Nomad-Index");
  uint64_t job_modify_index = current.value("JobModifyIndex", uint64_t{0});

  std::promise<void> parked;
  SteadyClock::time_point seen;
  json seen_job;
  std::string watch_error;
  std::thread watcher([&] {
    parked.set_value();
    auto deadline = SteadyClock::now() + std::chrono::seconds(120);
    uint64_t idx = table_index;
    uint64_t jmi = job_modify_index;
    while (SteadyClock::now() < deadline) {
      auto r = Send(*a.nomad, rollouts::http::Method::kGet,
                    "/v1/jobs?prefix=" + name + "&index=" + std::to_string(idx) + "&wait=30s", "",
                    std::chrono::seconds(40));
      auto t = SteadyClock::now();
      if (!r.ok() || r.response().status != 200) continue;
      ++s.queries;
      idx = std::max(idx, IndexOf(r.response(), "X-Nomad-Index"));
      auto list = json::parse(r.response().body, nullptr, false);
      if (!list.is_array() || list.empty()) continue;
      uint64_t now_jmi = list[0].value("JobModifyIndex", uint64_t{0});
      if (now_jmi == jmi) continue;  // another job (or this job's status) changed
      jmi = now_jmi;
      auto job = json::parse(Must(*a.nomad, rollouts::http::Method::kGet, "/v1/job/" + name).body,
                             nullptr, false);
      auto [v, count] = GroupVersion(job, standby);
      if (v == version && count > 0) {
        seen = t;
        seen_job = std::move(job);
        return;
      }
    }
    watch_error = "the standby group of " + name + " did not get " + version + " within 120 s";
  });
  parked.get_future().wait();
  // Let the blocking GET reach the agent and park before the write (a late GET would only
  // make the figure larger: it answers at once with the already registered job).
  std::this_thread::sleep_for(park);

  json doc = Rollout(name, version);
  auto t_write = SteadyClock::now();
  Must(*a.consul, rollouts::http::Method::kPut, "/v1/kv/" + prefix + "spec/" + name, doc.dump());
  auto t_returned = SteadyClock::now();
  auto wall_returned = SystemClock::now();
  watcher.join();
  if (!watch_error.empty()) throw std::runtime_error(watch_error);
  s.write_ms = std::chrono::duration<double, std::milli>(t_returned - t_write).count();
  s.observed_ms = std::chrono::duration<double, std::milli>(seen - t_returned).count();
  int64_t submit_ns = seen_job.value("SubmitTime", int64_t{0});
  int64_t returned_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(wall_returned.time_since_epoch())
          .count();
  s.submit_ms = static_cast<double>(submit_ns - returned_ns) / 1e6;
  s.job_version = seen_job.value("Version", uint64_t{0});
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rollout-controller-bench - driver of bench/controller/run.sh"};
  std::string consul_addr, nomad_addr, prefix = "rollouts/", hello, out_file;
  int count = 1000, writes = 200, stride = 0, gap_ms = 250, park_ms = 20, check_interval = 5;
  double timeout_s = 600;
  std::string version = "v2";
  app.add_option("--consul", consul_addr, "Consul HTTP address")->required();
  app.add_option("--nomad", nomad_addr, "Nomad HTTP address")->required();
  app.add_option("--kv-prefix", prefix, "KV prefix of the Rollouts")->capture_default_str();
  app.add_option("--count", count, "number of Rollouts (bench-0000 ...)")->capture_default_str();
  app.add_option("--timeout", timeout_s, "deadline of each wait, seconds")->capture_default_str();
  app.require_subcommand(1);

  auto* setup = app.add_subcommand("setup", "register N jobs, write N Rollouts, wait Healthy");
  setup->add_option("--hello", hello, "path of the hello binary (the task)")->required();
  setup->add_option("--check-interval", check_interval, "TCP check interval, seconds")
      ->capture_default_str();

  auto* latency = app.add_subcommand("latency", "KV write -> standby registered, one at a time");
  latency->add_option("--writes", writes, "number of writes")->capture_default_str();
  latency->add_option("--stride", stride, "write to Rollout i*stride (default count/writes)");
  latency->add_option("--gap-ms", gap_ms, "pause after each measured write")->capture_default_str();
  latency->add_option("--park-ms", park_ms, "time given to the blocking GET to park")
      ->capture_default_str();
  latency->add_option("--version", version, "the new spec.version")->capture_default_str();
  latency->add_option("--out", out_file, "JSON file of every sample and the summary")->required();

  auto* settle = app.add_subcommand("settle", "wait until the written Rollouts are Healthy");
  settle->add_option("--writes", writes, "as given to latency")->capture_default_str();
  settle->add_option("--stride", stride, "as given to latency");
  settle->add_option("--version", version, "the version written")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';

  Agents a;
  a.consul = rollouts::http::MakeClient({consul_addr, {}});
  a.nomad = rollouts::http::MakeClient({nomad_addr, {}});
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) names.push_back(Name(i));

  try {
    if (*setup) {
      auto t0 = SteadyClock::now();
      ParallelFor(count, 4, [&](int i) {
        Must(*a.nomad, rollouts::http::Method::kPost, "/v1/jobs",
             Job(names[i], hello, check_interval).dump());
      });
      double registered_s = Since(t0);
      std::cerr << count << " jobs registered in " << registered_s << " s\n";
      auto t1 = SteadyClock::now();
      ParallelFor(count, 4, [&](int i) {
        Must(*a.consul, rollouts::http::Method::kPut, "/v1/kv/" + prefix + "spec/" + names[i],
             Rollout(names[i], "v1").dump());
      });
      std::cerr << count << " Rollouts written in " << Since(t1) << " s\n";
      if (!WaitHealthy(a, prefix, names, "v1", timeout_s)) {
        std::cerr << "not every Rollout became Healthy within " << timeout_s << " s\n";
        return 1;
      }
      double healthy_s = Since(t1);
      auto t2 = SteadyClock::now();
      int passing = 0;
      while (Since(t2) < timeout_s) {
        passing = PassingServices(a, names);
        if (passing == count) break;
        std::cerr << "  " << passing << "/" << count << " services passing\n";
        std::this_thread::sleep_for(std::chrono::seconds(2));
      }
      if (passing != count) {
        std::cerr << "only " << passing << "/" << count << " services passing\n";
        return 1;
      }
      json out = {{"jobs_registered_s", registered_s},
                  {"rollouts_healthy_s", healthy_s},
                  {"all_passing_s", Since(t0)}};
      std::cout << out.dump() << "\n";
      return 0;
    }
    if (writes > count) throw std::runtime_error("--writes must not exceed --count");
    if (stride <= 0) stride = std::max(1, count / writes);
    if (static_cast<int64_t>(writes - 1) * stride >= count) {
      throw std::runtime_error("--stride too large: the writes would repeat a Rollout");
    }
    std::vector<std::string> targets;
    targets.reserve(static_cast<size_t>(writes));
    for (int i = 0; i < writes; ++i) targets.push_back(Name(i * stride));
    if (*latency) {
      std::vector<Sample> samples;
      for (const auto& name : targets) {
        samples.push_back(MeasureOne(a, prefix, name, version, std::chrono::milliseconds(park_ms)));
        std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
      }
      std::vector<double> observed, submit, write;
      json rows = json::array();
      for (const auto& s : samples) {
        observed.push_back(s.observed_ms);
        submit.push_back(s.submit_ms);
        write.push_back(s.write_ms);
        rows.push_back({{"rollout", s.rollout},
                        {"version", s.version},
                        {"kv_put_ms", s.write_ms},
                        {"observed_ms", s.observed_ms},
                        {"submit_ms", s.submit_ms},
                        {"job_version", s.job_version},
                        {"blocking_answers", s.queries}});
      }
      json out = {{"writes", writes},
                  {"gap_ms", gap_ms},
                  {"park_ms", park_ms},
                  {"observed_ms", Summary(observed)},
                  {"submit_ms", Summary(submit)},
                  {"kv_put_ms", Summary(write)},
                  {"samples", rows}};
      std::ofstream(out_file) << out.dump(2) << "\n";
      std::cout << json{{"observed_ms", out["observed_ms"]},
                        {"submit_ms", out["submit_ms"]},
                        {"kv_put_ms", out["kv_put_ms"]}}
                       .dump()
                << "\n";
      return 0;
    }
    if (*settle) {
      auto t0 = SteadyClock::now();
      if (!WaitHealthy(a, prefix, targets, version, timeout_s)) return 1;
      std::cout << json{{"settled_s", Since(t0)}}.dump() << "\n";
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
