// GoogleMock double of consul::ConsulClient for the leader election tests.
#pragma once

#include <gmock/gmock.h>

#include "clients/consul/consul_client.h"

namespace rollouts::controller::testing {

using namespace rollouts::consul;  // NOLINT: the mock repeats the interface's many types

class MockConsulClient : public ConsulClient {
 public:
  MOCK_METHOD((ApiResult<QueryResult<std::optional<KvPair>>>), KvGet,
              (const std::string&, const QueryOptions&), (override));
  MOCK_METHOD((ApiResult<QueryResult<std::optional<std::string>>>), KvGetRaw,
              (const std::string&, const QueryOptions&), (override));
  MOCK_METHOD((ApiResult<QueryResult<std::vector<KvPair>>>), KvList,
              (const std::string&, const QueryOptions&), (override));
  MOCK_METHOD((ApiResult<QueryResult<std::vector<std::string>>>), KvKeys,
              (const std::string&, const std::string&, const QueryOptions&), (override));
  MOCK_METHOD((ApiResult<bool>), KvPut, (const std::string&, const std::string&, const PutOptions&),
              (override));
  MOCK_METHOD((ApiResult<bool>), KvDelete, (const std::string&, const DeleteOptions&), (override));
  MOCK_METHOD((ApiResult<TxnResult>), Txn, (const std::vector<TxnOp>&), (override));
  MOCK_METHOD((ApiResult<std::string>), SessionCreate, (const SessionRequest&), (override));
  MOCK_METHOD((ApiResult<SessionEntry>), SessionRenew, (const std::string&), (override));
  MOCK_METHOD((ApiResult<bool>), SessionDestroy, (const std::string&), (override));
  MOCK_METHOD((ApiResult<QueryResult<std::optional<SessionEntry>>>), SessionInfo,
              (const std::string&, const QueryOptions&), (override));
  MOCK_METHOD((ApiResult<QueryResult<std::vector<SessionEntry>>>), SessionList,
              (const QueryOptions&), (override));
  MOCK_METHOD((ApiResult<QueryResult<std::vector<ServiceEntry>>>), HealthService,
              (const std::string&, const HealthServiceOptions&, const QueryOptions&), (override));
  MOCK_METHOD((ApiResult<QueryResult<std::vector<HealthCheck>>>), HealthChecks,
              (const std::string&, const QueryOptions&), (override));
  MOCK_METHOD((ApiResult<QueryResult<std::map<std::string, std::vector<std::string>>>>),
              CatalogServices, (const QueryOptions&), (override));
  MOCK_METHOD((ApiResult<QueryResult<std::vector<CatalogServiceEntry>>>), CatalogService,
              (const std::string&, const QueryOptions&), (override));
  MOCK_METHOD((ApiResult<std::string>), StatusLeader, (), (override));
  MOCK_METHOD((ApiResult<std::vector<std::string>>), StatusPeers, (), (override));
};

}  // namespace rollouts::controller::testing
