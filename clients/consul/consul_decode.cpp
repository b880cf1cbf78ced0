#include "clients/consul/consul_decode.h"

#include <simdjson.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "clients/consul/base64.h"

namespace rollouts::consul {
namespace {

using nlohmann::json;

std::optional<uint64_t> ParseU64(const std::string& s) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

const json& Field(const json& j, const char* name) {
  static const json kNull;
  if (!j.is_object()) throw std::runtime_error("expected a JSON object");
  auto it = j.find(name);
  return it == j.end() ? kNull : *it;
}

std::string Str(const json& j, const char* name) {
  const json& f = Field(j, name);
  return f.is_null() ? std::string() : f.get<std::string>();
}

// Numbers are checked before conversion: nlohmann's get<> of a float or a negative number
// into an unsigned type is a float-to-integer conversion out of range (undefined behaviour),
// not an exception. Found by fuzz/consul_fuzzer.cpp (CreateIndex 5e99).
uint64_t U64(const json& j, const char* name) {
  const json& f = Field(j, name);
  if (f.is_null()) return 0;
  if (!f.is_number_unsigned() && !(f.is_number_integer() && f.get<int64_t>() >= 0)) {
    throw std::invalid_argument(std::string(name) + " is not a non-negative integer");
  }
  return f.get<uint64_t>();
}

int Int(const json& j, const char* name) {
  const json& f = Field(j, name);
  if (f.is_null()) return 0;
  if (!f.is_number_integer() || f.get<int64_t>() < std::numeric_limits<int>::min() ||
      f.get<int64_t>() > std::numeric_limits<int>::max() ||
      (f.is_number_unsigned() && f.get<uint64_t>() > uint64_t{INT32_MAX})) {
    throw std::invalid_argument(std::string(name) + " is not an integer in int range");
  }
  return f.get<int>();
}

std::vector<std::string> Strings(const json& j) {
  std::vector<std::string> out;
  if (j.is_null()) return out;
  if (!j.is_array()) throw std::runtime_error("expected a JSON array of strings");
  for (const auto& s : j) out.push_back(s.get<std::string>());
  return out;
}

std::map<std::string, std::string> StringMap(const json& j) {
  std::map<std::string, std::string> out;
  if (j.is_null()) return out;
  if (!j.is_object()) throw std::runtime_error("expected a JSON object of strings");
  for (const auto& [k, v] : j.items()) out[k] = v.is_null() ? std::string() : v.get<std::string>();
  return out;
}

template <typename T, typename F>
std::vector<T> Array(const json& j, F decode) {
  std::vector<T> out;
  if (j.is_null()) return out;
  if (!j.is_array()) throw std::runtime_error("expected a JSON array");
  out.reserve(j.size());
  for (const auto& e : j) out.push_back(decode(e));
  return out;
}

}  // namespace

QueryMeta MetaFromHeaders(const http::Headers& headers) {
  QueryMeta meta;
  if (auto it = headers.find("X-Consul-Index"); it != headers.end()) {
    meta.index = ParseU64(it->second).value_or(0);
  }
  if (auto it = headers.find("X-Consul-Knownleader"); it != headers.end()) {
    meta.known_leader = it->second == "true";
  }
  if (auto it = headers.find("X-Consul-Lastcontact"); it != headers.end()) {
    meta.last_contact = std::chrono::milliseconds(ParseU64(it->second).value_or(0));
  }
  return meta;
}

KvPair DecodeKvPair(const json& j) {
  KvPair kv;
  kv.key = Str(j, "Key");
  const json& value = Field(j, "Value");
  if (value.is_null()) {
    kv.value_is_null = true;
  } else {
    auto decoded = Base64Decode(value.get<std::string>());
    if (!decoded) throw std::runtime_error("KV value of " + kv.key + " is not base64");
    kv.value = std::move(*decoded);
  }
  kv.flags = U64(j, "Flags");
  kv.create_index = U64(j, "CreateIndex");
  kv.modify_index = U64(j, "ModifyIndex");
  kv.lock_index = U64(j, "LockIndex");
  kv.session = Str(j, "Session");
  return kv;
}

std::vector<KvPair> DecodeKvPairs(const json& j) {
  return Array<KvPair>(j, DecodeKvPair);
}

// With simdjson, not nlohmann: a recursive watch's answer carries every spec under the
// prefix (~1 MB at 1,000 Rollouts) each time one of them changes, and nlohmann's lexer
// spent ~7 ms on it on the path from a KV write to the controller acting on it; simdjson's
// DOM parse validates the whole document as strictly in ~0.4 ms (bench/controller).
// The body must be an array (or null, as Consul writes an empty list) of objects, each
// with a string "Key" and a non-negative integer "ModifyIndex"; anything else throws, as
// DecodeKvPairs does: a watch must never read a misshapen answer as "no keys".
std::vector<KvIndex> DecodeKvIndexes(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(body.data(), body.size()).get(root)) {
    throw std::runtime_error(std::string("invalid JSON: ") + simdjson::error_message(error));
  }
  if (root.is_null()) return {};
  simdjson::dom::array entries;
  if (root.get_array().get(entries) != simdjson::SUCCESS) {
    throw std::runtime_error("expected a JSON array of KV entries");
  }
  std::vector<KvIndex> out;
  out.reserve(entries.size());
  for (simdjson::dom::element entry : entries) {
    simdjson::dom::object fields;
    if (entry.get_object().get(fields) != simdjson::SUCCESS) {
      throw std::runtime_error("expected KV entries, got something else in the array");
    }
    std::string_view key;
    auto key_field = fields["Key"];
    if (key_field.error() == simdjson::NO_SUCH_FIELD) {
      throw std::runtime_error("KV entry without a string Key");
    }
    if (key_field.get_string().get(key) != simdjson::SUCCESS) {
      throw std::runtime_error("Key has the wrong type");
    }
    uint64_t index = 0;
    auto index_field = fields["ModifyIndex"];
    if (index_field.error() == simdjson::NO_SUCH_FIELD) {
      throw std::runtime_error("KV entry " + std::string(key) + " without a ModifyIndex");
    }
    if (index_field.get_uint64().get(index) != simdjson::SUCCESS) {
      throw std::runtime_error("ModifyIndex of " + std::string(key) +
                               " is not a non-negative integer");
    }
    out.push_back({std::string(key), index});
  }
  return out;
}

