// Routing, ACL, status and KV endpoints of the sandbox's Consul agent. Sessions are in
// consul_sessions.cpp, /v1/txn in consul_txn.cpp, catalog/health in consul_health.cpp.
#include "sandbox/consul/consul_agent.h"

#include <algorithm>
#include <set>

#include "sandbox/common/blocking_params.h"
#include "sandbox/consul/consul_http.h"
#include "sandbox/consul/kv_json.h"

namespace rollouts::sandbox {
namespace {

// Consul refuses KV values above kv_max_value_size (512 KiB by default).
constexpr size_t kMaxValueSize = 512 * 1024;

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// strconv.ParseUint as Consul's handlers call it; the error is their 500 body.
std::optional<uint64_t> ParseUint(const std::string& text, std::string& error) {
  bool digits = !text.empty() &&
                std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    try {
      return std::stoull(text);
    } catch (const std::exception&) {
      error = "strconv.ParseUint: parsing \"" + text + "\": value out of range";
      return std::nullopt;
    }
  }
  error = "strconv.ParseUint: parsing \"" + text + "\": invalid syntax";
  return std::nullopt;
}

std::string RequestToken(const http::ServerRequest& request,
                         const std::vector<std::pair<std::string, std::string>>& query) {
  if (auto it = request.headers.find("X-Consul-Token"); it != request.headers.end())
    return it->second;
  if (HasParam(query, "token")) return ParamValue(query, "token");
  if (auto it = request.headers.find("Authorization"); it != request.headers.end()) {
    if (StartsWith(it->second, "Bearer ")) return it->second.substr(7);
  }
  return "";
}

}  // namespace

ConsulAgent::ConsulAgent(ConsulAgentOptions options)
    : options_(std::move(options)),
      state_(std::make_unique<ConsulState>(scheduler_)),
      catalog_(std::make_unique<ConsulCatalog>(*state_, options_.check_registration_delay)) {}

ConsulAgent::~ConsulAgent() {
  Shutdown();
}

void ConsulAgent::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  catalog_->Shutdown();
  state_->ReleaseAllWaiters();
  scheduler_.Stop();
}

void ConsulAgent::Handle(http::ServerRequest request, http::Responder respond) {
  Query query = http::ParseQuery(request.query);
  if (!options_.acl_token.empty() && StartsWith(request.path, "/v1/") &&
      !StartsWith(request.path, "/v1/status/")) {
    std::string token = RequestToken(request, query);
    // With default_policy=deny the anonymous token may do nothing; a token the agent
    // does not know is rejected before any policy is looked at.
    if (token.empty()) return respond(PlainText(403, "Permission denied"));
    if (token != options_.acl_token) return respond(PlainText(403, "ACL not found"));
  }
  Route(request, query, std::move(respond));
}

void ConsulAgent::Route(const http::ServerRequest& request, const Query& query,
                        http::Responder respond) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  auto not_allowed = [&] { respond(PlainText(405, "method " + method + " not allowed")); };
  // Every read endpoint parses ?index/&wait first (400 before anything else).
  if (method == "GET") {
    auto parsed = ParseBlockingParams(query);
    if (auto* error = std::get_if<std::string>(&parsed)) return respond(PlainText(400, *error));
  }

  if (path == "/v1/status/leader" || path == "/v1/status/peers") {
    if (method != "GET") return not_allowed();
    nlohmann::ordered_json body = "127.0.0.1:8300";
    if (path == "/v1/status/peers") body = nlohmann::ordered_json::array({"127.0.0.1:8300"});
    return respond(JsonWrite(body));
  }
  if (StartsWith(path, "/v1/kv/")) {
    std::string key = path.substr(7);
    if (method == "GET") return KvGet(key, query, std::move(respond));
    if (method == "PUT") return KvPut(key, request, query, std::move(respond));
    if (method == "DELETE") return KvDelete(key, query, std::move(respond));
    return not_allowed();
  }
  if (path == "/v1/txn") {
    if (method != "PUT") return not_allowed();
    return Txn(request, std::move(respond));
  }
  if (path == "/v1/session/create") {
    if (method != "PUT") return not_allowed();
    return SessionCreate(request, std::move(respond));
  }
  for (const char* prefix : {"/v1/session/destroy/", "/v1/session/renew/"}) {
    if (!StartsWith(path, prefix)) continue;
    if (method != "PUT") return not_allowed();
    std::string id = path.substr(std::string(prefix).size());
    if (id.empty()) return respond(PlainText(400, "Missing session"));
    if (std::string(prefix) == "/v1/session/destroy/")
      return SessionDestroy(id, std::move(respond));
    return SessionRenew(id, std::move(respond));
  }
  if (path == "/v1/session/list" || StartsWith(path, "/v1/session/info/") ||
      StartsWith(path, "/v1/session/node/")) {
    if (method != "GET") return not_allowed();
    if (path == "/v1/session/list") return SessionRead("all", "", query, std::move(respond));
    bool info = StartsWith(path, "/v1/session/info/");
    std::string arg = path.substr(std::string("/v1/session/info/").size());  // same length
    if (arg.empty()) return respond(PlainText(400, info ? "Missing session" : "Missing node name"));
    return SessionRead(info ? "id" : "node", arg, query, std::move(respond));
  }
  if (path == "/v1/catalog/services") {
    if (method != "GET") return not_allowed();
    return CatalogServices(query, std::move(respond));
  }
  if (path == "/v1/catalog/nodes") {
    if (method != "GET") return not_allowed();
    return CatalogNodes(query, std::move(respond));
  }
  for (const char* prefix : {"/v1/catalog/service/", "/v1/health/service/", "/v1/health/checks/"}) {
    if (!StartsWith(path, prefix)) continue;
    if (method != "GET") return not_allowed();
    std::string name = path.substr(std::string(prefix).size());
    if (name.empty()) return respond(PlainText(400, "Missing service name"));
    return ServiceRead(prefix, name, query, std::move(respond));
  }
  // Unknown endpoints: 404 with an empty body and no Content-Type (fixture 078).
  respond(http::Response{404, {}, ""});
}

