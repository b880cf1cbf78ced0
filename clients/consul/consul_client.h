// The Consul HTTP API subset the controller, the router and rolloutctl use: KV (with CAS,
// locks and transactions), blocking queries, sessions, health, catalog and status.
//
// `ConsulClient` is the seam: code takes a ConsulClient& so tests substitute a fake.
// `HttpConsulClient` is the real one over http::Client. Every call returns an
// ApiResult; outcomes Consul reports as data stay data (a failed CAS or a contended
// acquire is `false`, a missing key is nullopt) and only real failures are ApiErrors.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clients/common/agent_config.h"
#include "clients/common/api_error.h"
#include "clients/http/cancel.h"
#include "clients/http/http.h"
#include "clients/http/retry.h"

namespace rollouts::consul {

using clients::ApiError;
using clients::ApiErrorKind;
using clients::ApiResult;
using clients::Unit;

// ---------------------------------------------------------------------------------------
// Blocking query parameters and the metadata every read returns.

struct QueryOptions {
  // 0: answer at once. > 0: block until the result's index moves past it or `wait`
  // elapses (Consul then answers with the unchanged result and index).
  uint64_t index = 0;
  // Sent as ?wait= only when index > 0. 0 means the agent default (5 minutes). Consul
  // adds up to wait/16 of jitter, so the HTTP timeout is derived with that slack.
  std::chrono::milliseconds wait{0};
  std::shared_ptr<http::CancelToken> cancel;  // optional
};

struct QueryMeta {
  uint64_t index = 0;                         // X-Consul-Index (0 if the agent sent none)
  bool known_leader = false;                  // X-Consul-Knownleader
  std::chrono::milliseconds last_contact{0};  // X-Consul-Lastcontact
};

template <typename T>
struct QueryResult {
  T value;
  QueryMeta meta;
};

// ---------------------------------------------------------------------------------------
// KV

struct KvPair {
  std::string key;
  std::string value;           // raw bytes, already base64-decoded; empty when Consul says null
  bool value_is_null = false;  // Consul's `"Value": null` (e.g. after a release with no body)
  uint64_t flags = 0;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
  uint64_t lock_index = 0;
  std::string session;  // holder session ID while the key is locked, else empty
};

// A key and its ModifyIndex (KvListIndexes).
struct KvIndex {
  std::string key;
  uint64_t modify_index = 0;
  bool operator==(const KvIndex&) const = default;
};

struct PutOptions {
  std::optional<uint64_t> cas;    // ?cas=N (0: only create if absent)
  std::optional<uint64_t> flags;  // ?flags=N
  std::string acquire;            // ?acquire=<session>
  std::string release;            // ?release=<session>
};

struct DeleteOptions {
  bool recurse = false;         // delete every key under the prefix
  std::optional<uint64_t> cas;  // only if ModifyIndex still equals this
};

// One KV operation of /v1/txn. Verb is Consul's own word ("set", "cas", "lock",
// "unlock", "get", "get-tree", "check-index", "check-session", "check-not-exists",
// "delete", "delete-tree", "delete-cas"); the agent validates it.
struct TxnOp {
  std::string verb;
  std::string key;
  std::optional<std::string> value;  // raw bytes; base64-encoded on the wire
  std::optional<uint64_t> flags;
  std::optional<uint64_t> index;
  std::string session;
};

struct TxnError {
  int op_index = 0;
  std::string what;
};

struct TxnResult {
  std::vector<KvPair> results;  // one per op that returns a KV entry, in op order
};

// ---------------------------------------------------------------------------------------
// Sessions

struct SessionRequest {
  std::string name;
  std::chrono::seconds ttl{0};                          // 0: no TTL (sent as e.g. "15s")
  std::optional<std::chrono::milliseconds> lock_delay;  // unset: agent default (15s)
  std::string behavior;                                 // "release" (default) or "delete"
  std::optional<std::vector<std::string>> checks;       // unset: agent default (serfHealth)
  std::string node;                                     // empty: the agent's node
};

struct SessionEntry {
  std::string id;
  std::string name;
  std::string node;
  std::chrono::milliseconds lock_delay{0};  // Consul sends nanoseconds
  std::string behavior;
  std::string ttl;  // as Consul writes it, e.g. "15s"
  std::vector<std::string> node_checks;
  std::vector<std::string> service_checks;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
};

// ---------------------------------------------------------------------------------------
// Health / catalog

struct HealthCheck {
  std::string node;
  std::string check_id;
  std::string name;
  std::string status;      // "passing", "warning", "critical", "maintenance"
  std::string service_id;  // empty for node checks such as serfHealth
  std::string service_name;
  std::vector<std::string> service_tags;
  std::string output;
  std::string type;
};

struct AgentService {
  std::string id;
  std::string service;
  std::vector<std::string> tags;
  std::map<std::string, std::string> meta;
  std::string address;  // may be empty: then the node's address applies
  int port = 0;
};

struct NodeInfo {
  std::string id;
  std::string node;
  std::string address;
  std::string datacenter;
};

struct ServiceEntry {
  NodeInfo node;
  AgentService service;
  std::vector<HealthCheck> checks;
};

struct HealthServiceOptions {
  // ?tag=: note Consul 1.10's streaming backend keeps stale matches in *blocking* tag
  // queries (fixtures 095/096/104). Block on the unfiltered list and use HasTag().
  std::string tag;
  bool passing = false;  // ?passing: serfHealth alone counts, so it is not "ready"
};

// The service's own checks (ServiceID == entry's service ID) exist and all pass. A new
// instance first appears with only the node's serfHealth check; that is not ready.
bool IsReady(const ServiceEntry& entry);
bool HasTag(const ServiceEntry& entry, const std::string& tag);
// The address to dial: the service address, or the node's when the service has none.
std::string ServiceAddress(const ServiceEntry& entry);

struct CatalogServiceEntry {
  std::string node;
  std::string address;  // node address
  std::string service_id;
  std::string service_name;
  std::vector<std::string> service_tags;
  std::map<std::string, std::string> service_meta;
  std::string service_address;
  int service_port = 0;
};

// ---------------------------------------------------------------------------------------
// The interface.

class ConsulClient {
 public:
  virtual ~ConsulClient() = default;

