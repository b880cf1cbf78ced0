// <prefix>control/<name>: anything anyone wrote there, read by rolloutd (api/control.h).
#include <cstddef>
#include <cstdint>

#include "api/control.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rollouts;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const api::ControlRequest request = api::DecodeControl(bytes, 4242);
  // The id goes into status.acknowledged: bounded, with room for the cut marker.
  fuzz::CheckStored("control id", request.id, api::kMaxIdBytes);
  if (request.id.empty()) fuzz::Fail("control id", "empty: the write would never be acknowledged");
  fuzz::CheckStored("control reason", request.invalid, api::kMaxMessageBytes);
  fuzz::CheckStored("control verb text", request.verb_text, api::kMaxIdBytes);
  fuzz::CheckDumps("control ack",
                   {{"id", request.id}, {"verb", request.verb_text}, {"result", request.invalid}});
  return 0;
}