std::vector<std::string> DecodeStrings(const json& j) {
  return Strings(j);
}

SessionEntry DecodeSession(const json& j) {
  SessionEntry s;
  s.id = Str(j, "ID");
  s.name = Str(j, "Name");
  s.node = Str(j, "Node");
  // LockDelay is a Go time.Duration: nanoseconds.
  s.lock_delay = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::nanoseconds(static_cast<int64_t>(U64(j, "LockDelay"))));
  s.behavior = Str(j, "Behavior");
  s.ttl = Str(j, "TTL");
  s.node_checks = Strings(Field(j, "NodeChecks"));
  s.service_checks.clear();
  // ServiceChecks is a list of {ID, Namespace} objects (or null).
  const json& sc = Field(j, "ServiceChecks");
  if (sc.is_array()) {
    for (const auto& c : sc)
      s.service_checks.push_back(c.is_string() ? c.get<std::string>() : Str(c, "ID"));
  }
  s.create_index = U64(j, "CreateIndex");
  s.modify_index = U64(j, "ModifyIndex");
  return s;
}

std::vector<SessionEntry> DecodeSessions(const json& j) {
  return Array<SessionEntry>(j, DecodeSession);
}

HealthCheck DecodeHealthCheck(const json& j) {
  HealthCheck c;
  c.node = Str(j, "Node");
  c.check_id = Str(j, "CheckID");
  c.name = Str(j, "Name");
  c.status = Str(j, "Status");
  c.service_id = Str(j, "ServiceID");
  c.service_name = Str(j, "ServiceName");
  c.service_tags = Strings(Field(j, "ServiceTags"));
  c.output = Str(j, "Output");
  c.type = Str(j, "Type");
  return c;
}

