// Keys the controller cannot read (issue #20): a rejected control command, an unreadable
// router report or status, a spec with invalid UTF-8, and oversize texts are reported in the
// status, keep it small and valid, and never stop or loop the rollout.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "api/control.h"
#include "api/text.h"
#include "reconcilers/decide.h"
#include "tests/reconcilers/fake_world.h"

namespace rollouts::reconcilers {
// Named: reconcilers_test is a unity build, and the other files' helpers live in the
// same anonymous namespace.
namespace bad_input_test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeWorld;
using testing::FaultPlan;
using testing::HelloRollout;

constexpr const char* kGreen = "hello-green";
const TimePoint T0{milliseconds(1795426881000)};

bool ValidUtf8(std::string_view text) {
  return !api::FirstInvalidUtf8(text).has_value();
}

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// Runs the world (observe, decide, act) until `until` holds for an observation.
Snapshot Drive(FakeWorld& world, const std::function<bool(const Snapshot&)>& until) {
  for (int step = 0; step < 5000; ++step) {
    Snapshot s = world.Observe();
    if (until(s)) return s;
    Action a = Decide(s);
    world.Apply(a);
    world.Advance(world.StepAfter(a));
  }
  ADD_FAILURE() << "the world never reached the state asked for";
  return world.Observe();
}

bool InPhase(const Snapshot& s, Phase phase) {
  return s.status.phase == phase;
}

// v1 active in hello-blue, nothing in progress.
Snapshot HealthyWorld(FakeWorld& world) {
  return Drive(world, [](const Snapshot& s) { return InPhase(s, Phase::kHealthy); });
}

// The rollout to v2 waits for the standby to become healthy.
Snapshot WaitingHealthyWorld(FakeWorld& world) {
  HealthyWorld(world);
  world.SetSpecVersion("v2");
  return Drive(world, [](const Snapshot& s) { return InPhase(s, Phase::kWaitingHealthy); });
}

// A copy: the action is often a temporary.
WriteStatus AsWrite(const Action& action) {
  if (!std::holds_alternative<WriteStatus>(action)) {
    ADD_FAILURE() << "expected WriteStatus, got " << ActionName(action)
                  << (std::holds_alternative<NoOp>(action)
                          ? " (" + std::get<NoOp>(action).reason + ")"
                          : std::string());
    return WriteStatus{};
  }
  return std::get<WriteStatus>(action);
}

// The snapshot after a status write landed.
Snapshot AfterWrite(Snapshot s, const WriteStatus& w) {
  s.status = w.status;
  s.status_modify_index += 1;
  return s;
}

// Decides, letting status writes that keep the phase land (conditions, events), until an
// action that is not such a write. Fails the test if the writes do not stop.
Action Settle(Snapshot& s) {
  for (int k = 0; k < 6; ++k) {
    Action a = Decide(s);
    const auto* w = std::get_if<WriteStatus>(&a);
    if (w == nullptr || w->status.phase != s.status.phase) return a;
    s = AfterWrite(s, *w);
  }
  ADD_FAILURE() << "decide() keeps writing the same phase: " << ActionName(Decide(s))
                << (std::holds_alternative<WriteStatus>(Decide(s))
                        ? " (" + std::get<WriteStatus>(Decide(s)).reason + ")"
                        : "");
  return Decide(s);
}

// The status without what a rejected command may add (the ack and the event) and without
// the spec index every write records.
json Unchanged(const RolloutStatus& st) {
  json doc = StatusToJson(st);
  doc.erase("acknowledged");
  doc.erase("events");
  doc.erase("observedSpecIndex");
  return doc;
}

int AcksOf(const RolloutStatus& st, const std::string& id) {
  return static_cast<int>(std::count_if(st.acknowledged.begin(), st.acknowledged.end(),
                                        [&](const ControlAck& a) { return a.id == id; }));
}

// A rejected command: one write with one new ack "rejected: ..." and one ControlRejected
// event, nothing else changed; the next decide on that status does not handle it again.
void ExpectRejectedOnce(Snapshot s, const ControlRequest& req, std::string_view why) {
  ASSERT_NE(req.invalid, "");
  ASSERT_LT(s.status.acknowledged.size(), kMaxAcks);
  ASSERT_LT(s.status.events.size(), kMaxEvents);
  s.control = req;
  const Action a = Decide(s);
  const WriteStatus& w = AsWrite(a);
  const RolloutStatus& before = s.status;
  const RolloutStatus& after = w.status;
  EXPECT_EQ(w.cas_index, s.status_modify_index);

  ASSERT_EQ(after.acknowledged.size(), before.acknowledged.size() + 1);
  const ControlAck& ack = after.acknowledged.back();
  EXPECT_EQ(ack.id, req.id);
  EXPECT_EQ(ack.result.rfind("rejected: ", 0), 0u) << ack.result;
  EXPECT_TRUE(Contains(ack.result, why)) << ack.result;
  EXPECT_EQ(ack.time, s.now);
  EXPECT_LE(ack.id.size(), api::kMaxIdBytes);

  ASSERT_EQ(after.events.size(), before.events.size() + 1);
  const Event& event = after.events.back();
  EXPECT_EQ(event.reason, reason::kControlRejected);
  EXPECT_EQ(event.type, "Warning");
  EXPECT_TRUE(Contains(event.message, why)) << event.message;

  // Phase, versions, groups, the current step and everything else are as they were.
  EXPECT_EQ(after.phase, before.phase);
  EXPECT_EQ(after.active_version, before.active_version);
  EXPECT_EQ(after.target_version, before.target_version);
  ASSERT_TRUE(after.current_step.has_value());
  EXPECT_EQ(after.current_step->name, before.current_step->name);
  EXPECT_EQ(after.current_step->started_at, before.current_step->started_at);
  EXPECT_EQ(after.current_step->deadline, before.current_step->deadline);
  EXPECT_EQ(Unchanged(after), Unchanged(before));

  const std::string body = StatusToJson(after).dump();
  EXPECT_TRUE(ValidUtf8(body));
  EXPECT_LT(body.size(), 64u * 1024);

  // Acknowledged once: with the status that was written, the command is as good as absent.
  Snapshot again = AfterWrite(s, w);
  Snapshot without = again;
  without.control.reset();
  const Action next = Decide(again);
  const Action expected = Decide(without);
  ASSERT_EQ(ActionName(next), ActionName(expected));
  if (const auto* w2 = std::get_if<WriteStatus>(&next)) {
    EXPECT_EQ(StatusToJson(w2->status), StatusToJson(std::get<WriteStatus>(expected).status));
    EXPECT_EQ(AcksOf(w2->status, req.id), 1);
  }
  if (const auto* noop = std::get_if<NoOp>(&next)) {
    EXPECT_EQ(noop->reason, std::get<NoOp>(expected).reason);
  }
}

ControlRequest UnknownVerb() {
  return api::DecodeControl(R"({"id": "ctl-7", "verb": "rollback"})", 300);
}

ControlRequest HugeId() {
  return api::DecodeControl(
      R"({"id": ")" + std::string(300 * 1024, 'i') + R"(", "verb": "promote"})", 301);
}

// Under the document limit, over the id limit: the id is kept, cut.
ControlRequest LongId() {
  return api::DecodeControl(R"({"id": ")" + std::string(1000, 'L') + R"(", "verb": "promote"})",
                            302);
}

TEST(RejectedControl, UnknownVerbWhileWaitingHealthy) {
  FakeWorld world(HelloRollout("v1"), 1, {});
  ExpectRejectedOnce(WaitingHealthyWorld(world), UnknownVerb(), "unknown verb \"rollback\"");
}

TEST(RejectedControl, UnknownVerbAtHealthy) {
  FakeWorld world(HelloRollout("v1"), 2, {});
  ExpectRejectedOnce(HealthyWorld(world), UnknownVerb(), "unknown verb \"rollback\"");
}

TEST(RejectedControl, HugeIdWhileWaitingHealthy) {
  FakeWorld world(HelloRollout("v1"), 3, {});
  const ControlRequest req = HugeId();
  EXPECT_EQ(req.id, "@301");
  ExpectRejectedOnce(WaitingHealthyWorld(world), req, "bytes");
}

TEST(RejectedControl, HugeIdAtHealthy) {
  FakeWorld world(HelloRollout("v1"), 4, {});
  ExpectRejectedOnce(HealthyWorld(world), HugeId(), "bytes");
}

TEST(RejectedControl, ACutIdIsAcknowledgedOnce) {
  FakeWorld world(HelloRollout("v1"), 5, {});
  const ControlRequest req = LongId();
  EXPECT_LE(req.id.size(), api::kMaxIdBytes);
  ExpectRejectedOnce(HealthyWorld(world), req, "1000 bytes");
}

TEST(RejectedControl, AValidCommandStillWorks) {
  // The contrast: the same world accepts a well-formed abort and rolls back.
  FakeWorld world(HelloRollout("v1"), 6, {});
  Snapshot s = WaitingHealthyWorld(world);
  s.control = api::DecodeControl(R"({"id": "ctl-8", "verb": "abort"})", 303);
  ASSERT_EQ(s.control->invalid, "");
  const WriteStatus& w = AsWrite(Decide(s));
  EXPECT_EQ(w.status.phase, Phase::kRollingBack);
  ASSERT_FALSE(w.status.acknowledged.empty());
  EXPECT_EQ(w.status.acknowledged.back().id, "ctl-8");
  EXPECT_EQ(w.status.acknowledged.back().result.rfind("rejected", 0), std::string::npos);
}

// --- Unreadable router reports ----------------------------------------------------------

// Promoting after the flip: Consul and router r1 serve v2, router r2 is stuck on v1; with
// r2 on v2 the flip would count as converged.
Snapshot PromotingWithR2Lagging(FakeWorld& world) {
  HealthyWorld(world);
  world.SetSpecVersion("v2");
  return Drive(world, [](const Snapshot& s) {
    if (!InPhase(s, Phase::kPromoting) || s.status.active_group != kGreen) return false;
    Snapshot caught_up = s;
    for (RouterReport& r : caught_up.routers) {
      if (r.id == "r2") r.applied_version = s.status.active_version;
    }
    const Action a = Decide(caught_up);
    const auto* w = std::get_if<WriteStatus>(&a);
    return w != nullptr && w->status.phase != Phase::kPromoting &&
           w->status.phase != Phase::kRollingBack;
  });
}

FaultPlan StuckRouter() {
  FaultPlan plan;
  plan.stuck_router = true;
  return plan;
}

constexpr const char* kReportError = "/services must be an object of service reports, got string";

void BreakR2(Snapshot& s) {
  ASSERT_EQ(s.routers.size(), 2u);
  ASSERT_EQ(s.routers[1].id, "r2");
  // The report could not be read: nothing else about it is known.
  s.routers[1].applied_version = "";
  s.routers[1].time = TimePoint{};
  s.routers[1].error = kReportError;
}

TEST(UnreadableRouterReport, PromotingWaitsAndNamesTheRouter) {
  FakeWorld world(HelloRollout("v1"), 7, StuckRouter());
  Snapshot s = PromotingWithR2Lagging(world);
  BreakR2(s);
  const Action a = Settle(s);
  ASSERT_TRUE(std::holds_alternative<NoOp>(a)) << ActionName(a);
  EXPECT_EQ(s.status.phase, Phase::kPromoting);
  const std::string& why = std::get<NoOp>(a).reason;
  EXPECT_TRUE(Contains(why, "r2: report unreadable")) << why;
  EXPECT_TRUE(Contains(why, kReportError)) << why;
  EXPECT_FALSE(Contains(why, "r1")) << why;
  EXPECT_LE(std::get<NoOp>(a).requeue_after, *s.status.current_step->deadline - s.now);
}

TEST(UnreadableRouterReport, PastTheRouterTimeoutTheRollBackNamesIt) {
  FakeWorld world(HelloRollout("v1"), 8, StuckRouter());
  Snapshot s = PromotingWithR2Lagging(world);
  BreakR2(s);
  ASSERT_TRUE(s.status.current_step && s.status.current_step->deadline);
  s.now = *s.status.current_step->deadline;
  const Action a = Settle(s);
  const WriteStatus& w = AsWrite(a);
  EXPECT_EQ(w.status.phase, Phase::kRollingBack);
  EXPECT_EQ(w.status.rollback_reason, reason::kRouterTimeout);
  EXPECT_TRUE(Contains(w.status.rollback_message, "r2: report unreadable"))
      << w.status.rollback_message;
  EXPECT_TRUE(Contains(w.status.rollback_message, kReportError)) << w.status.rollback_message;
}

TEST(UnreadableRouterReport, AReadableReportOfTheSameRouterConverges) {
  // The contrast to the two above: the error is what holds the flip back.
  FakeWorld world(HelloRollout("v1"), 9, StuckRouter());
  Snapshot s = PromotingWithR2Lagging(world);
  s.routers[1].applied_version = "v2";
  const Action a = Settle(s);
  const WriteStatus& w = AsWrite(a);
  EXPECT_NE(w.status.phase, Phase::kPromoting);
  EXPECT_NE(w.status.phase, Phase::kRollingBack);
}

TEST(UnreadableRouterReport, ManyLongReportErrorsWhileDrainingAreWrittenOnce) {
  // Twenty unreadable reports make a drain detail longer than a stored message may be.
  FakeWorld world(HelloRollout("v1"), 10, {});
  HealthyWorld(world);
  world.SetSpecVersion("v2");
  Snapshot s = Drive(world, [](const Snapshot& x) { return InPhase(x, Phase::kDraining); });
  for (int i = 0; i < 20; ++i) {
    RouterReport r;
    r.id = "edge-router-" + std::to_string(i);
    r.error = std::string(kReportError) + " (" + std::string(40, 'x') + ")";
    s.routers.push_back(r);
  }
  const Action a = Settle(s);
  EXPECT_TRUE(std::holds_alternative<NoOp>(a)) << ActionName(a);
  EXPECT_EQ(s.status.phase, Phase::kDraining);
}

// --- An unreadable status ----------------------------------------------------------------

TEST(UnreadableStatus, IsRebuiltFromTheClusterAndSaysSo) {
  FakeWorld world(HelloRollout("v1"), 11, {});
  Snapshot s = world.Observe();
  ASSERT_FALSE(s.status.phase.has_value());
  DecodedStatus decoded = DecodeStatus("{\"phase\": \"Healthy\", oops");
  ASSERT_NE(decoded.error, "");
  s.status = decoded.status;
  s.status_error = decoded.error;
  s.status_modify_index = 55;
  const WriteStatus& w = AsWrite(Decide(s));
  EXPECT_EQ(w.cas_index, 55u);
  EXPECT_EQ(w.status.phase, Phase::kHealthy);
  EXPECT_EQ(w.status.active_version, "v1");
  ASSERT_FALSE(w.status.events.empty());
  const std::string message = w.status.events.back().message;
  EXPECT_TRUE(Contains(message, "status unreadable")) << message;
  EXPECT_TRUE(Contains(message, decoded.error)) << message;
  EXPECT_TRUE(Contains(message, "rebuilt from the cluster")) << message;

  // Without the error it is a plain first observation.
  s.status_error.clear();
  const WriteStatus& first = AsWrite(Decide(s));
  ASSERT_FALSE(first.status.events.empty());
  EXPECT_TRUE(Contains(first.status.events.back().message, "first observation"));
  EXPECT_FALSE(Contains(first.status.events.back().message, "unreadable"));
}

TEST(DecodeStatus, AnythingButAStatusObjectIsAnErrorWithADefaultStatus) {
  for (const std::string& bytes :
       {std::string("garbage"), std::string(""), std::string("[1, 2]"), std::string("\"Healthy\""),
        std::string("{\"phase\": \"Healthy\", \"activeVersion\": \"v\xFF\"}"),
        std::string(300 * 1024, '\xFF')}) {
    DecodedStatus d = DecodeStatus(bytes);
    EXPECT_NE(d.error, "") << api::Quote(bytes);
    EXPECT_TRUE(ValidUtf8(d.error)) << api::Quote(d.error);
    EXPECT_LE(d.error.size(), api::kMaxMessageBytes);
    EXPECT_FALSE(d.status.phase.has_value()) << api::Quote(bytes);
    EXPECT_EQ(StatusToJson(d.status), StatusToJson(RolloutStatus{}));
  }
  EXPECT_TRUE(Contains(DecodeStatus("[1, 2]").error, "array"));
  EXPECT_TRUE(Contains(DecodeStatus("{\"activeVersion\": \"v\xFF\"}").error, "UTF-8"));

  RolloutStatus healthy;
  healthy.phase = Phase::kHealthy;
  healthy.active_version = "v1";
  DecodedStatus ok = DecodeStatus(StatusToJson(healthy).dump());
  EXPECT_EQ(ok.error, "");
  EXPECT_EQ(ok.status.phase, Phase::kHealthy);
  EXPECT_EQ(ok.status.active_version, "v1");
}

// --- Bounded status ----------------------------------------------------------------------

// 300 KB of text that also holds an invalid byte and multi-byte characters.
std::string Huge(int i) {
  return "\xFF \xE2\x82\xAC " + std::to_string(i) + std::string(300 * 1024, 'x');
}

TEST(BoundedStatus, EveryListFullOfOversizeTextsStaysSmall) {
  RolloutStatus st;
  st.phase = Phase::kHealthy;
  for (size_t i = 0; i < kMaxEvents + 5; ++i) AddEvent(st, T0, "Warning", "Huge", Huge(i));
  for (size_t i = 0; i < kMaxAcks + 5; ++i) AddAck(st, {Huge(i), Huge(i), Huge(i), T0});
  for (size_t i = 0; i < kMaxHistory + 5; ++i) {
    AddHistory(st, {"v" + std::to_string(i), "RolledBack", Huge(i), T0, T0});
  }
  for (size_t i = 0; i < kMaxConditions; ++i) {
    SetCondition(st, "Condition" + std::to_string(i), "False", "Huge", Huge(i), T0);
  }
  EXPECT_EQ(st.events.size(), kMaxEvents);
  EXPECT_EQ(st.acknowledged.size(), kMaxAcks);
  EXPECT_EQ(st.history.size(), kMaxHistory);
  for (const Event& e : st.events) EXPECT_LE(e.message.size(), api::kMaxMessageBytes);
  for (const ControlAck& a : st.acknowledged) {
    EXPECT_LE(a.id.size(), api::kMaxIdBytes);
    EXPECT_LE(a.verb.size(), api::kMaxIdBytes);
    EXPECT_LE(a.result.size(), api::kMaxMessageBytes);
  }
  for (const HistoryEntry& h : st.history) EXPECT_LE(h.reason.size(), api::kMaxMessageBytes);
  for (const StatusCondition& c : st.conditions) {
    EXPECT_LE(c.message.size(), api::kMaxMessageBytes);
  }
  // The cut texts say how much was left out, and the newest entry is the one kept last.
  EXPECT_TRUE(Contains(st.events.back().message, " bytes]")) << st.events.back().message;
  EXPECT_TRUE(Contains(st.events.back().message, std::to_string(kMaxEvents + 4)));

  std::string body;
  ASSERT_NO_THROW(body = StatusToJson(st).dump());
  EXPECT_TRUE(ValidUtf8(body));
  EXPECT_LT(body.size(), 200u * 1024);
}

TEST(BoundedStatus, AStatusReadBackFromAnOversizeDocumentIsBounded) {
  RolloutStatus big;
  big.phase = Phase::kHealthy;
  big.active_version = "v1";
  big.rollback_message = std::string(300 * 1024, 'r');
  for (int i = 0; i < 1000; ++i) {
    // The newest entries carry 300 KB texts; written around the helpers, as someone
    // editing the key by hand could.
    const bool huge = i >= 1000 - 25;
    const std::string text =
        huge ? std::string(300 * 1024, 'm') + std::to_string(i) : "message " + std::to_string(i);
    big.events.push_back({T0, "Warning", "Hand", text});
    big.acknowledged.push_back({text, "promote", text, T0});
    big.history.push_back({"v" + std::to_string(i), "Succeeded", text, T0, T0});
    if (i < 100) big.conditions.push_back({"C" + std::to_string(i), "False", "Hand", text, T0});
  }
  const json doc = StatusToJson(big);
  ASSERT_GT(doc.dump().size(), 5u * 1024 * 1024);
  const RolloutStatus back = StatusFromJson(doc);
  EXPECT_EQ(back.events.size(), kMaxEvents);
  EXPECT_EQ(back.acknowledged.size(), kMaxAcks);
  EXPECT_EQ(back.history.size(), kMaxHistory);
  EXPECT_LE(back.conditions.size(), kMaxConditions);
  // The newest are kept.
  EXPECT_EQ(back.history.back().version, "v999");
  EXPECT_EQ(back.events.front().message.substr(0, 4), "mmmm");
  for (const Event& e : back.events) EXPECT_LE(e.message.size(), api::kMaxMessageBytes);
  for (const ControlAck& a : back.acknowledged) {
    EXPECT_LE(a.id.size(), api::kMaxMessageBytes);
    EXPECT_LE(a.result.size(), api::kMaxMessageBytes);
  }
  EXPECT_LE(back.rollback_message.size(), api::kMaxMessageBytes);
  EXPECT_LT(StatusToJson(back).dump().size(), 200u * 1024);
}

// --- A spec with invalid UTF-8 ------------------------------------------------------------

constexpr const char* kSpecText = R"({
  "apiVersion": "rollouts.nomad.io/v1", "kind": "Rollout",
  "metadata": {"name": "hello"},
  "spec": {
    "version": "v2-BAD",
    "nomad": {"namespace": "default", "job": "hello",
              "groups": ["hello-blue", "hello-green"], "service": "hello"},
    "template": {"task": "app", "set": {"/Env/APP_VERSION": "{{version}}"}},
    "strategy": {"blueGreen": {"autoPromote": true}}
  }
})";

