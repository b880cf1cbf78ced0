// <prefix>spec/<name>: a Rollout document as anyone may write it (reconcilers/
// rollout_spec.h). ParseRollout never throws; its errors go into the status (issue #20 item
// 1: a message carrying an invalid byte made every status write throw); a document it
// accepts survives RolloutToJson and parses back to the same canonical document.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_check.h"
#include "reconcilers/rollout_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rollouts;
  const std::string text(reinterpret_cast<const char*>(data), size);
  reconcilers::ParseResult parsed;
  try {
    parsed = reconcilers::ParseRollout(text);
  } catch (const std::exception& e) {
    fuzz::Fail("ParseRollout threw", e.what());
  }
  if (!parsed.rollout) {
    if (parsed.errors.empty()) fuzz::Fail("ParseRollout", "no rollout and no error");
    for (const auto& error : parsed.errors) {
      fuzz::CheckDumps("spec error", {{"pointer", error.pointer}, {"message", error.message}});
    }
    return 0;
  }
  nlohmann::json canonical;
  try {
    canonical = reconcilers::RolloutToJson(*parsed.rollout);
  } catch (const std::exception& e) {
    fuzz::Fail("RolloutToJson threw", e.what());
  }
  fuzz::CheckDumps("canonical rollout", canonical);
  const reconcilers::ParseResult again = reconcilers::ParseRollout(canonical);
  if (!again.rollout) {
    fuzz::Fail("canonical form refused",
               again.errors.front().pointer + " " + again.errors.front().message);
  }
  if (reconcilers::RolloutToJson(*again.rollout) != canonical) {
    fuzz::Fail("canonical form changed by a round trip", canonical.dump());
  }
  return 0;
}
