#include "tests/sandbox_consul/sandbox_harness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

namespace rollouts::sandbox::testing {
namespace {

using ojson = nlohmann::ordered_json;

const char* kTrackedHeaders[] = {"Content-Type", "X-Consul-Index", "X-Consul-Knownleader",
                                 "X-Consul-Lastcontact"};

std::string TypeName(const ojson& value) {
  if (value.is_number()) return "number";  // integer vs unsigned is not a JSON difference
  return value.type_name();
}

bool AllStrings(const ojson& array) {
  return std::all_of(array.begin(), array.end(), [](const ojson& v) { return v.is_string(); });
}

}  // namespace

TestConsul::TestConsul(ConsulAgentOptions options)
    : agent_(std::make_unique<ConsulAgent>(std::move(options))) {
  ConsulAgent* agent = agent_.get();
  server_ = http::StartServer({}, [agent](http::ServerRequest request, http::Responder respond) {
    agent->Handle(std::move(request), std::move(respond));
  });
  client_ = http::MakeClient({server_->base_url(), {}});
}

TestConsul::~TestConsul() {
  agent_->Shutdown();
  server_->Stop();
}

http::Response TestConsul::Send(const std::string& method, const std::string& target,
                                const std::string& body, http::Headers headers,
                                std::chrono::milliseconds timeout) {
  http::Request request;
  request.method = *http::ParseMethod(method);
  request.target = target;
  request.body = body;
  request.headers = std::move(headers);
  request.timeout = timeout;
  http::Result result = client_->Send(request);
  if (!result.ok()) {
    ADD_FAILURE() << method << " " << target << ": " << result.error().message;
    return http::Response{0, {}, ""};
  }
  return result.response();
}

std::vector<std::string> CompareJson(const ojson& recorded, const ojson& actual,
                                     const std::set<std::string>& volatile_keys,
                                     const std::string& where) {
  std::vector<std::string> diffs;
  if (TypeName(recorded) != TypeName(actual)) {
    diffs.push_back(where + ": recorded " + TypeName(recorded) + " " + recorded.dump() +
                    ", sandbox " + TypeName(actual) + " " + actual.dump().substr(0, 200));
    return diffs;
  }
  if (recorded.is_object()) {
    for (auto it = recorded.begin(); it != recorded.end(); ++it) {
      if (!actual.contains(it.key())) {
        diffs.push_back(where + ": missing key " + it.key());
        continue;
      }
      std::string child = where + "." + it.key();
      if (volatile_keys.count(it.key())) {
        if (TypeName(it.value()) != TypeName(actual[it.key()]))
          diffs.push_back(child + ": type " + TypeName(actual[it.key()]) + ", recorded " +
                          TypeName(it.value()));
        continue;
      }
      auto sub = CompareJson(it.value(), actual[it.key()], volatile_keys, child);
      diffs.insert(diffs.end(), sub.begin(), sub.end());
    }
    for (auto it = actual.begin(); it != actual.end(); ++it) {
      if (!recorded.contains(it.key())) diffs.push_back(where + ": extra key " + it.key());
    }
  } else if (recorded.is_array()) {
    if (recorded.size() != actual.size()) {
      diffs.push_back(where + ": " + std::to_string(actual.size()) + " elements, recorded " +
                      std::to_string(recorded.size()));
      return diffs;
    }
    if (AllStrings(recorded) && AllStrings(actual)) {
      std::vector<std::string> a = recorded.get<std::vector<std::string>>();
      std::vector<std::string> b = actual.get<std::vector<std::string>>();
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      if (a != b) diffs.push_back(where + ": " + actual.dump() + ", recorded " + recorded.dump());
      return diffs;
    }
    for (size_t i = 0; i < recorded.size(); ++i) {
      auto sub =
          CompareJson(recorded[i], actual[i], volatile_keys, where + "[" + std::to_string(i) + "]");
      diffs.insert(diffs.end(), sub.begin(), sub.end());
    }
  } else if (recorded.is_string() && where.size() > 5 &&
             where.substr(where.size() - 5) == ".What") {
    // Error texts quote the current raft index; compare them with numbers masked.
    static const std::regex kDigits("[0-9]+");
    if (std::regex_replace(recorded.get<std::string>(), kDigits, "N") !=
        std::regex_replace(actual.get<std::string>(), kDigits, "N")) {
      diffs.push_back(where + ": " + actual.dump() + ", recorded " + recorded.dump());
    }
  } else if (recorded != actual) {
    diffs.push_back(where + ": " + actual.dump() + ", recorded " + recorded.dump());
  }
  return diffs;
}

Replayer::Replayer(TestConsul& consul, std::set<std::string> volatile_keys)
    : consul_(consul), volatile_keys_(std::move(volatile_keys)) {}

uint64_t Replayer::MapIndex(uint64_t recorded) const {
  auto it = indexes_.upper_bound(recorded);
  if (it == indexes_.begin()) return recorded;
  --it;
  return it->second + (recorded - it->first);
}

std::string Replayer::MapIds(std::string text) const {
  for (const auto& [recorded, mine] : ids_) {
    for (size_t at = text.find(recorded); at != std::string::npos;
         at = text.find(recorded, at + mine.size())) {
      text.replace(at, recorded.size(), mine);
    }
  }
  return text;
}

ReplayResult Replayer::Send(const ::rollouts::testing::Fixture& fixture) {
  std::string target = MapIds(fixture.path);
  // ?index= and ?cas= carry recorded raft indexes.
  static const std::regex kIndexParam("([?&](index|cas)=)([0-9]+)");
  std::string translated;
  auto begin = std::sregex_iterator(target.begin(), target.end(), kIndexParam);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    translated += target.substr(last, it->position() - last);
    translated += (*it)[1].str() + std::to_string(MapIndex(std::stoull((*it)[3].str())));
    last = it->position() + it->length();
  }
  translated += target.substr(last);

