#include "clients/consul/consul_client.h"

#include <glog/logging.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "clients/consul/consul_decode.h"
#include "clients/http/server.h"

namespace rollouts::consul {

using nlohmann::json;

// One request as the client methods describe it; Send turns it into HTTP.
struct HttpConsulClient::Call {
  Call(http::Method m, std::string p, Endpoint e, http::Safety s, const QueryOptions* q = nullptr)
      : method(m), path(std::move(p)), endpoint(e), safety(s), blocking(q) {}

  http::Method method = http::Method::kGet;
  std::string path;                // already percent-encoded
  std::vector<std::string> query;  // "recurse", "cas=3", ... in this order
  std::string body;
  Endpoint endpoint = Endpoint::kRead;
  http::Safety safety = http::Safety::kRead;
  const QueryOptions* blocking = nullptr;  // reads that accept index/wait
};

namespace {

std::string KvPath(const std::string& key) {
  return "/v1/kv/" + http::PercentEncode(key);
}

std::string Label(http::Method method, const std::string& path) {
  return std::string(http::MethodName(method)) + " " + path;
}

template <typename T>
ApiResult<T> DecodeError(const std::string& label, const std::string& what,
                         const std::string& token) {
  return ApiError{ApiErrorKind::kDecode, 0, clients::Redact(label, token),
                  clients::Redact("unexpected response body: " + what, token)};
}

// Decodes a JSON body with `decode`, turning any shape mismatch into kDecode.
template <typename T, typename F>
ApiResult<T> DecodeJson(const std::string& label, const http::Response& response,
                        const std::string& token, F decode) {
  try {
    return ApiResult<T>(decode(json::parse(response.body)));
  } catch (const std::exception& e) {
    return DecodeError<T>(label, e.what(), token);
  }
}

}  // namespace

namespace {

// TLS server_name is the HTTP layer's job (it sends it as the Host header, which
// cpprestsdk verifies the certificate against and uses for SNI).
http::ClientOptions TransportOptions(const clients::AgentConfig& config) {
  return http::ClientOptions{config.base_url, config.tls};
}

}  // namespace

HttpConsulClient::HttpConsulClient(const clients::AgentConfig& config,
                                   HttpConsulClientOptions options)
    : HttpConsulClient(config,
                       std::shared_ptr<http::Client>(http::MakeClient(TransportOptions(config))),
                       std::move(options)) {}

HttpConsulClient::HttpConsulClient(clients::AgentConfig config,
                                   std::shared_ptr<http::Client> transport,
                                   HttpConsulClientOptions options)
    : config_(std::move(config)), transport_(std::move(transport)), options_(std::move(options)) {
  VLOG(1) << "consul client for " << config_.base_url
          << (config_.token.empty() ? " without a token" : " with a token")
          << (config_.tls.ca_file.empty() ? "" : ", CA " + config_.tls.ca_file);
}

ApiResult<http::Response> HttpConsulClient::Send(const Call& call) {
  std::vector<std::string> query = call.query;
  auto timeout = options_.request_timeout;
  std::shared_ptr<http::CancelToken> cancel;
  if (call.blocking != nullptr) {
    cancel = call.blocking->cancel;
    if (call.blocking->index > 0) {
      query.push_back("index=" + std::to_string(call.blocking->index));
      auto wait = call.blocking->wait;
      if (wait.count() > 0) {
        query.push_back("wait=" + FormatWait(wait));
      } else {
        wait = std::chrono::minutes(5);  // the agent's default
      }
      // Consul may answer up to wait/16 late on purpose (jitter).
      timeout += wait + wait / 16;
    }
  }
  http::Request request;
  request.method = call.method;
  request.target = call.path;
  for (size_t i = 0; i < query.size(); ++i) request.target += (i == 0 ? "?" : "&") + query[i];
  request.body = call.body;
  request.timeout = timeout;
  request.cancel = cancel;
  if (!config_.token.empty()) request.headers["X-Consul-Token"] = config_.token;
  // KV values go as the raw bytes Consul stores (no Content-Type, like the Consul CLI);
  // txn and session bodies are JSON documents.
  if (call.endpoint == Endpoint::kTxn || call.endpoint == Endpoint::kSessionCreate) {
    request.headers["Content-Type"] = "application/json";
  }

  const std::string label = Label(call.method, call.path);
  // Session IDs are not secrets, but the token never gets near a log line: Redact anyway
  // in case a caller put it into a key.
  VLOG(2) << "consul -> " << clients::Redact(request.target, config_.token) << " ("
          << http::MethodName(call.method) << ", " << call.body.size() << " body bytes)";

  auto started = std::chrono::steady_clock::now();
  http::Result result = [&] {
    if (call.safety == http::Safety::kUnsafe) return transport_->Send(request);
    http::RetryOptions retry = options_.retry;
    retry.safety = call.safety;
    // The retry budget must cover one full blocking wait.
    retry.deadline = std::max(retry.deadline, timeout + options_.retry.deadline);
    std::string token = config_.token;
    auto user_hook = retry.on_retry;
    retry.on_retry = [&label, token, user_hook](int attempt, const http::Result& r) {
      VLOG(1) << "consul retry " << attempt << " of " << label << " after "
              << (r.ok() ? "HTTP " + std::to_string(r.response().status)
                         : clients::Redact(r.error().message, token));
      if (user_hook) user_hook(attempt, r);
    };
    return http::SendWithRetry(*transport_, request, retry);
  }();
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);

