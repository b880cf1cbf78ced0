// Text that came from outside (KV keys, agent answers) on its way into our own documents,
// messages and logs. Anything a user or another program wrote may be invalid UTF-8 or
// arbitrarily long; what we store or show must be neither (a JSON serializer throws on
// invalid UTF-8, and Consul refuses values over 512 KB).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace rollouts::api {

// Byte offset of the first byte that does not start or continue a valid UTF-8 sequence
// (overlong forms, surrogates and code points above U+10FFFF are invalid); nullopt when
// the whole text is valid.
std::optional<size_t> FirstInvalidUtf8(std::string_view text);

// The text as a double-quoted literal for a message: control characters, quotes and
// backslashes escaped as in JSON, invalid bytes as \xHH, and cut after max_chars
// characters with the number of bytes left out ("..." (+1234 bytes)). Always valid UTF-8.
std::string Quote(std::string_view text, size_t max_chars = 60);

// The text cut to at most max_bytes bytes (on a character boundary), with a marker that
// says how much was cut; invalid UTF-8 sequences become U+FFFD. For free text we store
// (event and condition messages, acknowledgement ids). The marker takes up to 32 bytes, so
// a cut text may exceed a max_bytes below 32.
std::string Truncate(std::string_view text, size_t max_bytes);

// The text without leading and trailing whitespace (std::isspace in the C locale).
std::string_view TrimSpace(std::string_view text);

// Limits of what one field of a status document may hold.
inline constexpr size_t kMaxIdBytes = 128;        // control ids, router ids
inline constexpr size_t kMaxMessageBytes = 1024;  // event, condition, ack, history texts

}  // namespace rollouts::api
