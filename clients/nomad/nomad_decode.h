// JSON -> typed results for the Nomad client. Each function throws nlohmann::json
// exceptions or std::invalid_argument when the document does not have the expected
// shape; the client turns that into ApiErrorKind::kDecode.
#pragma once

#include <nlohmann/json.hpp>

#include "clients/nomad/nomad_client.h"

namespace rollouts::nomad::decode {

WriteResponse DecodeWriteResponse(const nlohmann::json& j);
PlanResult DecodePlan(const nlohmann::json& j);
JobVersions DecodeJobVersions(const nlohmann::json& j);
AllocationStub DecodeAllocationStub(const nlohmann::json& j);
Allocation DecodeAllocation(const nlohmann::json& j);
Deployment DecodeDeployment(const nlohmann::json& j);
Evaluation DecodeEvaluation(const nlohmann::json& j);
JobSummary DecodeJobSummary(const nlohmann::json& j);
JobListStub DecodeJobListStub(const nlohmann::json& j);
JobScaleStatus DecodeJobScaleStatus(const nlohmann::json& j);

// Applies Decode to every element of a JSON array (null counts as empty: Nomad encodes
// empty lists as null in places).
template <typename T, typename Decode>
std::vector<T> DecodeList(const nlohmann::json& j, Decode decode) {
  std::vector<T> out;
  if (j.is_null()) return out;
  if (!j.is_array()) throw std::invalid_argument("expected a JSON array");
  out.reserve(j.size());
  for (const auto& element : j) out.push_back(decode(element));
  return out;
}

}  // namespace rollouts::nomad::decode
