#include "api/text.h"

#include <cctype>
#include <cstdint>
#include <cstdio>

namespace rollouts::api {
namespace {

// Length of the valid UTF-8 sequence at text[i], or 0 when the byte there does not start
// one (the table of well-formed byte sequences in the Unicode Standard, section 3.9).
size_t SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t len = 0;
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  const uint8_t b1 = byte(i + 1);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

}  // namespace

std::optional<size_t> FirstInvalidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t len = SequenceLength(text, i);
    if (len == 0) return i;
    i += len;
  }
  return std::nullopt;
}

std::string_view TrimSpace(std::string_view text) {
  const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

std::string Quote(std::string_view text, size_t max_chars) {
  std::string out = "\"";
  size_t chars = 0;
  size_t i = 0;
  char hex[8];
  while (i < text.size() && chars < max_chars) {
    const size_t len = SequenceLength(text, i);
    const auto c = static_cast<unsigned char>(text[i]);
    if (len == 0) {
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
      i += 1;
    } else if (len == 1 && (c < 0x20 || c == 0x7F)) {
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          std::snprintf(hex, sizeof hex, "\\u%04X", c);
          out += hex;
      }
      i += 1;
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out.append(text.substr(i, len));
      i += len;
    }
    ++chars;
  }
  out += '"';
  if (i < text.size()) out += " (+" + std::to_string(text.size() - i) + " bytes)";
  return out;
}

std::string Truncate(std::string_view text, size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  // "...[+" + up to 20 digits + " bytes]"
  static constexpr size_t kMarkerRoom = 32;
  std::string out;
  size_t i = 0;
  // Appends whole characters while the output stays within limit; true when all fit.
  const auto fill = [&](size_t limit) {
    while (i < text.size()) {
      const size_t len = SequenceLength(text, i);
      const std::string_view piece = len == 0 ? kReplacement : text.substr(i, len);
      if (out.size() + piece.size() > limit) return false;
      out.append(piece);
      i += len == 0 ? 1 : len;
    }
    return true;
  };
  if (fill(max_bytes)) return out;
  out.clear();
  i = 0;
  fill(max_bytes > kMarkerRoom ? max_bytes - kMarkerRoom : 0);
  return out + "...[+" + std::to_string(text.size() - i) + " bytes]";
}

}  // namespace rollouts::api
