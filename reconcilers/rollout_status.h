// The status document the controller writes to <prefix>status/<name> (with Consul CAS).
// It is the controller's only memory between reconciles, so everything decide() needs to
// resume a rollout after a crash lives here (declared Active version and group, the version
// to fall back to, step start times and deadlines, analysis measurements).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reconcilers/condition.h"
#include "reconcilers/rollout_spec.h"

namespace rollouts::reconcilers {

// Milliseconds are the precision of the status document, so a time survives a JSON round
// trip unchanged.
using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::time_point<Clock, std::chrono::milliseconds>;

// "2026-11-23T09:41:21.123Z" (UTC, always with milliseconds).
std::string FormatTime(TimePoint time);
// Accepts RFC 3339 in UTC ("Z") with 0-9 fraction digits. nullopt when malformed.
std::optional<TimePoint> ParseTime(std::string_view text);

enum class Phase {
  kHealthy,
  kDeployingStandby,
  kWaitingHealthy,
  kAnalyzing,
  kPaused,
  kPromoting,
  kVerifying,
  kDraining,
  kScalingDown,
  kRollingBack,
  kDegraded,
  kInvalidSpec,
};

std::string_view PhaseName(Phase phase);
std::optional<Phase> ParsePhase(std::string_view name);
// Phases of a rollout in progress (everything except Healthy, Degraded, InvalidSpec).
bool InProgress(Phase phase);

// Kubernetes-style condition: lastTransitionTime moves only when status changes.
struct StatusCondition {
  std::string type;    // "InvalidSpec", "StandbyReady", "Degraded", "Drained"
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;  // CamelCase code
  std::string message;
  TimePoint last_transition_time{};
};

struct StepRecord {
  std::string name;  // the phase name
  TimePoint started_at{};
  std::optional<TimePoint> deadline;
};

struct Measurement {
  std::string metric;
  std::optional<double> value;  // null: empty result / NaN / error
  std::string condition;        // "< 0.01"
  Verdict verdict = Verdict::kInconclusive;
  TimePoint time{};
  std::string message;  // error text or a note ("empty result")
};

// What one metric's measurements in one analysis run add up to. A run keeps only the
// newest kKeptMeasurements measurements of each metric: 1000 measurements of 22 gates (the
// schema's limits) would outgrow Consul's 512 KB value limit, and every status write would
// then fail. The tallies count them all; decide() judges the run from the tallies.
struct MetricTally {
  int taken = 0;
  int failed = 0;        // verdict Failed
  int inconclusive = 0;  // verdict Inconclusive
  int errors = 0;        // verdict Error
  std::optional<TimePoint> last_failed;
  std::optional<TimePoint> last_error;
  bool operator==(const MetricTally&) const = default;
};
inline constexpr size_t kKeptMeasurements = 10;
inline constexpr size_t kMaxTalliedMetrics = 32;  // 20 metrics + 2 probe gates, with room

// One analysis run (pre- or post-promotion) of one version.
struct AnalysisRun {
  std::string name;     // "prePromotion" | "postPromotion"
  std::string version;  // the version analysed
  std::string group;    // the Nomad group it ran in
  TimePoint started_at{};
  std::vector<Measurement> measurements;       // the newest kKeptMeasurements of each metric
  std::map<std::string, MetricTally> tallies;  // by metric: every measurement taken
  std::optional<Verdict> result;               // nullopt while running
};

// Counts the measurement in its metric's tally and appends it, dropping the metric's oldest
// kept measurement beyond kKeptMeasurements.
void AddMeasurement(AnalysisRun& run, Measurement m);

struct Event {
  TimePoint time{};
  std::string type;    // "Normal" | "Warning"
  std::string reason;  // CamelCase code
  std::string message;
};

struct HistoryEntry {
  std::string version;
  std::string outcome;  // "Succeeded" | "RolledBack" | "Superseded" | "Cancelled"
  std::string reason;
  TimePoint started_at{};
  TimePoint finished_at{};
};

struct ControlAck {
  std::string id;
  std::string verb;
  std::string result;  // "accepted" | "rejected: <why>" | "ignored: <why>"
  TimePoint time{};
};

// Why the rollout is Paused and where resume goes back to.
struct PauseState {
  std::string reason;  // "AwaitingPromotion" | "Manual" | "AnalysisInconclusive"
  Phase resume_phase = Phase::kAnalyzing;
  TimePoint since{};
};

inline constexpr size_t kMaxEvents = 20;
inline constexpr size_t kMaxHistory = 20;
inline constexpr size_t kMaxAcks = 20;
inline constexpr size_t kMaxAnalysisRuns = 6;
inline constexpr size_t kMaxConditions = 16;

struct RolloutStatus {
  std::optional<Phase> phase;  // nullopt: the controller has never written a status
  // The declared Active version and group: routers serve only instances tagged active
  // whose version equals activeVersion.
  std::string active_version;
  std::string active_group;
  std::string standby_version;  // what the standby group runs ("" when at Count 0)
  std::string target_version;   // the version being rolled out (or the failed one)
  // The Active of the moment the rollout started: what a roll back returns to.
  std::string stable_version;
  std::string stable_group;
  uint64_t observed_spec_index = 0;
  std::vector<StatusCondition> conditions;
  std::optional<StepRecord> current_step;
  std::optional<TimePoint> rollout_started_at;
  std::optional<TimePoint> progress_deadline;  // pre-flip automatic steps must end by then
  std::optional<TimePoint> converged_at;       // flip seen in Consul and by every router
  std::optional<int64_t> standby_job_version;  // Nomad job Version that deployed standby
  std::string rollback_reason;                 // reason code of the current roll back
  std::string rollback_message;
  std::optional<PauseState> pause;
  std::vector<AnalysisRun> analysis_runs;  // bounded, newest last
  std::vector<Event> events;               // bounded, newest last
  std::vector<HistoryEntry> history;       // bounded, newest last
  std::vector<ControlAck> acknowledged;    // bounded, newest last
};

// Tolerant reader: missing or mistyped fields take their defaults, strings are cut to
// api::kMaxMessageBytes; never throws.
RolloutStatus StatusFromJson(const nlohmann::json& doc);

// The status key's bytes: a status, or (error set) why they are not a status document, with
// a default status.
struct DecodedStatus {
  RolloutStatus status;
  std::string error;
};
DecodedStatus DecodeStatus(std::string_view bytes);
nlohmann::json StatusToJson(const RolloutStatus& status);

// A message as the status stores it (valid UTF-8, cut to api::kMaxMessageBytes with a
// marker). Whoever compares a stored message with a new one compares with this, or a long
// message would look changed at every reconcile.
std::string StoredMessage(std::string message);

// Helpers that keep the bounded lists bounded and condition times honest.
const StatusCondition* FindCondition(const RolloutStatus& status, std::string_view type);
// Sets a condition; lastTransitionTime changes only when the status value changes.
void SetCondition(RolloutStatus& status, std::string type, std::string value, std::string reason,
                  std::string message, TimePoint now);
void RemoveCondition(RolloutStatus& status, std::string_view type);
void AddEvent(RolloutStatus& status, TimePoint now, std::string type, std::string reason,
              std::string message);
void AddHistory(RolloutStatus& status, HistoryEntry entry);
void AddAck(RolloutStatus& status, ControlAck ack);
bool IsAcknowledged(const RolloutStatus& status, std::string_view id);

}  // namespace rollouts::reconcilers
