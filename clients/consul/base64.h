// Standard base64 (RFC 4648 with padding), as Consul uses for KV values on the wire.
#pragma once

#include <optional>
#include <string>

namespace rollouts::consul {

std::string Base64Encode(const std::string& bytes);
// nullopt when the text is not valid padded base64.
std::optional<std::string> Base64Decode(const std::string& text);

}  // namespace rollouts::consul
