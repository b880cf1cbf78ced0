// What a router needs of <prefix>status/<name>: the Active version the controller declared.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace rollouts::api {

// The status document's "activeVersion": nullopt when it declares none (absent or empty),
// or why the bytes are not a status document (invalid UTF-8, not a JSON object, a version
// that is not a bounded string). Never throws.
std::variant<std::optional<std::string>, std::string> DecodeDeclaredVersion(
    std::string_view status);

}  // namespace rollouts::api
