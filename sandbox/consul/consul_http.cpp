#include "sandbox/consul/consul_http.h"

#include <random>

namespace rollouts::sandbox {
namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

void AddReadHeaders(http::Headers& headers, uint64_t index, bool known_leader) {
  headers["X-Consul-Index"] = std::to_string(index == 0 ? 1 : index);
  headers["X-Consul-Knownleader"] = known_leader ? "true" : "false";
  headers["X-Consul-Lastcontact"] = "0";
}

http::Response JsonRead(const nlohmann::ordered_json& body, uint64_t index, bool known_leader) {
  return ReadText(body.dump(), index, known_leader);
}

http::Response ReadText(std::string json_text, uint64_t index, bool known_leader) {
  http::Response response{200, {{"Content-Type", "application/json"}}, std::move(json_text)};
  AddReadHeaders(response.headers, index, known_leader);
  return response;
}

http::Response NotFoundRead(uint64_t index) {
  http::Response response{404, {}, ""};
  AddReadHeaders(response.headers, index);
  return response;
}

http::Response JsonWrite(const nlohmann::ordered_json& body, int status) {
  return http::Response{status, {{"Content-Type", "application/json"}}, body.dump()};
}

http::Response PlainText(int status, std::string body) {
  return http::Response{status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
}

std::string Base64Encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < bytes.size()) {
    uint32_t n = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= uint8_t(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(const std::string& text) {
  if (text.size() % 4 != 0) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else if (pad > 0 || (v[j] = value(c)) < 0) {
        return std::nullopt;
      }
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += char((n >> 16) & 0xFF);
    if (pad < 2) out += char((n >> 8) & 0xFF);
    if (pad < 1) out += char(n & 0xFF);
  }
  return out;
}

std::string NewUuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
    out += kHex[rng() & 15];
  }
  return out;
}

}  // namespace rollouts::sandbox
