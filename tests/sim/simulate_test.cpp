// Scenario files in the simulator: determinism of the trace hash, the
// invariants firing on deliberately broken set-ups, and the saved regressions.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "starling/scenario/expectations.h"
#include "starling/scenario/parse.h"
#include "starling/scenario/report.h"
#include "starling/sim/random_scenario.h"
#include "starling/sim/simulate.h"

#include "sim_scenario.h"

using namespace starling;
using namespace starling::sim;
using namespace starling::sim_test;

namespace {

const char* kMembership = R"(
name = "membership"
duration = 30
[swarm]
peers = 6
train = false
[[events]]
at = 4
kind = "kill"
peer = 3
[[events]]
at = 6
kind = "pause"
peer = 1
duration = 3
[[events]]
at = 12
kind = "loss"
peers = "all"
percent = 10
duration = 4
[[expect]]
kind = "membership_converged"
within = 12
# Named: the loss on "all" faults every peer, and by default never_dead
# protects only the unfaulted ones, so it judged nobody (and passed) here.
[[expect]]
kind = "never_dead"
peers = [0, 2, 4, 5]
)";

const char* kConsensus = R"(
name = "consensus"
duration = 20
[swarm]
peers = 5
data = "synthetic:50"
lr = 0
clip = "off"
compress = "none"
)";

bool has_violation(const SimulateResult& result, const std::string& invariant) {
  for (const auto& v : result.violations)
    if (v.invariant == invariant) return true;
  return false;
}

bool all_passed(const scenario::Scenario& s, const SimulateResult& result) {
  bool passed = result.problems.empty() && result.violations.empty();
  for (const auto& outcome : scenario::evaluate(s, result.observations)) {
    INFO(outcome.name << ": " << outcome.measured);
    CHECK(outcome.passed);
    passed = passed && outcome.passed;
  }
  for (const auto& v : result.violations) UNSCOPED_INFO(v.invariant << " at " << v.t << ": " << v.what);
  return passed;
}

}  // namespace

TEST_CASE("simulate: the same seed gives the same trace hash, another seed another", "[sim]") {
  const scenario::Scenario s = parse(kMembership);
  SimulateOptions options;
  options.seed = 5;
  const SimulateResult first = simulate(s, options);
  CHECK(all_passed(s, first));
  CHECK(first.messages > 100);
  CHECK(first.virtual_seconds == Approx(30.0));
  const SimulateResult again = simulate(s, options);
  CHECK(again.trace_hash == first.trace_hash);
  CHECK(again.observations.rounds.size() == first.observations.rounds.size());
  options.seed = 6;
  CHECK(simulate(s, options).trace_hash != first.trace_hash);
}

TEST_CASE("simulate: above the size limit views are read every few polls, and judged there", "[sim]") {
  CHECK(views_read(256, 256, 1, false));
  CHECK(views_read(5000, 0, 1, false));  // no limit
  // 257 peers: every second poll; 1024: every sixteenth; always the last.
  CHECK(views_read(257, 256, 0, false));
  CHECK_FALSE(views_read(257, 256, 1, false));
  CHECK(views_read(257, 256, 2, false));
  CHECK_FALSE(views_read(1024, 256, 15, false));
  CHECK(views_read(1024, 256, 16, false));
  CHECK(views_read(1024, 256, 15, true));

  // 6 peers under a limit of 4: views every third poll. The membership
  // expectations judge those polls; before, only the final poll listed
  // members, so convergence read as "at the end" whatever the swarm did.
  const scenario::Scenario s = parse(kMembership);
  SimulateOptions options;
  options.seed = 5;
  options.members_every_round_max = 4;
  const SimulateResult result = simulate(s, options);
  CHECK(all_passed(s, result));
  int listed = 0, unlisted = 0;
  for (const auto& round : result.observations.rounds) {
    for (const auto& sample : round.samples) {
      if (!sample.answered) continue;
      (sample.members_listed ? listed : unlisted) += 1;
      if (!sample.members_listed) CHECK(sample.members.empty());
    }
  }
  CHECK(listed > 0);
  CHECK(unlisted > listed);
  for (const auto& outcome : scenario::evaluate(s, result.observations)) {
    if (outcome.name == "membership_converged") CHECK(outcome.measured.find("views read in") != std::string::npos);
  }
}

