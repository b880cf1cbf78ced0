// Compares the shape of two JSON documents: same keys and the same JSON types,
// recursively; values are not compared (IDs, indexes, times and ports are volatile).
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace rollouts::sandbox::testing {

// Fields the agent documents as "null or a value" (null until set, omitted lists, ...):
// either form is accepted there, since which one shows depends on timing and history.
inline const std::set<std::string>& NullableKeys() {
  static const std::set<std::string> keys = {"DeploymentStatus",
                                             "TaskStates",
                                             "LastRestart",
                                             "StartedAt",
                                             "FinishedAt",
                                             "Fields",
                                             "Objects",
                                             "Annotations",
                                             "Updates",
                                             "Events",
                                             "Count",
                                             "EvalID",
                                             "Diffs",
                                             "Diff",
                                             "TaskGroups",
                                             "Tasks"};
  return keys;
}

inline std::string ShapeType(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "bool";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  return "object";
}

inline void CompareShape(const nlohmann::json& expected, const nlohmann::json& actual,
                         const std::string& path, const std::string& key,
                         std::vector<std::string>& errors) {
  if (ShapeType(expected) != ShapeType(actual)) {
    if ((expected.is_null() || actual.is_null()) && NullableKeys().count(key)) return;
    errors.push_back(path + ": expected " + ShapeType(expected) + ", got " + ShapeType(actual));
    return;
  }
  if (expected.is_object()) {
    for (const auto& [k, v] : expected.items()) {
      if (!actual.contains(k)) {
        errors.push_back(path + ": missing key " + k);
      } else {
        CompareShape(v, actual[k], path + "." + k, k, errors);
      }
    }
    for (const auto& [k, v] : actual.items()) {
      if (!expected.contains(k)) errors.push_back(path + ": unexpected key " + k);
    }
  } else if (expected.is_array() && !expected.empty()) {
    // Lists may mix element kinds (task events, evaluations): each element must match
    // the shape of at least one recorded element.
    for (size_t i = 0; i < actual.size(); ++i) {
      std::vector<std::string> best;
      bool matched = false;
      for (const nlohmann::json& candidate : expected) {
        std::vector<std::string> attempt;
        CompareShape(candidate, actual[i], path + "[" + std::to_string(i) + "]", key, attempt);
        if (attempt.empty()) {
          matched = true;
          break;
        }
        if (best.empty() || attempt.size() < best.size()) best = attempt;
      }
      if (!matched) errors.insert(errors.end(), best.begin(), best.end());
    }
  }
}

inline std::vector<std::string> ShapeDifferences(const nlohmann::json& expected,
                                                 const nlohmann::json& actual) {
  std::vector<std::string> errors;
  CompareShape(expected, actual, "$", "", errors);
  return errors;
}

}  // namespace rollouts::sandbox::testing
