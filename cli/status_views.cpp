#include "cli/status_views.h"

#include <algorithm>

#include "cli/cli_common.h"

namespace rollouts::cli {
namespace {

using reconcilers::FormatTime;
using reconcilers::TimePoint;

std::string OrDash(const std::string& s) {
  return s.empty() ? "-" : s;
}

std::string Since(TimePoint then, TimePoint now) {
  return FormatAge(std::chrono::duration_cast<std::chrono::milliseconds>(now - then));
}

std::string StepAge(const reconcilers::RolloutStatus& st, TimePoint now) {
  if (!st.current_step) return "-";
  return Since(st.current_step->started_at, now);
}

std::string Str(std::string_view v) {
  return std::string(v);
}

}  // namespace

std::string Columns(const std::vector<std::vector<std::string>>& rows, const std::string& indent) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string LastFailure(const reconcilers::RolloutStatus& st) {
  if (!st.rollback_reason.empty()) {
    return st.rollback_reason + (st.rollback_message.empty() ? "" : ": " + st.rollback_message);
  }
  for (auto it = st.events.rbegin(); it != st.events.rend(); ++it) {
    if (it->type == "Warning") return it->reason + ": " + it->message;
  }
  return "";
}

std::string PhaseText(const RolloutSummary& r) {
  if (!r.spec) return "InvalidSpec";
  if (!r.has_status || !r.status.phase) return "-";
  return Str(reconcilers::PhaseName(*r.status.phase));
}

std::string RenderTable(const std::vector<RolloutSummary>& rollouts, TimePoint now) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "PHASE", "ACTIVE", "TARGET", "SPEC", "STEP", "AGE", "LAST FAILURE"}};
  for (const RolloutSummary& r : rollouts) {
    const auto& st = r.status;
    std::string failure = r.spec ? LastFailure(st) : r.spec_error;
    rows.push_back({r.name, PhaseText(r), OrDash(st.active_version), OrDash(st.target_version),
                    r.spec ? r.spec->spec.version : "-",
                    st.current_step ? st.current_step->name : "-", StepAge(st, now),
                    OrDash(failure)});
  }
  return Columns(rows);
}

nlohmann::json SummaryJson(const RolloutSummary& r, TimePoint now) {
  nlohmann::json out = {{"name", r.name},
                        {"phase", PhaseText(r)},
                        {"activeVersion", r.status.active_version},
                        {"targetVersion", r.status.target_version},
                        {"specVersion", r.spec ? r.spec->spec.version : ""},
                        {"lastFailure", r.spec ? LastFailure(r.status) : r.spec_error}};
  if (r.status.current_step) {
    out["currentStep"] = {{"name", r.status.current_step->name},
                          {"startedAt", FormatTime(r.status.current_step->started_at)},
                          {"ageSeconds", std::chrono::duration_cast<std::chrono::seconds>(
                                             now - r.status.current_step->started_at)
                                             .count()}};
  } else {
    out["currentStep"] = nullptr;
  }
  out["spec"] = r.spec ? reconcilers::RolloutToJson(*r.spec) : nlohmann::json(nullptr);
  out["status"] = r.has_status ? reconcilers::StatusToJson(r.status) : nlohmann::json(nullptr);
  return out;
}

std::string RenderHistory(const RolloutSummary& r) {
  if (r.status.history.empty()) return "no finished rollouts yet\n";
  std::vector<std::vector<std::string>> rows = {
      {"VERSION", "OUTCOME", "STARTED", "FINISHED", "DURATION", "REASON"}};
  for (auto it = r.status.history.rbegin(); it != r.status.history.rend(); ++it) {
    rows.push_back({it->version, it->outcome, FormatTime(it->started_at),
                    FormatTime(it->finished_at), Since(it->started_at, it->finished_at),
                    OrDash(it->reason)});
  }
  return Columns(rows);
}

