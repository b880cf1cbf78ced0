// ParseRollout: reads a Rollout document and checks it against the rules of
// crd-schemas/rollout.schema.json. The two must accept exactly the same documents
// (tests/schemas runs ajv and this parser over every example and fails on any
// disagreement), so every check below names the schema keyword it mirrors. The string
// patterns are matched by hand rather than with std::regex: libstdc++'s regex recurses per
// character and can overflow the stack on the long strings a hostile file may hold.
#include "reconcilers/rollout_spec.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "api/text.h"

namespace rollouts::reconcilers {
namespace {

using nlohmann::json;

constexpr std::string_view kApiVersion = "rollouts.nomad.io/v1";
constexpr std::string_view kKind = "Rollout";
constexpr std::string_view kDurationHint =
    "a duration like \"500ms\", \"30s\", \"2m\" or \"1h30m\"";

// ---- character classes and the schema's string patterns ---------------------------------

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}
bool IsLower(char c) {
  return c >= 'a' && c <= 'z';
}
bool IsAlpha(char c) {
  return IsLower(c) || (c >= 'A' && c <= 'Z');
}
bool IsAlnum(char c) {
  return IsAlpha(c) || IsDigit(c);
}

bool AllOf(std::string_view s, bool (*pred)(char)) {
  return std::all_of(s.begin(), s.end(), pred);
}

// ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$  (metadata.name, metric names)
bool IsDnsLabel(std::string_view s) {
  auto ok = [](char c) { return IsLower(c) || IsDigit(c) || c == '-'; };
  return !s.empty() && s.size() <= 63 && s.front() != '-' && s.back() != '-' &&
         std::all_of(s.begin(), s.end(), ok);
}

// ^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$  (label keys)
bool IsLabelKey(std::string_view s) {
  auto ok = [](char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '/' || c == '-'; };
  return !s.empty() && s.size() <= 63 && IsAlnum(s.front()) && IsAlnum(s.back()) &&
         std::all_of(s.begin(), s.end(), ok);
}

bool IsNameChar(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == '-';
}

// ^[A-Za-z0-9][A-Za-z0-9._-]{0,N-1}$  (spec.version, Nomad names, Consul tags)
bool IsNameOfAtMost(std::string_view s, size_t max_len) {
  return !s.empty() && s.size() <= max_len && IsAlnum(s.front()) && AllOf(s, IsNameChar);
}
bool IsNomadName(std::string_view s) {
  return IsNameOfAtMost(s, 128);
}
bool IsTag(std::string_view s) {
  return IsNameOfAtMost(s, 63);
}

// ^[A-Za-z0-9-]{1,128}$
bool IsNomadNamespace(std::string_view s) {
  return !s.empty() && s.size() <= 128 && AllOf(s, [](char c) { return IsAlnum(c) || c == '-'; });
}

// ^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$
bool IsServiceName(std::string_view s) {
  return !s.empty() && s.size() <= 63 && IsAlnum(s.front()) && IsAlnum(s.back()) &&
         AllOf(s, [](char c) { return IsAlnum(c) || c == '_' || c == '-'; });
}

// ^(/Config(/[A-Za-z0-9_.-]{1,128}){1,8}|/Env/[A-Za-z_][A-Za-z0-9_]{0,127})$
bool IsTemplatePath(std::string_view s) {
  constexpr std::string_view kEnv = "/Env/";
  constexpr std::string_view kConfig = "/Config";
  if (s.starts_with(kEnv)) {
    std::string_view name = s.substr(kEnv.size());
    return !name.empty() && name.size() <= 128 && (IsAlpha(name.front()) || name.front() == '_') &&
           AllOf(name, [](char c) { return IsAlnum(c) || c == '_'; });
  }
  if (!s.starts_with(kConfig)) return false;
  std::string_view rest = s.substr(kConfig.size());
  int segments = 0;
  while (!rest.empty()) {
    if (rest.front() != '/' || ++segments > 8) return false;
    rest.remove_prefix(1);
    size_t end = std::min(rest.find('/'), rest.size());
    std::string_view segment = rest.substr(0, end);
    if (segment.empty() || segment.size() > 128 || !AllOf(segment, IsNameChar)) return false;
    rest.remove_prefix(end);
  }
  return segments >= 1;
}

// ^([^{]|\{(?!\{)|\{\{(p1|p2|...)\}\})*$ : a "{{" must open one of the allowed placeholders.
bool UsesOnlyPlaceholders(std::string_view s, std::initializer_list<std::string_view> allowed) {
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '{' || i + 1 >= s.size() || s[i + 1] != '{') {
      ++i;
      continue;
    }
    bool matched = false;
    for (std::string_view name : allowed) {
      std::string placeholder = "{{" + std::string(name) + "}}";
      if (s.substr(i).starts_with(placeholder)) {
        i += placeholder.size();
        matched = true;
        break;
      }
    }
    if (!matched) return false;
  }
  return true;
}

