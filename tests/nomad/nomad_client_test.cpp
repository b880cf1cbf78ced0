// Nomad client behaviour beyond decoding: read-modify-write fidelity, the token, query
// parameters, retry safety per call, cancellation and error classification.
#include <glog/logging.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "clients/http/server.h"
#include "tests/nomad/nomad_test_util.h"

namespace rollouts::nomad::test {
namespace {

using nlohmann::json;

// A scripted agent: answers each request with handler(request), recording them.
class StubAgent {
 public:
  using Answer = std::function<http::Response(const http::ServerRequest&)>;
  explicit StubAgent(Answer answer) : answer_(std::move(answer)) {
    server_ = http::StartServer({}, [this](http::ServerRequest req, http::Responder respond) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        received_.push_back(req);
      }
      respond(answer_(req));
    });
  }
  std::string base_url() const { return server_->base_url(); }
  std::vector<http::ServerRequest> received() const {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  Answer answer_;
  mutable std::mutex mu_;
  std::vector<http::ServerRequest> received_;
  std::unique_ptr<http::Server> server_;
};

http::Response Text(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers["Content-Type"] = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

http::Response Json(int status, const json& body, uint64_t index = 0) {
  http::Response r;
  r.status = status;
  r.headers["Content-Type"] = "application/json";
  if (index > 0) r.headers["X-Nomad-Index"] = std::to_string(index);
  r.body = body.dump();
  return r;
}

NomadClientOptions RetryingOptions(const std::string& base_url) {
  NomadClientOptions options = FastOptions(base_url);
  options.retry.max_attempts = 3;
  options.retry.backoff.initial = std::chrono::milliseconds(1);
  options.retry.backoff.max = std::chrono::milliseconds(5);
  return options;
}

// --- read-modify-write -----------------------------------------------------------------------

const CoveredFixtures kReadModifyWrite{"005-job.json", "018-job-register-enforce-index-ok.json"};
TEST(NomadClient, ReadModifyWritePreservesEveryOtherField) {
  Replay r(kReadModifyWrite);
  auto got = r.client.GetJob("hello");
  ASSERT_TRUE(got.ok() && got->has_value());
  Job job = **got;
  ASSERT_EQ(job.json(), ResponseJson(kReadModifyWrite.Load()[0]));

  auto blue = job.FindTaskGroup("hello-blue");
  ASSERT_TRUE(blue.has_value());
  blue->Services()[0].SetTags({"standby"});

  json expected = ResponseJson(kReadModifyWrite.Load()[0]);
  ASSERT_EQ(expected["TaskGroups"][0]["Name"], "hello-blue");
  expected["TaskGroups"][0]["Services"][0]["Tags"] = json::array({"standby"});
  EXPECT_EQ(job.json(), expected);
  EXPECT_EQ(job.json().dump(), expected.dump());

  auto w = r.client.RegisterJob(job, job.JobModifyIndex());
  ASSERT_TRUE(w.ok()) << w.error().ToString();
  json sent = json::parse(r.server.received().at(1).body);
  EXPECT_EQ(sent.at("Job"), expected);  // the whole stored job, one tag changed
  EXPECT_EQ(sent.at("JobModifyIndex"), 10);
  EXPECT_EQ(sent.at("EnforceIndex"), true);
}

TEST(NomadClient, ViewsEditOnlyWhatTheyName) {
  json doc = {{"ID", "web"},
              {"FutureField", {{"nested", {1, 2, 3}}}},
              {"TaskGroups",
               {{{"Name", "g"},
                 {"Count", 1},
                 {"Meta", nullptr},
                 {"Unknown", "kept"},
                 {"Services", {{{"Name", "web"}, {"Tags", {"active", "http"}}, {"X", 1}}}},
                 {"Tasks", {{{"Name", "t"}, {"Driver", "docker"}, {"Env", nullptr}}}}}}}};
  Job job(doc);
  auto g = job.FindTaskGroup("g");
  ASSERT_TRUE(g.has_value());
  g->SetCount(0);
  g->SetMeta("version", "v2");
  g->Task("t")->SetEnv("APP_VERSION", "v2");
  g->Task("t")->Config()["image"] = "registry.local/web:v2";
  g->Services()[0].SetMeta("version", "v2");

  json expected = doc;
  expected["TaskGroups"][0]["Count"] = 0;
  expected["TaskGroups"][0]["Meta"] = {{"version", "v2"}};
  expected["TaskGroups"][0]["Tasks"][0]["Env"] = {{"APP_VERSION", "v2"}};
  expected["TaskGroups"][0]["Tasks"][0]["Config"] = {{"image", "registry.local/web:v2"}};
  expected["TaskGroups"][0]["Services"][0]["Meta"] = {{"version", "v2"}};
  EXPECT_EQ(job.json(), expected);

  const Job& read_only = job;
  auto cg = read_only.FindTaskGroup("g");
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->Count(), 0);
  EXPECT_EQ(cg->Services()[0].Tags(), (std::vector<std::string>{"active", "http"}));
  EXPECT_TRUE(cg->Task("t")->Config().is_object());
  EXPECT_THROW(Job(json::array()), std::invalid_argument);
}

// --- token -------------------------------------------------------------------------------------

class CapturingSink : public google::LogSink {
 public:
  using google::LogSink::send;
  void send(google::LogSeverity, const char*, const char*, int, const google::LogMessageTime&,
            const char* message, size_t message_len) override {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.emplace_back(message, message_len);
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

TEST(NomadClient, TokenIsSentAsHeaderAndNeverLoggedOrReturned) {
  const std::string token = "d6c1b1a2-secret-nomad-token-7f3e";
  // An agent that echoes the token back in its error text: the worst case for leaks.
  StubAgent agent([](const http::ServerRequest& req) {
    if (req.path == "/v1/status/leader") return Json(200, "127.0.0.1:4647");
    auto it = req.headers.find("X-Nomad-Token");
    return Text(500, "rpc error: token " + (it == req.headers.end() ? "" : it->second));
  });
  clients::AgentConfig config =
      clients::NomadConfigFromEnv([&](const std::string& name) -> std::optional<std::string> {
        if (name == "NOMAD_ADDR") return agent.base_url();
        if (name == "NOMAD_TOKEN") return token;
        return std::nullopt;
      });
  NomadClientOptions options = RetryingOptions(agent.base_url());
  options.agent = config;

  CapturingSink sink;
  google::AddLogSink(&sink);
  HttpNomadClient client(options);
  auto leader = client.Leader();
  auto job = client.GetJob("hello");  // 500, retried: produces log lines
  google::RemoveLogSink(&sink);

  ASSERT_TRUE(leader.ok()) << leader.error().ToString();
  auto received = agent.received();
  ASSERT_EQ(received.size(), 4u);  // leader + 3 attempts
  for (const auto& req : received) EXPECT_EQ(req.headers.at("X-Nomad-Token"), token);

  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.error().kind, ApiErrorKind::kUnavailable);
  EXPECT_EQ(job.error().message.find(token), std::string::npos);
  EXPECT_NE(job.error().message.find("<redacted>"), std::string::npos);
  EXPECT_EQ(job.error().ToString().find(token), std::string::npos);

  auto lines = sink.lines();
  ASSERT_GE(lines.size(), 2u) << "the retries should have been logged";
  for (const auto& line : lines) EXPECT_EQ(line.find(token), std::string::npos) << line;
}

TEST(NomadClient, NoTokenHeaderWithoutToken) {
  StubAgent agent([](const http::ServerRequest&) { return Json(200, "127.0.0.1:4647"); });
  HttpNomadClient client(FastOptions(agent.base_url()));
  ASSERT_TRUE(client.Leader().ok());
  EXPECT_EQ(agent.received().at(0).headers.count("X-Nomad-Token"), 0u);
}

// --- namespace / region / blocking parameters ----------------------------------------------------

TEST(NomadClient, NamespaceAndRegionGoOnEveryRequest) {
  StubAgent agent([](const http::ServerRequest& req) {
    if (req.path == "/v1/job/hello/allocations") return Json(200, json::array(), 7);
    return Text(404, "job not found");
  });
  NomadClientOptions options = FastOptions(agent.base_url());
  options.agent.namespace_ = "team a";
  options.agent.region = "eu-west";
  HttpNomadClient client(options);

  auto job = client.GetJob("hello");
  ASSERT_TRUE(job.ok());
  EXPECT_FALSE(job->has_value());
  auto allocs =
      client.JobAllocations("hello", {.index = 5, .wait = std::chrono::milliseconds(1500)});
  ASSERT_TRUE(allocs.ok()) << allocs.error().ToString();
  EXPECT_EQ(allocs->index, 7u);

  auto received = agent.received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].target, "/v1/job/hello?namespace=team%20a&region=eu-west");
  EXPECT_EQ(received[1].target,
            "/v1/job/hello/allocations?index=5&wait=1500ms&namespace=team%20a&region=eu-west");
}

