#include "api/declared_version.h"

#include <nlohmann/json.hpp>

#include "api/text.h"

namespace rollouts::api {

std::variant<std::optional<std::string>, std::string> DecodeDeclaredVersion(
    std::string_view status) {
  if (auto bad = FirstInvalidUtf8(status)) {
    return "invalid UTF-8 at byte " + std::to_string(*bad);
  }
  const nlohmann::json doc = nlohmann::json::parse(status, nullptr, false);
  if (doc.is_discarded()) return "not JSON: " + Quote(status);
  if (!doc.is_object()) return std::string("not a JSON object but ") + doc.type_name();
  const auto version = doc.find("activeVersion");
  if (version == doc.end() || version->is_null()) return std::optional<std::string>();
  if (!version->is_string()) {
    return std::string("activeVersion must be a string, got ") + version->type_name();
  }
  const std::string& text = version->get_ref<const std::string&>();
  if (text.size() > kMaxIdBytes) return "activeVersion is too long: " + Quote(text);
  if (text.empty()) return std::optional<std::string>();
  return std::optional<std::string>(text);
}

}  // namespace rollouts::api
