// /v1/txn (KV ops) of the sandbox's Consul agent: all ops at one raft index, every
// failing op reported, nothing applied on failure (409), and the read-only path whose
// body also carries the query metadata (fixture 076).
#include <algorithm>
#include <cctype>

#include "sandbox/consul/consul_agent.h"
#include "sandbox/consul/consul_http.h"
#include "sandbox/consul/kv_json.h"

namespace rollouts::sandbox {
namespace {

using ojson = nlohmann::ordered_json;

constexpr size_t kMaxTxnOps = 64;

const nlohmann::json* Field(const nlohmann::json& object, const std::string& name) {
  if (!object.is_object()) return nullptr;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it.key().size() == name.size() &&
        std::equal(name.begin(), name.end(), it.key().begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return &it.value();
    }
  }
  return nullptr;
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

struct KvOp {
  std::string verb;
  std::string key;
  std::string value;
  uint64_t flags = 0;
  bool has_flags = false;
  uint64_t index = 0;
  std::string session;
};

bool IsWriteVerb(const std::string& verb) {
  static const char* kWrites[] = {"set", "delete", "delete-cas", "delete-tree",
                                  "cas", "lock",   "unlock"};
  return std::any_of(std::begin(kWrites), std::end(kWrites),
                     [&](const char* w) { return verb == w; });
}

}  // namespace

void ConsulAgent::Txn(const http::ServerRequest& request, http::Responder respond) {
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(request.body);
  } catch (const nlohmann::json::parse_error& e) {
    return respond(PlainText(
        400, std::string("Failed to parse body: ") +
                 (e.byte >= request.body.size() ? "unexpected EOF" : "invalid character")));
  }
  if (!body.is_array()) {
    return respond(PlainText(400, "Failed to parse body: json: cannot unmarshal " +
                                      std::string(body.type_name()) +
                                      " into Go value of type api.TxnOps"));
  }
  if (body.size() > kMaxTxnOps) {
    return respond(PlainText(413, "Transaction contains too many operations (" +
                                      std::to_string(body.size()) + " > 64)"));
  }
  std::vector<KvOp> ops;
  for (size_t i = 0; i < body.size(); ++i) {
    const nlohmann::json* kv = Field(body[i], "KV");
    if (kv == nullptr || !kv->is_object()) {
      return respond(PlainText(
          400, "Failed to parse body: the sandbox supports KV transaction operations only"));
    }
    KvOp op;
    try {
      if (auto* v = Field(*kv, "Verb"); v && !v->is_null()) op.verb = v->get<std::string>();
      if (auto* v = Field(*kv, "Key"); v && !v->is_null()) op.key = v->get<std::string>();
      if (auto* v = Field(*kv, "Session"); v && !v->is_null()) op.session = v->get<std::string>();
      if (auto* v = Field(*kv, "Index"); v && !v->is_null()) op.index = v->get<uint64_t>();
      if (auto* v = Field(*kv, "Flags"); v && !v->is_null()) {
        op.flags = v->get<uint64_t>();
        op.has_flags = true;
      }
      if (auto* v = Field(*kv, "Value"); v && !v->is_null()) {
        auto decoded = Base64Decode(v->get<std::string>());
        if (!decoded) {
          return respond(
              PlainText(400, "Failed to parse body: illegal base64 data at input byte 0"));
        }
        op.value = *decoded;
      }
    } catch (const nlohmann::json::exception&) {
      return respond(PlainText(400,
                               "Failed to parse body: json: cannot unmarshal a field of "
                               "api.KVTxnOp"));
    }
    ops.push_back(std::move(op));
  }
  bool write =
      std::any_of(ops.begin(), ops.end(), [](const KvOp& op) { return IsWriteVerb(op.verb); });

