#include "cli/watch_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cli/cli_common.h"
#include "cli/status_views.h"

namespace rollouts::cli {
namespace {

using reconcilers::FormatTime;
using reconcilers::Phase;
using reconcilers::TimePoint;
using reconcilers::Verdict;

constexpr const char* kGreen = "\033[32m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kYellow = "\033[33m";
constexpr const char* kBold = "\033[1m";
constexpr const char* kReset = "\033[0m";

std::string Paint(bool color, const char* code, const std::string& text) {
  return color ? code + text + kReset : text;
}

const char* PhaseColor(std::optional<Phase> phase) {
  if (!phase) return kYellow;
  switch (*phase) {
    case Phase::kHealthy:
      return kGreen;
    case Phase::kDegraded:
    case Phase::kRollingBack:
    case Phase::kInvalidSpec:
      return kRed;
    default:
      return kYellow;
  }
}

const char* VerdictColor(Verdict v) {
  switch (v) {
    case Verdict::kSuccessful:
      return kGreen;
    case Verdict::kFailed:
    case Verdict::kError:
      return kRed;
    default:
      return kYellow;
  }
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out.empty() ? "-" : out;
}

std::string Value(std::optional<double> v) {
  if (!v) return "null";
  if (std::isnan(*v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", *v);
  return buf;
}

std::string Age(TimePoint from, TimePoint to) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(to - from);
  return d.count() < 0 ? "-" + FormatAge(-d) : FormatAge(d);
}

// The tags of the groups' service that names the Rollout's service, else of the first one.
std::vector<std::string> GroupTags(const reconcilers::GroupView& g, const std::string& service) {
  if (const reconcilers::ServiceView* s = g.Service(service)) return s->tags;
  return g.services.empty() ? std::vector<std::string>{} : g.services.front().tags;
}

// Columns() with colours: widths are computed on the plain cells and the colour codes
// wrap whole cells afterwards, so coloured and plain screens line up the same.
std::string PadCells(const std::vector<std::vector<std::string>>& rows,
                     const std::vector<std::vector<const char*>>& colors, bool color) {
  if (!color) return Columns(rows, "  ");
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line = "  ";
    for (size_t i = 0; i < rows[r].size(); ++i) {
      const char* c = r < colors.size() && i < colors[r].size() ? colors[r][i] : nullptr;
      line += c ? Paint(true, c, rows[r][i]) : rows[r][i];
      if (i + 1 < rows[r].size()) line += std::string(width[i] - rows[r][i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string RenderWatchView(const WatchInput& in) {
  const bool color = in.color;
  const auto& st = in.status;
  std::string out;

  // Header: phase and the versions that matter.
  std::string phase = !in.has_status || !st.phase ? "-" : std::string(PhaseName(*st.phase));
  out += Paint(color, kBold, "rollout/" + in.name) + "  phase " +
         Paint(color, PhaseColor(st.phase), phase) + "  active " +
         (st.active_version.empty() ? "-" : st.active_version) +
         (st.active_group.empty() ? "" : " (" + st.active_group + ")") + "  target " +
         (st.target_version.empty() ? "-" : st.target_version) + "  spec " +
         (in.spec ? in.spec->spec.version : "-") + "\n";
  if (!in.spec_note.empty()) out += "spec: " + Paint(color, kRed, in.spec_note) + "\n";
  if (!in.has_status) out += "status: the controller has not written a status yet\n";

  // Current step with elapsed time and deadline.
  if (st.current_step) {
    out +=
        "step: " + st.current_step->name + "  elapsed " + Age(st.current_step->started_at, in.now);
    if (st.current_step->deadline) {
      TimePoint d = *st.current_step->deadline;
      out += "  deadline " + FormatTime(d) +
             (d >= in.now ? " (in " + Age(in.now, d) + ")"
                          : Paint(color, kRed, " (passed " + Age(d, in.now) + " ago)"));
    }
    out += "\n";
  }
  if (st.pause)
    out += "paused: " + st.pause->reason + " since " + FormatTime(st.pause->since) + "\n";
  std::string failure = LastFailure(st);
  if (!failure.empty()) out += "last failure: " + Paint(color, kRed, failure) + "\n";

  // Groups: from the Nomad job.
  out += "\nGROUPS\n";
  if (!in.job) {
    out += "  " + (in.job_note.empty() ? std::string("job not read") : in.job_note) + "\n";
  } else {
    const std::string service = in.spec ? in.spec->spec.nomad.service : "";
    std::vector<std::vector<std::string>> rows = {{"GROUP", "COUNT", "VERSION", "TAGS", "ROLE"}};
    std::vector<std::vector<const char*>> colors = {{}};
    const std::vector<std::string> groups =
        in.spec ? in.spec->spec.nomad.groups : std::vector<std::string>{};
    for (const auto& g : in.job->groups) {
      if (!groups.empty() && std::find(groups.begin(), groups.end(), g.name) == groups.end()) {
        continue;
      }
      std::string role = g.name == st.active_group ? "active" : "standby";
      if (st.active_group.empty()) role = "-";
      rows.push_back({g.name, std::to_string(g.count), g.version.empty() ? "-" : g.version,
                      Join(GroupTags(g, service)), role});
      colors.push_back({nullptr, nullptr, nullptr, nullptr, role == "active" ? kGreen : nullptr});
    }
    out += "  job " + in.job->id + " version " + std::to_string(in.job->version) +
           (in.job->stop ? " (stopped)" : "") + "\n";
    out += PadCells(rows, colors, color);
  }

  // Instances: from Consul health, sorted for a stable screen.
  out += "\nINSTANCES\n";
  if (!in.instances_note.empty()) {
    out += "  " + in.instances_note + "\n";
  } else if (in.instances.empty()) {
    out += "  (none registered in Consul)\n";
  } else {
    std::vector<reconcilers::ServiceInstance> sorted = in.instances;
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return std::tie(a.group, a.alloc_id, a.id) < std::tie(b.group, b.alloc_id, b.id);
    });
    std::vector<std::vector<std::string>> rows = {
        {"ALLOC", "GROUP", "ADDRESS", "VERSION", "TAGS", "HEALTH"}};
    std::vector<std::vector<const char*>> colors = {{}};
    for (const auto& i : sorted) {
      std::string alloc = i.alloc_id.empty() ? i.id : i.alloc_id.substr(0, 8);
      rows.push_back({alloc, i.group.empty() ? "-" : i.group,
                      i.address + ":" + std::to_string(i.port), i.version.empty() ? "-" : i.version,
                      Join(i.tags), i.ready ? "passing" : "not ready"});
      colors.push_back({nullptr, nullptr, nullptr, nullptr, nullptr, i.ready ? kGreen : kRed});
    }
    out += PadCells(rows, colors, color);
  }

  // Gate results: the newest run of each kind, every measurement against its threshold.
  out += "\nGATES\n";
  if (st.analysis_runs.empty()) {
    out += "  (no analysis yet)\n";
  } else {
    std::vector<const reconcilers::AnalysisRun*> shown;
    for (auto it = st.analysis_runs.rbegin(); it != st.analysis_runs.rend() && shown.size() < 2;
         ++it) {
      bool seen = std::any_of(shown.begin(), shown.end(),
                              [&](const auto* r) { return r->name == it->name; });
      if (!seen) shown.insert(shown.begin(), &*it);
    }
    for (const auto* run : shown) {
      std::string result = run->result ? std::string(reconcilers::VerdictName(*run->result))
                                       : std::string("running");
      out += "  " + run->name + " of " + run->version + " in " + run->group + ": " +
             (run->result ? Paint(color, VerdictColor(*run->result), result) : result) +
             "  (started " + Age(run->started_at, in.now) + " ago)\n";
      if (run->measurements.empty()) {
        out += "    (no measurements yet)\n";
        continue;
      }
      std::vector<std::vector<std::string>> rows = {
          {"  METRIC", "VALUE", "THRESHOLD", "VERDICT", "AT", "NOTE"}};
      std::vector<std::vector<const char*>> colors = {{}};
      for (const auto& m : run->measurements) {
        rows.push_back({"  " + m.metric, Value(m.value), m.condition.empty() ? "-" : m.condition,
                        std::string(reconcilers::VerdictName(m.verdict)), FormatTime(m.time),
                        m.message.empty() ? "-" : m.message});
        colors.push_back({nullptr, nullptr, nullptr, VerdictColor(m.verdict)});
      }
      out += PadCells(rows, colors, color);
      // The status keeps only the newest measurements of each metric; say how many there were.
      for (const auto& [metric, tally] : run->tallies) {
        if (tally.taken <= static_cast<int>(reconcilers::kKeptMeasurements)) continue;
        out += "    " + metric + ": newest " + std::to_string(reconcilers::kKeptMeasurements) +
               " of " + std::to_string(tally.taken) + " measurements shown (" +
               std::to_string(tally.failed) + " failed, " +
               std::to_string(tally.inconclusive + tally.errors) + " inconclusive or error)\n";
      }
    }
  }

  // Recent events, newest last (as they happened).
  out += "\nEVENTS\n";
  if (st.events.empty()) {
    out += "  (none)\n";
  } else {
    size_t first = st.events.size() > in.max_events ? st.events.size() - in.max_events : 0;
    std::vector<std::vector<std::string>> rows;
    std::vector<std::vector<const char*>> colors;
    for (size_t i = first; i < st.events.size(); ++i) {
      const auto& e = st.events[i];
      rows.push_back({Age(e.time, in.now) + " ago", e.type, e.reason, e.message});
      colors.push_back({nullptr, e.type == "Warning" ? kRed : nullptr});
    }
    out += PadCells(rows, colors, color);
  }
  return out;
}

}  // namespace rollouts::cli
