#include <catch2/catch.hpp>

#include <string>

#include "starling/scenario/expectations.h"
#include "starling/scenario/report.h"

using namespace starling::scenario;

namespace {

Sample peer(int index, double accuracy, std::vector<MemberSeen> members = {}) {
  Sample s;
  s.peer = index;
  s.phase = PeerPhase::running;
  s.answered = true;
  s.node_id = "id" + std::to_string(index);
  s.accuracy = accuracy;
  s.consensus_distance = 0.001 * (index + 1);
  s.bytes_sent = 1000u * static_cast<unsigned>(index + 1);
  s.members = std::move(members);
  return s;
}

// Three peers that all see each other alive.
Round converged_round(double t, double accuracy) {
  Round r;
  r.t = t;
  for (int i = 0; i < 3; ++i) {
    std::vector<MemberSeen> members;
    for (int j = 0; j < 3; ++j) {
      if (j != i) members.push_back({"id" + std::to_string(j), "alive"});
    }
    r.samples.push_back(peer(i, accuracy + 0.01 * i, members));
  }
  return r;
}

Observations three_peers() {
  Observations obs;
  obs.started_at = {0.0, 0.0, 0.0};
  obs.faulted = {false, false, false};
  for (int t = 1; t <= 10; ++t) obs.rounds.push_back(converged_round(t, 0.5 + 0.03 * t));
  obs.end_seconds = 10.0;
  return obs;
}

Outcome check(const Observations& obs, Expectation x) {
  Scenario s;
  s.duration_seconds = 10.0;
  s.expectations = {x};
  auto outcomes = evaluate(s, obs);
  REQUIRE(outcomes.size() == 1);
  INFO(outcomes[0].requirement << " -> " << outcomes[0].measured);
  return outcomes[0];
}

Expectation expect(ExpectKind kind, double value) {
  Expectation x;
  x.kind = kind;
  x.value = value;
  return x;
}

}  // namespace

TEST_CASE("accuracy expectations at the end pass and fail by their bound", "[scenario]") {
  Observations obs = three_peers();  // end accuracies 0.80, 0.81, 0.82
  CHECK(check(obs, expect(ExpectKind::min_accuracy, 0.79)).passed);
  auto short_by = check(obs, expect(ExpectKind::min_accuracy, 0.85));
  CHECK_FALSE(short_by.passed);
  CHECK(short_by.measured.find("short by 0.050") != std::string::npos);
  CHECK(check(obs, expect(ExpectKind::mean_accuracy, 0.81)).passed);
  CHECK_FALSE(check(obs, expect(ExpectKind::mean_accuracy, 0.811)).passed);
  CHECK(check(obs, expect(ExpectKind::max_accuracy_spread, 0.021)).passed);
  CHECK_FALSE(check(obs, expect(ExpectKind::max_accuracy_spread, 0.019)).passed);

  // A live peer that reports no accuracy (a membership-only peer) fails them.
  obs.rounds.back().samples[1].accuracy.reset();
  auto missing = check(obs, expect(ExpectKind::min_accuracy, 0.1));
  CHECK_FALSE(missing.passed);
  CHECK(missing.measured.find("no test accuracy") != std::string::npos);

  // A running peer that did not answer the final poll fails them too: it is
  // not silently left out.
  obs.rounds.back().samples[1].accuracy = 0.9;
  obs.rounds.back().samples[1].answered = false;
  auto silent = check(obs, expect(ExpectKind::min_accuracy, 0.1));
  CHECK_FALSE(silent.passed);
  CHECK(silent.measured.find("peer 1 runs but did not answer") != std::string::npos);
}

TEST_CASE("peer_accuracy, keeps_improving and catch_up", "[scenario]") {
  Observations obs = three_peers();
  Expectation at5 = expect(ExpectKind::peer_accuracy, 0.65);
  at5.at_seconds = 5.0;  // peer 0 has 0.65 at t = 5
  CHECK(check(obs, at5).passed);
  at5.value = 0.66;
  CHECK_FALSE(check(obs, at5).passed);

  Expectation improving = expect(ExpectKind::keeps_improving, 0.14);
  improving.after_seconds = 5.0;  // +0.15 by the end
  improving.window_seconds = 0.0;
  CHECK(check(obs, improving).passed);
  improving.value = 0.16;
  CHECK_FALSE(check(obs, improving).passed);
  // Windows of 2 s: mean of t = 3..5 (0.62) against t = 8..10 (0.77).
  improving.window_seconds = 2.0;
  improving.value = 0.149;
  CHECK(check(obs, improving).passed);
  improving.value = 0.151;
  CHECK_FALSE(check(obs, improving).passed);

  // Peer 3 starts at t = 4 at 0.2 and gains 0.11 per second: within 0.01 of the
  // others (0.51 + 0.03 t) from t = 9.25, so at the poll at t = 10.
  obs.started_at.push_back(4.0);
  obs.faulted.push_back(false);
  for (Round& r : obs.rounds) {
    if (r.t < 4.0) continue;
    r.samples.push_back(peer(3, 0.2 + 0.11 * (r.t - 4.0)));
  }
  Expectation catch_up = expect(ExpectKind::catch_up, 0.01);
  catch_up.peer = 3;
  catch_up.within_seconds = 6.0;
  auto outcome = check(obs, catch_up);
  CHECK(outcome.passed);
  CHECK(outcome.measured.find("after 6.0 s") != std::string::npos);
  catch_up.within_seconds = 3.0;
  CHECK_FALSE(check(obs, catch_up).passed);
}