// ^/[!-~]{0,1023}$ : an absolute path of printable ASCII without spaces.
bool IsProbePath(std::string_view s) {
  return !s.empty() && s.size() <= 1024 && s.front() == '/' &&
         AllOf(s, [](char c) { return c >= '!' && c <= '~'; });
}

// Reads [0-9]{1,max} at the front of s; false when there are none or more than max.
bool TakeDigits(std::string_view& s, size_t max) {
  size_t n = 0;
  while (n < s.size() && IsDigit(s[n])) ++n;
  if (n == 0 || n > max) return false;
  s.remove_prefix(n);
  return true;
}

// ^(<=|>=|==|<|>) ?-?[0-9]{1,15}(\.[0-9]{1,15})?$
bool IsSuccessCondition(std::string_view s) {
  if (s.starts_with("<=") || s.starts_with(">=") || s.starts_with("==")) {
    s.remove_prefix(2);
  } else if (s.starts_with("<") || s.starts_with(">")) {
    s.remove_prefix(1);
  } else {
    return false;
  }
  if (s.starts_with(" ")) s.remove_prefix(1);
  if (s.starts_with("-")) s.remove_prefix(1);
  if (!TakeDigits(s, 15)) return false;
  if (s.starts_with(".")) {
    s.remove_prefix(1);
    if (!TakeDigits(s, 15)) return false;
  }
  return s.empty();
}

// What JSON Schema's minLength/maxLength count: code points. nlohmann keeps strings as
// validated UTF-8, so every byte that is not a continuation byte starts one.
size_t CodePoints(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// ---- messages ---------------------------------------------------------------------------

std::string TypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "unknown";
  }
}

// The value as the user wrote it, cut short so one bad field cannot flood the output.
std::string Shown(const json& v) {
  std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  constexpr size_t kMax = 60;
  if (text.size() > kMax) text = text.substr(0, kMax - 3) + "...";
  return text;
}