TEST_CASE("simulate: a training swarm on the synthetic objective learns and replays", "[sim]") {
  const scenario::Scenario s = parse(R"(
name = "synthetic"
duration = 20
[swarm]
peers = 6
data = "synthetic:100"
compress = "topk:0.1"
eval_every = 100
[[events]]
at = 8
kind = "straggler"
peer = 2
factor = 3
duration = 5
[[expect]]
kind = "min_accuracy"
value = 0.5
[[expect]]
kind = "no_crash"
)");
  SimulateOptions options;
  const SimulateResult first = simulate(s, options);
  CHECK(all_passed(s, first));
  CHECK(simulate(s, options).trace_hash == first.trace_hash);

  // Every training peer also reports its local average (own model and its
  // neighbours' copies), in metrics.csv's last column. It averages away part
  // of each peer's own target and noise, so it sits nearer the swarm optimum.
  REQUIRE_FALSE(first.observations.rounds.empty());
  const scenario::Round& last = first.observations.rounds.back();
  double own = 0.0, average = 0.0;
  int reporting = 0;
  for (const scenario::Sample& sample : last.samples) {
    if (!sample.answered) continue;
    REQUIRE(sample.accuracy);
    REQUIRE(sample.local_average_accuracy);
    own += *sample.accuracy;
    average += *sample.local_average_accuracy;
    ++reporting;
  }
  REQUIRE(reporting == 6);
  INFO("mean accuracy: own " << own / reporting << ", local average " << average / reporting);
  CHECK(average > own);
  const std::string csv = scenario::metrics_csv(first.observations);
  const std::string header = csv.substr(0, csv.find('\n'));
  CHECK(header.find(",local_average_accuracy,distrusted_neighbours,lowest_trust") != std::string::npos);
  // The last row's local average cell (third from the end) is filled.
  std::string last_row = csv.substr(csv.rfind('\n', csv.size() - 2) + 1);
  for (int cut = 0; cut < 2; ++cut) last_row = last_row.substr(0, last_row.rfind(','));
  CHECK(last_row.back() != ',');
}

// The pulls of the two ends of a link are opposite since issue 13: both are
// computed from the copies before the round's deltas (CHOCO order), so
// while links come up the average holds to float rounding. (Before, each
// end applied its half on its own round timer and the average moved 0.19
// against an initial spread of 6.3 in the first second.)
TEST_CASE("simulate: with lr 0 and no clipping the swarm average holds", "[sim][invariants]") {
  const scenario::Scenario s = parse(kConsensus);
  const SimulateResult honest = simulate(s, SimulateOptions{});
  CHECK(all_passed(s, honest));
}

// Stale rounds (docs/learning.md): the two ends' pulls cancel only when
// each end's round sees every delta the other sent before it. Rounds come
// every 50 ms here (the floor), the two peers' rounds a few ms apart (this
// run: a 10 ms delay holds, 15 ms does not): a 10 ms delay delivers each
// delta before the receiver's next round and the average holds; at 120 ms a delta is always in flight, each end pulls
// towards where the other was, and the average moves. (Until session 27 a
// delayed frame counted as the sender's pending bytes for its whole delay,
// which throttled sends so that 30 ms held too; a path's delay is in flight,
// not queued, and 30 ms now moves the average.) With training that pull is backwards along the trajectory: the
// drag behind the slower learning of real peers with dense rounds. (A fix
// that makes the pulls cancel under delay turns the second check around.)
// That is neighbourhood mixing. On-delta (`--mixing on-delta`) pulls when a delta
// arrives, on our own last-sent copy: the ends' pulls cancel only while
// each delta arrives before its receiver's next round is sent, so the 30 ms
// delay (j's delta reaches i after i's next round) moves the average too.
// Learning measured in docs/learning.md, "Pulling on each delta".
TEST_CASE("simulate: deltas in flight at a round move the swarm average", "[sim][invariants][stale]") {
  const std::string pair = std::string(kConsensus).replace(std::string(kConsensus).find("peers = 5"), 9, "peers = 2");
  const auto with_mixing = [&](const char* mixing) {
    std::string text = pair;
    return text.replace(text.find("[swarm]\n"), 8, std::string("[swarm]\nmixing = \"") + mixing + "\"\n");
  };
  const std::string events = "[[events]]\nat = 0\nkind = \"delay\"\npeers = \"all\"\nms = ";
  const std::string neighbourhood = with_mixing("neighbourhood") + events;
  const scenario::Scenario shorter = parse(neighbourhood + "10\n");
  CHECK(all_passed(shorter, simulate(shorter, SimulateOptions{})));
  const scenario::Scenario longer = parse(neighbourhood + "120\n");
  CHECK(has_violation(simulate(longer, SimulateOptions{}), "average"));
  const scenario::Scenario on_delta = parse(with_mixing("on-delta") + events + "30\n");
  CHECK(has_violation(simulate(on_delta, SimulateOptions{}), "average"));
}

