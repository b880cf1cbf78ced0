#include "tests/support/fixture_server.h"

#include <gtest/gtest.h>

namespace rollouts::testing {
namespace {

TEST(PythonJsonDumps, MatchesPythonDefaultSeparatorsAndOrder) {
  auto v = nlohmann::ordered_json::parse(R"({"b": [1, 2.5, null], "a": {"x": "é\n"}, "c": true})");
  EXPECT_EQ(PythonJsonDumps(v), R"({"b": [1, 2.5, null], "a": {"x": "\u00e9\n"}, "c": true})");
}

TEST(Fixtures, EveryRecordedExchangeLoads) {
  for (const char* dir : {"consul", "nomad"}) {
    auto all = LoadFixtures(dir);
    EXPECT_GT(all.size(), 50u) << dir;
    for (const auto& f : all) {
      EXPECT_FALSE(f.method.empty()) << f.file;
      EXPECT_EQ(f.path.rfind("/v1/", 0), 0u) << f.file;
      EXPECT_GE(f.status, 200) << f.file;
    }
  }
}

TEST(Fixtures, KvValueBytesAreWhatTheRecordingSent) {
  // 008 returns the value written by 006 (cas=0 create); base64 of its body bytes.
  Fixture put = LoadFixture("consul/006-kv-put-cas0-create.json");
  Fixture get = LoadFixture("consul/008-kv-get-single.json");
  std::string b64 = get.response_body[0]["Value"].get<std::string>();
  // Decode base64 by hand (tiny, test-only).
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string decoded;
  int val = 0, bits = -8;
  for (char c : b64) {
    if (c == '=') break;
    val = (val << 6) + static_cast<int>(kAlphabet.find(c));
    bits += 6;
    if (bits >= 0) {
      decoded.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  EXPECT_EQ(decoded, put.RequestBodyBytes());
}

TEST(FixtureServer, ReplaysInOrderAndRejectsUnknownRequests) {
  FixtureServer server(LoadFixtures("consul"));
  auto client = http::MakeClient({server.base_url(), {}});
  http::Result r = client->Send({http::Method::kGet, "/v1/status/leader", {}, "", {}, {}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.response().status, 200);
  EXPECT_EQ(r.response().body, "\"127.0.0.1:8300\"");
  EXPECT_EQ(r.response().Header("X-Consul-Index").value_or(""), "");
  http::Result again = client->Send({http::Method::kGet, "/v1/status/leader", {}, "", {}, {}});
  EXPECT_EQ(again.response().status, 599);  // used up
  EXPECT_EQ(server.received().size(), 2u);
}

}  // namespace
}  // namespace rollouts::testing
