#include "api/router_report.h"

#include <nlohmann/json.hpp>

#include "api/text.h"

namespace rollouts::api {
namespace {

using nlohmann::json;

// The string at doc[key]: absent is "", anything but a bounded string is an error.
bool ReadString(const json& doc, const char* key, const std::string& at, std::string& out,
                std::string& error) {
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return true;
  if (!it->is_string()) {
    error = at + "/" + key + " must be a string, got " + it->type_name();
    return false;
  }
  const std::string& text = it->get_ref<const std::string&>();
  if (text.size() > kMaxIdBytes) {
    error = at + "/" + key + " is " + std::to_string(text.size()) + " bytes (at most " +
            std::to_string(kMaxIdBytes) + "): " + Quote(text);
    return false;
  }
  out = text;
  return true;
}

}  // namespace

std::variant<RouterReportDocument, std::string> DecodeRouterReport(std::string_view bytes) {
  if (bytes.size() > kMaxRouterReportBytes) {
    return "the report is " + std::to_string(bytes.size()) + " bytes (at most " +
           std::to_string(kMaxRouterReportBytes) + ")";
  }
  if (auto bad = FirstInvalidUtf8(bytes)) {
    return "invalid UTF-8 at byte " + std::to_string(*bad) + ": " + Quote(bytes);
  }
  const json doc = json::parse(bytes, nullptr, false);
  if (doc.is_discarded()) return "not JSON: " + Quote(bytes);
  if (!doc.is_object()) return std::string("must be a JSON object, got ") + doc.type_name();
  RouterReportDocument out;
  std::string error;
  if (!ReadString(doc, "id", "", out.id, error)) return error;
  const auto services = doc.find("services");
  if (services == doc.end()) return "missing \"services\"";
  if (!services->is_object()) {
    return std::string("/services must be an object of service reports, got ") +
           services->type_name();
  }
  for (const auto& [name, entry] : services->items()) {
    const std::string at = "/services/" + Truncate(name, kMaxIdBytes);
    if (name.size() > kMaxIdBytes) return at + ": service name too long";
    if (!entry.is_object()) return at + " must be an object, got " + entry.type_name();
    RouterServiceReport& report = out.services[name];
    if (!ReadString(entry, "version", at, report.version, error)) return error;
    if (!ReadString(entry, "appliedAt", at, report.applied_at, error)) return error;
  }
  return out;
}

}  // namespace rollouts::api