// --handoff-ms: a round gets the parameters of the step it asked for H ms
// later (a real peer's trainer-to-loop hand-off); the run stays
// deterministic and still learns.
TEST_CASE("simulate: a trainer hand-off delay replays and learns", "[sim][stale]") {
  const scenario::Scenario s = parse(R"(
name = "handoff"
duration = 10
[swarm]
peers = 3
data = "synthetic:100"
compress = "int8"
round_floor_ms = 0
eval_every = 100
[[expect]]
kind = "min_accuracy"
value = 0.5
)");
  SimulateOptions options;
  const SimulateResult direct = simulate(s, options);
  options.handoff_ms = 25;
  const SimulateResult late = simulate(s, options);
  CHECK(all_passed(s, late));
  CHECK(simulate(s, options).trace_hash == late.trace_hash);
  CHECK(late.trace_hash != direct.trace_hash);
}

TEST_CASE("simulate: each invariant fires on a deliberately broken set-up", "[sim][invariants]") {
  SECTION("skewed consensus corrections move the swarm average") {
    SimulateOptions options;
    options.breakage = Breakage::skewed_corrections;
    const SimulateResult result = simulate(parse(kConsensus), options);
    CHECK(has_violation(result, "average"));
  }
  SECTION("a peer that cannot send, unknown to the bookkeeping, is a false death") {
    SimulateOptions options;
    options.breakage = Breakage::unrecorded_block;
    const SimulateResult result = simulate(parse(R"(
name = "silent"
duration = 20
[swarm]
peers = 4
train = false
)"), options);
    CHECK(has_violation(result, "false_death"));
  }
  SECTION("a restart that lost its incarnation store goes back in incarnation") {
    SimulateOptions options;
    options.breakage = Breakage::lost_incarnation_store;
    const scenario::Scenario s = parse(R"(
name = "forgetful"
duration = 40
[swarm]
peers = 4
train = false
[[events]]
at = 3
kind = "pause"
peer = 2
duration = 6
[[events]]
at = 20
kind = "kill"
peer = 2
[[events]]
at = 21
kind = "restart"
peer = 2
)");
    const SimulateResult result = simulate(s, options);
    CHECK(has_violation(result, "incarnation"));
    // The same run with the store kept is clean.
    CHECK_FALSE(has_violation(simulate(s, SimulateOptions{}), "incarnation"));
  }
}

TEST_CASE("simulate: --peers scale, up to the simulator's limit", "[sim]") {
  auto parsed = scenario::parse_scenario(kMembership, "test.toml", simulator_limits(100'001));
  CHECK_FALSE(parsed.ok());
  parsed = scenario::parse_scenario(kMembership, "test.toml", simulator_limits(40));
  REQUIRE(parsed.ok());
  CHECK(parsed->swarm.peers == 40);
  // The process backend keeps its own limit.
  CHECK_FALSE(scenario::parse_scenario(kMembership, "test.toml", simulator_limits(65, 64)).ok());
}

TEST_CASE("simulate: random draws are reproducible scenario files", "[sim][random]") {
  const RandomRun a = draw_random_run(17);
  CHECK(a.toml == draw_random_run(17).toml);
  CHECK(a.toml != draw_random_run(18).toml);
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    const RandomRun run = draw_random_run(seed, 12);
    auto parsed = scenario::parse_scenario(run.toml, "random.toml", simulator_limits());
    INFO(run.toml);
    REQUIRE(parsed.ok());
    CHECK(parsed->swarm.peers == 12);
  }
  // Training draws cover the peer's defaults and each alternative, and
  // check that learning did not break.
  std::set<std::string> compressors, mixings;
  int budgets = 0, unbudgeted = 0, controlled = 0, training = 0;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    auto parsed = scenario::parse_scenario(draw_random_run(seed).toml, "random.toml", simulator_limits());
    REQUIRE(parsed.ok());
    const scenario::SwarmSpec& swarm = parsed->swarm;
    if (!swarm.train) continue;
    ++training;
    compressors.insert(swarm.compress);
    mixings.insert(swarm.mixing.value_or("default"));
    budgets += swarm.max_upload.value_or(0) > 0;
    unbudgeted += swarm.max_upload == std::optional<std::uint64_t>(0);
    controlled += swarm.consensus_control;
    std::set<scenario::ExpectKind> kinds;
    for (const scenario::Expectation& x : parsed->expectations) {
      kinds.insert(x.kind);
      // A hostile member's own model is not judged.
      if (x.kind == scenario::ExpectKind::min_accuracy || x.kind == scenario::ExpectKind::max_consensus_distance) {
        REQUIRE(x.peers.has_value());
        CHECK(x.peers->kind == scenario::PeerSelector::Kind::honest);
      }
    }
    CHECK(kinds.count(scenario::ExpectKind::min_accuracy) == 1);
    CHECK(kinds.count(scenario::ExpectKind::max_consensus_distance) == 1);
  }
  CHECK(training > 30);
  CHECK(compressors == std::set<std::string>{"sign", "none", "topk:0.1", "int8"});
  CHECK(mixings == std::set<std::string>{"default", "on-delta", "neighbourhood"});  // default: the peer's pairwise
  CHECK(budgets > 0);
  CHECK(unbudgeted > 0);
  CHECK(controlled > 0);
  // About one run in five gets a hostile member; delta attacks only where
  // there are deltas.
  std::set<scenario::ByzantineMode> membership_modes, training_modes;
  int hostile = 0;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    const RandomRun run = draw_random_run(seed);
    auto parsed = scenario::parse_scenario(run.toml, "random.toml", simulator_limits());
    REQUIRE(parsed.ok());
    for (const scenario::Event& e : parsed->events) {
      if (e.kind != scenario::EventKind::byzantine) continue;
      ++hostile;
      const bool delta_attack = e.mode != scenario::ByzantineMode::membership_lies &&
                                e.mode != scenario::ByzantineMode::membership_flood;
      CHECK((parsed->swarm.train || !delta_attack));
      (parsed->swarm.train ? training_modes : membership_modes).insert(e.mode);
    }
  }
  CHECK(hostile >= 20);
  CHECK(hostile <= 60);
  CHECK(membership_modes.size() == 2);
  CHECK(training_modes.size() >= 4);
}

