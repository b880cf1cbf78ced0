#include "reconcilers/rollout_status.h"

#include <algorithm>
#include <array>
#include <cstdio>

#include "api/text.h"

namespace rollouts::reconcilers {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<Phase, std::string_view>, 12> kPhaseNames = {{
    {Phase::kHealthy, "Healthy"},
    {Phase::kDeployingStandby, "DeployingStandby"},
    {Phase::kWaitingHealthy, "WaitingHealthy"},
    {Phase::kAnalyzing, "Analyzing"},
    {Phase::kPaused, "Paused"},
    {Phase::kPromoting, "Promoting"},
    {Phase::kVerifying, "Verifying"},
    {Phase::kDraining, "Draining"},
    {Phase::kScalingDown, "ScalingDown"},
    {Phase::kRollingBack, "RollingBack"},
    {Phase::kDegraded, "Degraded"},
    {Phase::kInvalidSpec, "InvalidSpec"},
}};

// Tolerant field readers: a missing key or a value of the wrong type gives the fallback.
// Every string of a status that was read is bounded: a hand-edited or corrupted status must
// not carry an oversize field into the next write.
std::string GetString(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_string()) return std::string();
  const std::string& text = it->get_ref<const std::string&>();
  return text.size() <= api::kMaxMessageBytes ? text : api::Truncate(text, api::kMaxMessageBytes);
}

// A non-negative count, 0 when missing or mistyped.
int GetCount(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_number_integer()) return 0;
  return static_cast<int>(std::clamp<int64_t>(it->get<int64_t>(), 0, 1'000'000));
}

template <typename T>
void KeepNewest(std::vector<T>& list, size_t max) {
  if (list.size() > max) list.erase(list.begin(), list.end() - static_cast<std::ptrdiff_t>(max));
}

std::string Bounded(std::string text, size_t max_bytes) {
  if (text.size() <= max_bytes && !api::FirstInvalidUtf8(text)) return text;
  return api::Truncate(text, max_bytes);
}

std::optional<TimePoint> GetTime(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_string()) return std::nullopt;
  return ParseTime(it->get_ref<const std::string&>());
}

TimePoint GetTimeOr0(const json& doc, const char* key) {
  return GetTime(doc, key).value_or(TimePoint{});
}

const json& GetArray(const json& doc, const char* key) {
  static const json kEmpty = json::array();
  auto it = doc.find(key);
  return it != doc.end() && it->is_array() ? *it : kEmpty;
}

const json& GetObject(const json& doc, const char* key) {
  static const json kEmpty = json::object();
  auto it = doc.find(key);
  return it != doc.end() && it->is_object() ? *it : kEmpty;
}

void PutTime(json& doc, const char* key, const std::optional<TimePoint>& time) {
  if (time) doc[key] = FormatTime(*time);
}

bool IsDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int ToInt(std::string_view digits) {
  int value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  return value;
}

json MeasurementToJson(const Measurement& m) {
  json doc = {{"metric", m.metric},
              {"value", m.value ? json(*m.value) : json(nullptr)},
              {"condition", m.condition},
              {"verdict", VerdictName(m.verdict)},
              {"time", FormatTime(m.time)}};
  if (!m.message.empty()) doc["message"] = m.message;
  return doc;
}

Measurement MeasurementFromJson(const json& doc) {
  Measurement m;
  m.metric = GetString(doc, "metric");
  auto value = doc.find("value");
  if (value != doc.end() && value->is_number()) m.value = value->get<double>();
  m.condition = GetString(doc, "condition");
  m.verdict = ParseVerdict(GetString(doc, "verdict")).value_or(Verdict::kError);
  m.time = GetTimeOr0(doc, "time");
  m.message = GetString(doc, "message");
  return m;
}

}  // namespace

std::string FormatTime(TimePoint time) {
  auto days = std::chrono::floor<std::chrono::days>(time);
  std::chrono::year_month_day date{days};
  std::chrono::hh_mm_ss<std::chrono::milliseconds> clock{time - days};
  char text[40];
  std::snprintf(
      text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(date.year()),
      static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
      static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
      static_cast<int>(clock.seconds().count()), static_cast<int>(clock.subseconds().count()));
  return text;
}

