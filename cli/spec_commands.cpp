#include "cli/spec_commands.h"

#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>

#include "cli/text_diff.h"
#include "cli/validate_command.h"

namespace rollouts::cli {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) throw CommandError{kExitUsage, path + ": cannot read file"};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The document as the controller understands it (defaults filled in, durations
// normalized), so that formatting or spelled-out defaults do not show up as changes.
std::string CanonicalText(const StoredSpec& stored) {
  if (stored.rollout) return reconcilers::RolloutToJson(*stored.rollout).dump(2) + "\n";
  auto doc = nlohmann::json::parse(stored.text, nullptr, false);
  if (!doc.is_discarded()) return doc.dump(2) + "\n";
  return stored.text + (stored.text.empty() || stored.text.back() == '\n' ? "" : "\n");
}

struct ApplyItem {
  std::string file;
  std::string name;
  nlohmann::json document;  // as written in the file
  reconcilers::Rollout rollout;
};

std::string ConflictMessage(const KvLayout& kv, const std::string& name, uint64_t index) {
  return kv.Spec(name) + " changed in Consul after it was read (ModifyIndex " +
         std::to_string(index) + "); nothing was overwritten: re-run to see the new diff";
}

}  // namespace

int RunApply(const Session& s, const ApplyOptions& options) {
  std::ostream& out = *s.out;
  ValidateReport report = ValidatePaths(options.paths);
  if (!report.usage_errors.empty()) {
    std::string all;
    for (const auto& e : report.usage_errors) all += (all.empty() ? "" : "; ") + e;
    throw CommandError{kExitUsage, all};
  }
  size_t invalid = 0;
  for (const FileVerdict& f : report.files) {
    if (f.io_error) throw CommandError{kExitUsage, f.file + ": " + f.errors.front().message};
    for (const auto& e : f.errors) {
      ++invalid;
      out << f.file << ": " << (e.pointer.empty() ? "(root)" : e.pointer) << ": " << e.message
          << "\n";
    }
  }
  if (invalid > 0) {
    throw CommandError{kExitFailed, std::to_string(invalid) +
                                        " validation error(s); nothing was written to Consul"};
  }

  std::vector<ApplyItem> items;
  std::map<std::string, std::string> file_of_name;
  for (const FileVerdict& f : report.files) {
    ApplyItem item;
    item.file = f.file;
    item.document = nlohmann::json::parse(ReadFile(f.file), nullptr, false);
    reconcilers::ParseResult parsed = reconcilers::ParseRollout(item.document);
    if (!parsed.rollout) throw CommandError{kExitUsage, f.file + ": changed while being read"};
    item.rollout = *parsed.rollout;
    item.name = item.rollout.name;
    auto [it, inserted] = file_of_name.emplace(item.name, item.file);
    if (!inserted) {
      throw CommandError{kExitUsage, "rollout \"" + item.name + "\" is defined twice: " +
                                         it->second + " and " + item.file};
    }
    items.push_back(std::move(item));
  }

  nlohmann::json results = nlohmann::json::array();
  int exit_code = kExitOk;
  for (const ApplyItem& item : items) {
    std::optional<StoredSpec> stored = ReadSpec(s, item.name);
    const uint64_t cas = stored ? stored->modify_index : 0;
    const std::string want = reconcilers::RolloutToJson(item.rollout).dump(2) + "\n";
    const std::string have = stored ? CanonicalText(*stored) : "";
    const std::string diff =
        UnifiedDiff(have, want,
                    s.kv.Spec(item.name) +
                        (stored ? " (ModifyIndex " + std::to_string(cas) + ")" : " (absent)"),
                    item.file);
    std::string action = !stored ? "created" : diff.empty() ? "unchanged" : "configured";
    std::string message;
    if (action != "unchanged" && !options.dry_run) {
      // The file's own text (re-serialized) goes to KV, so KV holds what Git holds.
      auto put = s.consul->KvPut(s.kv.Spec(item.name), item.document.dump(2) + "\n",
                                 consul::PutOptions{cas, std::nullopt, "", ""});
      if (!put.ok()) ThrowAgentError("writing " + s.kv.Spec(item.name), put.error());
      if (!put.value()) {
        action = "conflict";
        message = ConflictMessage(s.kv, item.name, cas);
        exit_code = kExitConflict;
      }
    }
    if (s.json) {
      results.push_back({{"file", item.file},
                         {"name", item.name},
                         {"action", action},
                         {"dryRun", options.dry_run},
                         {"diff", diff},
                         {"message", message}});
      continue;
    }
    out << diff;
    if (action == "conflict") {
      out << "rollout/" << item.name << ": CONFLICT: " << message << "\n";
    } else {
      out << "rollout/" << item.name << " " << action << (options.dry_run ? " (dry run)" : "")
          << "\n";
    }
  }
  if (s.json) out << nlohmann::json{{"results", results}}.dump(2) << "\n";
  return exit_code;
}

