// api/text.h: every outside text passes through Quote or Truncate on its way into a
// message or a stored field.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rollouts;
  if (size < 2) return 0;
  // The first two bytes choose the limits, the rest is the text.
  const size_t max_chars = data[0];
  const size_t max_bytes = 32 + static_cast<size_t>(data[1]) * 8;  // the marker needs 32
  const std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);

  const auto invalid = api::FirstInvalidUtf8(text);
  if (invalid && *invalid >= text.size()) fuzz::Fail("FirstInvalidUtf8", "offset past the end");
  // nlohmann's serializer is an independent UTF-8 checker: it must agree.
  bool dumps = true;
  try {
    (void)nlohmann::json(std::string(text)).dump();
  } catch (const nlohmann::json::type_error&) {
    dumps = false;
  }
  if (dumps != !invalid) fuzz::Fail("FirstInvalidUtf8 disagrees with nlohmann", text);
  if (invalid && api::FirstInvalidUtf8(text.substr(0, *invalid))) {
    fuzz::Fail("FirstInvalidUtf8 not the first", text);
  }

  const std::string quoted = api::Quote(text, max_chars);
  fuzz::CheckStored("Quote", quoted, 2 + 6 * text.size() + 64);  // \u0000 is 6 bytes
  if (quoted.size() < 2 || quoted.front() != '"') fuzz::Fail("Quote", quoted);

  const std::string cut = api::Truncate(text, max_bytes);
  fuzz::CheckStored("Truncate", cut, max_bytes);
  if (!invalid && text.size() <= max_bytes && cut != text) fuzz::Fail("Truncate changed", text);
  return 0;
}
