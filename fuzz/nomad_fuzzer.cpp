// Nomad's answers (clients/nomad/nomad_decode.h, reconcilers/snapshot.h): every decoder
// over the same body. A decoder may throw on a body of the wrong shape (the client turns
// any std::exception into a kDecode error); it must not crash, hang or misbehave.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "clients/nomad/nomad_decode.h"
#include "fuzz/fuzz_check.h"
#include "reconcilers/snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rollouts::nomad;
  using nlohmann::json;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  rollouts::fuzz::DecodeMayThrow([&] { decode::DecodeWriteResponse(j); });
  rollouts::fuzz::DecodeMayThrow([&] { decode::DecodePlan(j); });
  rollouts::fuzz::DecodeMayThrow([&] { decode::DecodeJobVersions(j); });
  rollouts::fuzz::DecodeMayThrow([&] { decode::DecodeAllocation(j); });
  rollouts::fuzz::DecodeMayThrow(
      [&] { decode::DecodeList<AllocationStub>(j, decode::DecodeAllocationStub); });
  rollouts::fuzz::DecodeMayThrow([&] { decode::DecodeDeployment(j); });
  rollouts::fuzz::DecodeMayThrow(
      [&] { decode::DecodeList<Deployment>(j, decode::DecodeDeployment); });
  rollouts::fuzz::DecodeMayThrow([&] { decode::DecodeEvaluation(j); });
  rollouts::fuzz::DecodeMayThrow(
      [&] { decode::DecodeList<Evaluation>(j, decode::DecodeEvaluation); });
  rollouts::fuzz::DecodeMayThrow([&] { decode::DecodeJobSummary(j); });
  rollouts::fuzz::DecodeMayThrow(
      [&] { decode::DecodeList<JobListStub>(j, decode::DecodeJobListStub); });
  rollouts::fuzz::DecodeMayThrow([&] { decode::DecodeJobScaleStatus(j); });
  // GET /v1/job/<id> as rolloutd reads it (the client's Job only checks for an object).
  rollouts::reconcilers::JobView::FromDocument(j);
  return 0;
}