  if (!result.ok()) {
    ApiError error = FromTransportError(label, result.error(), config_.token);
    VLOG(1) << "consul " << label << " failed after " << elapsed.count()
            << " ms: " << error.ToString();
    return error;
  }
  const http::Response& response = result.response();
  VLOG(1) << "consul " << label << " -> " << response.status << " in " << elapsed.count() << " ms"
          << (response.Header("X-Consul-Index") ? ", index " + *response.Header("X-Consul-Index")
                                                : "");
  if (auto error = ClassifyConsulResponse(call.endpoint, label, response, config_.token)) {
    VLOG(1) << "consul error: " << error->ToString();
    return *error;
  }
  return std::move(result.response());
}

// ------------------------------------------------------------------------------- KV

ApiResult<QueryResult<std::optional<KvPair>>> HttpConsulClient::KvGet(const std::string& key,
                                                                      const QueryOptions& q) {
  using R = QueryResult<std::optional<KvPair>>;
  Call call(http::Method::kGet, KvPath(key), Endpoint::kKvRead, http::Safety::kRead, &q);
  auto sent = Send(call);
  if (!sent) return sent.error();
  const auto& response = sent.value();
  R out{std::nullopt, MetaFromHeaders(response.headers)};
  if (response.status == 404) return out;
  return DecodeJson<R>(Label(call.method, call.path), response, config_.token, [&](const json& j) {
    auto pairs = DecodeKvPairs(j);
    if (!pairs.empty()) out.value = std::move(pairs.front());
    return out;
  });
}

ApiResult<QueryResult<std::optional<std::string>>> HttpConsulClient::KvGetRaw(
    const std::string& key, const QueryOptions& q) {
  Call call(http::Method::kGet, KvPath(key), Endpoint::kKvRead, http::Safety::kRead, &q);
  call.query = {"raw"};
  auto sent = Send(call);
  if (!sent) return sent.error();
  QueryResult<std::optional<std::string>> out{std::nullopt, MetaFromHeaders(sent->headers)};
  if (sent->status != 404) out.value = sent->body;
  return out;
}

ApiResult<http::Response> HttpConsulClient::SendRecurse(const std::string& prefix,
                                                        const QueryOptions& q) {
  Call call(http::Method::kGet, KvPath(prefix), Endpoint::kKvRead, http::Safety::kRead, &q);
  call.query = {"recurse"};
  return Send(call);
}

ApiResult<QueryResult<std::vector<KvPair>>> HttpConsulClient::KvList(const std::string& prefix,
                                                                     const QueryOptions& q) {
  using R = QueryResult<std::vector<KvPair>>;
  auto sent = SendRecurse(prefix, q);
  if (!sent) return sent.error();
  R out{{}, MetaFromHeaders(sent->headers)};
  if (sent->status == 404) return out;
  return DecodeJson<R>(Label(http::Method::kGet, KvPath(prefix)), *sent, config_.token,
                       [&](const json& j) {
                         out.value = DecodeKvPairs(j);
                         return out;
                       });
}

