// The timeline executor over a fake in-memory backend: no processes, no
// clock. The fake records every call with the scenario time it came at.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "starling/scenario/expectations.h"
#include "starling/scenario/parse.h"
#include "starling/scenario/timeline_runner.h"

using namespace starling::scenario;

namespace {

constexpr double kStartupSeconds = 3.0;  // the fake's start-up, before t = 0

std::string list(const std::vector<int>& peers) {
  std::string out;
  for (int p : peers) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

class FakeBackend final : public SwarmBackend {
 public:
  // What the fake does on its own.
  double accuracy = 0.9;                 // every running peer reports this
  double crash_at = -1.0;                // scenario time: peer 1 crashes then
  Problems start_problems;               // start_swarm returns these
  std::map<std::string, Problems> fail;  // method name -> what it returns

  std::vector<std::string> calls;        // "t kind peers..." in scenario time
  std::vector<double> sampled_at;        // scenario times of sample()
  std::vector<SampleRequest> requests;
  double furthest_advance = 0.0;
  bool shut_down = false;
  double startup = kStartupSeconds;  // clock at t = 0
  int advances = 0;

  double now_seconds() const override { return clock_; }

  void advance_to(double seconds) override {
    REQUIRE(seconds >= clock_ - 1e-9);  // the executor never asks to go back
    REQUIRE(++advances < 100'000);       // nor spins in place
    furthest_advance = std::max(furthest_advance, seconds);
    if (crash_at >= 0.0 && !crashed_ && seconds - kStartupSeconds >= crash_at) {
      clock_ = crash_at + kStartupSeconds;
      crashed_ = true;
      phase_[1] = PeerPhase::down;
      log_->note("peer_exited", "crash 1", R"({"peer":1})", true);
      log_->crashed(1, "signal 11");
    }
    clock_ = seconds;
  }

  Problems start_swarm(int peers, SwarmLog& log) override {
    log_ = &log;
    for (int i = 0; i < peers; ++i) start(i);
    (void)record("start_swarm", {peers});
    clock_ = 1.0;
    log.note("start", "", R"({"peer":0})", false);
    clock_ = startup;
    return start_problems;
  }
  void shutdown() override { shut_down = true; }

  Problems kill(const std::vector<int>& p) override { return down("kill", p); }
  Problems stop(const std::vector<int>& p) override { return down("stop", p); }
  Problems restart(const std::vector<int>& p, bool new_identity) override {
    for (int i : p) {
      if (new_identity) ++generation_[i];
      start(i);
    }
    return record(new_identity ? "restart_new" : "restart", p);
  }
  Problems join(const std::vector<int>& p) override {
    for (int i : p) start(i);
    return record("join", p);
  }
  Problems pause(const std::vector<int>& p) override {
    for (int i : p) phase_[i] = PeerPhase::paused;
    return record("pause", p);
  }
  Problems resume(const std::vector<int>& p) override {
    for (int i : p) phase_[i] = PeerPhase::running;
    return record("resume", p);
  }
  Problems partition(const std::vector<std::vector<int>>& groups, bool one_way) override {
    std::string text;
    for (const auto& g : groups) text += "[" + list(g) + "]";
    return record(std::string(one_way ? "partition_one_way " : "partition ") + text, {});
  }
  Problems heal(const std::vector<int>& p) override { return record("heal", p); }
  Problems set_loss(const std::vector<int>& p, double f) override { return record("loss=" + num(f), p); }
  Problems set_duplicate(const std::vector<int>& p, double f) override { return record("dup=" + num(f), p); }
  Problems set_delay(const std::vector<int>& p, double ms, double jitter) override {
    return record("delay=" + num(ms) + "+" + num(jitter), p);
  }
  Problems set_bandwidth(const std::vector<int>& p, std::uint64_t bps) override {
    return record("bandwidth=" + std::to_string(bps), p);
  }
  Problems clear_faults(const std::vector<int>& p) override { return record("clear", p); }
  Problems set_straggler(const std::vector<int>& p, double factor) override {
    return record("straggler=" + num(factor), p);
  }
  Problems set_byzantine(const std::vector<int>& p, ByzantineMode mode, double scale) override {
    return record("byzantine=" + std::to_string(static_cast<int>(mode)) + "x" + num(scale), p);
  }

  std::vector<Sample> sample(const SampleRequest& request) override {
    sampled_at.push_back(clock_ - startup);
    requests.push_back(request);
    std::vector<Sample> out;
    for (const auto& [peer, phase] : phase_) {
      Sample s;
      s.peer = peer;
      s.phase = phase;
      s.answered = phase == PeerPhase::running;
      s.node_id = id(peer);
      s.address = "sim:" + std::to_string(peer);
      if (s.answered) {
        s.accuracy = accuracy;
        for (const auto& [other, other_phase] : phase_) {
          if (other != peer) s.members.push_back({id(other), other_phase == PeerPhase::down ? "dead" : "alive",
                                                  "sim:" + std::to_string(other), std::nullopt});
        }
      }
      out.push_back(std::move(s));
    }
    return out;
  }

 private:
  static std::string num(double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", v);
    return buffer;
  }
  std::string id(int peer) const {
    return "id" + std::to_string(peer) + (generation_.count(peer) ? "g" + std::to_string(generation_.at(peer)) : "");
  }
  void start(int peer) { phase_[peer] = PeerPhase::running; }
  Problems down(const std::string& name, const std::vector<int>& p) {
    for (int i : p) phase_[i] = PeerPhase::down;
    return record(name, p);
  }
  Problems record(const std::string& what, const std::vector<int>& peers) {
    char t[32];
    std::snprintf(t, sizeof t, "%g", clock_ - kStartupSeconds);
    calls.push_back(std::string(t) + " " + what + (peers.empty() ? "" : " " + list(peers)));
    auto found = fail.find(what);
    return found == fail.end() ? Problems{} : found->second;
  }

  double clock_ = 0.0;
  bool crashed_ = false;
  SwarmLog* log_ = nullptr;
  std::map<int, PeerPhase> phase_;
  std::map<int, int> generation_;
};

Scenario scenario_from(const std::string& text) {
  auto parsed = parse_scenario(text, "t.toml");
  INFO((parsed.ok() ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return *parsed;
}

const char* kTimeline = R"(
name = "t"
duration = 10
poll_interval = 1
[swarm]
peers = 3
train = false

[[events]]
at = 2
kind = "pause"
peer = 2
duration = 3

[[events]]
at = 4
kind = "loss"
peers = "all"
percent = 10
duration = 2

[[events]]
at = 5
kind = "kill"
peer = 1

[[events]]
at = 6
kind = "partition"
groups = [[0], [2]]
duration = 1

[[events]]
at = 7
kind = "join"
count = 1

[[events]]
at = 8
kind = "restart"
peer = 1
identity = "new"

[[events]]
at = 9
kind = "byzantine"
peer = 3
mode = "scaled"
scale = 4

[[expect]]
kind = "min_accuracy"
value = 0.8

[[expect]]
kind = "no_crash"
)";

const Outcome& outcome(const std::vector<Outcome>& outcomes, const std::string& name) {
  auto found = std::find_if(outcomes.begin(), outcomes.end(), [&](const Outcome& o) { return o.name == name; });
  REQUIRE(found != outcomes.end());
  return *found;
}

}  // namespace

TEST_CASE("timeline executor: events reach the backend in order, at their time, with resolved peers", "[scenario]") {
  const Scenario s = scenario_from(kTimeline);
  FakeBackend backend;
  std::vector<std::string> actions;
  TimelineOptions options;
  options.on_action = [&](double t, const std::string& label, int) { actions.push_back(std::to_string(int(t)) + " " + label); };
  const TimelineResult result = run_timeline(s, backend, options);

  // Undos of timed events come before events at the same time; "all" is
  // resolved to the peers running then (2 is paused at 4 s).
  const std::vector<std::string> want = {
      "-3 start_swarm 3",          "2 pause 2",   "4 loss=0.1 0,1",     "5 resume 2",
      "5 kill 1",                  "6 loss=0 0,1", "6 partition [0][2]", "7 heal 0,2",
      "7 join 3",                  "8 restart_new 1", "9 byzantine=2x4 3"};
  CHECK(backend.calls == want);
  CHECK(actions.front() == "2 pause 2");
  CHECK(actions.back() == "9 byzantine 3");
  CHECK(backend.shut_down);
  CHECK(result.problems.empty());
  CHECK_FALSE(result.observations.interrupted);
  CHECK(result.observations.last_event_seconds == Approx(9.0));
  CHECK(result.observations.end_seconds == Approx(10.0));
  // Targets of faults are flagged; a join or restart alone is not a fault.
  CHECK(result.observations.faulted == std::vector<bool>{true, true, true, true});
  CHECK(result.observations.byzantine == std::vector<bool>{false, false, false, true});
  // The joined peer started at 7 s; start-up events are moved to t = 0.
  CHECK(result.observations.started_at == std::vector<double>{0.0, 0.0, 0.0, 7.0});
  REQUIRE_FALSE(result.observations.events.empty());
  CHECK(result.observations.events.front().kind == "start");
  CHECK(result.observations.events.front().json.find("\"startup_t\":1.0") != std::string::npos);
  CHECK(result.observations.events.front().t == 0.0);
  const auto byzantine = std::find_if(result.observations.events.begin(), result.observations.events.end(),
                                      [](const LoggedEvent& e) { return e.kind == "byzantine"; });
  REQUIRE(byzantine != result.observations.events.end());
  CHECK(byzantine->json.find("\"mode\":\"scaled\"") != std::string::npos);
  CHECK(byzantine->json.find("\"scale\":4.0") != std::string::npos);
}

TEST_CASE("timeline executor: samples every poll interval and once more at the end", "[scenario]") {
  const Scenario s = scenario_from(kTimeline);
  FakeBackend backend;
  int progress_calls = 0;
  bool last_was_final = false;
  TimelineOptions options;
  options.on_progress = [&](const Progress& p) {
    ++progress_calls;
    last_was_final = p.final_round;
    REQUIRE(p.round != nullptr);
    CHECK_FALSE(progress_line(s, p).empty());
  };
  const TimelineResult result = run_timeline(s, backend, options);

  const std::vector<double> want = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  CHECK(backend.sampled_at == want);
  REQUIRE(result.observations.rounds.size() == want.size());
  CHECK(result.observations.rounds[3].t == 3.0);
  CHECK(progress_calls == 11);
  CHECK(last_was_final);
  CHECK(backend.requests.back().final_round);
  CHECK_FALSE(backend.requests.front().final_round);
  // The first round knows the pause at 2 s is next (backend time: + start-up).
  CHECK(backend.requests.front().next_action_seconds == Approx(2.0 + kStartupSeconds));
  // Peer 1 is killed at 5 s: its id is departed until its new identity runs;
  // then the old id stays departed and the new one is held.
  const Round& after_kill = result.observations.rounds[6];
  CHECK(after_kill.departed_ids == std::vector<std::string>{"id1"});
  CHECK(after_kill.samples.size() == 3);
  const Round& last = result.observations.rounds.back();
  CHECK(last.departed_ids == std::vector<std::string>{"id1"});
  CHECK(last.samples.size() == 4);
  CHECK(last.samples[1].node_id == "id1g1");
}

TEST_CASE("timeline executor: expectations read what was sampled", "[scenario]") {
  const Scenario s = scenario_from(kTimeline);
  SECTION("accurate peers, no crash: every expectation holds") {
    FakeBackend backend;
    const TimelineResult result = run_timeline(s, backend, {});
    const auto outcomes = evaluate(s, result.observations);
    CHECK(outcome(outcomes, "min_accuracy").passed);
    CHECK(outcome(outcomes, "no_crash").passed);
  }
  SECTION("low accuracy and a crash reported from advance_to: both fail") {
    FakeBackend backend;
    backend.accuracy = 0.7;
    backend.crash_at = 3.5;
    const TimelineResult result = run_timeline(s, backend, {});
    REQUIRE(result.observations.crashes.size() == 1);
    CHECK(result.observations.crashes[0].peer == 1);
    CHECK(result.observations.crashes[0].t == Approx(3.5));
    CHECK(result.observations.crashes[0].detail == "signal 11");
    const auto outcomes = evaluate(s, result.observations);
    CHECK_FALSE(outcome(outcomes, "min_accuracy").passed);
    CHECK_FALSE(outcome(outcomes, "no_crash").passed);
    // A crashed peer is no longer live: "all" at 4 s means peer 0 only.
    CHECK(std::find(backend.calls.begin(), backend.calls.end(), "4 loss=0.1 0") != backend.calls.end());
  }
}

TEST_CASE("timeline executor: problems are collected and a failed start ends the run", "[scenario]") {
  const Scenario s = scenario_from(kTimeline);
  SECTION("an event method's problems carry the action's label and time; the run goes on") {
    FakeBackend backend;
    backend.fail["loss=0.1"] = {Problem{1, "peer 1 did not confirm"}};
    std::vector<std::string> printed;
    TimelineOptions options;
    options.on_problem = [&](const std::string& text) { printed.push_back(text); };
    const TimelineResult result = run_timeline(s, backend, options);
    REQUIRE(result.problems.size() == 1);
    CHECK(result.problems[0] == "loss 0,1 at 4.0 s: peer 1 did not confirm");
    CHECK(printed == result.problems);
    CHECK(result.observations.end_seconds == Approx(10.0));
    const auto& events = result.observations.events;
    CHECK(std::any_of(events.begin(), events.end(), [](const LoggedEvent& e) { return e.kind == "runner_problem"; }));
  }
  SECTION("start_swarm's problems abort before any event or round") {
    FakeBackend backend;
    backend.start_problems = {Problem{0, "cannot start peer 0: no binary"}};
    const TimelineResult result = run_timeline(s, backend, {});
    CHECK(result.problems == std::vector<std::string>{"cannot start peer 0: no binary"});
    CHECK(backend.calls == std::vector<std::string>{"-3 start_swarm 3"});
    CHECK(result.observations.rounds.empty());
    CHECK(backend.shut_down);
  }
}

TEST_CASE("timeline executor: a stop request ends the run early, without a final round", "[scenario]") {
  const Scenario s = scenario_from(kTimeline);
  FakeBackend backend;
  TimelineOptions options;
  options.stop_requested = [&] { return backend.now_seconds() - kStartupSeconds >= 4.5; };
  const TimelineResult result = run_timeline(s, backend, options);
  CHECK(result.observations.interrupted);
  CHECK(backend.shut_down);
  CHECK(backend.sampled_at.back() < 5.0);
  CHECK(std::none_of(backend.calls.begin(), backend.calls.end(), [](const std::string& c) { return c == "5 kill 1"; }));
  CHECK(std::none_of(backend.requests.begin(), backend.requests.end(),
                     [](const SampleRequest& r) { return r.final_round; }));
}

// The simulator's start-up of 200 peers took 0.199 s: (2 + 0.199) - 0.199 is
// a hair below 2 in floating point, and the executor waited for t = 2 forever.
TEST_CASE("timeline executor: a start-up time that does not subtract exactly still moves on", "[scenario]") {
  const Scenario s = scenario_from(kTimeline);
  FakeBackend backend;
  backend.startup = 0.199;
  const TimelineResult result = run_timeline(s, backend, TimelineOptions{});
  CHECK(backend.sampled_at.size() == 11);
  CHECK(result.observations.rounds.back().t == Approx(10.0));
}

TEST_CASE("timeline executor: end_early ends the run at a round, with a final round", "[scenario]") {
  const Scenario s = scenario_from(kTimeline);
  FakeBackend backend;
  TimelineOptions options;
  options.end_early = [&] { return backend.now_seconds() - kStartupSeconds >= 3.0; };
  const TimelineResult result = run_timeline(s, backend, options);
  CHECK_FALSE(result.observations.interrupted);
  CHECK(backend.sampled_at == std::vector<double>{0, 1, 2, 3, 3});
  CHECK(backend.requests.back().final_round);
  CHECK(result.observations.end_seconds == Approx(3.0));
}

TEST_CASE("action names: the end of a timed event", "[scenario]") {
  CHECK(action_name(EventKind::pause, true) == "resume");
  CHECK(action_name(EventKind::partition, true) == "heal");
  CHECK(action_name(EventKind::loss, true) == "end_loss");
  CHECK(action_name(EventKind::kill, false) == "kill");
}

TEST_CASE("timeline executor: a restart of \"all\" brings back every peer, even when none runs", "[scenario]") {
  // Every peer killed, then every peer restarted: "all" of a restart means
  // every peer started so far (it was the running ones, so nobody came back,
  // the run went on with an empty swarm and passed).
  const Scenario s = scenario_from(R"(
name = "t"
duration = 10
[swarm]
peers = 3
train = false
[[events]]
at = 2
kind = "kill"
peers = "all"
[[events]]
at = 4
kind = "restart"
peers = "all"
)");
  FakeBackend backend;
  const TimelineResult result = run_timeline(s, backend, TimelineOptions{});
  CHECK(backend.calls == std::vector<std::string>{"-3 start_swarm 3", "2 kill 0,1,2", "4 restart 0,1,2"});
  CHECK(result.problems.empty());
  REQUIRE_FALSE(result.observations.rounds.empty());
  for (const Sample& sample : result.observations.rounds.back().samples) CHECK(sample.phase == PeerPhase::running);
}

TEST_CASE("timeline executor: \"all\" when no peer runs is a problem, not a silent no-op", "[scenario]") {
  const Scenario s = scenario_from(R"(
name = "t"
duration = 10
[swarm]
peers = 2
train = false
[[events]]
at = 2
kind = "kill"
peers = "all"
[[events]]
at = 3
kind = "loss"
peers = "all"
percent = 20
duration = 2
)");
  FakeBackend backend;
  const TimelineResult result = run_timeline(s, backend, TimelineOptions{});
  CHECK(backend.calls == std::vector<std::string>{"-3 start_swarm 2", "2 kill 0,1"});
  REQUIRE(result.problems.size() == 1);
  CHECK(result.problems[0] ==
        "loss at 3.0 s: peers = \"all\" or a fraction names no peer: none was running then (line 11)");
}

TEST_CASE("timeline executor: the end of an inner timed fault falls back to the outer one", "[scenario]") {
  // Each end used to set the neutral value: peer 2 resumed at 4 s (its 1-9 s
  // pause still held it), peer 1's loss went to 0 at 5 s (the 30% on every
  // peer lasts to 9 s), and {0}/{1} healing at 6 s cleared the {0,1}/{2}
  // blocks of peers 0 and 1 (that partition lasts to 8 s).
  const Scenario s = scenario_from(R"(
name = "t"
duration = 10
[swarm]
peers = 3
train = false
[[events]]
at = 1
kind = "loss"
peers = [0, 1]
percent = 30
duration = 8
[[events]]
at = 1
kind = "pause"
peer = 2
duration = 8
[[events]]
at = 2
kind = "pause"
peer = 2
duration = 2
[[events]]
at = 2
kind = "partition"
groups = [[0, 1], [2]]
duration = 6
[[events]]
at = 3
kind = "loss"
peer = 1
percent = 80
duration = 2
[[events]]
at = 3
kind = "partition"
groups = [[0], [1]]
duration = 3
)");
  FakeBackend backend;
  const TimelineResult result = run_timeline(s, backend, TimelineOptions{});
  const std::vector<std::string> want = {
      "-3 start_swarm 3",  "1 loss=0.3 0,1",     "1 pause 2",
      "2 partition [0,1][2]", "3 loss=0.8 1",     "3 partition [0][1]",
      "5 loss=0.3 1",      "6 heal 0,1",         "6 partition [0,1][2]",
      "8 heal 0,1,2",      "9 loss=0 0,1",       "9 resume 2"};
  CHECK(backend.calls == want);
  CHECK(result.problems.empty());
  // The pause held peer 2 from 1 s to 9 s, whatever the inner pause did.
  for (const Round& round : result.observations.rounds) {
    const bool inside = round.t > 1.5 && round.t < 8.5;
    for (const Sample& sample : round.samples) {
      if (sample.peer == 2 && inside) CHECK(sample.phase == PeerPhase::paused);
    }
  }
}

TEST_CASE("timeline executor: a pause of a peer that was killed and restarted does not hold it", "[scenario]") {
  const Scenario s = scenario_from(R"(
name = "t"
duration = 10
[swarm]
peers = 2
train = false
[[events]]
at = 1
kind = "pause"
peer = 1
duration = 8
[[events]]
at = 2
kind = "kill"
peer = 1
[[events]]
at = 3
kind = "restart"
peer = 1
[[events]]
at = 4
kind = "pause"
peer = 1
duration = 1
)");
  FakeBackend backend;
  (void)run_timeline(s, backend, TimelineOptions{});
  const std::vector<std::string> want = {"-3 start_swarm 2", "1 pause 1", "2 kill 1", "3 restart 1",
                                         "4 pause 1",        "5 resume 1"};
  CHECK(backend.calls == want);
}

// events.jsonl said a down peer was paused and resumed: the records now name
// the peers a pause held and resumed, and list a down one as down.
TEST_CASE("timeline executor: the record of a pause of a down peer says it was down", "[scenario]") {
  const Scenario s = scenario_from(R"(
name = "t"
duration = 10
[swarm]
peers = 3
train = false
[[events]]
at = 1
kind = "kill"
peer = 2
[[events]]
at = 2
kind = "pause"
peers = [1, 2]
duration = 2
)");
  FakeBackend backend;
  const TimelineResult result = run_timeline(s, backend, TimelineOptions{});
  const std::vector<std::string> want = {"-3 start_swarm 3", "1 kill 2", "2 pause 1", "4 resume 1"};
  CHECK(backend.calls == want);
  std::vector<std::string> records;
  for (const LoggedEvent& e : result.observations.events) {
    if (e.kind == "pause" || e.kind == "resume") records.push_back(e.json);
  }
  REQUIRE(records.size() == 2);
  CHECK(records[0].find(R"("peers":[1])") != std::string::npos);
  CHECK(records[0].find(R"("down":[2])") != std::string::npos);
  CHECK(records[1].find(R"("peers":[1])") != std::string::npos);
  CHECK(records[1].find(R"("down":[2])") != std::string::npos);
}

// Drawn from the running peers only, `kill "all"` left a paused peer to
// resume at the end of its pause and run on (and `stop "all"` the same),
// while the parser warned that every peer was down from then.
TEST_CASE("timeline executor: kill and stop of \"all\" take paused peers too", "[scenario]") {
  for (const char* kind : {"kill", "stop"}) {
    INFO(kind);
    const Scenario s = scenario_from(std::string(R"(
name = "t"
duration = 20
[swarm]
peers = 4
train = false
[[events]]
at = 2
kind = "pause"
peer = 1
duration = 6
[[events]]
at = 4
kind = ")") + kind + R"("
peers = "all"
)");
    FakeBackend backend;
    (void)run_timeline(s, backend, TimelineOptions{});
    const std::vector<std::string> want = {"-3 start_swarm 4", "2 pause 1", std::string("4 ") + kind + " 0,1,2,3"};
    CHECK(backend.calls == want);  // and no "8 resume 1"
  }
}

// A long run kept every peer's view of every other at every poll: 64 peers
// polled every 0.1 s for 300 s took 2.4 GB. Past the budget the executor
// lets go of every other round's views; the newest round keeps its own, and
// membership is still judged on the rounds that kept theirs.
namespace {

// 5 membership-only peers polled every 0.5 s for `duration` s, judged on
// membership_converged: 20 view entries a round.
Scenario polled_membership(int duration) {
  return scenario_from("name = \"t\"\nduration = " + std::to_string(duration) +
                       "\npoll_interval = 0.5\n[swarm]\npeers = 5\ntrain = false\n"
                       "[[expect]]\nkind = \"membership_converged\"\nwithin = 5\n");
}

}  // namespace

TEST_CASE("timeline executor: a long run keeps member views within the budget, evenly thinned", "[scenario]") {
  const Scenario s = polled_membership(100);
  FakeBackend backend;
  TimelineOptions options;
  options.max_member_entries = 400;  // 20 views of 5 peers' 4 members each
  std::size_t most = 0;
  TimelineResult result = run_timeline(s, backend, options);
  const std::vector<Round>& rounds = result.observations.rounds;
  REQUIRE(rounds.size() >= 200);
  std::size_t entries = 0;
  std::vector<double> kept_at;
  for (const Round& r : rounds) {
    std::size_t here = 0;
    for (const Sample& sample : r.samples) here += sample.members.size();
    entries += here;
    if (here > 0) kept_at.push_back(r.t);
    most = std::max(most, here);
  }
  CHECK(entries <= options.max_member_entries + most);
  CHECK(kept_at.size() >= 10);
  CHECK(rounds.back().samples.front().members.size() == 4);  // the final round is whole
  for (const Round& r : rounds)
    for (const Sample& sample : r.samples) CHECK((sample.members_listed || sample.members.empty()));
  // Evenly spaced: no gap between kept views much wider than the typical one.
  double widest = 0.0;
  for (std::size_t i = 1; i < kept_at.size(); ++i) widest = std::max(widest, kept_at[i] - kept_at[i - 1]);
  CHECK(widest <= 3.0 * (100.0 / double(kept_at.size())));
  // Judged on what was kept.
  const auto outcomes = evaluate(s, result.observations);
  REQUIRE(outcomes.size() == 1);
  INFO(outcomes[0].measured);
  CHECK(outcomes[0].passed);
}

TEST_CASE("timeline executor: rounds larger than the view budget still keep the views of 8 of them",
          "[scenario]") {
  // At 1,024 peers one round's views are ~1 M entries; the 2 M budget kept
  // only the first round's, and membership_converged could not be judged.
  const Scenario s = polled_membership(40);
  FakeBackend backend;
  TimelineOptions options;
  options.max_member_entries = 10;  // less than one round's 20 entries
  TimelineResult result = run_timeline(s, backend, options);
  const std::vector<Round>& rounds = result.observations.rounds;
  REQUIRE(rounds.size() >= 80);
  std::size_t kept = 0;
  for (std::size_t i = 0; i + 1 < rounds.size(); ++i) {
    bool listed = false;
    for (const Sample& sample : rounds[i].samples) listed = listed || sample.members_listed;
    kept += listed ? 1 : 0;
  }
  CHECK(kept >= 8);
  CHECK(kept <= 16);  // and no more than the floor's stride allows
  const auto outcomes = evaluate(s, result.observations);
  REQUIRE(outcomes.size() == 1);
  INFO(outcomes[0].measured);
  CHECK(outcomes[0].passed);
}
