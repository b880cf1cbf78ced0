// <prefix>status/<name>, as rolloutd reads it back (reconcilers/rollout_status.h) and as
// rollout-router reads its declared version (api/declared_version.h): a value or a reason,
// never an exception, and what rolloutd decoded can be written again.
#include <cstddef>
#include <cstdint>
#include <variant>

#include "api/declared_version.h"
#include "fuzz/fuzz_check.h"
#include "reconcilers/rollout_status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rollouts;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  const reconcilers::DecodedStatus decoded = reconcilers::DecodeStatus(bytes);
  fuzz::CheckStored("status error", decoded.error, api::kMaxMessageBytes);
  nlohmann::json doc;
  try {
    doc = reconcilers::StatusToJson(decoded.status);
  } catch (const std::exception& e) {
    fuzz::Fail("StatusToJson threw", e.what());
  }
  fuzz::CheckDumps("status", doc);

  auto declared = api::DecodeDeclaredVersion(bytes);
  if (const auto* error = std::get_if<std::string>(&declared)) {
    if (error->empty()) fuzz::Fail("declared version", "an error without a reason");
    fuzz::CheckStored("declared version error", *error, api::kMaxMessageBytes);
  } else if (const auto& version = std::get<std::optional<std::string>>(declared)) {
    if (version->empty()) fuzz::Fail("declared version", "empty instead of none");
    fuzz::CheckStored("declared version", *version, api::kMaxIdBytes);
  }
  return 0;
}
