// The Consul half of rollout-sandbox: a stand-in for `consul agent -dev` (1.10) on the
// HTTP API subset the project uses (KV, txn, sessions, catalog/health, status), with the
// behaviours recorded in tests/fixtures/api/consul. See sandbox/README.md.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clients/http/server.h"
#include "sandbox/common/scheduler.h"
#include "sandbox/consul/catalog.h"
#include "sandbox/consul/consul_catalog.h"
#include "sandbox/consul/consul_state.h"

namespace rollouts::sandbox {

struct ConsulAgentOptions {
  // Non-empty: ACLs on with default deny; every request but /v1/status/* needs this
  // token (X-Consul-Token, ?token= or Authorization: Bearer).
  std::string acl_token;
  // Reproduce Consul 1.10.3's streaming bug: a blocking ?tag= health query keeps
  // instances that stopped carrying the tag (fixtures 095, 096, 104).
  bool stale_tag_filter = false;
  // Between a service showing up and its checks showing up (critical).
  std::chrono::milliseconds check_registration_delay{15};
};

class ConsulAgent {
 public:
  explicit ConsulAgent(ConsulAgentOptions options);
  ~ConsulAgent();  // Shutdown()
  ConsulAgent(const ConsulAgent&) = delete;
  ConsulAgent& operator=(const ConsulAgent&) = delete;

  // Serves one request; blocking queries answer later from another thread.
  void Handle(http::ServerRequest request, http::Responder respond);
  // What the Nomad side registers services through.
  Catalog& catalog() { return *catalog_; }
  // Stops the check threads and answers every parked query. Idempotent.
  void Shutdown();

 private:
  using Query = std::vector<std::pair<std::string, std::string>>;
  using Lock = ConsulState::Lock;

  void Route(const http::ServerRequest& request, const Query& query, http::Responder respond);
  // KV
  void KvGet(const std::string& key, const Query& query, http::Responder respond);
  void KvPut(const std::string& key, const http::ServerRequest& request, const Query& query,
             http::Responder respond);
  void KvDelete(const std::string& key, const Query& query, http::Responder respond);
  void Txn(const http::ServerRequest& request, http::Responder respond);
  // Sessions
  void SessionCreate(const http::ServerRequest& request, http::Responder respond);
  void SessionDestroy(const std::string& id, http::Responder respond);
  void SessionRenew(const std::string& id, http::Responder respond);
  void SessionRead(const std::string& filter_kind, const std::string& filter, const Query& query,
                   http::Responder respond);
  // Catalog and health
  void CatalogServices(const Query& query, http::Responder respond);
  void CatalogNodes(const Query& query, http::Responder respond);
  void ServiceRead(const std::string& endpoint, const std::string& name, const Query& query,
                   http::Responder respond);

  ConsulAgentOptions options_;
  Scheduler scheduler_;
  std::unique_ptr<ConsulState> state_;
  std::unique_ptr<ConsulCatalog> catalog_;
  // Streaming views for --consul-stale-tag-filter: (service, tags) -> service ID ->
  // the entry as it was the last time it matched. Guarded by the state lock.
  std::map<std::string, std::map<std::string, std::string>> stale_views_;
  bool shut_down_ = false;
};

}  // namespace rollouts::sandbox
