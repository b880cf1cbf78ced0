// JSON <-> the typed Consul structs. Decoders throw (nlohmann::json::exception or
// std::runtime_error) on a body of the wrong shape; HttpConsulClient turns that into a
// kDecode ApiError. Consul writes `null` for empty lists and maps, so every list and
// map accessor here accepts null.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "clients/consul/consul_client.h"

namespace rollouts::consul {

QueryMeta MetaFromHeaders(const http::Headers& headers);

KvPair DecodeKvPair(const nlohmann::json& j);
std::vector<KvPair> DecodeKvPairs(const nlohmann::json& j);
// The Key and ModifyIndex of each entry of a ?recurse answer, read with a SAX parser that
// never builds the values. Throws std::runtime_error on malformed JSON or a non-array.
std::vector<KvIndex> DecodeKvIndexes(std::string_view body);
std::vector<std::string> DecodeStrings(const nlohmann::json& j);
SessionEntry DecodeSession(const nlohmann::json& j);
std::vector<SessionEntry> DecodeSessions(const nlohmann::json& j);
HealthCheck DecodeHealthCheck(const nlohmann::json& j);
std::vector<HealthCheck> DecodeHealthChecks(const nlohmann::json& j);
ServiceEntry DecodeServiceEntry(const nlohmann::json& j);
std::vector<ServiceEntry> DecodeServiceEntries(const nlohmann::json& j);
CatalogServiceEntry DecodeCatalogServiceEntry(const nlohmann::json& j);
std::map<std::string, std::vector<std::string>> DecodeCatalogServices(const nlohmann::json& j);
TxnResult DecodeTxnResult(const nlohmann::json& j);
std::vector<TxnError> DecodeTxnErrors(const nlohmann::json& j);

nlohmann::json EncodeTxnOps(const std::vector<TxnOp>& ops);
nlohmann::json EncodeSessionRequest(const SessionRequest& request);

}  // namespace rollouts::consul