SetVersionResult SetVersion(const Session& s, const std::string& name, const std::string& version) {
  SetVersionResult result;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    StoredSpec stored = RequireSpec(s, name);
    if (!stored.rollout) {
      std::string why = stored.errors.empty() ? ""
                                              : ": " + stored.errors.front().pointer + ": " +
                                                    stored.errors.front().message;
      throw CommandError{kExitFailed, "the stored spec " + s.kv.Spec(name) +
                                          " is not a valid Rollout" + why +
                                          "; fix it with `rolloutctl apply`"};
    }
    result.old_version = stored.rollout->spec.version;
    result.new_version = version;
    if (result.old_version == version) return result;
    nlohmann::json doc = nlohmann::json::parse(stored.text);
    doc["spec"]["version"] = version;
    reconcilers::ParseResult parsed = reconcilers::ParseRollout(doc);
    if (!parsed.rollout) {
      throw CommandError{kExitFailed, "version \"" + version +
                                          "\" is not valid: " + parsed.errors.front().pointer +
                                          ": " + parsed.errors.front().message};
    }
    result.attempts = attempt;
    auto put = s.consul->KvPut(s.kv.Spec(name), doc.dump(2) + "\n",
                               consul::PutOptions{stored.modify_index, std::nullopt, "", ""});
    if (!put.ok()) ThrowAgentError("writing " + s.kv.Spec(name), put.error());
    if (put.value()) {
      result.changed = true;
      return result;
    }
    // Lost a race: someone wrote the spec between our read and our write. Read it again
    // and apply the change on top of theirs once; a second loss is reported.
  }
  throw CommandError{kExitConflict, s.kv.Spec(name) +
                                        " changed twice while we tried to write it; nothing was "
                                        "overwritten: try again"};
}

int RunSetVersion(const Session& s, const std::string& name, const std::string& version) {
  SetVersionResult r = SetVersion(s, name, version);
  if (s.json) {
    *s.out << nlohmann::json{{"name", name},
                             {"oldVersion", r.old_version},
                             {"newVersion", r.new_version},
                             {"changed", r.changed},
                             {"attempts", r.attempts}}
                  .dump(2)
           << "\n";
  } else if (r.changed) {
    *s.out << "rollout/" << name << ": " << r.old_version << " -> " << r.new_version << "\n";
  } else {
    *s.out << "rollout/" << name << ": already at " << r.old_version << " (nothing written)\n";
  }
  return kExitOk;
}

void AddSpecCommands(CLI::App& app, const Runner& run) {
  auto apply = std::make_shared<ApplyOptions>();
  CLI::App* cmd = app.add_subcommand(
      "apply", "Validate Rollout files, show the diff against Consul KV and write them (CAS)");
  cmd->add_option("-f,--filename", apply->paths, "Rollout files (JSON) or directories")
      ->required()
      ->type_name("FILE|DIR");
  cmd->add_flag("--dry-run", apply->dry_run, "Show the diff only; write nothing");
  cmd->footer(
      "Nothing is written when any file is invalid. Each Rollout is written with a Consul\n"
      "CAS on the ModifyIndex read for the diff (0 = create), so a change made by someone\n"
      "else in between is refused (exit 4), never overwritten.\n\n" +
      std::string(kExitCodesHelp));
  cmd->callback([apply, &run] { run([apply](Session& s) { return RunApply(s, *apply); }); });

  struct SetVersionArgs {
    std::string name, version;
  };
  auto sv = std::make_shared<SetVersionArgs>();
  CLI::App* set = app.add_subcommand(
      "set-version", "Set spec.version of a Rollout (read, change, CAS write): for pipelines");
  set->add_option("name", sv->name, "Rollout name")->required();
  set->add_option("version", sv->version, "The version to roll out")->required();
  set->footer(std::string(kExitCodesHelp));
  set->callback(
      [sv, &run] { run([sv](Session& s) { return RunSetVersion(s, sv->name, sv->version); }); });
}

}  // namespace rollouts::cli