std::optional<TimePoint> ParseTime(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff...]Z
  if (text.size() < 20 || text.back() != 'Z') return std::nullopt;
  if (text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  std::string_view year = text.substr(0, 4), month = text.substr(5, 2), day = text.substr(8, 2),
                   hour = text.substr(11, 2), minute = text.substr(14, 2),
                   second = text.substr(17, 2);
  for (std::string_view part : {year, month, day, hour, minute, second}) {
    if (!IsDigits(part)) return std::nullopt;
  }
  std::string_view rest = text.substr(19, text.size() - 20);
  int millis = 0;
  if (!rest.empty()) {
    if (rest.front() != '.' || rest.size() < 2 || rest.size() > 10) return std::nullopt;
    std::string_view fraction = rest.substr(1);
    if (!IsDigits(fraction)) return std::nullopt;
    std::string three(fraction.substr(0, 3));
    three.resize(3, '0');
    millis = ToInt(three);
  }
  std::chrono::year_month_day date{std::chrono::year{ToInt(year)},
                                   std::chrono::month{static_cast<unsigned>(ToInt(month))},
                                   std::chrono::day{static_cast<unsigned>(ToInt(day))}};
  if (!date.ok() || ToInt(hour) > 23 || ToInt(minute) > 59 || ToInt(second) > 60) {
    return std::nullopt;
  }
  return TimePoint{std::chrono::sys_days{date}.time_since_epoch() +
                   std::chrono::hours{ToInt(hour)} + std::chrono::minutes{ToInt(minute)} +
                   std::chrono::seconds{ToInt(second)} + std::chrono::milliseconds{millis}};
}

std::string_view PhaseName(Phase phase) {
  for (const auto& [p, name] : kPhaseNames) {
    if (p == phase) return name;
  }
  return "InvalidSpec";
}

std::optional<Phase> ParsePhase(std::string_view name) {
  for (const auto& [p, n] : kPhaseNames) {
    if (n == name) return p;
  }
  return std::nullopt;
}

bool InProgress(Phase phase) {
  return phase != Phase::kHealthy && phase != Phase::kDegraded && phase != Phase::kInvalidSpec;
}

nlohmann::json StatusToJson(const RolloutStatus& status) {
  json doc = json::object();
  if (status.phase) doc["phase"] = PhaseName(*status.phase);
  doc["activeVersion"] = status.active_version;
  doc["activeGroup"] = status.active_group;
  doc["standbyVersion"] = status.standby_version;
  doc["targetVersion"] = status.target_version;
  doc["stableVersion"] = status.stable_version;
  doc["stableGroup"] = status.stable_group;
  doc["observedSpecIndex"] = status.observed_spec_index;
  json conditions = json::array();
  for (const StatusCondition& c : status.conditions) {
    conditions.push_back({{"type", c.type},
                          {"status", c.status},
                          {"reason", c.reason},
                          {"message", c.message},
                          {"lastTransitionTime", FormatTime(c.last_transition_time)}});
  }
  doc["conditions"] = std::move(conditions);
  if (status.current_step) {
    json step = {{"name", status.current_step->name},
                 {"startedAt", FormatTime(status.current_step->started_at)}};
    PutTime(step, "deadline", status.current_step->deadline);
    doc["currentStep"] = std::move(step);
  }
  PutTime(doc, "rolloutStartedAt", status.rollout_started_at);
  PutTime(doc, "progressDeadline", status.progress_deadline);
  PutTime(doc, "convergedAt", status.converged_at);
  if (status.standby_job_version) doc["standbyJobVersion"] = *status.standby_job_version;
  if (!status.rollback_reason.empty()) {
    doc["rollback"] = {{"reason", status.rollback_reason}, {"message", status.rollback_message}};
  }
  if (status.pause) {
    doc["pause"] = {{"reason", status.pause->reason},
                    {"resumePhase", PhaseName(status.pause->resume_phase)},
                    {"since", FormatTime(status.pause->since)}};
  }
  json runs = json::array();
  for (const AnalysisRun& run : status.analysis_runs) {
    json measurements = json::array();
    for (const Measurement& m : run.measurements) measurements.push_back(MeasurementToJson(m));
    json tallies = json::array();
    for (const auto& [metric, t] : run.tallies) {
      json tally = {{"metric", metric},
                    {"taken", t.taken},
                    {"failed", t.failed},
                    {"inconclusive", t.inconclusive},
                    {"errors", t.errors}};
      PutTime(tally, "lastFailedAt", t.last_failed);
      PutTime(tally, "lastErrorAt", t.last_error);
      tallies.push_back(std::move(tally));
    }
    json r = {{"name", run.name},
              {"version", run.version},
              {"group", run.group},
              {"startedAt", FormatTime(run.started_at)},
              {"measurements", std::move(measurements)},
              {"tallies", std::move(tallies)},
              {"result", run.result ? json(VerdictName(*run.result)) : json(nullptr)}};
    runs.push_back(std::move(r));
  }
  doc["analysisRuns"] = std::move(runs);
  json events = json::array();
  for (const Event& e : status.events) {
    events.push_back({{"time", FormatTime(e.time)},
                      {"type", e.type},
                      {"reason", e.reason},
                      {"message", e.message}});
  }
  doc["events"] = std::move(events);
  json history = json::array();
  for (const HistoryEntry& h : status.history) {
    history.push_back(
        {{"version", h.version},
         {"outcome", h.outcome},
         {"reason", h.reason},
         {"startedAt", FormatTime(h.started_at)},
         {"finishedAt", FormatTime(h.finished_at)},
         {"durationSeconds", std::chrono::duration<double>(h.finished_at - h.started_at).count()}});
  }
  doc["history"] = std::move(history);
  json acks = json::array();
  for (const ControlAck& a : status.acknowledged) {
    acks.push_back(
        {{"id", a.id}, {"verb", a.verb}, {"result", a.result}, {"time", FormatTime(a.time)}});
  }
  doc["acknowledged"] = std::move(acks);
  return doc;
}