TEST_CASE("membership convergence counts from the last event and needs dead departed peers", "[scenario]") {
  Observations obs = three_peers();
  obs.last_event_seconds = 4.0;
  // Until t = 7 peer 0 still sees peer 2 as suspect, and a departed id as alive until 8.
  for (Round& r : obs.rounds) {
    r.departed_ids = {"gone"};
    r.samples[0].members.push_back({"gone", r.t < 8.0 ? "alive" : "dead"});
    if (r.t < 7.0) r.samples[0].members[1].state = "suspect";
  }
  Expectation x;
  x.kind = ExpectKind::membership_converged;
  x.within_seconds = 4.0;
  auto outcome = check(obs, x);
  CHECK(outcome.passed);
  CHECK(outcome.measured == "converged 4.0 s after it");
  x.within_seconds = 3.5;
  CHECK_FALSE(check(obs, x).passed);

  obs.rounds.back().samples[1].answered = false;  // never converged after the last
  for (Round& r : obs.rounds) r.samples[0].members.back().state = "alive";
  auto never = check(obs, x);
  CHECK_FALSE(never.passed);
  CHECK(never.measured.find("not converged") != std::string::npos);
}

TEST_CASE("never_dead, no_crash, bytes and consensus distance", "[scenario]") {
  Observations obs = three_peers();
  Expectation never_dead;
  never_dead.kind = ExpectKind::never_dead;
  CHECK(check(obs, never_dead).passed);
  obs.rounds[3].samples[1].members[0].state = "dead";  // peer 1 calls peer 0 dead
  auto dead = check(obs, never_dead);
  CHECK_FALSE(dead.passed);
  CHECK(dead.measured.find("peer 1 listed peer 0 as dead") != std::string::npos);
  obs.faulted[0] = true;  // by default only never-faulted peers are protected
  CHECK(check(obs, never_dead).passed);

  CHECK(check(obs, expect(ExpectKind::no_crash, 0)).passed);
  obs.crashes.push_back(Crash{2, 3.0, "signal 11"});
  auto crashed = check(obs, expect(ExpectKind::no_crash, 0));
  CHECK_FALSE(crashed.passed);
  CHECK(crashed.measured.find("signal 11") != std::string::npos);

  CHECK(check(obs, expect(ExpectKind::max_bytes_per_peer, 3000)).passed);
  CHECK_FALSE(check(obs, expect(ExpectKind::max_bytes_per_peer, 2999)).passed);
  // Mean of 0.001, 0.002, 0.003.
  CHECK(check(obs, expect(ExpectKind::max_consensus_distance, 0.0021)).passed);
  CHECK_FALSE(check(obs, expect(ExpectKind::max_consensus_distance, 0.0019)).passed);
}

TEST_CASE("the report holds csv rows, json lines and inline svg plots", "[scenario]") {
  Observations obs = three_peers();
  obs.events.push_back(LoggedEvent{4.0, "kill", "kill 2", R"({"t":4.0,"event":"kill","peers":[2]})", true});
  Scenario s;
  s.name = "demo<&>";
  s.duration_seconds = 10.0;
  s.expectations = {expect(ExpectKind::min_accuracy, 0.79)};
  auto outcomes = evaluate(s, obs);
  std::string csv = metrics_csv(obs);
  CHECK(csv.rfind("time_s,peer,life,phase,answered,node_id,accuracy,loss,consensus_distance", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 1 + 30);
  CHECK(events_jsonl(obs) == std::string(R"({"t":4.0,"event":"kill","peers":[2]})") + "\n");
  std::string html = report_html(s, obs, outcomes, RunSummary{7, 1.0, "starling scenario x", true});
  CHECK(html.find("demo&lt;&amp;&gt;") != std::string::npos);
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("kill 2") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));  // no other link out
}

TEST_CASE("svg plots draw lines, log scales and say when there is no data", "[scenario]") {
  Series line{"peer 0", {{0, 0.1}, {1, 0.5}, {2, 0.9}}};
  std::string svg = svg_plot(PlotSpec{"acc", "accuracy", false, 2.0}, {line}, {Marker{1.0, "kill 0"}});
  CHECK(svg.find("<path d=\"M") != std::string::npos);
  CHECK(svg.find("kill 0") != std::string::npos);
  Series log_line{"d", {{0, 1e-4}, {1, 1e-2}, {2, 0.0}}};  // zero is skipped on a log scale
  std::string log_svg = svg_plot(PlotSpec{"d", "distance", true, 2.0}, {log_line}, {});
  CHECK(log_svg.find("1e-4") != std::string::npos);
  CHECK(log_svg.find("1e-2") != std::string::npos);
  CHECK(svg_plot(PlotSpec{"x", "y", false, 1.0}, {}, {}).find("no data") != std::string::npos);
}
