#include <catch2/catch.hpp>

#include <string>

#include "starling/scenario/expectations.h"
#include "starling/scenario/report.h"
#include "starling/scenario/timeline_runner.h"

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
      if (j != i) members.push_back({"id" + std::to_string(j), "alive", "", std::nullopt});
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

Expectation converged_within(double seconds) {
  Expectation x;
  x.kind = ExpectKind::membership_converged;
  x.within_seconds = seconds;
  return x;
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

  // A peer whose training failed, or that downloads the swarm's model again
  // after it, still reports its last evaluation: not a model it holds. A
  // swarm whose every replica had diverged passed on those.
  obs.rounds.back().samples[1].answered = true;
  for (const char* state : {"failed", "downloading"}) {
    obs.rounds.back().samples[1].training_state = state;
    auto gone = check(obs, expect(ExpectKind::min_accuracy, 0.1));
    CHECK_FALSE(gone.passed);
    CHECK(gone.measured.find("1 of 3 live peers") != std::string::npos);
    CHECK(gone.measured.find(std::string("peer 1 is ") + state + ", its last evaluation ignored") != std::string::npos);
    CHECK_FALSE(check(obs, expect(ExpectKind::mean_accuracy, 0.1)).passed);
  }
  obs.rounds.back().samples[1].training_state = "training";
  CHECK(check(obs, expect(ExpectKind::min_accuracy, 0.1)).passed);
}

namespace {

// The progress line of a 10 s scenario at `round`, with `running` peers up.
std::string progress_of(const Round& round, int running) {
  Scenario s;
  s.duration_seconds = 10.0;
  Progress progress;
  progress.round = &round;
  progress.running = running;
  return progress_line(s, progress);
}

}  // namespace

TEST_CASE("the progress line shows a failed or re-downloading peer's state, not its last accuracy", "[scenario]") {
  Round round = converged_round(5.0, 0.8);  // 0.80, 0.81, 0.82
  round.samples[2].training_state = "failed";
  const std::string line = progress_of(round, 3);
  INFO(line);
  CHECK(line.find("acc min 0.800 mean 0.805 [0:0.80 1:0.81 2:failed]") != std::string::npos);
}

TEST_CASE("the progress line lists 16 peers, then how many more", "[scenario]") {
  // At 1,000 peers it listed each one: 8 kB a line.
  Round round = converged_round(5.0, 0.8);
  const Sample first = round.samples.front();
  round.samples.clear();
  for (int p = 0; p < 1000; ++p) {
    Sample sample = first;
    sample.peer = p;
    round.samples.push_back(sample);
  }
  const std::string line = progress_of(round, 1000);
  INFO(line);
  CHECK(line.find(" 15:0.80 +984 more]") != std::string::npos);
  CHECK(line.size() < 400);
}

TEST_CASE("accuracy expectations judge the served model when told to", "[scenario]") {
  Observations obs = three_peers();  // own models end at 0.80, 0.81, 0.82
  // The local averages agree closely while peer 0's own model lags.
  for (Sample& s : obs.rounds.back().samples) s.local_average_accuracy = 0.85 + 0.001 * s.peer;
  Expectation spread = expect(ExpectKind::max_accuracy_spread, 0.005);
  CHECK_FALSE(check(obs, spread).passed);
  spread.served = true;
  const Outcome agreed = check(obs, spread);
  CHECK(agreed.passed);
  CHECK(agreed.requirement.find("served test accuracy") != std::string::npos);
  CHECK(agreed.measured.find("0.002") != std::string::npos);
  Expectation lowest = expect(ExpectKind::min_accuracy, 0.849);
  CHECK_FALSE(check(obs, lowest).passed);
  lowest.served = true;
  CHECK(check(obs, lowest).passed);
  Expectation mean = expect(ExpectKind::mean_accuracy, 0.8505);
  mean.served = true;
  CHECK(check(obs, mean).passed);
  mean.value = 0.852;
  CHECK_FALSE(check(obs, mean).passed);

  // A peer that has not yet evaluated its local average fails a served
  // expectation, like a peer without an own accuracy fails the own one.
  obs.rounds.back().samples[2].local_average_accuracy.reset();
  const Outcome missing = check(obs, lowest);
  CHECK_FALSE(missing.passed);
  CHECK(missing.measured.find("no served model's test accuracy") != std::string::npos);
}