TEST_CASE("simulate: the saved regressions replay and pass", "[sim][regressions]") {
  const std::filesystem::path folder = std::filesystem::path(STARLING_SOURCE_DIR) / "tests/sim/regressions";
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() != ".toml") continue;
    auto loaded = scenario::load_scenario(entry.path(), simulator_limits());
    INFO(entry.path().string());
    REQUIRE(loaded.ok());
    SimulateOptions options;
    options.seed = loaded->seed;
    CHECK(all_passed(*loaded, simulate(*loaded, options)));
    ++replayed;
  }
  CHECK(replayed > 0);
}

// issue 13, bandwidth: every peer's upload capped at 100 kB/s from 0 s, below
// a delta per round (synthetic:20000, top-k 5%: 8 kB per delta every 50 ms,
// 160 kB/s per link). Links must come up and every peer must keep up with
// the uncapped swarm: measured 0.525-0.535 at 60 s against 0.557 uncapped
// (a peer on its own target alone: about 0.50). With `none` (80 kB deltas,
// 1.25 per second at the cap) it is 0.50 against 0.69: the cap allows only
// a sixteenth of the rounds, so it is not asserted here. A guard, not the
// reproduction: it passes on the old round rule too; the failing-before test
// is tests/runtime/training_driver_test.cpp ("under an upload cap ...").
TEST_CASE("simulate: under a 100 kB/s upload cap every peer still learns", "[sim][bandwidth]") {
  for (const char* compressor : {"topk:0.05"}) {
    DYNAMIC_SECTION(compressor) {
      const scenario::Scenario s = parse(std::string(R"(
name = "capped"
duration = 60
[swarm]
peers = 4
data = "synthetic:20000"
eval_every = 100
compress = ")") + compressor + R"("
[[events]]
at = 0
kind = "bandwidth"
peers = "all"
bytes_per_second = 100000
[[expect]]
kind = "min_accuracy"
value = 0.51
[[expect]]
kind = "no_crash"
)");
      const SimulateResult result = simulate(s, SimulateOptions{});
      CHECK(all_passed(s, result));
    }
  }
}

// issue 13, the upload budget: a peer with [swarm] max_upload sends at most
// that much gossip per second (plus framing and membership: 10% and 5 kB/s
// of slack), measured from the transport's own byte count, while it learns.
TEST_CASE("simulate: a peer under an upload budget stays within it and learns", "[sim][bandwidth]") {
  const scenario::Scenario s = parse(R"(
name = "budget"
duration = 60
[swarm]
peers = 4
data = "synthetic:20000"
eval_every = 100
compress = "topk:0.05"
max_upload = 50000
[[expect]]
kind = "min_accuracy"
value = 0.51
[[expect]]
kind = "no_crash"
)");
  const SimulateResult result = simulate(s, SimulateOptions{});
  CHECK(all_passed(s, result));
  const auto& rounds = result.observations.rounds;
  REQUIRE(rounds.size() > 40);
  // From 20 s (links up, snapshots sent) to the end.
  const scenario::Round* from = nullptr;
  for (const auto& round : rounds)
    if (from == nullptr && round.t >= 20.0) from = &round;
  REQUIRE(from != nullptr);
  const scenario::Round& to = rounds.back();
  for (std::size_t p = 0; p < to.samples.size(); ++p) {
    const double rate = double(to.samples[p].bytes_sent - from->samples[p].bytes_sent) / (to.t - from->t);
    INFO("peer " << p << ": " << rate << " B/s under a 50000 B/s budget");
    CHECK(rate <= 50000 * 1.1 + 5000);
    // And the budget is used, not starved: at least half of it.
    CHECK(rate >= 25000);
  }
}
