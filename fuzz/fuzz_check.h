// What every fuzz target checks beyond "no crash, no sanitizer report": the properties the
// decode boundary promises (api/text.h), as fatal checks that libFuzzer reports as crashes.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "api/text.h"

namespace rollouts::fuzz {

[[noreturn]] inline void Fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz check failed: %s: %s\n", what, api::Quote(detail, 200).c_str());
  std::abort();
}

// Text the decoders keep must be valid UTF-8 (a JSON serializer throws on anything else)
// and at most max_bytes long.
inline void CheckStored(const char* what, std::string_view text, size_t max_bytes) {
  if (api::FirstInvalidUtf8(text)) Fail(what, text);
  if (text.size() > max_bytes) Fail(what, "longer than its limit");
}

// Serializing what a decoder returned, as the controller does when it writes the status,
// must not throw.
inline void CheckDumps(const char* what, const nlohmann::json& doc) {
  try {
    (void)doc.dump();
  } catch (const std::exception& e) {
    Fail(what, e.what());
  }
}

// Runs a client decoder that may throw on a body of the wrong shape: the clients turn any
// std::exception into a kDecode error, so throwing is allowed; crashing and UB are not.
template <typename F>
void DecodeMayThrow(F decode) {
  try {
    decode();
  } catch (const std::exception&) {
  }
}

}  // namespace rollouts::fuzz