TEST(InvalidUtf8Spec, IsOneErrorThatNamesTheOffsetAndCanBeStored) {
  std::string text = kSpecText;
  ASSERT_TRUE(ParseRollout(text).rollout.has_value());  // valid as written
  const size_t at = text.find("-BAD");
  text[at] = '\xFF';
  const ParseResult parsed = ParseRollout(text);
  EXPECT_FALSE(parsed.rollout.has_value());
  ASSERT_EQ(parsed.errors.size(), 1u);
  const std::string& message = parsed.errors[0].message;
  EXPECT_TRUE(Contains(message, "UTF-8")) << api::Quote(message, 200);
  EXPECT_TRUE(Contains(message, "byte " + std::to_string(at))) << api::Quote(message, 200);
  EXPECT_TRUE(Contains(message, "\\xFF")) << api::Quote(message, 200);
  EXPECT_EQ(api::FirstInvalidUtf8(message), std::nullopt) << api::Quote(message, 200);

  RolloutStatus st;
  SetCondition(st, "InvalidSpec", "True", "InvalidSpec", message, T0);
  EXPECT_NO_THROW(StatusToJson(st).dump());

  // The way the controller stores it: decide() writes InvalidSpec with that message.
  Snapshot s;
  s.name = "hello";
  s.now = T0;
  s.spec_modify_index = 9;
  s.spec_errors = parsed.errors;
  const WriteStatus& w = AsWrite(Decide(s));
  EXPECT_EQ(w.status.phase, Phase::kInvalidSpec);
  std::string body;
  ASSERT_NO_THROW(body = StatusToJson(w.status).dump());
  EXPECT_TRUE(Contains(body, "UTF-8"));
  EXPECT_TRUE(ValidUtf8(body));
}

TEST(InvalidSpec, ALongErrorListIsWrittenOnce) {
  // Many errors make a message longer than a stored condition message may be: the status
  // must still settle (written once, then a NoOp), not be rewritten at every reconcile.
  Snapshot s;
  s.name = "hello";
  s.now = T0;
  s.spec_modify_index = 9;
  for (int i = 0; i < 40; ++i) {
    s.spec_errors.push_back({"/spec/analysis/metrics/" + std::to_string(i) + "/query",
                             "must be a non-empty PromQL expression (got an empty string)"});
  }
  const WriteStatus& w = AsWrite(Decide(s));
  EXPECT_EQ(w.status.phase, Phase::kInvalidSpec);
  Snapshot again = AfterWrite(s, w);
  const Action next = Decide(again);
  EXPECT_TRUE(std::holds_alternative<NoOp>(next))
      << ActionName(next) << ": an unchanged invalid spec is written again";
}

}  // namespace
}  // namespace bad_input_test
}  // namespace rollouts::reconcilers
