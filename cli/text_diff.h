// A line diff (longest common subsequence) in unified style, for `rolloutctl apply` to
// show what it is about to change in Consul KV. Rollout documents are a few hundred lines
// at most, so the quadratic table is fine.
#pragma once

#include <string>

namespace rollouts::cli {

// Empty when the texts are equal. Otherwise "--- <from_label>\n+++ <to_label>\n" and one
// "@@ -a,b +c,d @@" hunk per change with `context` unchanged lines around it.
std::string UnifiedDiff(const std::string& from, const std::string& to,
                        const std::string& from_label, const std::string& to_label,
                        int context = 3);

}  // namespace rollouts::cli
