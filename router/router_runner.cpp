#include "router/router_runner.h"

#include <glog/logging.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <variant>

#include "api/declared_version.h"
#include "clients/consul/blocking.h"
#include "clients/http/http.h"

namespace rollouts::router {

std::vector<Instance> ToInstances(const std::vector<consul::ServiceEntry>& entries) {
  std::vector<Instance> out;
  out.reserve(entries.size());
  for (const auto& e : entries) {
    Instance i;
    i.id = e.service.id;
    i.address = consul::ServiceAddress(e);
    i.port = e.service.port;
    i.tags = e.service.tags;
    auto v = e.service.meta.find("version");
    if (v != e.service.meta.end()) i.version = v->second;
    i.ready = consul::IsReady(e);
    out.push_back(std::move(i));
  }
  return out;
}

std::string RouterRunner::not_ready_reason() const {
  if (!ready_) return "the report is not written to " + options_.kv_prefix + "routers/ yet";
  std::lock_guard lock(reason_mu_);
  return "the proxy does not serve the selected routes: " + apply_error_;
}

RouterRunner::RouterRunner(consul::ConsulClient& consul, RouterCore& core,
                           RouterRunnerOptions options, RouterMetrics* metrics)
    : consul_(consul), core_(core), options_(std::move(options)), metrics_(metrics) {}

namespace {

// Asks the proxy, through the live listener, which instance answered (the X-Upstream
// header both routers add) until it is one of `want`: then the new routes serve.
bool ProxyServes(const std::string& listen, const std::string& host,
                 const std::vector<Backend>& want, std::chrono::milliseconds timeout,
                 const http::CancelToken& stop) {
  if (want.empty()) return true;
  std::set<std::string> wanted;
  for (const Backend& b : want) wanted.insert(b.address + ":" + std::to_string(b.port));
  auto client = http::MakeClient({"http://" + listen, {}});
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline && !stop.cancelled()) {
    http::Request req;
    req.method = http::Method::kHead;
    req.target = "/";
    req.headers["Host"] = host;
    req.timeout = std::chrono::seconds(1);
    http::Result r = client->Send(req);
    if (r.ok()) {
      auto upstream = r.response().Header("X-Upstream").value_or("");
      // $upstream_addr lists every try ("a, b") when proxy_next_upstream moved on.
      auto last = upstream.rfind(", ");
      if (last != std::string::npos) upstream = upstream.substr(last + 2);
      if (wanted.count(upstream) > 0) return true;
    }
    if (!stop.SleepFor(std::chrono::milliseconds(20))) return false;
  }
  return false;
}

}  // namespace