  std::string body = MapIds(fixture.RequestBodyBytes());
  if (fixture.path == "/v1/txn" && fixture.request_body.is_array()) {
    ojson ops = fixture.request_body;
    for (auto& op : ops) {
      if (op.contains("KV") && op["KV"].contains("Index") && op["KV"]["Index"].is_number()) {
        op["KV"]["Index"] = MapIndex(op["KV"]["Index"].get<uint64_t>());
      }
    }
    body = MapIds(::rollouts::testing::PythonJsonDumps(ops));
  }
  http::Headers headers;
  for (auto it = fixture.request_headers.begin(); it != fixture.request_headers.end(); ++it) {
    headers[it.key()] = it.value().get<std::string>();
  }
  auto start = std::chrono::steady_clock::now();
  ReplayResult result;
  result.response = consul_.Send(fixture.method, translated, body, headers);
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  return result;
}

void Replayer::LearnIndexes(const ojson& recorded, const ojson& actual) {
  if (recorded.is_object() && actual.is_object()) {
    for (const char* key : {"CreateIndex", "ModifyIndex"}) {
      if (recorded.contains(key) && actual.contains(key) && recorded[key].is_number() &&
          actual[key].is_number()) {
        // Never over a header's mapping: entries of health bodies have their own history.
        indexes_.emplace(recorded[key].get<uint64_t>(), actual[key].get<uint64_t>());
      }
    }
    for (auto it = recorded.begin(); it != recorded.end(); ++it) {
      if (actual.contains(it.key())) LearnIndexes(it.value(), actual[it.key()]);
    }
  } else if (recorded.is_array() && actual.is_array() && recorded.size() == actual.size()) {
    for (size_t i = 0; i < recorded.size(); ++i) LearnIndexes(recorded[i], actual[i]);
  }
}

void Replayer::Check(const ::rollouts::testing::Fixture& fixture, const ReplayResult& result) {
  SCOPED_TRACE(fixture.file);
  const http::Response& response = result.response;
  EXPECT_EQ(response.status, fixture.status) << response.body;
  for (const char* name : kTrackedHeaders) {
    bool recorded = fixture.response_headers.count(name) > 0;
    bool mine = response.headers.count(name) > 0;
    EXPECT_EQ(mine, recorded) << "header " << name;
    if (recorded && mine && std::string(name) != "X-Consul-Index") {
      EXPECT_EQ(response.headers.at(name), fixture.response_headers.at(name)) << name;
    }
  }
  if (fixture.response_headers.count("X-Consul-Index") &&
      response.headers.count("X-Consul-Index")) {
    uint64_t recorded = std::stoull(fixture.response_headers.at("X-Consul-Index"));
    uint64_t mine = std::stoull(response.headers.at("X-Consul-Index"));
    indexes_[recorded] = mine;
    last_index_ = mine;
  }
  auto content_type = fixture.response_headers.find("Content-Type");
  bool json = content_type != fixture.response_headers.end() &&
              content_type->second.find("json") != std::string::npos;
  if (!json) {
    EXPECT_EQ(response.body,
              MapIds(fixture.response_body.is_string() ? fixture.response_body.get<std::string>()
                                                       : fixture.response_body_raw));
    return;
  }
  ojson actual;
  try {
    actual = ojson::parse(response.body);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << response.body;
    return;
  }
  if (fixture.path == "/v1/session/create" && fixture.response_body.contains("ID") &&
      actual.contains("ID")) {
    ids_[fixture.response_body["ID"].get<std::string>()] = actual["ID"].get<std::string>();
  }
  ojson recorded = fixture.response_body;
  if (fixture.path.rfind("/v1/session/", 0) == 0 && recorded.is_array()) {
    // Consul lists sessions by ID; the sandbox's IDs differ, so is its order: put the
    // recorded entries in the order of the IDs they map to.
    std::stable_sort(recorded.begin(), recorded.end(), [this](const ojson& a, const ojson& b) {
      return MapIds(a.value("ID", "")) < MapIds(b.value("ID", ""));
    });
    for (size_t i = 1; i < actual.size(); ++i) {
      EXPECT_LT(actual[i - 1].value("ID", ""), actual[i].value("ID", "")) << "not sorted by ID";
    }
  }
  LearnIndexes(recorded, actual);
  for (const auto& diff : CompareJson(recorded, actual, volatile_keys_)) {
    ADD_FAILURE() << diff;
  }
}

std::vector<::rollouts::testing::Fixture> ConsulFixtures(int first, int last) {
  std::vector<::rollouts::testing::Fixture> out;
  for (auto& fixture : ::rollouts::testing::LoadFixtures("consul")) {
    std::string name = fixture.file.substr(fixture.file.find('/') + 1);
    int number = std::stoi(name.substr(0, 3));
    if (number >= first && number <= last) out.push_back(std::move(fixture));
  }
  return out;
}

}  // namespace rollouts::sandbox::testing
