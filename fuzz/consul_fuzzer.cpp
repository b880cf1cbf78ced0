// Consul's answers (clients/consul/consul_decode.h, reconcilers/snapshot.h): every decoder
// over the same body. A decoder may throw on a body of the wrong shape (the client turns
// any std::exception into a kDecode error); it must not crash, hang or misbehave.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "clients/consul/consul_decode.h"
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
  using namespace rollouts;
  using nlohmann::json;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  // A ?recurse watch reads the body with simdjson, without building it.
  Decode([&] { consul::DecodeKvIndexes(body); });

  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  Decode([&] { consul::DecodeKvPairs(j); });
  Decode([&] { consul::DecodeKvPair(j); });
  Decode([&] { consul::DecodeStrings(j); });
  Decode([&] { consul::DecodeSession(j); });
  Decode([&] { consul::DecodeSessions(j); });
  Decode([&] { consul::DecodeHealthChecks(j); });
  Decode([&] { consul::DecodeServiceEntries(j); });
  Decode([&] {
    if (j.is_array()) {
      for (const json& e : j) consul::DecodeCatalogServiceEntry(e);
    }
  });
  Decode([&] { consul::DecodeCatalogServices(j); });
  Decode([&] { consul::DecodeTxnResult(j); });
  Decode([&] { consul::DecodeTxnErrors(j); });
  // rolloutd's view of /v1/health/service/<name>: tolerant, never throws.
  if (j.is_array()) {
    for (const json& entry : j) reconcilers::InstanceFromHealthEntry(entry, "hello");
  }
  return 0;
}