RolloutStatus StatusFromJson(const nlohmann::json& doc) {
  RolloutStatus status;
  if (!doc.is_object()) return status;
  status.phase = ParsePhase(GetString(doc, "phase"));
  status.active_version = GetString(doc, "activeVersion");
  status.active_group = GetString(doc, "activeGroup");
  status.standby_version = GetString(doc, "standbyVersion");
  status.target_version = GetString(doc, "targetVersion");
  status.stable_version = GetString(doc, "stableVersion");
  status.stable_group = GetString(doc, "stableGroup");
  auto index = doc.find("observedSpecIndex");
  if (index != doc.end() && index->is_number_unsigned()) {
    status.observed_spec_index = index->get<uint64_t>();
  }
  for (const json& c : GetArray(doc, "conditions")) {
    if (!c.is_object()) continue;
    status.conditions.push_back({GetString(c, "type"), GetString(c, "status"),
                                 GetString(c, "reason"), GetString(c, "message"),
                                 GetTimeOr0(c, "lastTransitionTime")});
  }
  const json& step = GetObject(doc, "currentStep");
  if (!step.empty()) {
    status.current_step = StepRecord{GetString(step, "name"), GetTimeOr0(step, "startedAt"),
                                     GetTime(step, "deadline")};
  }
  status.rollout_started_at = GetTime(doc, "rolloutStartedAt");
  status.progress_deadline = GetTime(doc, "progressDeadline");
  status.converged_at = GetTime(doc, "convergedAt");
  auto job_version = doc.find("standbyJobVersion");
  if (job_version != doc.end() && job_version->is_number_integer()) {
    status.standby_job_version = job_version->get<int64_t>();
  }
  const json& rollback = GetObject(doc, "rollback");
  status.rollback_reason = GetString(rollback, "reason");
  status.rollback_message = GetString(rollback, "message");
  const json& pause = GetObject(doc, "pause");
  if (!pause.empty()) {
    status.pause =
        PauseState{GetString(pause, "reason"),
                   ParsePhase(GetString(pause, "resumePhase")).value_or(Phase::kAnalyzing),
                   GetTimeOr0(pause, "since")};
  }
  for (const json& r : GetArray(doc, "analysisRuns")) {
    if (!r.is_object()) continue;
    AnalysisRun run;
    run.name = GetString(r, "name");
    run.version = GetString(r, "version");
    run.group = GetString(r, "group");
    run.started_at = GetTimeOr0(r, "startedAt");
    const json& tallies = GetArray(r, "tallies");
    if (!r.contains("tallies") || !r["tallies"].is_array()) {
      // A status written before tallies existed: every measurement is still in the list.
      for (const json& m : GetArray(r, "measurements")) {
        if (m.is_object()) AddMeasurement(run, MeasurementFromJson(m));
      }
    } else {
      for (const json& m : GetArray(r, "measurements")) {
        if (m.is_object()) run.measurements.push_back(MeasurementFromJson(m));
      }
      for (const json& t : tallies) {
        if (!t.is_object() || run.tallies.size() >= kMaxTalliedMetrics) continue;
        run.tallies[GetString(t, "metric")] = MetricTally{
            GetCount(t, "taken"),  GetCount(t, "failed"),      GetCount(t, "inconclusive"),
            GetCount(t, "errors"), GetTime(t, "lastFailedAt"), GetTime(t, "lastErrorAt")};
      }
    }
    KeepNewest(run.measurements, kKeptMeasurements * kMaxTalliedMetrics);
    run.result = ParseVerdict(GetString(r, "result"));
    status.analysis_runs.push_back(std::move(run));
  }
  for (const json& e : GetArray(doc, "events")) {
    if (!e.is_object()) continue;
    status.events.push_back({GetTimeOr0(e, "time"), GetString(e, "type"), GetString(e, "reason"),
                             GetString(e, "message")});
  }
  for (const json& h : GetArray(doc, "history")) {
    if (!h.is_object()) continue;
    status.history.push_back({GetString(h, "version"), GetString(h, "outcome"),
                              GetString(h, "reason"), GetTimeOr0(h, "startedAt"),
                              GetTimeOr0(h, "finishedAt")});
  }
  for (const json& a : GetArray(doc, "acknowledged")) {
    if (!a.is_object()) continue;
    status.acknowledged.push_back(
        {GetString(a, "id"), GetString(a, "verb"), GetString(a, "result"), GetTimeOr0(a, "time")});
  }
  // The lists keep their bounds also when the document was written by someone else.
  KeepNewest(status.conditions, kMaxConditions);
  KeepNewest(status.analysis_runs, kMaxAnalysisRuns);
  KeepNewest(status.events, kMaxEvents);
  KeepNewest(status.history, kMaxHistory);
  KeepNewest(status.acknowledged, kMaxAcks);
  return status;
}

