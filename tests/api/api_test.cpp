// The decode boundary (api/): every decoder returns a value or a reason for any bytes, and
// whatever it keeps or says is valid, bounded UTF-8.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/control.h"
#include "api/declared_version.h"
#include "api/router_report.h"
#include "api/text.h"

namespace rollouts::api {
namespace {

using ::testing::HasSubstr;

bool ValidUtf8(std::string_view text) {
  return !FirstInvalidUtf8(text).has_value();
}

// --- FirstInvalidUtf8 ------------------------------------------------------------------

struct Utf8Case {
  const char* name;
  std::string text;
  std::optional<size_t> first_invalid;
};

std::vector<Utf8Case> Utf8Cases() {
  return {
      {"Empty", "", std::nullopt},
      {"Ascii", "hello, world {\"a\": 1}", std::nullopt},
      {"EmbeddedNul", std::string("a\0b", 3), std::nullopt},
      {"TwoByte", "h\xC3\xA9llo", std::nullopt},               // é
      {"ThreeByte", "\xE2\x82\xAC 5", std::nullopt},           // €
      {"FourByte", "\xF0\x9F\x98\x80!", std::nullopt},         // U+1F600
      {"LastBeforeSurrogates", "\xED\x9F\xBF", std::nullopt},  // U+D7FF
      {"FirstAfterSurrogates", "\xEE\x80\x80", std::nullopt},  // U+E000
      {"HighestCodePoint", "\xF4\x8F\xBF\xBF", std::nullopt},  // U+10FFFF
      {"SmallestThreeByte", "\xE0\xA0\x80", std::nullopt},     // U+0800
      {"SmallestFourByte", "\xF0\x90\x80\x80", std::nullopt},  // U+10000
      {"LoneContinuation",
       "ab\x80"
       "cd",
       2},
      {"ContinuationAfterValid", "\xC3\xA9\x80", 2},
      {"ByteFF", "\xFF", 0},
      {"ByteFEInText", "ok \xFE", 3},
      {"OverlongTwoByte", "a\xC0\xAF", 1},  // '/' as 2 bytes
      {"OverlongC1", "\xC1\xBF", 0},
      {"OverlongThreeByte", "\xE0\x80\x80", 0},
      {"OverlongFourByte", "\xF0\x8F\xBF\xBF", 0},
      {"Surrogate", "xx\xED\xA0\x80", 2},            // U+D800
      {"LastSurrogate", "\xED\xBF\xBF", 0},          // U+DFFF
      {"AboveMaxCodePoint", "\xF4\x90\x80\x80", 0},  // U+110000
      {"LeadF5", "\xF5\x80\x80\x80", 0},
      {"BadSecondContinuation", "\xE2\x28\xA1", 0},
      {"BadThirdContinuation", "\xF0\x9F\x98\x28", 0},
      {"TruncatedTwoByteAtEnd", "abc\xC3", 3},
      {"TruncatedThreeByteAtEnd", "abc\xE2\x82", 3},
      {"TruncatedFourByteAtEnd", "\xF0\x9F\x98", 0},
  };
}

class FirstInvalidUtf8Table : public ::testing::TestWithParam<Utf8Case> {};

TEST_P(FirstInvalidUtf8Table, FindsTheFirstBadByte) {
  const Utf8Case& c = GetParam();
  EXPECT_EQ(FirstInvalidUtf8(c.text), c.first_invalid);
}

INSTANTIATE_TEST_SUITE_P(Cases, FirstInvalidUtf8Table, ::testing::ValuesIn(Utf8Cases()),
                         [](const ::testing::TestParamInfo<Utf8Case>& info) {
                           return std::string(info.param.name);
                         });

// --- Quote -----------------------------------------------------------------------------

TEST(Quote, EscapesLikeJsonAndShowsInvalidBytesAsHex) {
  EXPECT_EQ(Quote("plain"), "\"plain\"");
  EXPECT_EQ(Quote("a\nb"), "\"a\\nb\"");
  EXPECT_EQ(Quote("a\r\tb"), "\"a\\r\\tb\"");
  EXPECT_EQ(Quote("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(Quote("C:\\dir"), "\"C:\\\\dir\"");
  EXPECT_EQ(Quote(std::string("\x01\x1F\x7F", 3)), "\"\\u0001\\u001F\\u007F\"");
  EXPECT_EQ(Quote(std::string("nul\0", 4)), "\"nul\\u0000\"");
  EXPECT_EQ(Quote("a\xFF"
                  "b"),
            "\"a\\xFFb\"");
  EXPECT_EQ(Quote("\xC0\xAF"), "\"\\xC0\\xAF\"");
  // Valid multi-byte characters are kept as they are.
  EXPECT_EQ(Quote("h\xC3\xA9llo \xF0\x9F\x98\x80"), "\"h\xC3\xA9llo \xF0\x9F\x98\x80\"");
}

TEST(Quote, CutsAfterMaxCharsAndSaysHowManyBytesWereLeftOut) {
  const std::string long_text(100'000, 'x');
  EXPECT_EQ(Quote(long_text, 60), "\"" + std::string(60, 'x') + "\" (+99940 bytes)");
  EXPECT_EQ(Quote(long_text, 10), "\"xxxxxxxxxx\" (+99990 bytes)");
  // Characters, not bytes: two euro signs are six bytes.
  EXPECT_EQ(Quote("\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC", 2),
            "\"\xE2\x82\xAC\xE2\x82\xAC\" (+3 bytes)");
  // Exactly max_chars: no marker.
  EXPECT_EQ(Quote(std::string(60, 'y'), 60), "\"" + std::string(60, 'y') + "\"");
  EXPECT_THAT(Quote(std::string(61, 'y'), 60), HasSubstr("(+1 bytes)"));
}

TEST(Quote, IsValidUtf8AndBoundedWhateverTheInput) {
  const std::vector<std::string> inputs = {
      std::string(300'000, '\xFF'),
      std::string(300'000, '\x01'),
      std::string(300'000, '"'),
      "\xF0\x9F\x98",  // truncated sequence
      std::string(1000, '\xE2') + "\x82\xAC",
  };
  for (const std::string& in : inputs) {
    const std::string out = Quote(in);
    EXPECT_TRUE(ValidUtf8(out)) << out;
    // 60 characters of at most 6 bytes each ("\u0001"), the quotes and the marker.
    EXPECT_LE(out.size(), 60u * 6 + 2 + 32) << out;
    if (in.size() > 60 * 4) {
      EXPECT_THAT(out, HasSubstr(" bytes)")) << out.substr(0, 80);
    }
  }
}

// --- Truncate --------------------------------------------------------------------------

// The kept text and the number of bytes the marker says were cut; nullopt without marker.
std::optional<std::pair<std::string, size_t>> SplitMarker(const std::string& out) {
  const size_t at = out.rfind("...[+");
  if (at == std::string::npos || out.size() < 7 || out.substr(out.size() - 7) != " bytes]") {
    return std::nullopt;
  }
  const std::string digits = out.substr(at + 5, out.size() - 7 - (at + 5));
  return std::make_pair(out.substr(0, at), static_cast<size_t>(std::stoull(digits)));
}

TEST(Truncate, LeavesShortValidTextUnchanged) {
  EXPECT_EQ(Truncate("hello", 64), "hello");
  EXPECT_EQ(Truncate("", 64), "");
  EXPECT_EQ(Truncate(std::string(64, 'a'), 64), std::string(64, 'a'));
  EXPECT_EQ(Truncate("h\xC3\xA9llo \xF0\x9F\x98\x80", 64), "h\xC3\xA9llo \xF0\x9F\x98\x80");
}

TEST(Truncate, NeverExceedsMaxBytes) {
  const std::vector<std::string> inputs = {
      std::string(65, 'a'),
      std::string(300'000, 'a'),
      [] {
        std::string s;
        for (int i = 0; i < 50'000; ++i) s += "\xE2\x82\xAC";  // €
        return s;
      }(),
      [] {
        std::string s;
        for (int i = 0; i < 50'000; ++i) s += "\xF0\x9F\x98\x80";
        return s;
      }(),
      std::string(300'000, '\xFF'),
      std::string(30, '\xFF'),  // 30 bytes in, 90 bytes once replaced
      "a\xC3\xA9\xFF\xE2\x82\xAC\xF0\x9F\x98\x80" + std::string(1000, 'z'),
  };
  for (size_t max : {64, 65, 66, 67, 100, 128, 1024}) {
    for (const std::string& in : inputs) {
      const std::string out = Truncate(in, max);
      EXPECT_LE(out.size(), max) << "max " << max << ", input of " << in.size() << " bytes";
      EXPECT_TRUE(ValidUtf8(out)) << "max " << max << ": " << Quote(out, 200);
    }
  }
}

TEST(Truncate, CutsOnACharacterBoundaryAndSaysHowManyBytesWereCut) {
  std::string euros;
  for (int i = 0; i < 1000; ++i) euros += "\xE2\x82\xAC";
  for (size_t max : {64, 100, 128, 1024}) {
    const std::string out = Truncate(euros, max);
    auto split = SplitMarker(out);
    ASSERT_TRUE(split) << out;
    const auto& [kept, cut] = *split;
    EXPECT_EQ(kept.size() % 3, 0u) << max;
    EXPECT_EQ(euros.compare(0, kept.size(), kept), 0) << "the kept text is a prefix";
    EXPECT_EQ(kept.size() + cut, euros.size()) << max;
    EXPECT_GT(kept.size(), 0u) << max;
  }
  std::string emoji;
  for (int i = 0; i < 100; ++i) emoji += "\xF0\x9F\x98\x80";
  auto split = SplitMarker(Truncate(emoji, 66));
  ASSERT_TRUE(split);
  EXPECT_EQ(split->first.size() % 4, 0u);
  EXPECT_EQ(split->first.size() + split->second, emoji.size());
}

TEST(Truncate, ReplacesInvalidBytes) {
  EXPECT_EQ(Truncate("a\xFF"
                     "b",
                     64),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(Truncate("\xC0\xAF", 64), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(Truncate("ok\xE2\x82", 64), "ok\xEF\xBF\xBD\xEF\xBF\xBD");
  // Replacement grows the text: 40 invalid bytes become 120 bytes, more than 64.
  const std::string out = Truncate(std::string(40, '\xFF'), 64);
  EXPECT_LE(out.size(), 64u);
  EXPECT_TRUE(ValidUtf8(out));
  auto split = SplitMarker(out);
  ASSERT_TRUE(split) << out;
  EXPECT_EQ(split->first.find('\xFF'), std::string::npos);
}

// --- DecodeControl ---------------------------------------------------------------------

void ExpectBoundedUtf8(const ControlRequest& r) {
  EXPECT_TRUE(ValidUtf8(r.id)) << Quote(r.id);
  EXPECT_TRUE(ValidUtf8(r.invalid)) << Quote(r.invalid);
  EXPECT_TRUE(ValidUtf8(r.verb_text)) << Quote(r.verb_text);
  EXPECT_LE(r.id.size(), kMaxIdBytes);
  EXPECT_LE(r.verb_text.size(), kMaxIdBytes);
  EXPECT_LE(r.invalid.size(), kMaxMessageBytes);
}

TEST(DecodeControl, AValidCommand) {
  ControlRequest r = DecodeControl(R"({"id": "c-1", "verb": "promote"})", 5);
  EXPECT_EQ(r.invalid, "");
  EXPECT_EQ(r.id, "c-1");
  EXPECT_EQ(r.verb, ControlVerb::kPromote);
  for (ControlVerb v : {ControlVerb::kPromote, ControlVerb::kAbort, ControlVerb::kRetry,
                        ControlVerb::kPause, ControlVerb::kResume, ControlVerb::kUndo}) {
    const std::string name(ControlVerbName(v));
    ControlRequest each = DecodeControl(R"({"id":"x","verb":")" + name + "\"}", 5);
    EXPECT_EQ(each.invalid, "") << name;
    EXPECT_EQ(each.verb, v) << name;
  }
}

TEST(DecodeControl, AnUnknownVerbNamesItAndListsTheVerbs) {
  ControlRequest r = DecodeControl(R"({"id": "c-2", "verb": "rollback"})", 5);
  EXPECT_THAT(r.invalid, HasSubstr("\"rollback\""));
  EXPECT_THAT(r.invalid, HasSubstr("promote, abort, retry, pause, resume, undo"));
  EXPECT_EQ(r.id, "c-2");  // acknowledged under its own id
  EXPECT_EQ(r.verb_text, "rollback");
  ExpectBoundedUtf8(r);
}

TEST(DecodeControl, WrongTypes) {
  ControlRequest id_number = DecodeControl(R"({"id": 42, "verb": "promote"})", 9);
  EXPECT_THAT(id_number.invalid, HasSubstr("\"id\" must be a string"));
  EXPECT_THAT(id_number.invalid, HasSubstr("number"));
  EXPECT_EQ(id_number.id, "@9");

  ControlRequest verb_array = DecodeControl(R"({"id": "c-3", "verb": ["promote"]})", 9);
  EXPECT_THAT(verb_array.invalid, HasSubstr("\"verb\" must be a string"));
  EXPECT_THAT(verb_array.invalid, HasSubstr("array"));
  EXPECT_EQ(verb_array.id, "c-3");

  ControlRequest empty_id = DecodeControl(R"({"id": "", "verb": "promote"})", 9);
  EXPECT_THAT(empty_id.invalid, HasSubstr("empty"));
  EXPECT_EQ(empty_id.id, "@9");
}

TEST(DecodeControl, AMissingIdIsAcknowledgedUnderTheModifyIndex) {
  ControlRequest r = DecodeControl(R"({"verb": "promote"})", 77);
  EXPECT_THAT(r.invalid, HasSubstr("missing \"id\""));
  EXPECT_EQ(r.id, "@77");
  ControlRequest no_verb = DecodeControl(R"({"id": "c-4"})", 78);
  EXPECT_THAT(no_verb.invalid, HasSubstr("missing \"verb\""));
  EXPECT_EQ(no_verb.id, "c-4");
}

TEST(DecodeControl, NotAnObject) {
  ControlRequest not_json = DecodeControl("promote please", 11);
  EXPECT_THAT(not_json.invalid, HasSubstr("not JSON"));
  EXPECT_THAT(not_json.invalid, HasSubstr("\"promote please\""));
  EXPECT_EQ(not_json.id, "@11");

  ControlRequest array = DecodeControl(R"(["promote"])", 12);
  EXPECT_THAT(array.invalid, HasSubstr("JSON object"));
  EXPECT_THAT(array.invalid, HasSubstr("array"));
  EXPECT_EQ(array.id, "@12");

  ControlRequest empty = DecodeControl("", 13);
  EXPECT_NE(empty.invalid, "");
  EXPECT_EQ(empty.id, "@13");
}

TEST(DecodeControl, InvalidUtf8IsRefusedWithTheOffset) {
  const std::string doc = "{\"id\": \"c\xFF\", \"verb\": \"promote\"}";
  ControlRequest r = DecodeControl(doc, 14);
  EXPECT_THAT(r.invalid, HasSubstr("UTF-8"));
  EXPECT_THAT(r.invalid, HasSubstr("byte 9"));
  EXPECT_THAT(r.invalid, HasSubstr("\\xFF"));
  EXPECT_EQ(r.id, "@14");
  ExpectBoundedUtf8(r);
}

TEST(DecodeControl, AHugeIdIsRefusedAndNotKept) {
  const std::string doc = R"({"id": ")" + std::string(300 * 1024, 'i') + R"(", "verb": "promote"})";
  ControlRequest r = DecodeControl(doc, 15);
  EXPECT_NE(r.invalid, "");
  EXPECT_THAT(r.invalid, HasSubstr(std::to_string(doc.size()) + " bytes"));
  EXPECT_LE(r.id.size(), kMaxIdBytes);
  ExpectBoundedUtf8(r);
}

TEST(DecodeControl, AnIdOverTheLimitIsRefusedUnderItsIndex) {
  const std::string id(1000, 'k');
  ControlRequest r = DecodeControl(R"({"id": ")" + id + R"(", "verb": "promote"})", 16);
  EXPECT_THAT(r.invalid, HasSubstr("1000 bytes"));
  // Not the id cut short: two long ids with the same beginning would be one command.
  EXPECT_EQ(r.id, "@16");
  ExpectBoundedUtf8(r);
  ControlRequest other = DecodeControl(R"({"id": ")" + id + R"(", "verb": "abort"})", 17);
  EXPECT_NE(other.id, r.id);
  // An id of exactly the limit is fine.
  ControlRequest at_limit =
      DecodeControl(R"({"id": ")" + std::string(kMaxIdBytes, 'k') + R"(", "verb": "promote"})", 16);
  EXPECT_EQ(at_limit.invalid, "");
  EXPECT_EQ(at_limit.id, std::string(kMaxIdBytes, 'k'));
}

TEST(DecodeControl, AnUnknownFieldIsRefused) {
  ControlRequest r = DecodeControl(R"({"id": "c-5", "verb": "promote", "force": true})", 17);
  EXPECT_THAT(r.invalid, HasSubstr("\"force\""));
  EXPECT_EQ(r.id, "c-5");
}

TEST(DecodeControl, ADocumentOverTheLimitIsRefusedUnparsed) {
  const std::string doc =
      R"({"id": "c-6", "verb": "promote"})" + std::string(kMaxControlBytes, ' ');
  ControlRequest r = DecodeControl(doc, 18);
  EXPECT_THAT(r.invalid, HasSubstr(std::to_string(kMaxControlBytes)));
  EXPECT_EQ(r.id, "@18");
  // Just under the limit, the same command is fine.
  const std::string fits = R"({"id": "c-6", "verb": "promote"})";
  EXPECT_EQ(DecodeControl(fits + std::string(kMaxControlBytes - fits.size(), ' '), 18).invalid, "");
}

TEST(DecodeControl, EveryRefusalIsBoundedUtf8) {
  const std::vector<std::string> docs = {
      "",
      "null",
      "42",
      "\"promote\"",
      std::string(4000, '{'),
      std::string(4000, '\xFF'),
      R"({"id": ")" + std::string(3000, '\x01') + R"(", "verb": "x"})",
      R"({"id": "a", "verb": ")" + std::string(3000, 'v') + R"("})",
      R"({")" + std::string(3000, 'f') + R"(": 1, "id": "a", "verb": "promote"})",
      R"({"id": "\u00e9\ud83d\ude00", "verb": "nope"})",
  };
  for (const std::string& doc : docs) {
    ControlRequest r = DecodeControl(doc, 19);
    EXPECT_NE(r.invalid, "") << Quote(doc);
    ExpectBoundedUtf8(r);
  }
}

// --- DecodeRouterReport ----------------------------------------------------------------

const std::string* ErrorOf(const std::variant<RouterReportDocument, std::string>& v) {
  return std::get_if<std::string>(&v);
}

TEST(DecodeRouterReport, AValidReport) {
  auto v = DecodeRouterReport(R"({
    "id": "router-a",
    "services": {
      "hello": {"version": "v2", "appliedAt": "2026-11-23T09:41:21.000Z",
                "backends": [{"address": "10.0.0.1", "port": 8080}]},
      "other": {}
    },
    "pid": 4242
  })");
  ASSERT_TRUE(std::holds_alternative<RouterReportDocument>(v)) << *ErrorOf(v);
  const auto& doc = std::get<RouterReportDocument>(v);
  EXPECT_EQ(doc.id, "router-a");
  ASSERT_EQ(doc.services.size(), 2u);
  EXPECT_EQ(doc.services.at("hello").version, "v2");
  EXPECT_EQ(doc.services.at("hello").applied_at, "2026-11-23T09:41:21.000Z");
  EXPECT_EQ(doc.services.at("other").version, "");
}

TEST(DecodeRouterReport, ServicesNotAnObject) {
  auto v = DecodeRouterReport(R"({"services": "x"})");
  ASSERT_TRUE(ErrorOf(v));
  EXPECT_THAT(*ErrorOf(v), HasSubstr("/services"));
  EXPECT_THAT(*ErrorOf(v), HasSubstr("string"));
}

TEST(DecodeRouterReport, AnEntryNotAnObject) {
  auto v = DecodeRouterReport(R"({"services": {"hello": "v2"}})");
  ASSERT_TRUE(ErrorOf(v));
  EXPECT_THAT(*ErrorOf(v), HasSubstr("/services/hello"));
  EXPECT_THAT(*ErrorOf(v), HasSubstr("object"));
}

TEST(DecodeRouterReport, AVersionThatIsANumber) {
  auto v = DecodeRouterReport(R"({"services": {"hello": {"version": 2}}})");
  ASSERT_TRUE(ErrorOf(v));
  EXPECT_THAT(*ErrorOf(v), HasSubstr("/services/hello/version"));
  EXPECT_THAT(*ErrorOf(v), HasSubstr("number"));
}

TEST(DecodeRouterReport, AnIdThatIsNotAString) {
  auto v = DecodeRouterReport(R"({"id": ["r"], "services": {}})");
  ASSERT_TRUE(ErrorOf(v));
  EXPECT_THAT(*ErrorOf(v), HasSubstr("id"));
}

TEST(DecodeRouterReport, InvalidUtf8) {
  auto v = DecodeRouterReport("{\"services\": {\"hello\": {\"version\": \"v\xFF\"}}}");
  ASSERT_TRUE(ErrorOf(v));
  EXPECT_THAT(*ErrorOf(v), HasSubstr("UTF-8"));
  EXPECT_THAT(*ErrorOf(v), HasSubstr("byte 37"));
  EXPECT_TRUE(ValidUtf8(*ErrorOf(v)));
}

TEST(DecodeRouterReport, NotJson) {
  auto v = DecodeRouterReport("services: x");
  ASSERT_TRUE(ErrorOf(v));
  EXPECT_THAT(*ErrorOf(v), HasSubstr("not JSON"));
  auto array = DecodeRouterReport("[]");
  ASSERT_TRUE(ErrorOf(array));
  EXPECT_THAT(*ErrorOf(array), HasSubstr("array"));
}

TEST(DecodeRouterReport, MissingServices) {
  auto v = DecodeRouterReport(R"({"id": "router-a"})");
  ASSERT_TRUE(ErrorOf(v));
  EXPECT_THAT(*ErrorOf(v), HasSubstr("services"));
}

TEST(DecodeRouterReport, OversizeInputIsRefusedAndTheErrorStaysSmall) {
  auto big = DecodeRouterReport(R"({"services": {}, "pad": ")" +
                                std::string(kMaxRouterReportBytes, 'p') + "\"}");
  ASSERT_TRUE(ErrorOf(big));
  EXPECT_LE(ErrorOf(big)->size(), kMaxMessageBytes);

  auto long_version = DecodeRouterReport(R"({"services": {"hello": {"version": ")" +
                                         std::string(100'000, 'v') + "\"}}}");
  ASSERT_TRUE(ErrorOf(long_version));
  EXPECT_THAT(*ErrorOf(long_version), HasSubstr("/services/hello/version"));
  EXPECT_LE(ErrorOf(long_version)->size(), kMaxMessageBytes);

  auto long_name =
      DecodeRouterReport(R"({"services": {")" + std::string(100'000, 's') + "\": {}}}");
  ASSERT_TRUE(ErrorOf(long_name));
  EXPECT_LE(ErrorOf(long_name)->size(), kMaxMessageBytes);
  EXPECT_TRUE(ValidUtf8(*ErrorOf(long_name)));
}

// --- DecodeDeclaredVersion -------------------------------------------------------------

using Declared = std::variant<std::optional<std::string>, std::string>;

std::optional<std::string> VersionOf(const Declared& d) {
  EXPECT_TRUE(std::holds_alternative<std::optional<std::string>>(d))
      << "error: " << std::get<std::string>(d);
  return std::holds_alternative<std::optional<std::string>>(d)
             ? std::get<std::optional<std::string>>(d)
             : std::nullopt;
}

TEST(DecodeDeclaredVersion, AbsentOrEmptyIsNone) {
  EXPECT_EQ(VersionOf(DecodeDeclaredVersion("{}")), std::nullopt);
  EXPECT_EQ(VersionOf(DecodeDeclaredVersion(R"({"activeVersion": ""})")), std::nullopt);
  EXPECT_EQ(VersionOf(DecodeDeclaredVersion(R"({"activeVersion": null})")), std::nullopt);
}

TEST(DecodeDeclaredVersion, AStringIsTheVersion) {
  EXPECT_EQ(VersionOf(DecodeDeclaredVersion(R"({"phase": "Healthy", "activeVersion": "v2"})")),
            "v2");
}

TEST(DecodeDeclaredVersion, AnythingElseIsAnError) {
  for (const std::string& bad :
       {std::string(R"({"activeVersion": 2})"), std::string(R"({"activeVersion": ["v2"]})"),
        std::string("garbage"), std::string("[\"v2\"]"), std::string(""),
        std::string("{\"activeVersion\": \"v\xFF\"}"),
        R"({"activeVersion": ")" + std::string(1000, 'v') + "\"}"}) {
    Declared d = DecodeDeclaredVersion(bad);
    ASSERT_TRUE(std::holds_alternative<std::string>(d)) << Quote(bad);
    const std::string& why = std::get<std::string>(d);
    EXPECT_NE(why, "");
    EXPECT_TRUE(ValidUtf8(why)) << Quote(why);
    EXPECT_LE(why.size(), kMaxMessageBytes);
  }
  EXPECT_THAT(std::get<std::string>(DecodeDeclaredVersion(R"({"activeVersion": 2})")),
              HasSubstr("number"));
}

TEST(DecodeControl, AnIdStartingWithAtIsReserved) {
  // "@<index>" names commands without a usable id; a user's "@17" must not collide with it.
  ControlRequest r = DecodeControl(R"({"id": "@17", "verb": "promote"})", 21);
  EXPECT_THAT(r.invalid, HasSubstr("'@'"));
  EXPECT_EQ(r.id, "@21");
}

TEST(TrimSpace, DropsLeadingAndTrailingWhitespaceOnly) {
  EXPECT_EQ(TrimSpace(" \t\r\n a b \v\f\n"), "a b");
  EXPECT_EQ(TrimSpace("a"), "a");
  EXPECT_EQ(TrimSpace(" \n\t "), "");
  EXPECT_EQ(TrimSpace(""), "");
  EXPECT_EQ(TrimSpace("\xC3\xA9 "), "\xC3\xA9") << "bytes above 0x7F are not space";
}

}  // namespace
}  // namespace rollouts::api
