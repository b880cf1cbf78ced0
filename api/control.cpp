#include "api/control.h"

#include <array>
#include <nlohmann/json.hpp>
#include <utility>

#include "api/text.h"

namespace rollouts::api {
namespace {

constexpr std::array<std::pair<ControlVerb, std::string_view>, 6> kVerbNames = {{
    {ControlVerb::kPromote, "promote"},
    {ControlVerb::kAbort, "abort"},
    {ControlVerb::kRetry, "retry"},
    {ControlVerb::kPause, "pause"},
    {ControlVerb::kResume, "resume"},
    {ControlVerb::kUndo, "undo"},
}};

std::string VerbList() {
  std::string out;
  for (const auto& [verb, name] : kVerbNames) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

std::string TypeOf(const nlohmann::json& value) {
  return value.is_number() ? "a number" : std::string("a ") + value.type_name();
}

}  // namespace

std::string_view ControlVerbName(ControlVerb verb) {
  for (const auto& [v, name] : kVerbNames) {
    if (v == verb) return name;
  }
  return "promote";
}

std::optional<ControlVerb> ParseControlVerb(std::string_view name) {
  for (const auto& [v, n] : kVerbNames) {
    if (n == name) return v;
  }
  return std::nullopt;
}

ControlRequest DecodeControl(std::string_view bytes, uint64_t modify_index) {
  ControlRequest out;
  out.id = "@" + std::to_string(modify_index);
  const auto reject = [&](std::string why) {
    out.invalid = std::move(why);
    return out;
  };
  if (bytes.size() > kMaxControlBytes) {
    return reject("the document is " + std::to_string(bytes.size()) + " bytes (at most " +
                  std::to_string(kMaxControlBytes) + ")");
  }
  if (auto bad = FirstInvalidUtf8(bytes)) {
    return reject("invalid UTF-8 at byte " + std::to_string(*bad) + ": " + Quote(bytes));
  }
  const nlohmann::json doc = nlohmann::json::parse(bytes, nullptr, false);
  if (doc.is_discarded()) return reject("not JSON: " + Quote(bytes));
  if (!doc.is_object())
    return reject("must be a JSON object {\"id\", \"verb\"}, got " + TypeOf(doc));

  // An id that is cut or reserved could equal another command's: those are acknowledged
  // under "@<index>", unique per write, instead.
  const auto id = doc.find("id");
  if (id != doc.end() && id->is_string()) {
    const std::string& text = id->get_ref<const std::string&>();
    if (!text.empty() && text.size() <= kMaxIdBytes && text[0] != '@') out.id = text;
  }
  const auto verb = doc.find("verb");
  if (verb != doc.end() && verb->is_string()) {
    out.verb_text = Truncate(verb->get_ref<const std::string&>(), kMaxIdBytes);
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "id" && key != "verb") {
      return reject("unknown field " + Quote(key) + " (a control document has id and verb)");
    }
  }
  if (id == doc.end()) return reject("missing \"id\"");
  if (!id->is_string()) return reject("\"id\" must be a string, got " + TypeOf(*id));
  const std::string& id_text = id->get_ref<const std::string&>();
  if (id_text.empty()) return reject("\"id\" is empty");
  if (id_text.size() > kMaxIdBytes) {
    return reject("\"id\" is " + std::to_string(id_text.size()) + " bytes (at most " +
                  std::to_string(kMaxIdBytes) + ")");
  }
  if (id_text[0] == '@') {
    return reject("\"id\" may not start with '@' (reserved for commands without an id)");
  }
  if (verb == doc.end()) return reject("missing \"verb\" (one of " + VerbList() + ")");
  if (!verb->is_string()) return reject("\"verb\" must be a string, got " + TypeOf(*verb));
  auto parsed = ParseControlVerb(verb->get_ref<const std::string&>());
  if (!parsed) {
    return reject("unknown verb " + Quote(verb->get_ref<const std::string&>()) + " (one of " +
                  VerbList() + ")");
  }
  out.verb = *parsed;
  return out;
}

}  // namespace rollouts::api
