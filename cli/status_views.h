// Pure renderers of what `list`, `get`, `describe` and `history` print: Rollout spec +
// status (+ the clock for ages) -> text or JSON. No I/O, so tests compare them directly.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "reconcilers/rollout_spec.h"
#include "reconcilers/rollout_status.h"

namespace rollouts::cli {

struct RolloutSummary {
  std::string name;
  std::optional<reconcilers::Rollout> spec;  // nullopt: the stored spec does not parse
  std::string spec_error;                    // first parse error then
  bool has_status = false;                   // the controller wrote a status
  reconcilers::RolloutStatus status;
};

// The failure people need to see first: the current roll back's reason, else the newest
// Warning event, else "".
std::string LastFailure(const reconcilers::RolloutStatus& status);

// NAME PHASE ACTIVE TARGET STEP AGE LAST-FAILURE, one row per Rollout.
std::string RenderTable(const std::vector<RolloutSummary>& rollouts, reconcilers::TimePoint now);
nlohmann::json SummaryJson(const RolloutSummary& rollout, reconcilers::TimePoint now);

// Status, current step, conditions, analysis, events, history, acknowledged requests.
std::string RenderDescribe(const RolloutSummary& rollout, reconcilers::TimePoint now);
std::string RenderHistory(const RolloutSummary& rollout);
nlohmann::json HistoryJson(const reconcilers::RolloutStatus& status);

// "Healthy", or "-" when the controller has not written a status yet.
std::string PhaseText(const RolloutSummary& rollout);

// Left-aligned columns separated by two spaces; the last column is not padded.
std::string Columns(const std::vector<std::vector<std::string>>& rows,
                    const std::string& indent = "");

}  // namespace rollouts::cli