TEST(NomadClient, BlockingQueryIsCancellable) {
  std::mutex mu;
  std::vector<http::Responder> held;
  auto server = http::StartServer({}, [&](http::ServerRequest, http::Responder respond) {
    std::lock_guard<std::mutex> lock(mu);
    held.push_back(std::move(respond));  // never answers by itself: a long poll
  });
  HttpNomadClient client(FastOptions(server->base_url()));
  auto cancel = std::make_shared<http::CancelToken>();
  std::thread canceller([&] {
    // Cancel once the request is being held by the server (bounded wait).
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!held.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    cancel->Cancel();
  });
  auto allocs = client.JobAllocations(
      "hello", {.index = 10, .wait = std::chrono::minutes(5), .cancel = cancel});
  canceller.join();
  ASSERT_FALSE(allocs.ok());
  EXPECT_EQ(allocs.error().kind, ApiErrorKind::kCancelled);
  std::lock_guard<std::mutex> lock(mu);
  for (auto& respond : held) respond(Json(200, json::array(), 11));
  server->Stop();
}

// --- retry safety per call -------------------------------------------------------------------

TEST(NomadClient, GuardedRegisterIsRetriedUnguardedIsNot) {
  std::atomic<int> calls{0};
  StubAgent agent([&](const http::ServerRequest&) {
    if (calls++ % 2 == 0) return Text(503, "no cluster leader");
    return Json(200, {{"EvalID", "e1"}, {"JobModifyIndex", 12}, {"Index", 12}});
  });
  HttpNomadClient client(RetryingOptions(agent.base_url()));
  Job job(json{{"ID", "hello"}});

  auto guarded = client.RegisterJob(job, 11);
  ASSERT_TRUE(guarded.ok()) << guarded.error().ToString();
  EXPECT_EQ(guarded->job_modify_index, 12u);
  EXPECT_EQ(agent.received().size(), 2u);

  auto unguarded = client.RegisterJob(job, std::nullopt);
  ASSERT_FALSE(unguarded.ok());
  EXPECT_EQ(unguarded.error().kind, ApiErrorKind::kUnavailable);
  EXPECT_EQ(unguarded.error().message, "no cluster leader");
  EXPECT_EQ(agent.received().size(), 3u);  // one attempt only
}

