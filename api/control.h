// <prefix>control/<name>: {"id": "...", "verb": "promote"}, written by rolloutctl or by
// hand. Each id is handled once and acknowledged in status.acknowledged, so the writer
// learns what became of it: also a command that cannot be executed is acknowledged, as
// rejected, with the reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace rollouts::api {

enum class ControlVerb { kPromote, kAbort, kRetry, kPause, kResume, kUndo };

std::string_view ControlVerbName(ControlVerb verb);
std::optional<ControlVerb> ParseControlVerb(std::string_view name);

struct ControlRequest {
  ControlRequest() = default;
  ControlRequest(std::string request_id, ControlVerb request_verb)
      : id(std::move(request_id)), verb(request_verb) {}

  // What the acknowledgement carries: the id as written, or "@<ModifyIndex of the control
  // key>" when the document has no usable id (none, not a string, longer than kMaxIdBytes,
  // or starting with the reserved '@'), so that each write is acknowledged once either way.
  std::string id;
  ControlVerb verb = ControlVerb::kPromote;
  // Non-empty: the command cannot be executed as written (not JSON, not an object, a
  // missing or mistyped field, an unknown verb, an id too long); it is acknowledged as
  // rejected with this reason and changes nothing else.
  std::string invalid;
  std::string verb_text;  // the verb as written, for the acknowledgement of an invalid one
};

// Never throws; the result holds only valid UTF-8 of bounded size.
ControlRequest DecodeControl(std::string_view bytes, uint64_t modify_index);

// Control documents are a few dozen bytes; anything much larger is refused unparsed.
inline constexpr size_t kMaxControlBytes = 4096;

}  // namespace rollouts::api