  Lock lock = state_->Acquire();
  KvStore& kv = state_->kv();
  uint64_t index = write ? state_->NextIndex() : 0;
  auto now = std::chrono::steady_clock::now();
  ojson results = ojson::array();
  ojson errors = ojson::array();
  auto fail = [&](size_t i, std::string what) {
    errors.push_back(ojson{{"OpIndex", i}, {"What", std::move(what)}});
  };
  auto add_result = [&](const std::string& key, bool with_value) {
    if (const KvEntry* entry = kv.Get(key)) {
      results.push_back(ojson{{"KV", KvEntryJson(*entry, with_value)}});
    }
  };
  std::optional<uint64_t> flags;
  kv.BeginUndo();
  for (size_t i = 0; i < ops.size(); ++i) {
    const KvOp& op = ops[i];
    flags = op.has_flags ? std::optional<uint64_t>(op.flags) : std::nullopt;
    const KvEntry* existing = kv.Get(op.key);
    if (op.verb == "set") {
      kv.Set(op.key, op.value, flags, index);
      add_result(op.key, false);
    } else if (op.verb == "cas") {
      if (!kv.Cas(op.key, op.value, flags, op.index, index)) {
        fail(i, "failed to set key " + Quote(op.key) + ", index is stale");
      } else {
        add_result(op.key, false);
      }
    } else if (op.verb == "lock") {
      if (!state_->sessions().sessions.count(op.session)) {
        fail(i, "invalid session " + Quote(op.session));
      } else if (!kv.Acquire(op.key, op.value, flags, op.session, index, now)) {
        fail(i, "failed to lock key " + Quote(op.key) + ", lock is already held");
      } else {
        add_result(op.key, false);
      }
    } else if (op.verb == "unlock") {
      if (!kv.Release(op.key, op.value, flags, op.session, index)) {
        fail(i, "failed to unlock key " + Quote(op.key) +
                    ", lock isn't held, or is held by another session");
      } else {
        add_result(op.key, false);
      }
    } else if (op.verb == "get") {
      if (existing == nullptr) {
        fail(i, "key " + Quote(op.key) + " doesn't exist");
      } else {
        add_result(op.key, true);
      }
    } else if (op.verb == "get-tree") {
      for (const KvEntry* entry : kv.List(op.key)) {
        results.push_back(ojson{{"KV", KvEntryJson(*entry, true)}});
      }
    } else if (op.verb == "check-index") {
      if (existing == nullptr) {
        fail(i, "key " + Quote(op.key) + " doesn't exist");
      } else if (existing->modify_index != op.index) {
        fail(i, "failed index check for key " + Quote(op.key) + ", current modify index " +
                    std::to_string(existing->modify_index) + " != " + std::to_string(op.index));
      } else {
        add_result(op.key, false);
      }
    } else if (op.verb == "check-session") {
      if (existing == nullptr) {
        fail(i, "key " + Quote(op.key) + " doesn't exist");
      } else if (existing->session != op.session) {
        fail(i, "failed session check for key " + Quote(op.key) + ", current session " +
                    Quote(existing->session) + " != " + Quote(op.session));
      } else {
        add_result(op.key, false);
      }
    } else if (op.verb == "check-not-exists") {
      if (existing != nullptr) fail(i, "key " + Quote(op.key) + " exists");
    } else if (op.verb == "delete") {
      kv.Delete(op.key, index);
    } else if (op.verb == "delete-tree") {
      kv.DeleteTree(op.key, index);
    } else if (op.verb == "delete-cas") {
      if (!kv.DeleteCas(op.key, op.index, index)) {
        fail(i, "failed to delete key " + Quote(op.key) + ", index is stale");
      }
    } else {
      fail(i, "unknown KV verb " + Quote(op.verb));
    }
  }
  bool failed = !errors.empty();
  if (failed) {
    kv.RollbackUndo();
  } else {
    kv.CommitUndo();
  }
  state_->Publish(lock, {});

  ojson out;
  out["Results"] = failed ? ojson(nullptr) : results;
  out["Errors"] = failed ? errors : ojson(nullptr);
  if (write) return respond(JsonWrite(out, failed ? 409 : 200));
  // Read-only transactions go through Consul's read path and carry its QueryMeta.
  out["Index"] = 0;
  out["LastContact"] = 0;
  out["KnownLeader"] = true;
  out["ConsistencyLevel"] = "";
  out["NotModified"] = false;
  out["Backend"] = 0;
  http::Response response = JsonWrite(out, failed ? 409 : 200);
  response.headers["X-Consul-Knownleader"] = "true";
  response.headers["X-Consul-Lastcontact"] = "0";
  respond(std::move(response));
}

}  // namespace rollouts::sandbox