TEST(NomadClient, ScaleIsNeverRetried) {
  StubAgent agent([](const http::ServerRequest&) { return Text(503, "overloaded"); });
  HttpNomadClient client(RetryingOptions(agent.base_url()));
  auto w = client.ScaleJob("hello", "g", 0, "", json());
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(agent.received().size(), 1u);
}

// --- error classification ----------------------------------------------------------------------

TEST(NomadClient, EmptyNotFoundIsAnErrorNotAMissingJob) {
  // A 404 without Nomad's text comes from a wrong address or a proxy; reading it as "the
  // job is gone" could make a controller re-create a job.
  StubAgent agent([](const http::ServerRequest&) { return Text(404, ""); });
  HttpNomadClient client(FastOptions(agent.base_url()));
  auto job = client.GetJob("hello");
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.error().kind, ApiErrorKind::kNotFound);
}

TEST(NomadClient, PermissionDeniedIsUnauthorized) {
  StubAgent agent([](const http::ServerRequest&) { return Text(403, "Permission denied"); });
  HttpNomadClient client(FastOptions(agent.base_url()));
  auto leader = client.Leader();
  ASSERT_FALSE(leader.ok());
  EXPECT_EQ(leader.error().kind, ApiErrorKind::kUnauthorized);
  EXPECT_EQ(leader.error().message, "Permission denied");
}

TEST(NomadClient, UnexpectedBodyIsDecodeError) {
  StubAgent agent([](const http::ServerRequest& req) {
    if (req.path == "/v1/job/hello/allocations") return Json(200, {{"not", "a list"}});
    return Text(200, "<html>proxy</html>");
  });
  HttpNomadClient client(FastOptions(agent.base_url()));
  auto allocs = client.JobAllocations("hello", {});
  ASSERT_FALSE(allocs.ok());
  EXPECT_EQ(allocs.error().kind, ApiErrorKind::kDecode);
  auto job = client.GetJob("hello");
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.error().kind, ApiErrorKind::kDecode);
}

TEST(NomadClient, UnreachableAgentIsTransportError) {
  uint16_t port;
  {
    auto server =
        http::StartServer({}, [](http::ServerRequest, http::Responder r) { r(Text(200, "")); });
    port = server->port();
    server->Stop();
  }
  HttpNomadClient client(FastOptions("http://127.0.0.1:" + std::to_string(port)));
  auto leader = client.Leader();
  ASSERT_FALSE(leader.ok());
  EXPECT_EQ(leader.error().kind, ApiErrorKind::kTransport);
  EXPECT_EQ(leader.error().status, 0);
  EXPECT_EQ(leader.error().endpoint, "GET /v1/status/leader");
}

TEST(NomadClient, ConflictIndexParsing) {
  ApiError e{ApiErrorKind::kConflict, 500, "POST /v1/job/x",
             "Enforcing job modify index 0: job exists with conflicting job modify index: 1234"};
  EXPECT_EQ(ConflictingJobModifyIndex(e), std::optional<uint64_t>(1234));
  e.message = "something else";
  EXPECT_EQ(ConflictingJobModifyIndex(e), std::nullopt);
  e.kind = ApiErrorKind::kUnavailable;
  e.message = "conflicting job modify index: 5";
  EXPECT_EQ(ConflictingJobModifyIndex(e), std::nullopt);
}

}  // namespace
}  // namespace rollouts::nomad::test
