#include "sandbox/consul/consul_state.h"

#include "sandbox/common/blocking_params.h"

namespace rollouts::sandbox {

ConsulState::ConsulState(Scheduler& scheduler) : scheduler_(scheduler) {
  // Consul registers itself as service "consul" (no checks) while it bootstraps.
  ServiceRecord consul;
  consul.registration.id = "consul";
  consul.registration.name = "consul";
  consul.registration.address = "";
  consul.registration.port = 8300;
  consul.create_index = consul.modify_index = kConsulServiceIndex;
  consul.checks_registered = true;
  consul.registered_at = std::chrono::steady_clock::now();
  catalog_.services.emplace("consul", std::move(consul));
  catalog_.service_index["consul"] = kConsulServiceIndex;
}

ConsulState::~ConsulState() {
  ReleaseAllWaiters();
}

bool ConsulState::Matches(const WatchTopic& topic, const Change& change) {
  switch (topic.kind) {
    case WatchTopic::Kind::kKey:
      return change.kind == Change::Kind::kKey && change.name == topic.name;
    case WatchTopic::Kind::kPrefix:
      return change.kind == Change::Kind::kKey &&
             change.name.compare(0, topic.name.size(), topic.name) == 0;
    case WatchTopic::Kind::kTable:
      return change.kind == Change::Kind::kTable && change.name == topic.name;
    case WatchTopic::Kind::kService:
      return change.kind == Change::Kind::kService && change.name == topic.name;
  }
  return false;
}

void ConsulState::AnswerOrPark(Lock& lock, WatchTopic topic, uint64_t min_index, bool blocking,
                               std::chrono::milliseconds wait,
                               std::function<uint64_t()> current_index,
                               std::function<http::Response()> render, http::Responder respond) {
  if (!blocking || current_index() > min_index) {
    http::Response response = render();
    lock.unlock();
    respond(std::move(response));
    return;
  }
  uint64_t id = next_waiter_id_++;
  Waiter waiter{std::move(topic),  min_index,          std::move(current_index),
                std::move(render), std::move(respond), 0};
  waiter.timer = scheduler_.After(WaitWithJitter(wait), [this, id] { OnTimeout(id); });
  waiters_.emplace(id, std::move(waiter));
  lock.unlock();
}

void ConsulState::OnTimeout(uint64_t waiter_id) {
  Lock lock(mu_);
  auto node = waiters_.extract(waiter_id);
  if (node.empty()) return;
  http::Response response = node.mapped().render();
  lock.unlock();
  node.mapped().respond(std::move(response));
}

void ConsulState::Publish(Lock& lock, std::vector<Change> changes) {
  std::set<std::string> changed_keys = kv_.TakeChangedKeys();
  for (const auto& key : changed_keys) changes.push_back({Change::Kind::kKey, key});
  if (!changed_keys.empty()) changes.push_back({Change::Kind::kTable, "kv"});
  std::vector<std::pair<http::Responder, http::Response>> answers;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    Waiter& waiter = it->second;
    bool concerned = false;
    for (const auto& change : changes) {
      if (Matches(waiter.topic, change)) {
        concerned = true;
        break;
      }
    }
    if (concerned && waiter.current_index() > waiter.min_index) {
      scheduler_.Cancel(waiter.timer);
      answers.emplace_back(std::move(waiter.respond), waiter.render());
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  lock.unlock();
  for (auto& [respond, response] : answers) respond(std::move(response));
}

bool ConsulState::InvalidateSession(const std::string& id, std::vector<Change>& changes) {
  auto it = sessions_.sessions.find(id);
  if (it == sessions_.sessions.end()) return false;
  Session session = std::move(it->second);
  sessions_.sessions.erase(it);
  if (session.expiry_timer != 0) scheduler_.Cancel(session.expiry_timer);
  uint64_t index = NextIndex();
  sessions_.table_index = index;
  kv_.InvalidateSession(id, session.behavior == "delete", session.lock_delay, index,
                        std::chrono::steady_clock::now());
  changes.push_back({Change::Kind::kTable, "sessions"});
  return true;
}

void ConsulState::ArmSessionTimer(Session& session) {
  if (session.ttl_duration.count() <= 0) return;
  if (session.expiry_timer != 0) scheduler_.Cancel(session.expiry_timer);
  // Consul invalidates a session 2x TTL after its last renew (fixture 068: 10s -> 20s).
  auto deadline = std::chrono::duration_cast<Scheduler::Clock::duration>(session.ttl_duration * 2);
  std::string id = session.id;
  auto timer = std::make_shared<Scheduler::TimerId>(0);
  session.expiry_timer =
      scheduler_.After(deadline, [this, id, timer] { OnSessionExpired(id, *timer); });
  *timer = session.expiry_timer;
}

void ConsulState::OnSessionExpired(const std::string& id, Scheduler::TimerId timer) {
  Lock lock(mu_);
  auto it = sessions_.sessions.find(id);
  // A renew re-armed the timer in between: that newer timer decides.
  if (it == sessions_.sessions.end() || it->second.expiry_timer != timer) return;
  it->second.expiry_timer = 0;
  std::vector<Change> changes;
  InvalidateSession(id, changes);
  Publish(lock, std::move(changes));
}

void ConsulState::ReleaseAllWaiters() {
  Lock lock(mu_);
  std::vector<std::pair<http::Responder, http::Response>> answers;
  for (auto& [id, waiter] : waiters_) {
    scheduler_.Cancel(waiter.timer);
    answers.emplace_back(std::move(waiter.respond), waiter.render());
  }
  waiters_.clear();
  lock.unlock();
  for (auto& [respond, response] : answers) respond(std::move(response));
}

}  // namespace rollouts::sandbox
