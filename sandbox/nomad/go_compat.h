// Small reproductions of how the Go-written Nomad agent prints things: RFC 3339 times with
// nanoseconds, Go durations ("5s", "30m0s"), hashicorp/go-multierror texts and random
// UUID-shaped IDs. Clients parse these, so the sandbox must print them the same way.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rollouts::sandbox::go {

// "2026-11-23T00:41:51.091495437Z" (trailing zeros of the fraction trimmed, like Go).
std::string FormatRfc3339Nano(std::chrono::system_clock::time_point t);

// Nanoseconds since the Unix epoch (Nomad's CreateTime/ModifyTime/SubmitTime/Time).
int64_t UnixNanos(std::chrono::system_clock::time_point t);

// Go's time.Duration.String(): "0s", "1.5s", "5s", "30m0s", "1h0m0s", "250ms".
std::string FormatDuration(std::chrono::nanoseconds d);

// Go's time.ParseDuration subset: "60s", "1m30s", "250ms", "2h". nullopt when invalid.
std::optional<std::chrono::nanoseconds> ParseDuration(const std::string& text);

// hashicorp/go-multierror's default format:
// "2 errors occurred:\n\t* a\n\t* b\n\n" ("1 error occurred" for one).
std::string MultiError(const std::vector<std::string>& errors);

// A random ID shaped like Nomad's: "8fa7deca-b08b-8e0d-f350-0c34bb8000f3".
std::string NewUuid();

}  // namespace rollouts::sandbox::go
