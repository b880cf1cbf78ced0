// Go's time.Duration text form, which both agents speak: "10s", "1m30s", "500ms".
// Consul parses ?wait=, session TTL/LockDelay and check intervals with it and prints
// check intervals with it, so the sandbox must accept and produce exactly that syntax.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace rollouts::sandbox {

// time.ParseDuration: a sequence of decimal numbers with optional fraction and a unit
// (ns, us, µs, ms, s, m, h), optional sign; "0" alone is allowed. nullopt on bad syntax.
std::optional<std::chrono::nanoseconds> ParseGoDuration(const std::string& text);

// time.Duration.String: "2s", "1m0s", "1h30m0s", "1.5s", "500ms", "0s".
std::string FormatGoDuration(std::chrono::nanoseconds duration);

}  // namespace rollouts::sandbox
