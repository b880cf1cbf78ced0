// Nomad's answers (clients/nomad/nomad_decode.h, reconcilers/snapshot.h): every decoder
// over the same body. A decoder may throw on a body of the wrong shape (the client turns
// any std::exception into a kDecode error); it must not crash, hang or misbehave.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "clients/nomad/nomad_decode.h"
#include "reconcilers/snapshot.h"

namespace {

template <typename F>
void Decode(F decode) {
  try {
    decode();
  } catch (const std::exception&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rollouts::nomad;
  using nlohmann::json;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  Decode([&] { decode::DecodeWriteResponse(j); });
  Decode([&] { decode::DecodePlan(j); });
  Decode([&] { decode::DecodeJobVersions(j); });
  Decode([&] { decode::DecodeAllocation(j); });
  Decode([&] { decode::DecodeList<AllocationStub>(j, decode::DecodeAllocationStub); });
  Decode([&] { decode::DecodeDeployment(j); });
  Decode([&] { decode::DecodeList<Deployment>(j, decode::DecodeDeployment); });
  Decode([&] { decode::DecodeEvaluation(j); });
  Decode([&] { decode::DecodeList<Evaluation>(j, decode::DecodeEvaluation); });
  Decode([&] { decode::DecodeJobSummary(j); });
  Decode([&] { decode::DecodeList<JobListStub>(j, decode::DecodeJobListStub); });
  Decode([&] { decode::DecodeJobScaleStatus(j); });
  // GET /v1/job/<id> as rolloutd reads it (the client's Job only checks for an object).
  rollouts::reconcilers::JobView::FromDocument(j);
  return 0;
}