void AddMeasurement(AnalysisRun& run, Measurement m) {
  MetricTally& t = run.tallies[m.metric];
  ++t.taken;
  if (m.verdict == Verdict::kFailed) {
    ++t.failed;
    t.last_failed = t.last_failed ? std::max(*t.last_failed, m.time) : m.time;
  } else if (m.verdict == Verdict::kInconclusive) {
    ++t.inconclusive;
  } else if (m.verdict == Verdict::kError) {
    ++t.errors;
    t.last_error = t.last_error ? std::max(*t.last_error, m.time) : m.time;
  }
  const std::string metric = m.metric;
  run.measurements.push_back(std::move(m));
  size_t kept = 0;
  for (const Measurement& k : run.measurements) kept += k.metric == metric ? 1 : 0;
  if (kept <= kKeptMeasurements) return;
  auto oldest = std::find_if(run.measurements.begin(), run.measurements.end(),
                             [&](const Measurement& k) { return k.metric == metric; });
  run.measurements.erase(oldest);
}

std::string StoredMessage(std::string message) {
  return Bounded(std::move(message), api::kMaxMessageBytes);
}

const StatusCondition* FindCondition(const RolloutStatus& status, std::string_view type) {
  for (const StatusCondition& c : status.conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

void SetCondition(RolloutStatus& status, std::string type, std::string value, std::string reason,
                  std::string message, TimePoint now) {
  message = StoredMessage(std::move(message));
  for (StatusCondition& c : status.conditions) {
    if (c.type != type) continue;
    if (c.status != value) c.last_transition_time = now;
    c.status = std::move(value);
    c.reason = std::move(reason);
    c.message = std::move(message);
    return;
  }
  status.conditions.push_back(
      {std::move(type), std::move(value), std::move(reason), std::move(message), now});
}

void RemoveCondition(RolloutStatus& status, std::string_view type) {
  std::erase_if(status.conditions, [&](const StatusCondition& c) { return c.type == type; });
}

namespace {
template <typename T>
void PushBounded(std::vector<T>& list, T item, size_t bound) {
  list.push_back(std::move(item));
  if (list.size() > bound) list.erase(list.begin(), list.begin() + (list.size() - bound));
}
}  // namespace

void AddEvent(RolloutStatus& status, TimePoint now, std::string type, std::string reason,
              std::string message) {
  PushBounded(status.events,
              Event{now, std::move(type), std::move(reason),
                    Bounded(std::move(message), api::kMaxMessageBytes)},
              kMaxEvents);
}

void AddHistory(RolloutStatus& status, HistoryEntry entry) {
  entry.reason = Bounded(std::move(entry.reason), api::kMaxMessageBytes);
  PushBounded(status.history, std::move(entry), kMaxHistory);
}

void AddAck(RolloutStatus& status, ControlAck ack) {
  ack.id = Bounded(std::move(ack.id), api::kMaxIdBytes);
  ack.verb = Bounded(std::move(ack.verb), api::kMaxIdBytes);
  ack.result = Bounded(std::move(ack.result), api::kMaxMessageBytes);
  PushBounded(status.acknowledged, std::move(ack), kMaxAcks);
}

DecodedStatus DecodeStatus(std::string_view bytes) {
  DecodedStatus out;
  if (auto bad = api::FirstInvalidUtf8(bytes)) {
    out.error = "invalid UTF-8 at byte " + std::to_string(*bad);
    return out;
  }
  const json doc = json::parse(bytes, nullptr, false);
  if (doc.is_discarded()) {
    out.error = "not JSON: " + api::Quote(bytes);
  } else if (!doc.is_object()) {
    out.error = std::string("not a JSON object but ") + doc.type_name();
  } else {
    out.status = StatusFromJson(doc);
  }
  return out;
}

bool IsAcknowledged(const RolloutStatus& status, std::string_view id) {
  for (const ControlAck& a : status.acknowledged) {
    if (a.id == id) return true;
  }
  return false;
}

}  // namespace rollouts::reconcilers