ApiResult<QueryResult<std::vector<KvIndex>>> ConsulClient::KvListIndexes(const std::string& prefix,
                                                                         const QueryOptions& q) {
  auto listed = KvList(prefix, q);
  if (!listed.ok()) return listed.error();
  QueryResult<std::vector<KvIndex>> out{{}, listed.value().meta};
  for (auto& kv : listed.value().value) out.value.push_back({std::move(kv.key), kv.modify_index});
  return out;
}

ApiResult<QueryResult<std::vector<KvIndex>>> HttpConsulClient::KvListIndexes(
    const std::string& prefix, const QueryOptions& q) {
  using R = QueryResult<std::vector<KvIndex>>;
  auto sent = SendRecurse(prefix, q);
  if (!sent) return sent.error();
  R out{{}, MetaFromHeaders(sent->headers)};
  if (sent->status == 404) return out;
  try {
    out.value = DecodeKvIndexes(sent->body);
  } catch (const std::exception& e) {
    return DecodeError<R>(Label(http::Method::kGet, KvPath(prefix)), e.what(), config_.token);
  }
  return out;
}

ApiResult<QueryResult<std::vector<std::string>>> HttpConsulClient::KvKeys(
    const std::string& prefix, const std::string& separator, const QueryOptions& q) {
  using R = QueryResult<std::vector<std::string>>;
  Call call(http::Method::kGet, KvPath(prefix), Endpoint::kKvRead, http::Safety::kRead, &q);
  call.query = {"keys"};
  if (!separator.empty()) call.query.emplace_back("separator=" + http::PercentEncode(separator));
  auto sent = Send(call);
  if (!sent) return sent.error();
  R out{{}, MetaFromHeaders(sent->headers)};
  if (sent->status == 404) return out;
  return DecodeJson<R>(Label(call.method, call.path), *sent, config_.token, [&](const json& j) {
    out.value = DecodeStrings(j);
    return out;
  });
}

namespace {

ApiResult<bool> DecodeBool(const std::string& label, const http::Response& response,
                           const std::string& token) {
  std::string body = response.body;
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.pop_back();
  if (body == "true") return true;
  if (body == "false") return false;
  return DecodeError<bool>(label, "expected true or false, got '" + body.substr(0, 200) + "'",
                           token);
}

}  // namespace

ApiResult<bool> HttpConsulClient::KvPut(const std::string& key, const std::string& value,
                                        const PutOptions& options) {
  Call call(http::Method::kPut, KvPath(key), Endpoint::kKvWrite, http::Safety::kUnsafe);
  call.body = value;
  if (options.flags) call.query.emplace_back("flags=" + std::to_string(*options.flags));
  if (options.cas) call.query.emplace_back("cas=" + std::to_string(*options.cas));
  if (!options.acquire.empty()) {
    call.query.emplace_back("acquire=" + http::PercentEncode(options.acquire, false));
  }
  if (!options.release.empty()) {
    call.query.emplace_back("release=" + http::PercentEncode(options.release, false));
  }
  // A CAS write that did land shows up as `false` on a retry instead of a double write;
  // acquire/release are idempotent for the same session.
  if (options.cas || !options.acquire.empty() || !options.release.empty()) {
    call.safety = http::Safety::kGuardedWrite;
  }
  auto sent = Send(call);
  if (!sent) return sent.error();
  return DecodeBool(Label(call.method, call.path), *sent, config_.token);
}

ApiResult<bool> HttpConsulClient::KvDelete(const std::string& key, const DeleteOptions& options) {
  Call call(http::Method::kDelete, KvPath(key), Endpoint::kKvWrite, http::Safety::kUnsafe);
  if (options.recurse) call.query.emplace_back("recurse");
  if (options.cas) {
    call.query.emplace_back("cas=" + std::to_string(*options.cas));
    call.safety = http::Safety::kGuardedWrite;
  }
  auto sent = Send(call);
  if (!sent) return sent.error();
  return DecodeBool(Label(call.method, call.path), *sent, config_.token);
}