std::vector<HealthCheck> DecodeHealthChecks(const json& j) {
  return Array<HealthCheck>(j, DecodeHealthCheck);
}

ServiceEntry DecodeServiceEntry(const json& j) {
  ServiceEntry e;
  const json& node = Field(j, "Node");
  if (!node.is_null()) {
    e.node.id = Str(node, "ID");
    e.node.node = Str(node, "Node");
    e.node.address = Str(node, "Address");
    e.node.datacenter = Str(node, "Datacenter");
  }
  const json& svc = Field(j, "Service");
  if (!svc.is_null()) {
    e.service.id = Str(svc, "ID");
    e.service.service = Str(svc, "Service");
    e.service.tags = Strings(Field(svc, "Tags"));
    e.service.meta = StringMap(Field(svc, "Meta"));
    e.service.address = Str(svc, "Address");
    e.service.port = Int(svc, "Port");
  }
  e.checks = DecodeHealthChecks(Field(j, "Checks"));
  return e;
}

std::vector<ServiceEntry> DecodeServiceEntries(const json& j) {
  return Array<ServiceEntry>(j, DecodeServiceEntry);
}

CatalogServiceEntry DecodeCatalogServiceEntry(const json& j) {
  CatalogServiceEntry e;
  e.node = Str(j, "Node");
  e.address = Str(j, "Address");
  e.service_id = Str(j, "ServiceID");
  e.service_name = Str(j, "ServiceName");
  e.service_tags = Strings(Field(j, "ServiceTags"));
  e.service_meta = StringMap(Field(j, "ServiceMeta"));
  e.service_address = Str(j, "ServiceAddress");
  e.service_port = Int(j, "ServicePort");
  return e;
}

std::map<std::string, std::vector<std::string>> DecodeCatalogServices(const json& j) {
  std::map<std::string, std::vector<std::string>> out;
  if (j.is_null()) return out;
  if (!j.is_object()) throw std::runtime_error("expected a JSON object of services");
  for (const auto& [name, tags] : j.items()) out[name] = Strings(tags);
  return out;
}

TxnResult DecodeTxnResult(const json& j) {
  TxnResult r;
  const json& results = Field(j, "Results");
  if (results.is_null()) return r;
  if (!results.is_array()) throw std::runtime_error("txn Results is not an array");
  for (const auto& entry : results) {
    // Only KV operations are ours; other result kinds (Node, Service, Check) are skipped.
    const json& kv = Field(entry, "KV");
    if (!kv.is_null()) r.results.push_back(DecodeKvPair(kv));
  }
  return r;
}

std::vector<TxnError> DecodeTxnErrors(const json& j) {
  std::vector<TxnError> out;
  const json& errors = Field(j, "Errors");
  if (errors.is_null()) return out;
  for (const auto& e : errors) out.push_back(TxnError{Int(e, "OpIndex"), Str(e, "What")});
  return out;
}

json EncodeTxnOps(const std::vector<TxnOp>& ops) {
  json out = json::array();
  for (const auto& op : ops) {
    json kv = json::object();
    kv["Verb"] = op.verb;
    kv["Key"] = op.key;
    if (op.value) kv["Value"] = Base64Encode(*op.value);
    if (op.flags) kv["Flags"] = *op.flags;
    if (op.index) kv["Index"] = *op.index;
    if (!op.session.empty()) kv["Session"] = op.session;
    out.push_back(json{{"KV", kv}});
  }
  return out;
}

json EncodeSessionRequest(const SessionRequest& request) {
  json out = json::object();
  if (!request.name.empty()) out["Name"] = request.name;
  if (!request.node.empty()) out["Node"] = request.node;
  if (request.ttl.count() > 0) out["TTL"] = std::to_string(request.ttl.count()) + "s";
  if (request.lock_delay) out["LockDelay"] = FormatWait(*request.lock_delay);
  if (!request.behavior.empty()) out["Behavior"] = request.behavior;
  if (request.checks) out["Checks"] = *request.checks;
  return out;
}

}  // namespace rollouts::consul
