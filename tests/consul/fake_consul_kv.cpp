#include "tests/consul/fake_consul_kv.h"

#include <nlohmann/json.hpp>

#include "clients/consul/base64.h"

namespace rollouts::consul::testing {

namespace {

std::chrono::milliseconds ParseWait(const std::string& text) {
  // Only the forms our client sends: "<n>s" and "<n>ms".
  if (text.size() > 2 && text.substr(text.size() - 2) == "ms") {
    return std::chrono::milliseconds(std::stoll(text.substr(0, text.size() - 2)));
  }
  if (!text.empty() && text.back() == 's') {
    return std::chrono::seconds(std::stoll(text.substr(0, text.size() - 1)));
  }
  return std::chrono::minutes(5);
}

}  // namespace

FakeConsulKv::FakeConsulKv() {
  timer_ = std::thread([this] { TimerLoop(); });
  server_ = http::StartServer(
      http::ServerOptions{},
      [this](http::ServerRequest r, http::Responder p) { Handle(std::move(r), std::move(p)); });
}

FakeConsulKv::~FakeConsulKv() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    WakeAllLocked();
  }
  cv_.notify_all();
  timer_.join();
  server_->Stop();
  std::lock_guard lock(mu_);
  WakeAllLocked();  // requests that arrived while stopping
}

http::Response FakeConsulKv::ReadLocked(const std::string& key) const {
  http::Response response;
  response.headers["X-Consul-Index"] = std::to_string(index_);
  response.headers["X-Consul-Knownleader"] = "true";
  response.headers["X-Consul-Lastcontact"] = "0";
  auto it = kv_.find(key);
  if (it == kv_.end()) {
    response.status = 404;
    return response;
  }
  nlohmann::json entry = {{"LockIndex", 0},
                          {"Key", key},
                          {"Flags", 0},
                          {"Value", Base64Encode(it->second.value)},
                          {"CreateIndex", it->second.create_index},
                          {"ModifyIndex", it->second.modify_index}};
  response.status = 200;
  response.headers["Content-Type"] = "application/json";
  response.body = nlohmann::json::array({entry}).dump();
  return response;
}

void FakeConsulKv::WakeAllLocked() {
  for (auto& w : waiters_) w.respond(ReadLocked(w.key));
  waiters_.clear();
}

void FakeConsulKv::Handle(http::ServerRequest request, http::Responder respond) {
  std::unique_lock lock(mu_);
  received_.push_back(request);
  if (stopping_) {
    respond(http::Response{503, {}, "shutting down"});
    return;
  }
  if (override_) {
    respond(*override_);
    return;
  }
  const std::string prefix = "/v1/kv/";
  if (request.path.rfind(prefix, 0) != 0) {
    respond(http::Response{404, {}, ""});
    return;
  }
  std::string key = request.path.substr(prefix.size());
  std::optional<uint64_t> min_index;
  std::optional<uint64_t> cas;
  std::chrono::milliseconds wait{std::chrono::minutes(5)};
  for (const auto& [k, v] : http::ParseQuery(request.query)) {
    if (k == "index") min_index = std::stoull(v);
    if (k == "wait") wait = ParseWait(v);
    if (k == "cas") cas = std::stoull(v);
  }
  if (request.method == "GET") {
    if (min_index && *min_index > 0 && index_ <= *min_index) {
      waiters_.push_back(Waiter{key, std::chrono::steady_clock::now() + wait, std::move(respond)});
      lock.unlock();
      cv_.notify_all();
      return;
    }
    respond(ReadLocked(key));
    return;
  }
  if (request.method == "PUT") {
    auto it = kv_.find(key);
    uint64_t current = it == kv_.end() ? 0 : it->second.modify_index;
    if (cas && *cas != current) {
      respond(http::Response{200, {{"Content-Type", "application/json"}}, "false"});
      return;
    }
    ++index_;
    Entry& e = kv_[key];
    if (e.create_index == 0) e.create_index = index_;
    e.modify_index = index_;
    e.value = request.body;
    WakeAllLocked();
    respond(http::Response{200, {{"Content-Type", "application/json"}}, "true"});
    return;
  }
  respond(http::Response{405, {}, "method " + request.method + " not allowed"});
}

uint64_t FakeConsulKv::Write(const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  ++index_;
  Entry& e = kv_[key];
  if (e.create_index == 0) e.create_index = index_;
  e.modify_index = index_;
  e.value = value;
  WakeAllLocked();
  return index_;
}

void FakeConsulKv::RestoreIndex(uint64_t index) {
  std::lock_guard lock(mu_);
  index_ = index;
  for (auto& [key, e] : kv_) {
    e.modify_index = std::min(e.modify_index, index);
    e.create_index = std::min(e.create_index, index);
  }
  WakeAllLocked();
}

bool FakeConsulKv::WaitForParked(size_t n) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return waiters_.size() >= n; });
}

uint64_t FakeConsulKv::index() const {
  std::lock_guard lock(mu_);
  return index_;
}

size_t FakeConsulKv::timeouts() const {
  std::lock_guard lock(mu_);
  return timeouts_;
}

std::vector<http::ServerRequest> FakeConsulKv::received() const {
  std::lock_guard lock(mu_);
  return received_;
}

void FakeConsulKv::SetOverride(std::optional<http::Response> response) {
  std::lock_guard lock(mu_);
  override_ = std::move(response);
}

void FakeConsulKv::TimerLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = std::chrono::steady_clock::now();
    auto next = now + std::chrono::seconds(1);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->deadline <= now) {
        // Timeout: Consul answers with the unchanged result and index.
        it->respond(ReadLocked(it->key));
        ++timeouts_;
        it = waiters_.erase(it);
      } else {
        next = std::min(next, it->deadline);
        ++it;
      }
    }
    cv_.wait_until(lock, next);
  }
}

}  // namespace rollouts::consul::testing