ApiResult<TxnResult> HttpConsulClient::Txn(const std::vector<TxnOp>& ops) {
  Call call(http::Method::kPut, "/v1/txn", Endpoint::kTxn, http::Safety::kUnsafe);
  call.body = EncodeTxnOps(ops).dump();
  // A transaction whose every write is guarded (cas, check-*, lock/unlock, delete-cas)
  // cannot apply twice; plain set/delete ops make it unsafe to repeat.
  bool guarded = !ops.empty() && std::all_of(ops.begin(), ops.end(), [](const TxnOp& op) {
    return op.verb != "set" && op.verb != "delete" && op.verb != "delete-tree";
  });
  if (guarded) call.safety = http::Safety::kGuardedWrite;
  auto sent = Send(call);
  if (!sent) return sent.error();
  return DecodeJson<TxnResult>(Label(call.method, call.path), *sent, config_.token,
                               [](const json& j) { return DecodeTxnResult(j); });
}

// ------------------------------------------------------------------------- sessions

ApiResult<std::string> HttpConsulClient::SessionCreate(const SessionRequest& request) {
  Call call(http::Method::kPut, "/v1/session/create", Endpoint::kSessionCreate,
            http::Safety::kUnsafe);
  call.body = EncodeSessionRequest(request).dump();
  auto sent = Send(call);
  if (!sent) return sent.error();
  return DecodeJson<std::string>(Label(call.method, call.path), *sent, config_.token,
                                 [](const json& j) {
                                   std::string id = j.at("ID").get<std::string>();
                                   if (id.empty()) throw std::runtime_error("empty session ID");
                                   return id;
                                 });
}

ApiResult<SessionEntry> HttpConsulClient::SessionRenew(const std::string& id) {
  Call call(http::Method::kPut, "/v1/session/renew/" + http::PercentEncode(id, false),
            Endpoint::kSessionRenew, http::Safety::kGuardedWrite);
  auto sent = Send(call);
  if (!sent) return sent.error();
  return DecodeJson<SessionEntry>(Label(call.method, call.path), *sent, config_.token,
                                  [](const json& j) {
                                    auto sessions = DecodeSessions(j);
                                    if (sessions.empty()) {
                                      throw std::runtime_error("renew returned no session");
                                    }
                                    return sessions.front();
                                  });
}

ApiResult<bool> HttpConsulClient::SessionDestroy(const std::string& id) {
  // Destroying twice is harmless, so it may be retried like a guarded write.
  Call call(http::Method::kPut, "/v1/session/destroy/" + http::PercentEncode(id, false),
            Endpoint::kSessionOther, http::Safety::kGuardedWrite);
  auto sent = Send(call);
  if (!sent) return sent.error();
  return DecodeBool(Label(call.method, call.path), *sent, config_.token);
}

ApiResult<QueryResult<std::optional<SessionEntry>>> HttpConsulClient::SessionInfo(
    const std::string& id, const QueryOptions& q) {
  using R = QueryResult<std::optional<SessionEntry>>;
  Call call(http::Method::kGet, "/v1/session/info/" + http::PercentEncode(id, false),
            Endpoint::kSessionOther, http::Safety::kRead, &q);
  auto sent = Send(call);
  if (!sent) return sent.error();
  R out{std::nullopt, MetaFromHeaders(sent->headers)};
  return DecodeJson<R>(Label(call.method, call.path), *sent, config_.token, [&](const json& j) {
    auto sessions = DecodeSessions(j);
    if (!sessions.empty()) out.value = std::move(sessions.front());
    return out;
  });
}

ApiResult<QueryResult<std::vector<SessionEntry>>> HttpConsulClient::SessionList(
    const QueryOptions& q) {
  using R = QueryResult<std::vector<SessionEntry>>;
  Call call(http::Method::kGet, "/v1/session/list", Endpoint::kSessionOther, http::Safety::kRead,
            &q);
  auto sent = Send(call);
  if (!sent) return sent.error();
  R out{{}, MetaFromHeaders(sent->headers)};
  return DecodeJson<R>(Label(call.method, call.path), *sent, config_.token, [&](const json& j) {
    out.value = DecodeSessions(j);
    return out;
  });
}