TEST_CASE("end-of-run accuracy and consensus distance can judge the honest peers only", "[scenario]") {
  Observations obs = three_peers();  // end accuracies 0.80, 0.81, 0.82; distances 0.001-0.003
  obs.byzantine = {true, false, false};
  obs.rounds.back().samples[0].accuracy = 0.2;  // the attacker's own model
  obs.rounds.back().samples[0].consensus_distance = 5.0;
  Expectation lowest = expect(ExpectKind::min_accuracy, 0.79);
  Expectation distance = expect(ExpectKind::max_consensus_distance, 0.01);
  CHECK_FALSE(check(obs, lowest).passed);
  CHECK_FALSE(check(obs, distance).passed);
  PeerSelector honest;
  honest.kind = PeerSelector::Kind::honest;
  lowest.peers = distance.peers = honest;
  const Outcome judged = check(obs, lowest);
  CHECK(judged.passed);
  CHECK(judged.requirement.find("live peers (honest)") != std::string::npos);
  CHECK(judged.measured.find("0.810 over 2 peers") != std::string::npos);
  CHECK(check(obs, distance).passed);
  // An honest peer below the bound still fails it, and one that did not answer too.
  obs.rounds.back().samples[2].accuracy = 0.5;
  CHECK_FALSE(check(obs, lowest).passed);
  obs.rounds.back().samples[2].accuracy = 0.9;
  obs.rounds.back().samples[2].answered = false;
  CHECK_FALSE(check(obs, lowest).passed);
  // A list names peers: [2] alone.
  obs.rounds.back().samples[2].answered = true;
  PeerSelector two;
  two.kind = PeerSelector::Kind::list;
  two.peers = {2};
  Expectation mean = expect(ExpectKind::mean_accuracy, 0.89);
  mean.peers = two;
  CHECK(check(obs, mean).passed);
  CHECK(check(obs, mean).requirement.find("live peers [2]") != std::string::npos);
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
  // The served model: the own models above rise while each local average
  // falls by 0.01 a second, so the served gain is -0.05 over the same windows.
  for (Round& r : obs.rounds)
    for (Sample& s : r.samples) s.local_average_accuracy = 0.9 - 0.01 * r.t;
  improving.value = 0.0;
  improving.served = true;
  const Outcome served = check(obs, improving);
  CHECK_FALSE(served.passed);
  CHECK(served.requirement.find("mean served accuracy") != std::string::npos);
  CHECK(served.measured.find("-0.05") != std::string::npos);
  improving.served = false;
  CHECK(check(obs, improving).passed);

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

// A diverged replica (failed, or downloading the swarm's model again) keeps
// reporting its last evaluation. peer_accuracy passed the simulator's
// byzantine-one-noclip at 0.858 with every replica diverged; keeps_improving
// and catch_up counted those evaluations too.
TEST_CASE("peer_accuracy, keeps_improving and catch_up ignore evaluations of a model the peer threw away",
          "[scenario]") {
  for (const char* state : {"failed", "downloading"}) {
    INFO("state " << state);
    Observations obs = three_peers();
    for (Round& r : obs.rounds)
      if (r.t >= 8.0) r.samples[1].training_state = state;
    Expectation end = expect(ExpectKind::peer_accuracy, 0.5);
    const Outcome gone = check(obs, end);
    CHECK_FALSE(gone.passed);
    CHECK(gone.measured.find(std::string("peer 1 held no evaluated model at 10.0 s (it was ") + state) !=
          std::string::npos);
    Expectation before = end;
    before.at_seconds = 7.0;  // it trained then
    CHECK(check(obs, before).passed);

    // keeps_improving: peer 1's last windows are all of the thrown-away model,
    // so it is not compared; the others gain, and it alone would fail the bound.
    Expectation improving = expect(ExpectKind::keeps_improving, 0.14);
    improving.after_seconds = 5.0;
    improving.window_seconds = 0.0;
    for (Round& r : obs.rounds)
      if (r.t >= 8.0) r.samples[1].accuracy = 0.99;  // a stale figure that would look like a gain
    const Outcome compared = check(obs, improving);
    CHECK(compared.measured.find("2 peers compared") != std::string::npos);

    // catch_up: peer 1 "reaches" the others only through a model it no longer holds.
    Observations late = three_peers();
    for (Round& r : late.rounds) {
      if (r.t >= 8.0) {
        r.samples[1].training_state = state;
        r.samples[1].accuracy = 0.99;
      } else {
        r.samples[1].accuracy = 0.1;
      }
    }
    Expectation catch_up = expect(ExpectKind::catch_up, 0.01);
    catch_up.peer = 1;
    catch_up.within_seconds = 9.0;
    CHECK_FALSE(check(late, catch_up).passed);
  }
}

TEST_CASE("membership convergence counts from the last event and needs dead departed peers", "[scenario]") {
  Observations obs = three_peers();
  obs.last_event_seconds = 4.0;
  // Until t = 7 peer 0 still sees peer 2 as suspect, and a departed id as alive until 8.
  for (Round& r : obs.rounds) {
    r.departed_ids = {"gone"};
    r.samples[0].members.push_back({"gone", r.t < 8.0 ? "alive" : "dead", "", std::nullopt});
    if (r.t < 7.0) r.samples[0].members[1].state = "suspect";
  }
  Expectation x = converged_within(4.0);
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

TEST_CASE("membership convergence at a lasting fault's first poll alone does not pass", "[scenario]") {
  // 100% loss from t = 4 on, never undone: the poll at 4 s still shows every
  // view right (nothing happened yet), then peer 0 suspects peer 1 and never
  // sees it alive again.
  Observations obs = three_peers();
  obs.last_event_seconds = 4.0;
  for (Round& r : obs.rounds) {
    if (r.t > 4.0) r.samples[0].members[0].state = r.t < 6.0 ? "suspect" : "dead";
  }
  Expectation x = converged_within(5.0);
  const Outcome lasting = check(obs, x);
  CHECK_FALSE(lasting.passed);
  CHECK(lasting.measured.find("converged 0.0 s after it; but not in the last 5.0 s of the run (at 10.0 s: peer 0 "
                              "sees peer 1 as dead)") != std::string::npos);
  // A fault that heals at 7 s converges again before the end: it passes.
  for (Round& r : obs.rounds) {
    if (r.t >= 7.0) r.samples[0].members[0].state = "alive";
  }
  const Outcome healed = check(obs, x);
  CHECK(healed.passed);
  CHECK(healed.measured == "converged 0.0 s after it");
  // A transient suspicion in the last seconds does not fail a swarm that
  // converged again in that window.
  obs.rounds.back().samples[0].members[0].state = "suspect";
  CHECK(check(obs, x).passed);
}

TEST_CASE("membership convergence judges only honest peers' views of each other", "[scenario]") {
  Observations obs = three_peers();
  obs.last_event_seconds = 4.0;
  obs.byzantine = {false, false, false};
  // Peer 2 lies to the end: it lists peer 0 dead, and peer 1 lists it dead.
  for (Round& r : obs.rounds) {
    r.samples[2].members[0].state = "dead";
    r.samples[1].members[1].state = "dead";
  }
  Expectation x = converged_within(4.0);
  CHECK_FALSE(check(obs, x).passed);  // an honest peer 2 would be a disagreement
  obs.byzantine[2] = true;
  CHECK(check(obs, x).passed);
  for (Round& r : obs.rounds) r.samples[0].members[0].state = "suspect";  // honest 0 about honest 1
  CHECK_FALSE(check(obs, x).passed);
}

TEST_CASE("rounds that did not read the views are skipped, not judged as empty views", "[scenario]") {
  Observations obs = three_peers();
  obs.last_event_seconds = 4.0;
  // Polls at t = 5..8 did not read the views (a large simulated swarm):
  // their lists are empty, and they must not count as "lists nobody".
  for (Round& r : obs.rounds) {
    if (r.t < 5.0 || r.t > 8.0) continue;
    for (Sample& s : r.samples) {
      s.members.clear();
      s.members_listed = false;
    }
  }
  Expectation x = converged_within(4.0);
  // Converged at the first judged poll after the last event (t = 4), not at
  // t = 9; the outcome counts the polls from the event to the end.
  auto outcome = check(obs, x);
  CHECK(outcome.passed);
  CHECK(outcome.measured == "converged 0.0 s after it (views read in 3 of 7 polls since)");
  // After an event at 4.5 s the next poll that read the views is at 9 s,
  // and the outcome says how many polls could not be judged.
  obs.last_event_seconds = 4.5;
  x.within_seconds = 5.0;
  auto late = check(obs, x);
  CHECK(late.passed);
  CHECK(late.measured == "converged 4.5 s after it (views read in 2 of 6 polls since)");
  x.within_seconds = 4.0;
  CHECK_FALSE(check(obs, x).passed);

  // never_dead: a stretch is not broken by the polls without views, and
  // true_alive_count does not read an unread view as "nobody alive".
  Expectation never_dead;
  never_dead.kind = ExpectKind::never_dead;
  never_dead.max_seconds = 4.0;
  for (int t : {3, 4, 9, 10}) obs.rounds[static_cast<std::size_t>(t - 1)].samples[1].members[0].state = "dead";
  auto dead = check(obs, never_dead);
  CHECK_FALSE(dead.passed);  // listed dead from t = 3 to the end: 7.0 s by polls
  CHECK(dead.measured.find("dead for 7.0 s") != std::string::npos);
}

TEST_CASE("a membership expectation with no peer to judge fails and says so, it does not pass vacuously", "[scenario]") {
  // `pause peers = "all"` faults every peer, and never_dead protects the
  // unfaulted ones by default: it passed as "lists peers [] as dead ... never".
  Observations obs = three_peers();
  obs.faulted = {true, true, true};
  Expectation never_dead;
  never_dead.kind = ExpectKind::never_dead;
  auto nobody = check(obs, never_dead);
  CHECK_FALSE(nobody.passed);
  CHECK(nobody.measured.find("no peer to judge: an event faulted every peer") != std::string::npos);
  // Named peers still count, faulted or not.
  never_dead.peers = PeerSelector{PeerSelector::Kind::list, {0}};
  CHECK(check(obs, never_dead).passed);
  // Peers named that never ran: nothing to judge either.
  never_dead.peers = PeerSelector{PeerSelector::Kind::list, {7}};
  auto absent = check(obs, never_dead);
  CHECK_FALSE(absent.passed);
  CHECK(absent.measured.find("the peers named never ran") != std::string::npos);
  Expectation addresses;
  addresses.kind = ExpectKind::addresses_stable;
  addresses.peers = PeerSelector{PeerSelector::Kind::list, {7}};
  CHECK_FALSE(check(obs, addresses).passed);
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
  CHECK(csv.find(",training_state,local_average_accuracy,distrusted_neighbours,lowest_trust\n") != std::string::npos);
  // A local average accuracy lands in its own cell, before the two of trust.
  Observations one = three_peers();
  one.rounds.resize(1);
  one.rounds[0].samples.resize(1);
  one.rounds[0].samples[0].local_average_accuracy = 0.875;
  const std::string one_csv = metrics_csv(one);
  const std::string row = one_csv.substr(one_csv.find('\n') + 1);
  CHECK(row.substr(row.size() - 8) == "0.875,,\n");
  CHECK(metrics_csv(obs).find(",0.875\n") == std::string::npos);
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

TEST_CASE("svg plots of a tiny duration or a tiny value range draw a few ticks, and no control characters",
          "[scenario]") {
  // A run of duration 1e-15 s stepped its x ticks up to x_max + 1e-9: ~1e7
  // of them, and the report never finished.
  Series tiny{"peer 0", {{0, 0.5}, {1e-15, 0.5 + 1e-14}}};
  const std::string title = std::string("a\x01", 2) + "b";
  const std::string svg =
      svg_plot(PlotSpec{title, "y", false, 1e-15}, {tiny}, {Marker{1e-16, std::string("k\0ill", 5)}});
  CHECK(svg.size() < 20'000);
  for (const char c : svg) CHECK_FALSE((static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t'));
  CHECK(svg.find("a?b") != std::string::npos);
}

namespace {

// three_peers() with real addresses, where each peer lists each other at its own.
Observations three_peers_with_addresses() {
  Observations obs = three_peers();
  obs.byzantine = {false, false, false};
  for (Round& r : obs.rounds) {
    for (Sample& s : r.samples) {
      s.address = "127.0.0.1:" + std::to_string(7000 + s.peer);
      for (MemberSeen& m : s.members) m.address = "127.0.0.1:700" + m.node_id.substr(2);
    }
  }
  return obs;
}

Expectation membership_expect(ExpectKind kind) {
  Expectation x;
  x.kind = kind;
  return x;
}

}  // namespace

TEST_CASE("never_dead with max_seconds bounds each stretch a peer is listed dead", "[scenario]") {
  Observations obs = three_peers_with_addresses();
  Expectation x = membership_expect(ExpectKind::never_dead);
  x.max_seconds = 4.0;
  // Peer 1 lists peer 0 dead at t = 3..5 (as the peer says: 0.5, 1.5, 2.5 s).
  for (int t = 3; t <= 5; ++t) {
    MemberSeen& m = obs.rounds[static_cast<std::size_t>(t - 1)].samples[1].members[0];
    m.state = "dead";
    m.state_age_seconds = t - 2.5;
  }
  auto short_stretch = check(obs, x);
  CHECK(short_stretch.passed);
  CHECK(short_stretch.measured.find("dead for 2.5 s") != std::string::npos);
  x.max_seconds = 0.0;  // never: any sighting fails
  CHECK_FALSE(check(obs, x).passed);

  // Listed dead from t = 3 to the end: 7.5 s at t = 10 by its own age.
  x.max_seconds = 4.0;
  for (int t = 6; t <= 10; ++t) {
    MemberSeen& m = obs.rounds[static_cast<std::size_t>(t - 1)].samples[1].members[0];
    m.state = "dead";
    m.state_age_seconds = t - 2.5;
  }
  auto long_stretch = check(obs, x);
  CHECK_FALSE(long_stretch.passed);
  CHECK(long_stretch.measured.find("peer 1 listed peer 0 dead for 7.5 s at 10.0 s") != std::string::npos);

  // Without reported ages the stretch is counted from the first poll that saw it.
  for (Round& r : obs.rounds) r.samples[1].members[0].state_age_seconds.reset();
  auto by_polls = check(obs, x);
  CHECK_FALSE(by_polls.passed);
  CHECK(by_polls.measured.find("dead for 7.0 s") != std::string::npos);

  // A byzantine peer's view is not evidence: the same lists from peer 1 count
  // for nothing once peer 1 is the liar.
  obs.byzantine[1] = true;
  obs.faulted[1] = true;
  CHECK(check(obs, x).passed);
}

TEST_CASE("addresses_stable catches an honest peer listed at another address", "[scenario]") {
  Observations obs = three_peers_with_addresses();
  Expectation x = membership_expect(ExpectKind::addresses_stable);
  auto fine = check(obs, x);
  CHECK(fine.passed);
  CHECK(fine.measured == "always their own");

  // Peer 2 (the liar) moved peer 0 to its own address in peer 1's view.
  obs.byzantine[2] = true;
  obs.faulted[2] = true;
  obs.rounds[4].samples[1].members[0].address = "127.0.0.1:7002";
  obs.rounds[4].samples[1].members[0].state = "dead";
  auto moved = check(obs, x);
  CHECK_FALSE(moved.passed);
  CHECK(moved.measured.find("peer 1 listed peer 0 at 127.0.0.1:7002 (dead; really 127.0.0.1:7000)") !=
        std::string::npos);

  // What the liar itself lists, or says about itself, is not checked.
  obs.rounds[4].samples[1].members[0].address = "127.0.0.1:7000";
  obs.rounds[6].samples[2].members[0].address = "10.0.0.1:1";  // the liar's own view
  obs.rounds[6].samples[0].members[1].address = "10.0.0.1:2";  // peer 0's view of the liar
  CHECK(check(obs, x).passed);
  // Unless the expectation names the liar.
  x.peers = PeerSelector{PeerSelector::Kind::list, {2}, 0.0};
  CHECK_FALSE(check(obs, x).passed);
}

TEST_CASE("true_alive_count: never more alive than processes up, every honest peer alive at the end",
          "[scenario]") {
  Observations obs = three_peers_with_addresses();
  Expectation x = membership_expect(ExpectKind::true_alive_count);
  auto fine = check(obs, x);
  CHECK(fine.passed);
  CHECK(fine.measured.find("every honest peer alive at the end (3 viewers)") != std::string::npos);

  // Peer 0 learns 2000 made-up members at t = 4 and forgets them by t = 8.
  for (int t = 4; t < 8; ++t) {
    auto& members = obs.rounds[static_cast<std::size_t>(t - 1)].samples[0].members;
    for (int f = 0; f < 2000; ++f) members.push_back({"fake" + std::to_string(f), "alive", "", std::nullopt});
  }
  auto flooded = check(obs, x);
  CHECK_FALSE(flooded.passed);
  CHECK(flooded.measured.find("4 polls above the true count; worst peer 0 listed 2002 alive at 4.0 s (2 others up)") !=
        std::string::npos);
  CHECK(flooded.measured.find("equal at the end") != std::string::npos);

  // A suspicion at the end passes: any member may spread one and the accused
  // refutes it within a gossip round (member-flood failed on one, session 36).
  for (Round& r : obs.rounds) {
    auto& members = r.samples[0].members;
    members.resize(2);
  }
  obs.rounds.back().samples[1].members[0].state = "suspect";
  auto suspected = check(obs, x);
  CHECK(suspected.passed);
  CHECK(suspected.measured == "never above; every honest peer alive or suspected at the end (3 viewers, 1 suspicions)");
  // Dead or missing at the end fails: peer 1 lists peer 0 dead, then not at all.
  obs.rounds.back().samples[1].members[0].state = "dead";
  auto short_end = check(obs, x);
  CHECK_FALSE(short_end.passed);
  CHECK(short_end.measured == "at the end peer 1 did not list honest peer 0 alive or suspected (1 alive, 2 others run)");
  const MemberSeen dropped = obs.rounds.back().samples[1].members[0];
  obs.rounds.back().samples[1].members.erase(obs.rounds.back().samples[1].members.begin());
  CHECK_FALSE(check(obs, x).passed);
  obs.rounds.back().samples[1].members.insert(obs.rounds.back().samples[1].members.begin(), dropped);

  // But a byzantine peer may rightly be suspected at the end (a flooder's
  // own probes drown in its flood): peer 0 as the misbehaving one passes.
  obs.byzantine.assign(3, false);
  obs.byzantine[0] = true;
  CHECK(check(obs, x).passed);
  obs.byzantine[0] = false;

  // A peer that is paused still counts as up (it may be listed alive) but is
  // not expected alive at the end.
  obs.rounds.back().samples[1].members[0].state = "alive";
  obs.rounds.back().samples[2].phase = PeerPhase::paused;
  obs.rounds.back().samples[0].members[1].state = "dead";
  obs.rounds.back().samples[1].members[1].state = "dead";
  CHECK(check(obs, x).passed);
}

TEST_CASE("the honest selector leaves out every peer a byzantine event targeted", "[scenario]") {
  Observations obs = three_peers_with_addresses();  // end accuracies 0.80, 0.81, 0.82
  obs.byzantine[0] = true;
  obs.faulted[0] = true;
  Expectation x = expect(ExpectKind::peer_accuracy, 0.805);
  x.peers = PeerSelector{PeerSelector::Kind::honest, {}, 0.0};
  CHECK(check(obs, x).passed);
  x.peers = PeerSelector{PeerSelector::Kind::all, {}, 0.0};
  CHECK_FALSE(check(obs, x).passed);
}

TEST_CASE("membership convergence needs a peer that runs", "[scenario]") {
  // Every peer down after the last event: nobody agrees on anything.
  Observations obs = three_peers();
  obs.last_event_seconds = 4.0;
  for (Round& r : obs.rounds) {
    if (r.t < 4.0) continue;
    for (Sample& sample : r.samples) {
      sample.phase = PeerPhase::down;
      sample.answered = false;
      sample.members.clear();
    }
  }
  const Outcome outcome = check(obs, converged_within(4.0));
  CHECK_FALSE(outcome.passed);
  CHECK(outcome.measured == "not converged by the end (10.0 s): no honest peer runs");
}

// A byzantine run's report names who the honest peers distrust (session 41's
// review: metrics.csv had no trust and the report named no suspect).
TEST_CASE("the report's csv carries each peer's distrust, and its html names the distrusted peer", "[scenario]") {
  Observations obs = three_peers();
  for (Round& round : obs.rounds) {
    for (Sample& s : round.samples) {
      s.node_id = "id" + std::to_string(s.peer);
      for (int j = 0; j < 3; ++j)
        if (j != s.peer) s.neighbour_trust.emplace_back("id" + std::to_string(j), 1.0);
    }
  }
  Scenario s;
  s.name = "trust";
  s.duration_seconds = 10.0;
  const RunSummary summary{7, 1.0, "starling simulate x", true};
  const std::string trusting = report_html(s, obs, evaluate(s, obs), summary);
  CHECK(trusting.find("none: every peer trusts each of its neighbours fully") != std::string::npos);
  CHECK(trusting.find("Lowest trust each peer") == std::string::npos);  // no plot of all ones

  // In the last round peers 0 and 1 distrust peer 2.
  Round& last = obs.rounds.back();
  last.samples[0].neighbour_trust = {{"id1", 1.0}, {"id2", 0.25}};
  last.samples[1].neighbour_trust = {{"id0", 1.0}, {"id2", 0.5}};
  last.samples[2].neighbour_trust = {{"id0", 0.5}, {"id1", 1.0}};
  const std::string csv = metrics_csv(obs);
  CHECK(csv.find("10.000,0,") != std::string::npos);
  const std::string row0 = csv.substr(csv.find("10.000,0,"));
  CHECK(row0.substr(0, row0.find('\n')).ends_with(",1,0.25"));
  const std::string row2 = csv.substr(csv.find("10.000,2,"));
  CHECK(row2.substr(0, row2.find('\n')).ends_with(",1,0.5"));
  const std::string row1_early = csv.substr(csv.find("9.000,1,"));
  CHECK(row1_early.substr(0, row1_early.find('\n')).ends_with(",0,1"));
  const std::string html = report_html(s, obs, evaluate(s, obs), summary);
  const std::size_t suspect = html.find("<tr><td>peer 2 <code>id2</code></td><td>0, 1</td><td>0.250</td></tr>");
  CHECK(suspect != std::string::npos);
  // Peer 2 distrusts peer 0 back, alone: a row below the one most distrusted.
  const std::size_t back = html.find("<tr><td>peer 0 <code>id0</code></td><td>2</td><td>0.500</td></tr>");
  CHECK(back != std::string::npos);
  CHECK(suspect < back);
  CHECK(html.find("Lowest trust each peer") != std::string::npos);

  // Text another process reported stays in its cell: a comma or a line
  // break in it shifted every later column.
  last.samples[1].training_state = "a,b\nc";
  last.samples[1].node_id = "id1,\"x";
  const std::string hostile = metrics_csv(obs);
  CHECK(hostile.find(",id1??x,") != std::string::npos);
  CHECK(hostile.find(",a?b?c,") != std::string::npos);
  CHECK(std::count(hostile.begin(), hostile.end(), '\n') == std::count(csv.begin(), csv.end(), '\n'));
}