void ConsulAgent::KvGet(const std::string& key, const Query& query, http::Responder respond) {
  BlockingParams params = std::get<BlockingParams>(ParseBlockingParams(query));
  bool recurse = HasParam(query, "recurse");
  bool keys = HasParam(query, "keys");
  bool raw = HasParam(query, "raw");
  std::string separator = ParamValue(query, "separator");
  bool prefix = recurse || keys;
  ConsulState* state = state_.get();
  auto current_index = [state, key, prefix]() -> uint64_t {
    KvStore& kv = state->kv();
    if (prefix) {
      uint64_t index = kv.PrefixIndex(key);
      return index != 0 ? index : kv.table_index();
    }
    const KvEntry* entry = kv.Get(key);
    return entry != nullptr ? entry->modify_index : kv.table_index();
  };
  auto render = [state, key, keys, recurse, raw, separator, current_index]() -> http::Response {
    KvStore& kv = state->kv();
    uint64_t index = current_index();
    if (keys) {
      std::vector<const KvEntry*> entries = kv.List(key);
      if (entries.empty()) return NotFoundRead(index);
      nlohmann::ordered_json names = nlohmann::ordered_json::array();
      std::string last;
      for (const KvEntry* entry : entries) {
        std::string name = entry->key;
        if (!separator.empty()) {
          size_t at = name.find(separator, key.size());
          if (at != std::string::npos) name = name.substr(0, at + separator.size());
        }
        if (name == last) continue;  // sorted input: roll-ups are adjacent
        names.push_back(name);
        last = name;
      }
      return JsonRead(names, index);
    }
    if (recurse) {
      std::vector<const KvEntry*> entries = kv.List(key);
      if (entries.empty()) return NotFoundRead(index);
      return ReadText(KvListText(entries), index);
    }
    const KvEntry* entry = kv.Get(key);
    if (entry == nullptr) return NotFoundRead(index);
    if (raw) {
      http::Response response{200, {{"Content-Type", "text/plain"}}, entry->value};
      AddReadHeaders(response.headers, index);
      return response;
    }
    return ReadText(KvListText({entry}), index);
  };
  WatchTopic topic{prefix ? WatchTopic::Kind::kPrefix : WatchTopic::Kind::kKey, key};
  Lock lock = state_->Acquire();
  state_->AnswerOrPark(lock, topic, params.min_index, params.blocking, params.wait, current_index,
                       render, std::move(respond));
}

void ConsulAgent::KvPut(const std::string& key, const http::ServerRequest& request,
                        const Query& query, http::Responder respond) {
  if (key.empty()) return respond(PlainText(400, "Missing key name"));
  std::string error;
  std::optional<uint64_t> flags;
  if (HasParam(query, "flags")) {
    flags = ParseUint(ParamValue(query, "flags"), error);
    if (!flags) return respond(PlainText(500, error));
  }
  std::optional<uint64_t> cas;
  if (HasParam(query, "cas")) {
    cas = ParseUint(ParamValue(query, "cas"), error);
    if (!cas) return respond(PlainText(500, error));
  }
  if (request.body.size() > kMaxValueSize) {
    return respond(
        PlainText(413, "Request body(" + std::to_string(request.body.size()) +
                           " bytes) too large, max size: 524288 bytes. See "
                           "https://www.consul.io/docs/agent/options.html#kv_max_value_size."));
  }
  std::string acquire = ParamValue(query, "acquire");
  std::string release = ParamValue(query, "release");
  Lock lock = state_->Acquire();
  if (!acquire.empty() && !state_->sessions().sessions.count(acquire)) {
    lock.unlock();
    return respond(PlainText(500, "raft apply failed: invalid session \"" + acquire + "\""));
  }
  KvStore& kv = state_->kv();
  uint64_t index = state_->NextIndex();
  bool ok = true;
  if (cas) {
    const KvEntry* existing = kv.Get(key);
    ok = *cas == 0 ? existing == nullptr : (existing != nullptr && existing->modify_index == *cas);
  }
  if (ok) {
    if (!acquire.empty()) {
      ok = kv.Acquire(key, request.body, flags, acquire, index, std::chrono::steady_clock::now());
    } else if (!release.empty()) {
      ok = kv.Release(key, request.body, flags, release, index);
    } else {
      kv.Set(key, request.body, flags, index);
    }
  }
  state_->Publish(lock, {});
  respond(JsonWrite(ok));
}

void ConsulAgent::KvDelete(const std::string& key, const Query& query, http::Responder respond) {
  bool recurse = HasParam(query, "recurse");
  if (key.empty() && !recurse) return respond(PlainText(400, "Missing key name"));
  std::string error;
  std::optional<uint64_t> cas;
  if (HasParam(query, "cas")) {
    cas = ParseUint(ParamValue(query, "cas"), error);
    if (!cas) return respond(PlainText(500, error));
  }
  Lock lock = state_->Acquire();
  KvStore& kv = state_->kv();
  uint64_t index = state_->NextIndex();
  bool ok = true;
  if (recurse) {
    kv.DeleteTree(key, index);
  } else if (cas) {
    ok = kv.DeleteCas(key, *cas, index);
  } else {
    kv.Delete(key, index);
  }
  state_->Publish(lock, {});
  respond(JsonWrite(ok));
}

}  // namespace rollouts::sandbox