std::string Quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      char ca = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i - 1])));
      char cb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j - 1])));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (ca == cb ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string PointerToken(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Child(const std::string& pointer, std::string_view key) {
  return pointer + "/" + PointerToken(key);
}
std::string Child(const std::string& pointer, size_t index) {
  return pointer + "/" + std::to_string(index);
}

// JSON Schema's "integer": any number with no fractional part (1.0 and 1e2 included).
bool IsInteger(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return true;
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

// ---- the reader -------------------------------------------------------------------------

enum class Presence { kOptional, kRequired };

class Reader {
 public:
  explicit Reader(std::vector<SpecError>& errors) : errors_(errors) {}

  void Fail(std::string pointer, std::string message) {
    errors_.push_back({std::move(pointer), std::move(message)});
  }

  // "type": "object" plus "additionalProperties": false. Unknown fields are reported with
  // the closest allowed name, since a typo is by far the most common cause.
  bool Object(const json& v, const std::string& pointer,
              std::initializer_list<std::string_view> allowed) {
    if (!v.is_object()) {
      Fail(pointer, "must be an object (got " + TypeName(v) + ")");
      return false;
    }
    for (const auto& [key, value] : v.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string message = "unknown field " + Quoted(key);
      std::string_view best;
      size_t best_distance = 3;  // suggest only close matches
      for (std::string_view name : allowed) {
        size_t d = EditDistance(key, name);
        if (d < best_distance) {
          best_distance = d;
          best = name;
        }
      }
      if (!best.empty()) {
        message += "; did you mean " + Quoted(best) + "?";
      } else {
        message += " (allowed:";
        for (std::string_view name : allowed) message += " " + std::string(name);
        message += ")";
      }
      Fail(Child(pointer, key), message);
    }
    return true;
  }

  // The member, or nullptr when absent ("required" reported at the missing field's pointer).
  const json* Field(const json& obj, const std::string& pointer, std::string_view key,
                    Presence presence) {
    auto it = obj.find(key);
    if (it != obj.end()) return &*it;
    if (presence == Presence::kRequired) Fail(Child(pointer, key), "is required");
    return nullptr;
  }

  // "type": "string" plus a pattern; `rule` says in words what the pattern wants.
  void String(const json& obj, const std::string& pointer, std::string_view key, Presence presence,
              bool (*valid)(std::string_view), std::string_view rule, std::string& out) {
    const json* v = Field(obj, pointer, key, presence);
    if (v == nullptr) return;
    std::string at = Child(pointer, key);
    if (!v->is_string()) {
      Fail(at, "must be a string (got " + TypeName(*v) + ")");
      return;
    }
    const std::string& s = v->get_ref<const std::string&>();
    if (!valid(s)) {
      Fail(at, "must be " + std::string(rule) + " (got " + Shown(*v) + ")");
      return;
    }
    out = s;
  }

  // $defs/duration and $defs/positiveDuration.
  template <typename Out>
  void DurationField(const json& obj, const std::string& pointer, std::string_view key,
                     bool positive, Out& out) {
    const json* v = Field(obj, pointer, key, Presence::kOptional);
    if (v == nullptr) return;
    std::string at = Child(pointer, key);
    if (!v->is_string()) {
      Fail(at, "must be a string holding " + std::string(kDurationHint) + " (got " + TypeName(*v) +
                   ")");
      return;
    }
    std::optional<Duration> d = ParseDuration(v->get<std::string>());
    if (!d) {
      Fail(at, "must be " + std::string(kDurationHint) +
                   ": whole numbers with units h, m, s, ms (got " + Shown(*v) + ")");
      return;
    }
    if (positive && d->count() == 0) {
      Fail(at, "must be greater than zero (got " + Shown(*v) + ")");
      return;
    }
    out = *d;
  }

  void Integer(const json& obj, const std::string& pointer, std::string_view key, int min, int max,
               int& out) {
    const json* v = Field(obj, pointer, key, Presence::kOptional);
    if (v == nullptr) return;
    std::string at = Child(pointer, key);
    if (!IsInteger(*v)) {
      Fail(at, "must be an integer (got " + (v->is_number() ? Shown(*v) : TypeName(*v)) + ")");
      return;
    }
    double d = v->get<double>();
    if (d < min || d > max) {
      Fail(at, "must be between " + std::to_string(min) + " and " + std::to_string(max) + " (got " +
                   Shown(*v) + ")");
      return;
    }
    out = static_cast<int>(d);
  }

  void Number(const json& obj, const std::string& pointer, std::string_view key, double min,
              double max, std::string_view rule, double& out) {
    const json* v = Field(obj, pointer, key, Presence::kOptional);
    if (v == nullptr) return;
    std::string at = Child(pointer, key);
    if (!v->is_number()) {
      Fail(at, "must be a number (got " + TypeName(*v) + ")");
      return;
    }
    double d = v->get<double>();
    if (!(d >= min && d <= max)) {
      Fail(at, "must be " + std::string(rule) + " (got " + Shown(*v) + ")");
      return;
    }
    out = d;
  }

  void Boolean(const json& obj, const std::string& pointer, std::string_view key, bool& out) {
    const json* v = Field(obj, pointer, key, Presence::kOptional);
    if (v == nullptr) return;
    if (!v->is_boolean()) {
      Fail(Child(pointer, key), "must be true or false (got " + Shown(*v) + ")");
      return;
    }
    out = v->get<bool>();
  }

  // "const": the field must hold exactly this string.
  void Constant(const json& obj, const std::string& pointer, std::string_view key,
                std::string_view expected, std::string& out) {
    const json* v = Field(obj, pointer, key, Presence::kRequired);
    if (v == nullptr) return;
    if (!v->is_string() || v->get_ref<const std::string&>() != expected) {
      Fail(Child(pointer, key), "must be " + Quoted(expected) + " (got " + Shown(*v) + ")");
      return;
    }
    out = std::string(expected);
  }

 private:
  std::vector<SpecError>& errors_;
};

// ---- the document, section by section ---------------------------------------------------

void ReadMetadata(Reader& r, const json& doc, Rollout& out) {
  const json* metadata = r.Field(doc, "", "metadata", Presence::kRequired);
  const std::string at = "/metadata";
  if (metadata == nullptr || !r.Object(*metadata, at, {"name", "labels"})) return;
  r.String(*metadata, at, "name", Presence::kRequired, IsDnsLabel,
           "a DNS label (it is a Consul key segment): 1-63 lower-case letters, digits or '-', "
           "starting and ending with a letter or digit",
           out.name);
  const json* labels = r.Field(*metadata, at, "labels", Presence::kOptional);
  if (labels == nullptr) return;
  const std::string labels_at = at + "/labels";
  if (!labels->is_object()) {
    r.Fail(labels_at, "must be an object of string values (got " + TypeName(*labels) + ")");
    return;
  }
  for (const auto& [key, value] : labels->items()) {
    std::string key_at = Child(labels_at, key);
    if (!IsLabelKey(key)) {
      r.Fail(key_at,
             "label key must be 1-63 letters, digits, '.', '_', '-' or '/', starting and "
             "ending with a letter or digit");
    }
    if (!value.is_string()) {
      r.Fail(key_at, "label value must be a string (got " + TypeName(value) + ")");
    } else if (CodePoints(value.get_ref<const std::string&>()) > 256) {
      r.Fail(key_at, "label value must be at most 256 characters");
    } else if (IsLabelKey(key)) {
      out.labels[key] = value.get<std::string>();
    }
  }
}

void ReadNomad(Reader& r, const json& spec, const std::string& spec_at, NomadTarget& out) {
  const json* nomad = r.Field(spec, spec_at, "nomad", Presence::kRequired);
  const std::string at = spec_at + "/nomad";
  if (nomad == nullptr || !r.Object(*nomad, at, {"namespace", "job", "groups", "service"})) {
    return;
  }
  r.String(*nomad, at, "namespace", Presence::kOptional, IsNomadNamespace,
           "a Nomad namespace: 1-128 letters, digits or '-'", out.namespace_);
  r.String(*nomad, at, "job", Presence::kRequired, IsNomadName,
           "a Nomad job ID: a letter or digit, then up to 127 letters, digits, '.', '_' or '-'",
           out.job);
  r.String(*nomad, at, "service", Presence::kRequired, IsServiceName,
           "a Consul service name: 1-63 letters, digits, '_' or '-', starting and ending with "
           "a letter or digit",
           out.service);

  const json* groups = r.Field(*nomad, at, "groups", Presence::kRequired);
  if (groups == nullptr) return;
  const std::string groups_at = at + "/groups";
  if (!groups->is_array()) {
    r.Fail(groups_at,
           "must be an array of the two task group names (got " + TypeName(*groups) + ")");
    return;
  }
  bool names_ok = true;
  for (size_t i = 0; i < groups->size(); ++i) {
    const json& g = (*groups)[i];
    if (!g.is_string()) {
      r.Fail(Child(groups_at, i), "must be a string (got " + TypeName(g) + ")");
      names_ok = false;
    } else if (!IsNomadName(g.get_ref<const std::string&>())) {
      r.Fail(Child(groups_at, i),
             "must be a Nomad group name: a letter or digit, then up to 127 letters, digits, "
             "'.', '_' or '-' (got " +
                 Shown(g) + ")");
      names_ok = false;
    }
  }
  if (groups->size() != 2) {
    r.Fail(groups_at, "must list exactly 2 task groups, the blue/green pair (got " +
                          std::to_string(groups->size()) + ")");
    names_ok = false;
  }
  // "uniqueItems": any two equal entries, whatever their count.
  for (size_t i = 0; i < groups->size(); ++i) {
    for (size_t j = i + 1; j < groups->size(); ++j) {
      if ((*groups)[i] == (*groups)[j]) {
        r.Fail(groups_at, "must name two different groups (items " + std::to_string(i) + " and " +
                              std::to_string(j) + " are both " + Shown((*groups)[i]) + ")");
        names_ok = false;
      }
    }
  }
  if (names_ok) out.groups = groups->get<std::vector<std::string>>();
}

void ReadTemplate(Reader& r, const json& spec, const std::string& spec_at, TemplateSpec& out) {
  const json* tmpl = r.Field(spec, spec_at, "template", Presence::kRequired);
  const std::string at = spec_at + "/template";
  if (tmpl == nullptr || !r.Object(*tmpl, at, {"task", "set"})) return;
  r.String(*tmpl, at, "task", Presence::kRequired, IsNomadName,
           "a Nomad task name: a letter or digit, then up to 127 letters, digits, '.', '_' or "
           "'-'",
           out.task);
  const json* set = r.Field(*tmpl, at, "set", Presence::kRequired);
  if (set == nullptr) return;
  const std::string set_at = at + "/set";
  if (!set->is_object()) {
    r.Fail(set_at, "must be an object of path -> value template (got " + TypeName(*set) + ")");
    return;
  }
  if (set->empty()) {
    r.Fail(set_at,
           "must rewrite at least one field, e.g. {\"/Config/image\": "
           "\"registry/app:{{version}}\"}");
    return;
  }
  for (const auto& [path, value] : set->items()) {
    std::string entry_at = Child(set_at, path);
    bool ok = true;
    if (!IsTemplatePath(path)) {
      r.Fail(entry_at,
             "path must be /Config/<key>[/<key>...] (up to 8 keys of letters, digits, '_', '.', "
             "'-') or /Env/<NAME>");
      ok = false;
    }
    if (!value.is_string()) {
      r.Fail(entry_at, "must be a string (got " + TypeName(value) + ")");
      continue;
    }
    const std::string& s = value.get_ref<const std::string&>();
    size_t length = CodePoints(s);
    if (length < 1 || length > 1024) {
      r.Fail(entry_at, "must be 1 to 1024 characters long");
      ok = false;
    } else if (!UsesOnlyPlaceholders(s, {"version"})) {
      r.Fail(entry_at,
             "{{version}} is the only placeholder allowed here (got " + Shown(value) + ")");
      ok = false;
    }
    if (ok) out.set[path] = s;
  }
}

void ReadStrategy(Reader& r, const json& spec, const std::string& spec_at, BlueGreenStrategy& out) {
  const json* strategy = r.Field(spec, spec_at, "strategy", Presence::kOptional);
  const std::string at = spec_at + "/strategy";
  if (strategy == nullptr || !r.Object(*strategy, at, {"blueGreen"})) return;
  const json* bg = r.Field(*strategy, at, "blueGreen", Presence::kOptional);
  const std::string bg_at = at + "/blueGreen";
  if (bg == nullptr ||
      !r.Object(*bg, bg_at, {"autoPromote", "scaleDownDelay", "activeTag", "standbyTag"})) {
    return;
  }
  r.Boolean(*bg, bg_at, "autoPromote", out.auto_promote);
  r.DurationField(*bg, bg_at, "scaleDownDelay", /*positive=*/false, out.scale_down_delay);
  constexpr std::string_view kTagRule =
      "a Consul tag: a letter or digit, then up to 62 letters, digits, '.', '_' or '-'";
  r.String(*bg, bg_at, "activeTag", Presence::kOptional, IsTag, kTagRule, out.active_tag);
  r.String(*bg, bg_at, "standbyTag", Presence::kOptional, IsTag, kTagRule, out.standby_tag);

  // The two tags must differ, counting defaults: routers select on activeTag, so a shared
  // tag would send traffic to the Standby group before any gate ran.
  const json* active = r.Field(*bg, bg_at, "activeTag", Presence::kOptional);
  const json* standby = r.Field(*bg, bg_at, "standbyTag", Presence::kOptional);
  if (active != nullptr && standby != nullptr && *active == *standby) {
    r.Fail(bg_at + "/standbyTag", "must differ from activeTag (both are " + Shown(*active) + ")");
  } else if (active == nullptr && standby != nullptr && *standby == "active") {
    r.Fail(bg_at + "/standbyTag", "must differ from activeTag, whose default is \"active\"");
  } else if (standby == nullptr && active != nullptr && *active == "standby") {
    r.Fail(bg_at + "/activeTag", "must differ from standbyTag, whose default is \"standby\"");
  }
}

// A duration field as the health rule compares it: the text the user wrote (or the
// default), its value, and whether it was given.
struct DurationText {
  std::string text;
  Duration value;
  bool given;
};

// The field's value, its default when absent, nullopt when it is not a well-formed duration.
std::optional<DurationText> EffectiveDuration(const json& obj, std::string_view key,
                                              Duration fallback) {
  auto it = obj.find(key);
  if (it == obj.end()) return DurationText{FormatDuration(fallback), fallback, false};
  if (!it->is_string()) return std::nullopt;
  const std::string& text = it->get_ref<const std::string&>();
  std::optional<Duration> d = ParseDuration(text);
  if (!d) return std::nullopt;
  return DurationText{text, *d, true};
}

void ReadHealth(Reader& r, const json& spec, const std::string& spec_at, HealthSpec& out) {
  const json* health = r.Field(spec, spec_at, "health", Presence::kOptional);
  const std::string at = spec_at + "/health";
  if (health == nullptr ||
      !r.Object(*health, at, {"minHealthyTime", "healthyDeadline", "progressDeadline"})) {
    return;
  }
  r.DurationField(*health, at, "minHealthyTime", /*positive=*/false, out.min_healthy_time);
  r.DurationField(*health, at, "healthyDeadline", /*positive=*/true, out.healthy_deadline);
  r.DurationField(*health, at, "progressDeadline", /*positive=*/true, out.progress_deadline);

  // The schema's "x-durationLessThan": minHealthyTime < healthyDeadline, strictly, counting
  // defaults. The standby counts as healthy only once it has been ready for minHealthyTime,
  // and healthyDeadline runs from the same start, so with minHealthyTime >= healthyDeadline
  // no standby could ever pass. Checked only when both values are well-formed durations
  // (a malformed one has its own error); reported at the field the user wrote.
  const HealthSpec defaults;
  const std::optional<DurationText> min =
      EffectiveDuration(*health, "minHealthyTime", defaults.min_healthy_time);
  const std::optional<DurationText> deadline =
      EffectiveDuration(*health, "healthyDeadline", defaults.healthy_deadline);
  if (!min || !deadline || min->value < deadline->value) return;
  const std::string values = " (" + min->text + " >= " + deadline->text + ")";
  constexpr std::string_view kWhy = ": the standby could never count as healthy in time";
  if (min->given) {
    r.Fail(at + "/minHealthyTime",
           "must be shorter than healthyDeadline" +
               std::string(deadline->given ? "" : ", whose default is " + deadline->text) + values +
               std::string(kWhy));
  } else {
    r.Fail(at + "/healthyDeadline", "must be longer than minHealthyTime, whose default is " +
                                        min->text + values + std::string(kWhy));
  }
}

void ReadProbe(Reader& r, const json& probe, const std::string& at, ProbeSpec& out) {
  if (!r.Object(probe, at, {"path", "requests", "maxErrorRate", "maxP99Latency", "timeout"})) {
    return;
  }
  r.String(probe, at, "path", Presence::kOptional, IsProbePath,
           "an absolute HTTP path: '/' then up to 1023 printable ASCII characters, no spaces",
           out.path);
  r.Integer(probe, at, "requests", 1, 100000, out.requests);
  r.Number(probe, at, "maxErrorRate", 0.0, 1.0, "a fraction between 0 and 1 (0.01 = 1%)",
           out.max_error_rate);
  r.DurationField(probe, at, "maxP99Latency", /*positive=*/true, out.max_p99_latency);
  r.DurationField(probe, at, "timeout", /*positive=*/true, out.timeout);
}

void ReadMetric(Reader& r, const json& metric, const std::string& at, MetricSpec& out) {
  if (!r.Object(metric, at, {"name", "provider", "query", "successCondition"})) return;
  r.String(metric, at, "name", Presence::kRequired, IsDnsLabel,
           "1-63 lower-case letters, digits or '-', starting and ending with a letter or digit",
           out.name);
  if (const json* provider = r.Field(metric, at, "provider", Presence::kOptional);
      provider != nullptr && *provider != "prometheus") {
    r.Fail(at + "/provider",
           "must be \"prometheus\", the only provider (got " + Shown(*provider) + ")");
  }
  if (const json* query = r.Field(metric, at, "query", Presence::kRequired); query != nullptr) {
    if (!query->is_string()) {
      r.Fail(at + "/query", "must be a string (got " + TypeName(*query) + ")");
    } else {
      const std::string& q = query->get_ref<const std::string&>();
      size_t length = CodePoints(q);
      if (length < 1 || length > 8192) {
        r.Fail(at + "/query", "must be 1 to 8192 characters long");
      } else if (!UsesOnlyPlaceholders(q, {"service", "version", "job", "group"})) {
        r.Fail(at + "/query",
               "may only use the placeholders {{service}}, {{version}}, {{job}} and {{group}}");
      } else {
        out.query = q;
      }
    }
  }
  r.String(metric, at, "successCondition", Presence::kRequired, IsSuccessCondition,
           "an operator (<, <=, >, >=, ==) and a number, like \"< 0.01\" or \">= 0.99\"",
           out.success_condition);
}

void ReadAnalysis(Reader& r, const json& analysis, const std::string& at, AnalysisSpec& out) {
  if (!r.Object(analysis, at,
                {"interval", "count", "failureLimit", "inconclusiveLimit", "probe", "metrics"})) {
    return;
  }
  // "anyOf": [{"required": ["probe"]}, {"required": ["metrics"]}]
  if (!analysis.contains("probe") && !analysis.contains("metrics")) {
    r.Fail(at,
           "needs a \"probe\", \"metrics\", or both: an analysis without gates proves "
           "nothing");
  }
  r.DurationField(analysis, at, "interval", /*positive=*/true, out.interval);
  r.Integer(analysis, at, "count", 1, 1000, out.count);
  r.Integer(analysis, at, "failureLimit", 0, 1000, out.failure_limit);
  r.Integer(analysis, at, "inconclusiveLimit", 0, 1000, out.inconclusive_limit);
  if (const json* probe = r.Field(analysis, at, "probe", Presence::kOptional); probe != nullptr) {
    out.probe.emplace();
    ReadProbe(r, *probe, at + "/probe", *out.probe);
  }
  const json* metrics = r.Field(analysis, at, "metrics", Presence::kOptional);
  if (metrics == nullptr) return;
  const std::string metrics_at = at + "/metrics";
  if (!metrics->is_array()) {
    r.Fail(metrics_at, "must be an array of metric gates (got " + TypeName(*metrics) + ")");
    return;
  }
  if (metrics->empty() || metrics->size() > 20) {
    r.Fail(metrics_at, "must hold 1 to 20 metric gates (got " + std::to_string(metrics->size()) +
                           "); leave it out when there are none");
  }
  for (size_t i = 0; i < metrics->size(); ++i) {
    ReadMetric(r, (*metrics)[i], Child(metrics_at, i), out.metrics.emplace_back());
  }
  // The schema's "x-uniqueBy": "name". Measurements, gate results and the metric series are
  // keyed by the metric name, so two gates with one name would overwrite each other. Each
  // repeat is reported at its own name, pointing back at the first use.
  std::map<std::string, size_t> first_use;
  for (size_t i = 0; i < metrics->size(); ++i) {
    const json& metric = (*metrics)[i];
    if (!metric.is_object()) continue;
    auto name = metric.find("name");
    if (name == metric.end() || !name->is_string()) continue;
    auto [first, inserted] = first_use.try_emplace(name->get<std::string>(), i);
    if (inserted) continue;
    r.Fail(Child(Child(metrics_at, i), "name"),
           "duplicate metric name " + Shown(*name) + " (also metrics/" +
               std::to_string(first->second) + "): measurements are keyed by name");
  }
}

void ReadAnalyses(Reader& r, const json& spec, const std::string& spec_at, RolloutSpec& out) {
  const json* analysis = r.Field(spec, spec_at, "analysis", Presence::kOptional);
  const std::string at = spec_at + "/analysis";
  if (analysis == nullptr || !r.Object(*analysis, at, {"prePromotion", "postPromotion"})) return;
  if (const json* pre = r.Field(*analysis, at, "prePromotion", Presence::kOptional)) {
    ReadAnalysis(r, *pre, at + "/prePromotion", out.pre_promotion.emplace());
  }
  if (const json* post = r.Field(*analysis, at, "postPromotion", Presence::kOptional)) {
    ReadAnalysis(r, *post, at + "/postPromotion", out.post_promotion.emplace());
  }
}

void ReadSpec(Reader& r, const json& doc, RolloutSpec& out) {
  const json* spec = r.Field(doc, "", "spec", Presence::kRequired);
  const std::string at = "/spec";
  if (spec == nullptr ||
      !r.Object(*spec, at, {"version", "nomad", "template", "strategy", "health", "analysis"})) {
    return;
  }
  r.String(*spec, at, "version", Presence::kRequired, IsNomadName,
           "a version in container-tag form: a letter or digit, then up to 127 letters, digits, "
           "'.', '_' or '-'",
           out.version);
  ReadNomad(r, *spec, at, out.nomad);
  ReadTemplate(r, *spec, at, out.template_);
  ReadStrategy(r, *spec, at, out.blue_green);
  ReadHealth(r, *spec, at, out.health);
  ReadAnalyses(r, *spec, at, out);
}

json AnalysisToJson(const AnalysisSpec& a) {
  json out = {{"interval", FormatDuration(a.interval)},
              {"count", a.count},
              {"failureLimit", a.failure_limit},
              {"inconclusiveLimit", a.inconclusive_limit}};
  if (a.probe) {
    json probe = {{"path", a.probe->path},
                  {"requests", a.probe->requests},
                  {"maxErrorRate", a.probe->max_error_rate},
                  {"timeout", FormatDuration(a.probe->timeout)}};
    if (a.probe->max_p99_latency) {
      probe["maxP99Latency"] = FormatDuration(*a.probe->max_p99_latency);
    }
    out["probe"] = std::move(probe);
  }
  if (!a.metrics.empty()) {
    json metrics = json::array();
    for (const MetricSpec& m : a.metrics) {
      metrics.push_back({{"name", m.name},
                         {"provider", m.provider},
                         {"query", m.query},
                         {"successCondition", m.success_condition}});
    }
    out["metrics"] = std::move(metrics);
  }
  return out;
}

}  // namespace

// ^(0|([0-9]{1,9}(h|m|s|ms)){1,4})$ : the schema's duration pattern, exactly. Fractions
// ("1.5h") and negative values are refused rather than rounded: a gate timing should read
// the same to the user and to the controller.
std::optional<Duration> ParseDuration(const std::string& text) {
  if (text == "0") return Duration::zero();
  std::string_view rest = text;
  std::int64_t total_ms = 0;
  int parts = 0;
  while (!rest.empty()) {
    if (++parts > 4) return std::nullopt;
    size_t digits = 0;
    std::int64_t value = 0;
    while (digits < rest.size() && IsDigit(rest[digits])) {
      if (digits == 9) return std::nullopt;
      value = value * 10 + (rest[digits] - '0');
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    rest.remove_prefix(digits);
    std::int64_t unit_ms = 0;
    if (rest.starts_with("ms")) {
      unit_ms = 1;
      rest.remove_prefix(2);
    } else if (rest.starts_with("h")) {
      unit_ms = 3'600'000;
      rest.remove_prefix(1);
    } else if (rest.starts_with("m")) {
      unit_ms = 60'000;
      rest.remove_prefix(1);
    } else if (rest.starts_with("s")) {
      unit_ms = 1'000;
      rest.remove_prefix(1);
    } else {
      return std::nullopt;
    }
    // At most 4 parts of 999,999,999 h: about 1.4e16 ms, far inside int64.
    total_ms += value * unit_ms;
  }
  if (parts == 0) return std::nullopt;
  return Duration(total_ms);
}

std::string FormatDuration(Duration d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  const std::pair<std::int64_t, const char*> units[] = {
      {3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}, {1, "ms"}};
  for (const auto& [size, suffix] : units) {
    if (ms >= size) {
      out += std::to_string(ms / size) + suffix;
      ms %= size;
    }
  }
  return out;
}

ParseResult ParseRollout(const nlohmann::json& doc) {
  ParseResult result;
  try {
    Reader r(result.errors);
    Rollout rollout;
    if (!doc.is_object()) {
      r.Fail("", "must be a JSON object with apiVersion, kind, metadata and spec (got " +
                     TypeName(doc) + ")");
      return result;
    }
    r.Object(doc, "", {"apiVersion", "kind", "metadata", "spec"});
    r.Constant(doc, "", "apiVersion", kApiVersion, rollout.api_version);
    r.Constant(doc, "", "kind", kKind, rollout.kind);
    ReadMetadata(r, doc, rollout);
    ReadSpec(r, doc, rollout.spec);
    if (result.errors.empty()) result.rollout = std::move(rollout);
  } catch (const std::exception& e) {
    // Only allocation failures can land here; the promise is "never throws".
    result.rollout.reset();
    result.errors.push_back({"", std::string("internal error while validating: ") + e.what()});
  }
  return result;
}

ParseResult ParseRollout(const std::string& text) {
  // Checked before parsing: the parser's message would quote the offending byte raw, and
  // a message that is not UTF-8 cannot be written into the status.
  if (auto bad = api::FirstInvalidUtf8(text)) {
    const size_t from = *bad > 20 ? *bad - 20 : 0;
    ParseResult result;
    result.errors.push_back({"", "not valid UTF-8 at byte " + std::to_string(*bad) + ", in " +
                                     api::Quote(std::string_view(text).substr(from), 40)});
    return result;
  }
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    // nlohmann prefixes "[json.exception.parse_error.101] "; the position after it is what
    // a user needs.
    std::string what = e.what();
    if (size_t end = what.find("] ");
        what.starts_with("[json.exception") && end != std::string::npos) {
      what = what.substr(end + 2);
    }
    ParseResult result;
    result.errors.push_back({"", "not valid JSON: " + api::Truncate(what, api::kMaxMessageBytes)});
    return result;
  }
  return ParseRollout(doc);
}

json RolloutToJson(const Rollout& rollout) {
  const RolloutSpec& s = rollout.spec;
  json labels = json::object();
  for (const auto& [key, value] : rollout.labels) labels[key] = value;
  json set = json::object();
  for (const auto& [path, value] : s.template_.set) set[path] = value;
  json spec = {
      {"version", s.version},
      {"nomad",
       {{"namespace", s.nomad.namespace_},
        {"job", s.nomad.job},
        {"groups", s.nomad.groups},
        {"service", s.nomad.service}}},
      {"template", {{"task", s.template_.task}, {"set", std::move(set)}}},
      {"strategy",
       {{"blueGreen",
         {{"autoPromote", s.blue_green.auto_promote},
          {"scaleDownDelay", FormatDuration(s.blue_green.scale_down_delay)},
          {"activeTag", s.blue_green.active_tag},
          {"standbyTag", s.blue_green.standby_tag}}}}},
      {"health",
       {{"minHealthyTime", FormatDuration(s.health.min_healthy_time)},
        {"healthyDeadline", FormatDuration(s.health.healthy_deadline)},
        {"progressDeadline", FormatDuration(s.health.progress_deadline)}}},
  };
  if (s.pre_promotion || s.post_promotion) {
    json analysis = json::object();
    if (s.pre_promotion) analysis["prePromotion"] = AnalysisToJson(*s.pre_promotion);
    if (s.post_promotion) analysis["postPromotion"] = AnalysisToJson(*s.post_promotion);
    spec["analysis"] = std::move(analysis);
  }
  return {{"apiVersion", rollout.api_version},
          {"kind", rollout.kind},
          {"metadata", {{"name", rollout.name}, {"labels", std::move(labels)}}},
          {"spec", std::move(spec)}};
}

}  // namespace rollouts::reconcilers
