// What the schema tests share: where the schemas are, and following a local "$ref".
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace rollouts::schemas_testing {

inline const std::filesystem::path kSchemas =
    std::filesystem::path(ROLLOUTS_SOURCE_DIR) / "crd-schemas";

// The schema itself, or the $defs entry its "#/$defs/<name>" reference names.
inline const nlohmann::json& Resolve(const nlohmann::json& schema, const nlohmann::json& root) {
  if (schema.contains("$ref")) {
    const std::string ref = schema["$ref"];
    const std::string prefix = "#/$defs/";
    EXPECT_TRUE(ref.starts_with(prefix)) << ref;
    return root["$defs"][ref.substr(prefix.size())];
  }
  return schema;
}

}  // namespace rollouts::schemas_testing