nlohmann::json HistoryJson(const reconcilers::RolloutStatus& status) {
  nlohmann::json out = nlohmann::json::array();
  for (auto it = status.history.rbegin(); it != status.history.rend(); ++it) {
    out.push_back({{"version", it->version},
                   {"outcome", it->outcome},
                   {"reason", it->reason},
                   {"startedAt", FormatTime(it->started_at)},
                   {"finishedAt", FormatTime(it->finished_at)}});
  }
  return out;
}

std::string RenderDescribe(const RolloutSummary& r, TimePoint now) {
  const auto& st = r.status;
  std::string out = "Name:            " + r.name + "\n";
  if (r.spec) {
    const auto& spec = r.spec->spec;
    out += "Spec version:    " + spec.version + "\n";
    out += "Nomad job:       " + spec.nomad.namespace_ + "/" + spec.nomad.job + " (groups " +
           (spec.nomad.groups.size() == 2 ? spec.nomad.groups[0] + ", " + spec.nomad.groups[1]
                                          : std::string("?")) +
           ", service " + spec.nomad.service + ")\n";
    out += std::string("Auto promote:    ") + (spec.blue_green.auto_promote ? "yes" : "no") + "\n";
  } else {
    out += "Spec:            INVALID: " + r.spec_error + "\n";
  }
  out += "Phase:           " + PhaseText(r) + "\n";
  if (!r.has_status) {
    out += "\nThe controller has not written a status yet (is rolloutd running?).\n";
    return out;
  }
  out += "Active:          " + OrDash(st.active_version) + " (" + OrDash(st.active_group) + ")\n";
  out += "Standby:         " + OrDash(st.standby_version) + "\n";
  out += "Target:          " + OrDash(st.target_version) + "\n";
  out += "Stable:          " + OrDash(st.stable_version) + " (" + OrDash(st.stable_group) + ")\n";
  if (st.current_step) {
    out += "Current step:    " + st.current_step->name + " for " +
           Since(st.current_step->started_at, now) + " (since " +
           FormatTime(st.current_step->started_at) + ")";
    if (st.current_step->deadline) {
      out += ", deadline " + FormatTime(*st.current_step->deadline);
    }
    out += "\n";
  }
  if (st.pause) {
    out += "Paused:          " + st.pause->reason + " since " + FormatTime(st.pause->since) +
           ", resumes " + Str(reconcilers::PhaseName(st.pause->resume_phase)) + "\n";
  }
  std::string failure = LastFailure(st);
  if (!failure.empty()) out += "Last failure:    " + failure + "\n";

  out += "\nConditions:\n";
  if (st.conditions.empty()) {
    out += "  (none)\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"}};
    for (const auto& c : st.conditions) {
      rows.push_back({c.type, c.status, OrDash(c.reason), FormatTime(c.last_transition_time),
                      OrDash(c.message)});
    }
    out += Columns(rows, "  ");
  }

  if (!st.analysis_runs.empty()) {
    out += "\nAnalysis:\n";
    for (const auto& run : st.analysis_runs) {
      out += "  " + run.name + " of " + run.version + " in " + run.group + ": " +
             (run.result ? Str(reconcilers::VerdictName(*run.result)) : std::string("running")) +
             "\n";
    }
  }

  out += "\nEvents:\n";
  if (st.events.empty()) {
    out += "  (none)\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"TIME", "TYPE", "REASON", "MESSAGE"}};
    for (const auto& e : st.events)
      rows.push_back({FormatTime(e.time), e.type, e.reason, e.message});
    out += Columns(rows, "  ");
  }

  out += "\nHistory:\n";
  std::string history = RenderHistory(r);
  size_t start = 0;
  while (start < history.size()) {
    size_t end = history.find('\n', start);
    out += "  " + history.substr(start, end - start + 1);
    start = end + 1;
  }

  if (!st.acknowledged.empty()) {
    out += "\nControl requests:\n";
    std::vector<std::vector<std::string>> rows = {{"TIME", "VERB", "ID", "RESULT"}};
    for (const auto& a : st.acknowledged)
      rows.push_back({FormatTime(a.time), a.verb, a.id, a.result});
    out += Columns(rows, "  ");
  }
  return out;
}

}  // namespace rollouts::cli
