// Response building blocks of the Consul agent: which headers reads and writes carry,
// plain-text errors, base64 and UUIDs as Consul formats them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "clients/http/http.h"

namespace rollouts::sandbox {

// Reads: X-Consul-Index (never 0), X-Consul-Knownleader, X-Consul-Lastcontact.
void AddReadHeaders(http::Headers& headers, uint64_t index, bool known_leader = true);
http::Response JsonRead(const nlohmann::ordered_json& body, uint64_t index,
                        bool known_leader = true);
// The same with the body already rendered as JSON text.
http::Response ReadText(std::string json_text, uint64_t index, bool known_leader = true);
// A read that found nothing: 404, empty body, no Content-Type, index still sent.
http::Response NotFoundRead(uint64_t index);
// Writes carry only Content-Type.
http::Response JsonWrite(const nlohmann::ordered_json& body, int status = 200);
http::Response PlainText(int status, std::string body);

std::string Base64Encode(const std::string& bytes);
std::optional<std::string> Base64Decode(const std::string& text);
// Random version-4-shaped UUID, the format of Consul's session and node IDs.
std::string NewUuid();

}  // namespace rollouts::sandbox
