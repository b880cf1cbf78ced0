// A gmock ConsulClient for tests of code that takes a ConsulClient& (leader election,
// router, rolloutctl). Header-only; link GTest::gmock.
#pragma once

#include <gmock/gmock.h>

#include "clients/consul/consul_client.h"

namespace rollouts::consul::testing {

class MockConsulClient : public ConsulClient {
 public:
  MOCK_METHOD(ApiResult<QueryResult<std::optional<KvPair>>>, KvGet,
              (const std::string& key, const QueryOptions& q), (override));
  MOCK_METHOD(ApiResult<QueryResult<std::optional<std::string>>>, KvGetRaw,
              (const std::string& key, const QueryOptions& q), (override));
  MOCK_METHOD(ApiResult<QueryResult<std::vector<KvPair>>>, KvList,
              (const std::string& prefix, const QueryOptions& q), (override));
  MOCK_METHOD(ApiResult<QueryResult<std::vector<std::string>>>, KvKeys,
              (const std::string& prefix, const std::string& separator, const QueryOptions& q),
              (override));
  MOCK_METHOD(ApiResult<bool>, KvPut,
              (const std::string& key, const std::string& value, const PutOptions& options),
              (override));
  MOCK_METHOD(ApiResult<bool>, KvDelete, (const std::string& key, const DeleteOptions& options),
              (override));
  MOCK_METHOD(ApiResult<TxnResult>, Txn, (const std::vector<TxnOp>& ops), (override));
  MOCK_METHOD(ApiResult<std::string>, SessionCreate, (const SessionRequest& request), (override));
  MOCK_METHOD(ApiResult<SessionEntry>, SessionRenew, (const std::string& id), (override));
  MOCK_METHOD(ApiResult<bool>, SessionDestroy, (const std::string& id), (override));
  MOCK_METHOD(ApiResult<QueryResult<std::optional<SessionEntry>>>, SessionInfo,
              (const std::string& id, const QueryOptions& q), (override));
  MOCK_METHOD(ApiResult<QueryResult<std::vector<SessionEntry>>>, SessionList,
              (const QueryOptions& q), (override));
  MOCK_METHOD(ApiResult<QueryResult<std::vector<ServiceEntry>>>, HealthService,
              (const std::string& service, const HealthServiceOptions& options,
               const QueryOptions& q),
              (override));
  MOCK_METHOD(ApiResult<QueryResult<std::vector<HealthCheck>>>, HealthChecks,
              (const std::string& service, const QueryOptions& q), (override));
  using ServiceTags = std::map<std::string, std::vector<std::string>>;
  MOCK_METHOD(ApiResult<QueryResult<ServiceTags>>, CatalogServices, (const QueryOptions& q),
              (override));
  MOCK_METHOD(ApiResult<QueryResult<std::vector<CatalogServiceEntry>>>, CatalogService,
              (const std::string& service, const QueryOptions& q), (override));
  MOCK_METHOD(ApiResult<std::string>, StatusLeader, (), (override));
  MOCK_METHOD(ApiResult<std::vector<std::string>>, StatusPeers, (), (override));
};

}  // namespace rollouts::consul::testing