// ------------------------------------------------------------ health / catalog / status

ApiResult<QueryResult<std::vector<ServiceEntry>>> HttpConsulClient::HealthService(
    const std::string& service, const HealthServiceOptions& options, const QueryOptions& q) {
  using R = QueryResult<std::vector<ServiceEntry>>;
  Call call(http::Method::kGet, "/v1/health/service/" + http::PercentEncode(service, false),
            Endpoint::kRead, http::Safety::kRead, &q);
  if (!options.tag.empty())
    call.query.emplace_back("tag=" + http::PercentEncode(options.tag, false));
  if (options.passing) call.query.emplace_back("passing");
  auto sent = Send(call);
  if (!sent) return sent.error();
  R out{{}, MetaFromHeaders(sent->headers)};
  return DecodeJson<R>(Label(call.method, call.path), *sent, config_.token, [&](const json& j) {
    out.value = DecodeServiceEntries(j);
    return out;
  });
}

ApiResult<QueryResult<std::vector<HealthCheck>>> HttpConsulClient::HealthChecks(
    const std::string& service, const QueryOptions& q) {
  using R = QueryResult<std::vector<HealthCheck>>;
  Call call(http::Method::kGet, "/v1/health/checks/" + http::PercentEncode(service, false),
            Endpoint::kRead, http::Safety::kRead, &q);
  auto sent = Send(call);
  if (!sent) return sent.error();
  R out{{}, MetaFromHeaders(sent->headers)};
  return DecodeJson<R>(Label(call.method, call.path), *sent, config_.token, [&](const json& j) {
    out.value = DecodeHealthChecks(j);
    return out;
  });
}

ApiResult<QueryResult<std::map<std::string, std::vector<std::string>>>>
HttpConsulClient::CatalogServices(const QueryOptions& q) {
  using R = QueryResult<std::map<std::string, std::vector<std::string>>>;
  Call call(http::Method::kGet, "/v1/catalog/services", Endpoint::kRead, http::Safety::kRead, &q);
  auto sent = Send(call);
  if (!sent) return sent.error();
  R out{{}, MetaFromHeaders(sent->headers)};
  return DecodeJson<R>(Label(call.method, call.path), *sent, config_.token, [&](const json& j) {
    out.value = DecodeCatalogServices(j);
    return out;
  });
}

ApiResult<QueryResult<std::vector<CatalogServiceEntry>>> HttpConsulClient::CatalogService(
    const std::string& service, const QueryOptions& q) {
  using R = QueryResult<std::vector<CatalogServiceEntry>>;
  Call call(http::Method::kGet, "/v1/catalog/service/" + http::PercentEncode(service, false),
            Endpoint::kRead, http::Safety::kRead, &q);
  auto sent = Send(call);
  if (!sent) return sent.error();
  R out{{}, MetaFromHeaders(sent->headers)};
  return DecodeJson<R>(Label(call.method, call.path), *sent, config_.token, [&](const json& j) {
    out.value.clear();
    if (!j.is_null()) {
      for (const auto& e : j) out.value.push_back(DecodeCatalogServiceEntry(e));
    }
    return out;
  });
}

ApiResult<std::string> HttpConsulClient::StatusLeader() {
  Call call(http::Method::kGet, "/v1/status/leader", Endpoint::kRead, http::Safety::kRead);
  auto sent = Send(call);
  if (!sent) return sent.error();
  return DecodeJson<std::string>(Label(call.method, call.path), *sent, config_.token,
                                 [](const json& j) { return j.get<std::string>(); });
}

ApiResult<std::vector<std::string>> HttpConsulClient::StatusPeers() {
  Call call(http::Method::kGet, "/v1/status/peers", Endpoint::kRead, http::Safety::kRead);
  auto sent = Send(call);
  if (!sent) return sent.error();
  return DecodeJson<std::vector<std::string>>(Label(call.method, call.path), *sent, config_.token,
                                              [](const json& j) { return DecodeStrings(j); });
}

}  // namespace rollouts::consul