  // KV. A missing key is nullopt (Consul's 404), never an error.
  virtual ApiResult<QueryResult<std::optional<KvPair>>> KvGet(const std::string& key,
                                                              const QueryOptions& q) = 0;
  // ?raw: the value bytes only. Missing -> nullopt.
  virtual ApiResult<QueryResult<std::optional<std::string>>> KvGetRaw(const std::string& key,
                                                                      const QueryOptions& q) = 0;
  // ?recurse: every key under prefix, sorted by key. Empty prefix -> empty vector.
  virtual ApiResult<QueryResult<std::vector<KvPair>>> KvList(const std::string& prefix,
                                                             const QueryOptions& q) = 0;
  // ?recurse like KvList, but only each key's name and ModifyIndex: what a watch needs to
  // tell which keys changed, without keeping and base64-decoding every value (1,000
  // Rollout specs are ~1 MB per answer). The default projects KvList.
  virtual ApiResult<QueryResult<std::vector<KvIndex>>> KvListIndexes(const std::string& prefix,
                                                                     const QueryOptions& q);
  // ?keys[&separator=]: key names only; with a separator, sub-prefixes roll up.
  virtual ApiResult<QueryResult<std::vector<std::string>>> KvKeys(const std::string& prefix,
                                                                  const std::string& separator,
                                                                  const QueryOptions& q) = 0;
  // true: written. false: Consul refused (failed CAS, cas=0 on an existing key,
  // contended acquire, release by a non-holder). Not an error.
  virtual ApiResult<bool> KvPut(const std::string& key, const std::string& value,
                                const PutOptions& options) = 0;
  // true: deleted (also when the key did not exist). false: failed CAS.
  virtual ApiResult<bool> KvDelete(const std::string& key, const DeleteOptions& options) = 0;
  // Atomic. 409 (a check or CAS failed; nothing applied) -> kConflict whose message
  // lists every "op N: what" from Consul's Errors.
  virtual ApiResult<TxnResult> Txn(const std::vector<TxnOp>& ops) = 0;

  // Sessions.
  virtual ApiResult<std::string> SessionCreate(const SessionRequest& request) = 0;
  // kNotFound when the session no longer exists (invalidated or destroyed).
  virtual ApiResult<SessionEntry> SessionRenew(const std::string& id) = 0;
  virtual ApiResult<bool> SessionDestroy(const std::string& id) = 0;
  // nullopt when the session does not exist (Consul answers 200 []).
  virtual ApiResult<QueryResult<std::optional<SessionEntry>>> SessionInfo(
      const std::string& id, const QueryOptions& q) = 0;
  virtual ApiResult<QueryResult<std::vector<SessionEntry>>> SessionList(const QueryOptions& q) = 0;

