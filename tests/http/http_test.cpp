// The cpprestsdk client and server against each other on 127.0.0.1.
#include "clients/http/http.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "clients/http/server.h"

namespace rollouts::http {
namespace {

TEST(HttpRoundTrip, CarriesMethodTargetHeadersAndBinaryBody) {
  ServerRequest seen;
  auto server = StartServer({}, [&](ServerRequest req, Responder respond) {
    seen = req;
    respond(Response{201, {{"X-Echo", req.headers["X-In"]}}, std::string("a\0b", 3)});
  });
  auto client = MakeClient({server->base_url(), {}});
  Request req;
  req.method = Method::kPut;
  req.target = "/v1/kv/a%20b/c?cas=0&flags=7&recurse";
  req.headers["X-In"] = "hello";
  req.body = std::string("\x01\x02\xff", 3);
  Result r = client->Send(req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.response().status, 201);
  EXPECT_EQ(r.response().Header("x-echo").value_or(""), "hello");
  EXPECT_EQ(r.response().body, std::string("a\0b", 3));
  EXPECT_FALSE(r.response().Header("Content-Type").has_value());
  EXPECT_EQ(seen.method, "PUT");
  EXPECT_EQ(seen.path, "/v1/kv/a b/c");
  EXPECT_EQ(seen.body, std::string("\x01\x02\xff", 3));
  auto q = ParseQuery(seen.query);
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"cas", "0"}));
  EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"recurse", ""}));
}

TEST(HttpRoundTrip, AResponderMayAnswerLaterFromAnotherThread) {
  std::promise<Responder> parked;
  auto server = StartServer(
      {}, [&](ServerRequest, Responder respond) { parked.set_value(std::move(respond)); });
  std::thread later([&] {
    Responder r = parked.get_future().get();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    r(Response{200, {}, "late"});
  });
  auto client = MakeClient({server->base_url(), {}});
  Result r = client->Send(Request{Method::kGet, "/wait", {}, "", std::chrono::seconds(5), {}});
  later.join();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.response().body, "late");
}

TEST(HttpErrors, RefusedConnectionIsAConnectError) {
  uint16_t port;
  {
    auto server = StartServer({}, [](ServerRequest, Responder r) { r(Response{200, {}, ""}); });
    port = server->port();
    server->Stop();
  }
  auto client = MakeClient({"http://127.0.0.1:" + std::to_string(port), {}});
  Result r = client->Send(Request{Method::kGet, "/", {}, "", std::chrono::seconds(2), {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kConnect) << r.error().message;
}

TEST(HttpErrors, SlowServerIsATimeout) {
  std::promise<Responder> parked;
  auto server = StartServer(
      {}, [&](ServerRequest, Responder respond) { parked.set_value(std::move(respond)); });
  auto client = MakeClient({server->base_url(), {}});
  Result r =
      client->Send(Request{Method::kGet, "/slow", {}, "", std::chrono::milliseconds(300), {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kTimeout) << r.error().message;
  parked.get_future().get()(Response{200, {}, ""});
}

TEST(HttpErrors, CancelEndsAnInFlightRequest) {
  std::promise<Responder> parked;
  auto server = StartServer(
      {}, [&](ServerRequest, Responder respond) { parked.set_value(std::move(respond)); });
  auto client = MakeClient({server->base_url(), {}});
  auto token = std::make_shared<CancelToken>();
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    token->Cancel();
  });
  Result r = client->Send(Request{Method::kGet, "/block", {}, "", std::chrono::seconds(10), token});
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kCancelled) << r.error().message;
  parked.get_future().get()(Response{200, {}, ""});
}

// A request that finishes while another thread cancels it unsubscribes and returns, and
// its callback's captures (on its stack) go away: Unsubscribe must wait for a callback
// that Cancel() is already running.
TEST(CancelTokenTest, UnsubscribeWaitsForACallbackAlreadyRunning) {
  CancelToken token;
  std::promise<void> started;
  std::atomic<bool> finished{false};
  const int id = token.Subscribe([&] {
    started.set_value();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    finished = true;
  });
  std::thread canceller([&] { token.Cancel(); });
  started.get_future().wait();
  token.Unsubscribe(id);
  EXPECT_TRUE(finished) << "Unsubscribe returned while the callback was still running";
  canceller.join();
}

TEST(CancelTokenTest, UnsubscribeFromWithinACallbackDoesNotWait) {
  CancelToken token;
  int id = -1;
  id = token.Subscribe([&] { token.Unsubscribe(id); });
  token.Cancel();  // would deadlock if Unsubscribe waited for its own caller
  EXPECT_TRUE(token.cancelled());
}

TEST(Query, DecodesAndEncodes) {
  EXPECT_EQ(PercentDecode("a%2Fb%20c"), "a/b c");
  EXPECT_EQ(PercentEncode("rollouts/spec/a b"), "rollouts/spec/a%20b");
  EXPECT_EQ(PercentEncode("a/b", false), "a%2Fb");
  auto q = ParseQuery("keys&separator=%2F&index=42");
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[1].second, "/");
}

}  // namespace
}  // namespace rollouts::http