void RouterRunner::Run(const std::shared_ptr<http::CancelToken>& stop) {
  std::mutex mu;
  std::condition_variable cv;
  bool dirty = true;
  // When the oldest Consul change not yet applied arrived (for the switch latency).
  std::optional<std::chrono::steady_clock::time_point> change_seen;
  int stop_sub = stop->Subscribe([&] { cv.notify_all(); });

  consul::BlockingPolicy policy;
  policy.wait = options_.blocking_wait;
  policy.min_interval = std::chrono::milliseconds(0);  // flips must be seen at once

  std::vector<std::thread> watchers;
  for (const RoutedService& s : core_.services()) {
    watchers.emplace_back([&, service = s.service] {
      consul::BlockingWatcher<std::vector<consul::ServiceEntry>> watcher(
          [&](const consul::QueryOptions& q) { return consul_.HealthService(service, {}, q); },
          policy, stop);
      while (!stop->cancelled()) {
        auto poll = watcher.PollOnce();
        if (!poll.result.ok()) {
          if (poll.result.error().kind != consul::ApiErrorKind::kCancelled) {
            LOG(WARNING) << "health watch " << service << ": " << poll.result.error().ToString();
            if (metrics_ != nullptr) metrics_->RecordWatchError("health", service);
          }
          continue;
        }
        // Every answer counts for freshness, also a blocking query that timed out unchanged.
        if (metrics_ != nullptr) {
          metrics_->RecordWatchSuccess("health", service, std::chrono::system_clock::now());
        }
        if (!poll.changed) continue;
        {
          std::lock_guard lock(mu);
          core_.SetInstances(service, ToInstances(poll.result.value().value),
                             poll.result.value().meta.index);
          dirty = true;
          if (!change_seen) change_seen = std::chrono::steady_clock::now();
        }
        cv.notify_all();
      }
    });
  }
  watchers.emplace_back([&] {
    consul::BlockingWatcher<std::vector<consul::KvPair>> watcher(
        [&](const consul::QueryOptions& q) {
          return consul_.KvList(options_.kv_prefix + "status/", q);
        },
        policy, stop);
    std::map<std::string, std::optional<std::string>> last_declared;
    std::map<std::string, std::string> unreadable_status;  // by rollout: what was logged
    while (!stop->cancelled()) {
      auto poll = watcher.PollOnce();
      if (!poll.result.ok()) {
        if (poll.result.error().kind != consul::ApiErrorKind::kCancelled) {
          LOG(WARNING) << "status watch: " << poll.result.error().ToString();
        }
        continue;
      }
      if (metrics_ != nullptr) {
        metrics_->RecordWatchSuccess("status", "", std::chrono::system_clock::now());
      }
      if (!poll.changed) continue;
      std::map<std::string, std::optional<std::string>> declared;
      for (const RoutedService& s : core_.services()) declared[s.rollout] = std::nullopt;
      for (const consul::KvPair& kv : poll.result.value().value) {
        std::string rollout = kv.key.substr(options_.kv_prefix.size() + 7);
        if (declared.count(rollout) == 0) continue;
        auto decoded = api::DecodeDeclaredVersion(kv.value);
        if (auto* version = std::get_if<std::optional<std::string>>(&decoded)) {
          declared[rollout] = std::move(*version);
          unreadable_status.erase(rollout);
          continue;
        }
        // A status that is not a status document declares nothing new: keep serving what
        // the last readable one declared rather than fall back to following tags.
        declared[rollout] = last_declared[rollout];
        const std::string& why = std::get<std::string>(decoded);
        if (unreadable_status[rollout] != why) {
          LOG(WARNING) << "status of " << rollout << " is unreadable (" << why
                       << "); keeping its last declared version";
          unreadable_status[rollout] = why;
        }
      }
      last_declared = declared;
      {
        std::lock_guard lock(mu);
        for (auto& [rollout, version] : declared) core_.SetDeclaredVersion(rollout, version);
        dirty = true;
        if (!change_seen) change_seen = std::chrono::steady_clock::now();
      }
      cv.notify_all();
    }
  });

  std::string session;
  auto report_key = options_.kv_prefix + "routers/" + options_.router_id;
  auto last_renew = std::chrono::steady_clock::now();
  http::Backoff backoff({std::chrono::milliseconds(200), std::chrono::seconds(5), 2.0, 0.5});
  bool need_publish = true;
  auto last_sync = std::chrono::steady_clock::now();
  std::string last_logged_error;
  auto wake_every =
      std::min<std::chrono::milliseconds>(options_.session_ttl / 4, options_.resync_interval);
  while (!stop->cancelled()) {
    {
      std::unique_lock lock(mu);
      cv.wait_for(lock, wake_every, [&] { return dirty || stop->cancelled(); });
      if (stop->cancelled()) break;
      if (std::chrono::steady_clock::now() - last_sync >= options_.resync_interval) dirty = true;
      if (dirty) {
        dirty = false;
        last_sync = std::chrono::steady_clock::now();
        auto seen = change_seen;
        change_seen.reset();
        SyncOutcome out = core_.Sync(std::chrono::system_clock::now());
        bool failed = out.apply.outcome == ApplyResult::Outcome::kRejected ||
                      out.apply.outcome == ApplyResult::Outcome::kApplyFailed;
        if (failed && (!apply_failing_ || out.apply.message != last_logged_error)) {
          LOG(ERROR) << "the proxy did not take the new routes; the last good ones serve: "
                     << out.apply.message;
          last_logged_error = out.apply.message;
        }
        if (!failed && apply_failing_) LOG(INFO) << "the proxy serves the selected routes again";
        {
          std::lock_guard reason_lock(reason_mu_);
          apply_error_ = failed ? out.apply.message : "";
        }
        apply_failing_ = failed;
        if (out.apply.outcome == ApplyResult::Outcome::kChanged) {
          auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
              std::chrono::steady_clock::now() - seen.value_or(last_sync));
          if (metrics_ != nullptr && seen) metrics_->RecordSwitchLatency(latency);
          for (const RoutedService& s : core_.services()) {
            std::string set;
            for (const Backend& b : core_.AppliedBackends(s.service)) {
              set += (set.empty() ? "" : ", ") + b.address + ":" + std::to_string(b.port);
            }
            LOG(INFO) << "applied " << s.service << ": "
                      << core_.report()["services"][s.service].value("version", "") << " on ["
                      << set << "], " << latency.count() / 1000.0
                      << " ms after Consul's change arrived";
          }
          lock.unlock();
          for (const RoutedService& s : core_.services()) {
            if (!ProxyServes(s.listen, s.service, core_.AppliedBackends(s.service),
                             options_.verify_timeout, *stop)) {
              LOG(WARNING) << "the proxy does not serve the new " << s.service
                           << " set yet; reporting anyway after " << options_.verify_timeout.count()
                           << " ms";
              if (metrics_ != nullptr) metrics_->RecordVerifyTimeout(s.service);
            }
          }
          lock.lock();
        }
        need_publish = need_publish || out.report_changed;
      }
    }
    // Session upkeep and publishing the report.
    auto now = std::chrono::steady_clock::now();
    if (!session.empty() && now - last_renew >= options_.session_ttl / 2) {
      auto renewed = consul_.SessionRenew(session);
      if (!renewed.ok()) {
        LOG(WARNING) << "router session renew: " << renewed.error().ToString();
        if (metrics_ != nullptr) metrics_->RecordSessionError("renew");
        if (renewed.error().kind == consul::ApiErrorKind::kNotFound) session.clear();
      } else {
        last_renew = now;
      }
    }
    if (session.empty()) {
      consul::SessionRequest req;
      req.name = "rollout-router " + options_.router_id;
      req.ttl = options_.session_ttl;
      req.behavior = "delete";
      req.lock_delay = std::chrono::milliseconds(0);
      auto created = consul_.SessionCreate(req);
      if (!created.ok()) {
        LOG(WARNING) << "router session create: " << created.error().ToString();
        if (metrics_ != nullptr) metrics_->RecordSessionError("create");
        stop->SleepFor(backoff.Next());
        continue;
      }
      backoff.Reset();
      session = created.value();
      last_renew = now;
      need_publish = true;
    }
    if (need_publish) {
      std::string body;
      {
        std::lock_guard lock(mu);
        body = core_.report().dump();
      }
      consul::PutOptions put;
      put.acquire = session;
      auto put_result = consul_.KvPut(report_key, body, put);
      if (metrics_ != nullptr) {
        metrics_->RecordReportWrite(!put_result.ok()     ? RouterMetrics::ReportWrite::kError
                                    : put_result.value() ? RouterMetrics::ReportWrite::kOk
                                                         : RouterMetrics::ReportWrite::kLockHeld);
      }
      if (put_result.ok() && put_result.value()) {
        need_publish = false;
        ready_ = true;
      } else {
        LOG(WARNING) << "router report not written: "
                     << (put_result.ok() ? "lock held by another session"
                                         : put_result.error().ToString());
        stop->SleepFor(backoff.Next());
      }
    }
  }
  ready_ = false;
  stop->Unsubscribe(stop_sub);
  for (auto& t : watchers) t.join();
  if (!session.empty()) consul_.SessionDestroy(session);  // Behavior=delete drops the report
}

}  // namespace rollouts::router
