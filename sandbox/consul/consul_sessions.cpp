// /v1/session/* of the sandbox's Consul agent.
#include <algorithm>
#include <cctype>

#include "sandbox/common/blocking_params.h"
#include "sandbox/common/go_duration.h"
#include "sandbox/consul/consul_agent.h"
#include "sandbox/consul/consul_http.h"

namespace rollouts::sandbox {
namespace {

using ojson = nlohmann::ordered_json;

constexpr auto kMinTtl = std::chrono::seconds(10);
constexpr auto kMaxTtl = std::chrono::hours(24);
constexpr auto kDefaultLockDelay = std::chrono::seconds(15);
constexpr auto kMaxLockDelay = std::chrono::seconds(60);

// Go's encoding/json matches field names case-insensitively.
const nlohmann::json* Field(const nlohmann::json& object, const std::string& name) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it.key().size() == name.size() &&
        std::equal(name.begin(), name.end(), it.key().begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return &it.value();
    }
  }
  return nullptr;
}

// Go's json decoder error text for the common cases.
std::string DecodeError(const std::string& body, const nlohmann::json::parse_error& error) {
  if (error.byte >= body.size()) return "unexpected EOF";
  char c = body[error.byte > 0 ? error.byte - 1 : 0];
  return std::string("invalid character '") + c + "' looking for beginning of value";
}

ojson SessionJson(const Session& session) {
  return {{"ID", session.id},
          {"Name", session.name},
          {"Node", session.node},
          {"LockDelay", session.lock_delay.count()},
          {"Behavior", session.behavior},
          {"TTL", session.ttl},
          {"NodeChecks", ojson::array({"serfHealth"})},
          {"ServiceChecks", nullptr},
          {"CreateIndex", session.create_index},
          {"ModifyIndex", session.modify_index}};
}

}  // namespace

void ConsulAgent::SessionCreate(const http::ServerRequest& request, http::Responder respond) {
  Session session;
  session.node = kNodeName;
  session.lock_delay = kDefaultLockDelay;
  if (!request.body.empty()) {
    nlohmann::json body;
    try {
      body = nlohmann::json::parse(request.body);
    } catch (const nlohmann::json::parse_error& e) {
      return respond(PlainText(400, "Request decode failed: " + DecodeError(request.body, e)));
    }
    if (!body.is_object()) {
      return respond(PlainText(400, "Request decode failed: json: cannot unmarshal " +
                                        std::string(body.is_array() ? "array" : body.type_name()) +
                                        " into Go value of type structs.Session"));
    }
    auto string_field = [&](const char* name, std::string& out) -> bool {
      const nlohmann::json* value = Field(body, name);
      if (value == nullptr || value->is_null()) return true;
      if (!value->is_string()) return false;
      out = value->get<std::string>();
      return true;
    };
    std::string lock_delay_text;
    if (!string_field("Name", session.name) || !string_field("Node", session.node) ||
        !string_field("Behavior", session.behavior) || !string_field("TTL", session.ttl)) {
      return respond(PlainText(400, "Request decode failed: json: cannot unmarshal into a string"));
    }
    if (const nlohmann::json* delay = Field(body, "LockDelay"); delay && !delay->is_null()) {
      if (delay->is_number()) {
        // Consul's FixupLockDelay: small numbers are seconds, large ones nanoseconds.
        double value = delay->get<double>();
        session.lock_delay =
            std::chrono::nanoseconds(static_cast<int64_t>(value < 1000 ? value * 1e9 : value));
      } else if (delay->is_string()) {
        auto parsed = ParseGoDuration(delay->get<std::string>());
        if (!parsed) {
          return respond(PlainText(400, "Request decode failed: time: invalid duration \"" +
                                            delay->get<std::string>() + "\""));
        }
        session.lock_delay = *parsed;
      }
    }
  }
  if (session.node.empty()) session.node = kNodeName;
  if (session.behavior.empty()) session.behavior = "release";
  if (session.behavior != "release" && session.behavior != "delete") {
    return respond(PlainText(500, "Invalid Behavior setting '" + session.behavior + "'"));
  }
  if (session.node != kNodeName) {
    return respond(PlainText(500, "Missing node registration"));
  }
  session.lock_delay = std::min<std::chrono::nanoseconds>(session.lock_delay, kMaxLockDelay);
  if (!session.ttl.empty()) {
    auto ttl = ParseGoDuration(session.ttl);
    if (!ttl) {
      return respond(PlainText(500, "Session TTL '" + session.ttl +
                                        "' invalid: time: invalid duration \"" + session.ttl +
                                        "\""));
    }
    if (ttl->count() != 0 && (*ttl < kMinTtl || *ttl > kMaxTtl)) {
      return respond(PlainText(500, "Invalid Session TTL '" + std::to_string(ttl->count()) +
                                        "', must be between [10s=24h0m0s]"));
    }
    session.ttl_duration = *ttl;
  }
  Lock lock = state_->Acquire();
  session.id = NewUuid();
  while (state_->sessions().sessions.count(session.id)) session.id = NewUuid();
  session.create_index = session.modify_index = state_->NextIndex();
  state_->sessions().table_index = session.create_index;
  Session& stored = state_->sessions().sessions[session.id] = session;
  state_->ArmSessionTimer(stored);
  std::string id = session.id;
  state_->Publish(lock, {{Change::Kind::kTable, "sessions"}});
  respond(JsonWrite(ojson{{"ID", id}}));
}

void ConsulAgent::SessionDestroy(const std::string& id, http::Responder respond) {
  Lock lock = state_->Acquire();
  std::vector<Change> changes;
  if (!state_->InvalidateSession(id, changes)) state_->NextIndex();  // raft apply anyway
  state_->Publish(lock, std::move(changes));
  respond(JsonWrite(true));
}

void ConsulAgent::SessionRenew(const std::string& id, http::Responder respond) {
  Lock lock = state_->Acquire();
  auto& sessions = state_->sessions().sessions;
  auto it = sessions.find(id);
  if (it == sessions.end()) {
    lock.unlock();
    return respond(PlainText(404, "Session id '" + id + "' not found"));
  }
  state_->ArmSessionTimer(it->second);
  ojson body = ojson::array({SessionJson(it->second)});
  lock.unlock();
  respond(JsonWrite(body));
}

void ConsulAgent::SessionRead(const std::string& filter_kind, const std::string& filter,
                              const Query& query, http::Responder respond) {
  BlockingParams params = std::get<BlockingParams>(ParseBlockingParams(query));
  ConsulState* state = state_.get();
  auto current_index = [state] { return state->sessions().table_index; };
  auto render = [state, filter_kind, filter]() -> http::Response {
    ojson list = ojson::array();
    for (const auto& [id, session] : state->sessions().sessions) {
      if (filter_kind == "id" && id != filter) continue;
      if (filter_kind == "node" && session.node != filter) continue;
      list.push_back(SessionJson(session));
    }
    return JsonRead(list, state->sessions().table_index);
  };
  Lock lock = state_->Acquire();
  state_->AnswerOrPark(lock, {WatchTopic::Kind::kTable, "sessions"}, params.min_index,
                       params.blocking, params.wait, current_index, render, std::move(respond));
}

}  // namespace rollouts::sandbox