  // Health / catalog / status.
  virtual ApiResult<QueryResult<std::vector<ServiceEntry>>> HealthService(
      const std::string& service, const HealthServiceOptions& options, const QueryOptions& q) = 0;
  virtual ApiResult<QueryResult<std::vector<HealthCheck>>> HealthChecks(const std::string& service,
                                                                        const QueryOptions& q) = 0;
  // Service name -> union of tags.
  virtual ApiResult<QueryResult<std::map<std::string, std::vector<std::string>>>> CatalogServices(
      const QueryOptions& q) = 0;
  virtual ApiResult<QueryResult<std::vector<CatalogServiceEntry>>> CatalogService(
      const std::string& service, const QueryOptions& q) = 0;
  // "host:port" of the raft leader; empty when there is none.
  virtual ApiResult<std::string> StatusLeader() = 0;
  virtual ApiResult<std::vector<std::string>> StatusPeers() = 0;
};

// ---------------------------------------------------------------------------------------
// The real client.

struct HttpConsulClientOptions {
  // Retries of reads and CAS-guarded writes (plain writes are never retried).
  http::RetryOptions retry;
  // Per-request timeout for non-blocking calls; blocking ones use wait + wait/16 + this.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
};

class HttpConsulClient : public ConsulClient {
 public:
  // Builds its own http::Client from config (base URL, TLS) via http::MakeClient.
  explicit HttpConsulClient(const clients::AgentConfig& config,
                            HttpConsulClientOptions options = {});
  // Uses the given transport (tests inject one).
  HttpConsulClient(clients::AgentConfig config, std::shared_ptr<http::Client> transport,
                   HttpConsulClientOptions options = {});

  ApiResult<QueryResult<std::optional<KvPair>>> KvGet(const std::string& key,
                                                      const QueryOptions& q) override;
  ApiResult<QueryResult<std::optional<std::string>>> KvGetRaw(const std::string& key,
                                                              const QueryOptions& q) override;
  ApiResult<QueryResult<std::vector<KvPair>>> KvList(const std::string& prefix,
                                                     const QueryOptions& q) override;
  ApiResult<QueryResult<std::vector<KvIndex>>> KvListIndexes(const std::string& prefix,
                                                             const QueryOptions& q) override;
  ApiResult<QueryResult<std::vector<std::string>>> KvKeys(const std::string& prefix,
                                                          const std::string& separator,
                                                          const QueryOptions& q) override;
  ApiResult<bool> KvPut(const std::string& key, const std::string& value,
                        const PutOptions& options) override;
  ApiResult<bool> KvDelete(const std::string& key, const DeleteOptions& options) override;
  ApiResult<TxnResult> Txn(const std::vector<TxnOp>& ops) override;

  ApiResult<std::string> SessionCreate(const SessionRequest& request) override;
  ApiResult<SessionEntry> SessionRenew(const std::string& id) override;
  ApiResult<bool> SessionDestroy(const std::string& id) override;
  ApiResult<QueryResult<std::optional<SessionEntry>>> SessionInfo(const std::string& id,
                                                                  const QueryOptions& q) override;
  ApiResult<QueryResult<std::vector<SessionEntry>>> SessionList(const QueryOptions& q) override;

  ApiResult<QueryResult<std::vector<ServiceEntry>>> HealthService(
      const std::string& service, const HealthServiceOptions& options,
      const QueryOptions& q) override;
  ApiResult<QueryResult<std::vector<HealthCheck>>> HealthChecks(const std::string& service,
                                                                const QueryOptions& q) override;
  ApiResult<QueryResult<std::map<std::string, std::vector<std::string>>>> CatalogServices(
      const QueryOptions& q) override;
  ApiResult<QueryResult<std::vector<CatalogServiceEntry>>> CatalogService(
      const std::string& service, const QueryOptions& q) override;
  ApiResult<std::string> StatusLeader() override;
  ApiResult<std::vector<std::string>> StatusPeers() override;

 private:
  struct Call;
  ApiResult<http::Response> Send(const Call& call);
  // GET <prefix>?recurse (KvList, KvListIndexes).
  ApiResult<http::Response> SendRecurse(const std::string& prefix, const QueryOptions& q);

  clients::AgentConfig config_;
  std::shared_ptr<http::Client> transport_;
  HttpConsulClientOptions options_;
};

// ---------------------------------------------------------------------------------------
// Error classification (shared by HttpConsulClient and tests of raw exchanges).

// Which kind of endpoint answered; Consul's status codes mean different things per kind.
enum class Endpoint {
  kKvRead,
  kKvWrite,  // PUT/DELETE /v1/kv (500 = bad cas= or unknown acquire session)
  kTxn,
  kSessionCreate,  // 500 = invalid TTL
  kSessionRenew,   // 404 = session gone
  kSessionOther,
  kRead,  // health, catalog, status
};

// The ApiError for a non-success response, or nullopt when `response` is a success for
// this endpoint (2xx, or a KV read's 404 = missing). `label` is "GET /v1/kv/x" without
// the query; the agent's text is kept in the message with the token redacted.
std::optional<ApiError> ClassifyConsulResponse(Endpoint endpoint, const std::string& label,
                                               const http::Response& response,
                                               const std::string& token);
ApiError FromTransportError(const std::string& label, const http::Error& error,
                            const std::string& token);

// Go duration text for ?wait= and session fields: whole seconds as "60s", else "1500ms".
std::string FormatWait(std::chrono::milliseconds wait);

}  // namespace rollouts::consul
