// <prefix>routers/<id>: any session holder may write there (api/router_report.h).
#include <cstddef>
#include <cstdint>
#include <variant>

#include "api/router_report.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rollouts;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = api::DecodeRouterReport(bytes);
  if (const auto* error = std::get_if<std::string>(&decoded)) {
    // The reason becomes a condition message naming the router.
    if (error->empty()) fuzz::Fail("router report error", "empty reason");
    fuzz::CheckStored("router report error", *error, api::kMaxMessageBytes);
    return 0;
  }
  const auto& report = std::get<api::RouterReportDocument>(decoded);
  fuzz::CheckStored("router id", report.id, api::kMaxIdBytes);
  for (const auto& [service, applied] : report.services) {
    fuzz::CheckStored("router service", service, api::kMaxIdBytes);
    fuzz::CheckStored("router version", applied.version, api::kMaxIdBytes);
    fuzz::CheckStored("router appliedAt", applied.applied_at, api::kMaxIdBytes);
  }
  nlohmann::json doc = {{"id", report.id}, {"services", nlohmann::json::object()}};
  for (const auto& [service, applied] : report.services) {
    doc["services"][service] = {{"version", applied.version}, {"appliedAt", applied.applied_at}};
  }
  fuzz::CheckDumps("router report", doc);
  return 0;
}
