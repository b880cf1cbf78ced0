// Consul's answers (clients/consul/consul_decode.h, reconcilers/snapshot.h): every decoder
// over the same body. A decoder may throw on a body of the wrong shape (the client turns
// any std::exception into a kDecode error); it must not crash, hang or misbehave.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "clients/consul/consul_decode.h"
#include "fuzz/fuzz_check.h"
#include "reconcilers/snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rollouts;
  using nlohmann::json;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  // A ?recurse watch reads the body with simdjson, without building it.
  rollouts::fuzz::DecodeMayThrow([&] { consul::DecodeKvIndexes(body); });

  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  rollouts::fuzz::DecodeMayThrow([&] { consul::DecodeKvPairs(j); });
  rollouts::fuzz::DecodeMayThrow([&] { consul::DecodeKvPair(j); });
  rollouts::fuzz::DecodeMayThrow([&] { consul::DecodeStrings(j); });
  rollouts::fuzz::DecodeMayThrow([&] { consul::DecodeSession(j); });
  rollouts::fuzz::DecodeMayThrow([&] { consul::DecodeSessions(j); });
  rollouts::fuzz::DecodeMayThrow([&] { consul::DecodeHealthChecks(j); });
  rollouts::fuzz::DecodeMayThrow([&] { consul::DecodeServiceEntries(j); });
  rollouts::fuzz::DecodeMayThrow([&] {
    if (j.is_array()) {
      for (const json& e : j) consul::DecodeCatalogServiceEntry(e);
    }
  });
  rollouts::fuzz::DecodeMayThrow([&] { consul::DecodeCatalogServices(j); });
  rollouts::fuzz::DecodeMayThrow([&] { consul::DecodeTxnResult(j); });
  rollouts::fuzz::DecodeMayThrow([&] { consul::DecodeTxnErrors(j); });
  // rolloutd's view of /v1/health/service/<name>: tolerant, never throws.
  if (j.is_array()) {
    for (const json& entry : j) reconcilers::InstanceFromHealthEntry(entry, "hello");
  }
  return 0;
}
