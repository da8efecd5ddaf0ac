// When a TrainingDriver gossips and how it weighs its neighbours: rounds
// paced by the host's SGD steps (with a floor and a ceiling in time),
// Metropolis-Hastings weights carried on the deltas, and pairwise mixing
// with mirrored pulls. Swarms of node::Peer on the in-memory network
// (training_swarm.h), in virtual time.
#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

#include "starling/compress/spec.h"
#include "starling/node/training_driver.h"

#include "training_swarm.h"

using namespace starling;
using namespace starling::node;
using namespace starling::test_training;

namespace {

SwarmConfig stepping_config(const char* compressor, std::uint64_t step_every_ms) {
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse(compressor);
  config.step_every_ms = step_every_ms;
  return config;
}

}  // namespace

TEST_CASE("training rounds: a round follows every k steps of the host, whatever the clock",
          "[runtime][training][rounds]") {
  for (std::uint64_t k : {1u, 5u}) {
    DYNAMIC_SECTION("k = " << k) {
      Swarm swarm(21);
      SwarmConfig config = stepping_config("int8", 4);  // a step every 4 ms
      config.round_every_steps = k;
      build_swarm(swarm, config, 3);
      REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));
      std::map<int, std::pair<std::uint64_t, std::int64_t>> before;
      for (int i = 0; i < 3; ++i)
        before[i] = {swarm.peers[std::size_t(i)]->training()->status().rounds, swarm.peers[std::size_t(i)]->host.steps};
      swarm.run_for(10);
      for (int i = 0; i < 3; ++i) {
        SwarmPeer& peer = *swarm.peers[std::size_t(i)];
        const auto status = peer.training()->status();
        const std::uint64_t rounds = status.rounds - before[i].first;
        const std::int64_t steps = peer.host.steps - before[i].second;
        INFO("peer " << i << ": " << rounds << " rounds in " << steps << " steps");
        CHECK(status.round_every_steps == k);
        // One round per k steps, give or take the round in flight at each end
        // (an answer comes 1 ms after the step it was asked for).
        CHECK(double(rounds) >= double(steps) / double(k) * 0.8 - 2);
        CHECK(double(rounds) <= double(steps) / double(k) + 2);
      }
    }
  }
}

TEST_CASE("training rounds: a stalled host still mixes at the longest interval, a fast one waits for the shortest",
          "[runtime][training][rounds]") {
  Swarm swarm(22);
  SwarmConfig config = stepping_config("none", 1);
  config.round_every_steps = 1;
  config.round_min_interval_ms = 10;
  config.round_max_interval_ms = 200;
  build_swarm(swarm, config, 2);
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(1); }, 20));

  // A step every ms asks for a round every ms: the floor holds it to one per 10 ms.
  std::uint64_t rounds = swarm.peers[0]->training()->status().rounds;
  swarm.run_for(2);
  const std::uint64_t fast_rounds = swarm.peers[0]->training()->status().rounds - rounds;
  INFO("fast host: " << fast_rounds << " rounds in 2 s");
  CHECK(fast_rounds <= 2000 / 10 + 1);
  CHECK(fast_rounds >= 2000 / 10 / 2);

  // Stalled: no step, so no step-due round, but the ceiling keeps mixing.
  for (auto& peer : swarm.peers) peer->host.stepping = false;
  swarm.run_for(1);
  rounds = swarm.peers[0]->training()->status().rounds;
  swarm.run_for(4);
  const std::uint64_t stalled_rounds = swarm.peers[0]->training()->status().rounds - rounds;
  INFO("stalled host: " << stalled_rounds << " rounds in 4 s");
  CHECK(stalled_rounds >= 4000 / 200 - 2);
  CHECK(stalled_rounds <= 4000 / 200 + 2);
}

TEST_CASE("training rounds: Metropolis-Hastings weights from both ends' degrees, equal at both ends of a link",
          "[runtime][training][rounds]") {
  // On-delta pulls one link at a time; status still gives the links' sum.
  const Mixing mixing = GENERATE(Mixing::neighbourhood, Mixing::on_delta);
  INFO("mixing " << to_string(mixing));
  Swarm swarm(23);
  SwarmConfig config = stepping_config("none", 2);
  config.mixing = mixing;
  build_swarm(swarm, config, 5);
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));
  swarm.run_for(3);
  std::map<std::string, std::size_t> degree;  // address -> ready links
  for (const auto& peer : swarm.peers) {
    std::size_t ready = 0;
    for (const auto& n : peer->training()->status().neighbours) ready += n.ready ? 1 : 0;
    degree[peer->address] = ready;
  }
  for (const auto& peer : swarm.peers) {
    const auto status = peer->training()->status();
    double total = 0.0;
    for (const auto& n : status.neighbours) {
      if (!n.ready) continue;
      INFO(peer->address << " -> " << n.address);
      REQUIRE(degree.count(n.address) == 1);
      CHECK(n.degree == degree[n.address]);
      const double expected = 1.0 / double(1 + std::max(degree[peer->address], degree[n.address]));
      CHECK(n.mixing_weight == Approx(expected));
      total += n.mixing_weight;
    }
    // The weights a peer gives its neighbours leave itself a positive share.
    CHECK(total < 1.0);
    CHECK(status.mixing_weight == Approx(total));
  }
}

TEST_CASE("training rounds: with no training every mixing keeps the swarm average and reaches consensus",
          "[runtime][training][rounds]") {
  for (Mixing mixing : {Mixing::neighbourhood, Mixing::pairwise, Mixing::on_delta}) {
    for (const char* compressor : {"none", "int8"}) {
      DYNAMIC_SECTION(to_string(mixing) << " " << compressor) {
        Swarm swarm(24);
        SwarmConfig config = stepping_config(compressor, 2);
        config.mixing = mixing;
        config.round_every_steps = 1;
        build_swarm(swarm, config, 5);
        REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));
        const Eigen::VectorXf mean_before = swarm.mean();
        const double before = swarm.consensus_distance();
        swarm.run_for(10);
        const double after = swarm.consensus_distance();
        const double drift = double((swarm.mean() - mean_before).norm()) / double(mean_before.norm());
        INFO("distance " << before << " -> " << after << ", drift " << drift);
        CHECK(after < before * 1e-4);
        CHECK(drift < 1e-3);
        std::uint64_t mirrors = 0;
        for (const auto& peer : swarm.peers) mirrors += peer->training()->status().pair_mirrors;
        if (mixing == Mixing::pairwise) CHECK(mirrors > 100);
        else CHECK(mirrors == 0);
      }
    }
  }
}

TEST_CASE("training rounds: pairwise rounds send one delta per pairing, not one per link",
          "[runtime][training][rounds]") {
  std::map<Mixing, double> deltas_per_round;
  for (Mixing mixing : {Mixing::neighbourhood, Mixing::pairwise}) {
    Swarm swarm(25);
    SwarmConfig config = stepping_config("int8", 2);
    config.mixing = mixing;
    config.round_every_steps = 1;
    build_swarm(swarm, config, 6);
    REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(3); }, 20));
    swarm.run_for(5);
    std::uint64_t total_rounds = 0, total_deltas = 0;
    for (const auto& peer : swarm.peers) {
      total_rounds += peer->training()->status().rounds;
      total_deltas += peer->training()->status().deltas_sent;
    }
    deltas_per_round[mixing] = double(total_deltas) / double(total_rounds);
  }
  INFO("deltas per round: neighbourhood " << deltas_per_round[Mixing::neighbourhood] << ", pairwise "
                                          << deltas_per_round[Mixing::pairwise]);
  // Every peer has >= 3 ready links: a neighbourhood round sends >= 3 deltas;
  // a pairwise round sends one, and each pairing one reply.
  CHECK(deltas_per_round[Mixing::neighbourhood] >= 3.0);
  CHECK(deltas_per_round[Mixing::pairwise] <= 2.2);
}

TEST_CASE("training rounds: consensus control gossips every step while peers disagree and backs off once they agree",
          "[runtime][training][rounds][consensus_control]") {
  // Under on-delta and pairwise mixing the rounds pull nothing: the pulls
  // taken since the last round measure the distance instead.
  const Mixing mixing = GENERATE(Mixing::neighbourhood, Mixing::on_delta, Mixing::pairwise);
  INFO("mixing " << to_string(mixing));
  Swarm swarm(25);
  SwarmConfig config = stepping_config("none", 2);  // no training: only consensus moves x
  config.round_every_steps = 4;
  config.consensus_control = true;
  config.mixing = mixing;
  build_swarm(swarm, config, 4);
  // Random starting points: far apart, so every peer gossips every step.
  // Pulling on every delta averages these four exactly within about a
  // round (before the controller's second round, its first measure), so
  // under on-delta and pairwise mixing only the knock below is a test.
  std::vector<bool> dense(4, mixing != Mixing::neighbourhood);
  const auto all_dense = [&] {
    for (std::size_t i = 0; i < 4; ++i) dense[i] = dense[i] || swarm.peers[i]->training()->status().round_every_steps == 1;
    return std::all_of(dense.begin(), dense.end(), [](bool d) { return d; });
  };
  REQUIRE(swarm.run_until([&] { return all_dense() && swarm.all_links_ready(2); }, 20));
  // Consensus reached (to float rounding): they back off to the maximum.
  REQUIRE(swarm.run_until([&] {
    for (const auto& peer : swarm.peers)
      if (peer->training()->status().round_every_steps != 16) return false;
    return true;
  }, 20));
  CHECK(swarm.consensus_distance() < 1e-10);
  // One peer is knocked away from the others. To itself the knock looks
  // like a training step (its own displacement); its neighbours see a
  // disagreement without training, so they gossip more densely again (in
  // this complete graph of 4 with weights 1/4 one round averages exactly, so
  // one halving is all it takes) until the swarm agrees, and k returns to 16.
  swarm.peers[0]->host.x += Eigen::VectorXf::Constant(swarm.peers[0]->host.x.size(), 1.0f);
  bool dense_again = false;
  if (!swarm.run_until([&] {
    bool all_sparse = true;
    for (const auto& peer : swarm.peers) {
      const std::uint64_t k = peer->training()->status().round_every_steps;
      dense_again = dense_again || k < 16;
      all_sparse = all_sparse && k == 16;
    }
    return dense_again && all_sparse;
  }, 20)) {
    for (const auto& peer : swarm.peers) {
      const auto status = peer->training()->status();
      UNSCOPED_INFO("k " << status.round_every_steps << " ratio " << status.consensus_ratio << " rounds "
                         << status.rounds << " distance " << swarm.consensus_distance());
    }
    FAIL("dense again: " << dense_again);
  }
  CHECK(swarm.consensus_distance() < 1e-10);
}

TEST_CASE("training rounds: without consensus control k stays as set", "[runtime][training][rounds][consensus_control]") {
  Swarm swarm(25);
  SwarmConfig config = stepping_config("none", 2);
  config.round_every_steps = 4;
  build_swarm(swarm, config, 4);
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));
  swarm.run_for(2);
  for (const auto& peer : swarm.peers) {
    CHECK(peer->training()->status().round_every_steps == 4);
    CHECK(peer->training()->status().consensus_ratio == 0.0);
  }
}

namespace {

struct WindowCounts {
  std::uint64_t rounds = 0;
  std::int64_t steps = 0;
};

// Five int8 peers, all linked to each other, pairwise, a step every ms, a
// round every `round_steps` steps with no floor and cheap rounds, under an
// upload budget of `bytes_per_second`.
void build_budgeted_pairwise_swarm(Swarm& swarm, std::uint64_t round_steps, std::uint64_t bytes_per_second) {
  SwarmConfig config = stepping_config("int8", 1);
  config.mixing = Mixing::pairwise;
  config.neighbours = 4;
  config.round_every_steps = round_steps;
  config.round_min_interval_ms = 0;
  config.round_cpu_cost_us = 10;
  config.max_upload_bytes_per_second = bytes_per_second;
  build_swarm(swarm, config, 5);
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(4); }, 20));
}

// Rounds and host steps of peer 0 over `seconds` of virtual time.
WindowCounts count_window(Swarm& swarm, std::uint64_t seconds) {
  SwarmPeer& peer = *swarm.peers[0];
  const std::uint64_t rounds = peer.training()->status().rounds;
  const std::int64_t steps = peer.host.steps;
  swarm.run_for(seconds);
  return {peer.training()->status().rounds - rounds, peer.host.steps - steps};
}

}  // namespace

TEST_CASE("training rounds: without a floor a fast host gossips every k steps while its rounds are cheap",
          "[runtime][training][rounds][pacing]") {
  Swarm swarm(25);
  SwarmConfig config = stepping_config("int8", 1);  // a step every ms, as a real MLP peer
  config.round_every_steps = 2;
  config.round_min_interval_ms = 0;
  config.round_cpu_cost_us = 100;  // 0.4 ms of wall time per round at a 25% share: below 2 steps
  build_swarm(swarm, config, 2);
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(1); }, 20));
  const WindowCounts window = count_window(swarm, 2);
  const auto status = swarm.peers[0]->training()->status();
  INFO(window.rounds << " rounds in " << window.steps << " steps; wait " << status.round_wait);
  CHECK(double(window.rounds) >= double(window.steps) / 2.0 * 0.8);
  CHECK(double(window.rounds) <= double(window.steps) / 2.0 + 2);
  CHECK(status.rounds_held_cpu == 0);
  CHECK(status.round_cpu_us == Approx(100.0));
  CHECK(status.steps_per_round == Approx(2.0).margin(0.3));
  CHECK(status.round_wait == "steps");
}

TEST_CASE("training rounds: rounds that cost more CPU than the share allows are spaced out to keep that share",
          "[runtime][training][rounds][pacing]") {
  for (double share : {0.25, 0.5}) {
    DYNAMIC_SECTION("share " << share) {
      Swarm swarm(26);
      SwarmConfig config = stepping_config("int8", 1);
      config.round_every_steps = 1;
      config.round_min_interval_ms = 0;
      config.round_cpu_share = share;
      config.round_cpu_cost_us = 2'000;  // 2 ms of CPU a round: 8 ms (share 0.25) or 4 ms (0.5) of wall each
      build_swarm(swarm, config, 2);
      REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(1); }, 20));
      swarm.run_for(1);  // past the saved-up burst
      const WindowCounts window = count_window(swarm, 4);
      const auto status = swarm.peers[0]->training()->status();
      const double expected = 4'000.0 * share / 2.0;  // rounds in 4 s at `share` of 2 ms each
      INFO(window.rounds << " rounds in " << window.steps << " steps, expected about " << expected);
      CHECK(double(window.rounds) <= expected * 1.05 + 2);
      CHECK(double(window.rounds) >= expected * 0.8);
      CHECK(window.steps >= 3'900);  // the host kept stepping every ms
      CHECK(status.rounds_held_cpu > 0);
      CHECK(status.round_cpu_share == Approx(share).epsilon(0.2));
      CHECK(status.round_cpu_share_budget == Approx(share));
    }
  }
}

TEST_CASE("training rounds: under an upload budget a fast host waits for the tokens of a whole round instead of "
          "skipping links",
          "[runtime][training][rounds][pacing]") {
  Swarm swarm(27);
  SwarmConfig config = stepping_config("int8", 1);
  config.round_every_steps = 1;
  config.round_min_interval_ms = 0;
  config.round_cpu_cost_us = 10;  // cheap: the CPU rule does not bind
  config.max_upload_bytes_per_second = 40'000;  // about 12 int8 deltas of 3,000 values a second
  build_swarm(swarm, config, 2);
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(1); }, 20));
  swarm.run_for(3);  // the snapshot's debt and the first second's burst are spent
  const auto before = swarm.peers[0]->training()->status();
  const WindowCounts window = count_window(swarm, 5);
  const auto after = swarm.peers[0]->training()->status();
  const std::uint64_t deltas = after.deltas_sent - before.deltas_sent;
  const std::uint64_t bytes = after.delta_bytes_sent - before.delta_bytes_sent;
  INFO(window.rounds << " rounds, " << deltas << " deltas, " << bytes << " bytes in 5 s; wait " << after.round_wait);
  CHECK(double(bytes) <= 40'000.0 * 5 * 1.05);
  CHECK(double(bytes) >= 40'000.0 * 5 * 0.8);
  // Paced by the budget: about one delta per round, not a round per step
  // whose links mostly skip.
  CHECK(window.rounds <= deltas + deltas / 10 + 2);
  CHECK(window.rounds < std::uint64_t(window.steps) / 10);
  CHECK(after.deltas_skipped_budget - before.deltas_skipped_budget <= deltas / 10 + 2);
  CHECK(after.rounds_held_upload > before.rounds_held_upload);
}

TEST_CASE("training rounds: under an upload budget a pairwise round gives the tokens to its partner, whichever "
          "link it is",
          "[runtime][training][rounds][pacing]") {
  // Four links each: the tokens a round waits for are one delta's. Shared
  // among every link, a partner early in the links' order got a quarter of
  // them and its delta was skipped: rounds without a pairing.
  Swarm swarm(28);
  build_budgeted_pairwise_swarm(swarm, 1, 40'000);
  swarm.run_for(3);
  std::vector<TrainingDriverStatus> before;
  for (const auto& peer : swarm.peers) before.push_back(peer->training()->status());
  swarm.run_for(5);
  for (std::size_t i = 0; i < swarm.peers.size(); ++i) {
    const auto after = swarm.peers[i]->training()->status();
    const std::uint64_t rounds = after.rounds - before[i].rounds;
    const std::uint64_t skipped = after.deltas_skipped_budget - before[i].deltas_skipped_budget;
    const std::uint64_t bytes = after.delta_bytes_sent - before[i].delta_bytes_sent;
    INFO("peer " << i << ": " << rounds << " rounds, " << skipped << " skipped for the budget, " << bytes
                 << " bytes in 5 s");
    CHECK(skipped <= rounds / 10 + 2);
    // The rate, plus a bucket saved up before the window (replies are
    // charged, not held: they can spend it early).
    CHECK(double(bytes) <= 40'000.0 * 5 + 40'000.0);
    CHECK(double(bytes) >= 40'000.0 * 5 * 0.7);
  }
}

TEST_CASE("training rounds: a peer whose upload budget is far below its neighbours' keeps to it, the pair requests "
          "it cannot afford are declined and the swarm average holds",
          "[runtime][training][rounds][pacing]") {
  // Replies were charged to the budget but never held: four neighbours
  // without a budget asked peer 4 to pair about 250 times a second each,
  // and it answered every one (a real peer at --max-upload 100000 among
  // 1 MB/s neighbours sent 583 kB/s). No training here, so the swarm's
  // average is exactly what pure consensus must keep.
  constexpr std::uint64_t kBudget = 20'000;
  Swarm swarm(31);
  SwarmConfig config = stepping_config("int8", 1);
  config.mixing = Mixing::pairwise;
  config.neighbours = 4;
  config.round_every_steps = 1;
  config.round_min_interval_ms = 0;
  config.round_cpu_cost_us = 10;
  for (int i = 0; i < 5; ++i) {
    config.max_upload_bytes_per_second = i == 4 ? kBudget : 0;
    swarm.add(config, i == 0 ? std::vector<int>{} : std::vector<int>{0}, false, swarm.random_model());
  }
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(4); }, 20));
  swarm.run_for(2);
  const Eigen::VectorXf mean_before = swarm.mean();
  std::vector<TrainingDriverStatus> before;
  for (const auto& peer : swarm.peers) before.push_back(peer->training()->status());
  swarm.run_for(5);
  std::uint64_t declines_received = 0;
  for (std::size_t i = 0; i < swarm.peers.size(); ++i) {
    const auto after = swarm.peers[i]->training()->status();
    INFO("peer " << i << ": " << after.delta_bytes_sent - before[i].delta_bytes_sent << " bytes, "
                 << after.pairs_declined - before[i].pairs_declined << " declined, "
                 << after.pair_declines_received - before[i].pair_declines_received << " declines received, "
                 << after.pair_mirrors - before[i].pair_mirrors << " replies, " << after.rounds - before[i].rounds
                 << " rounds in 5 s");
    CHECK(after.digest_mismatches == 0);
    CHECK(after.link_resets == 0);
    if (i < 4) declines_received += after.pair_declines_received - before[i].pair_declines_received;
  }
  const auto tight = swarm.peers[4]->training()->status();
  const std::uint64_t bytes = tight.delta_bytes_sent - before[4].delta_bytes_sent;
  const std::uint64_t declined = tight.pairs_declined - before[4].pairs_declined;
  const std::uint64_t deltas = tight.deltas_sent - before[4].deltas_sent;
  INFO("peer 4 sent " << bytes << " bytes in 5 s (budget " << kBudget << " B/s), " << deltas << " deltas, declined "
                      << declined << "; its neighbours heard " << declines_received);
  // The rate, a bucket saved up before the window, and a reply's debt of
  // at most a bucket and a delta.
  CHECK(double(bytes) <= double(kBudget) * 5 + 2.0 * double(kBudget) + 4'000.0);
  CHECK(double(bytes) >= double(kBudget) * 5 * 0.7);  // and it uses what it has
  // Mostly on deltas: a decline is small, and neighbours wait before asking again.
  CHECK(double(deltas) * 3'000.0 >= double(kBudget) * 5 * 0.6);
  CHECK(declined > 20);
  CHECK(declines_received + 5 >= declined);  // every decline arrives (a few in flight at the end)
  const double drift = double((swarm.mean() - mean_before).norm()) / double(mean_before.norm());
  INFO("drift of the swarm average " << drift);
  CHECK(drift < 1e-3);
}

TEST_CASE("training rounds: while the upload budget holds a round, the parameters pair replies carry stay as fresh "
          "as rounds would keep them",
          "[runtime][training][rounds][pacing]") {
  // Replies and pulls read the driver's parameters. Held rounds took none:
  // a peer whose neighbours' requests spent its tokens replied with a model
  // up to the round ceiling (1 s) old, and each pull on that stale copy
  // added the neighbours' progress since then to a model that had made its
  // own. Here every host drifts at a steady 0.1 per step, so the gap between
  // the host's model and the driver's copy of it counts the steps it lags.
  Swarm swarm(29);
  build_budgeted_pairwise_swarm(swarm, 10, 20'000);  // about 6 deltas a second: rounds wait hundreds of steps
  constexpr float kRate = 1e-5f;
  const Eigen::VectorXf target = Eigen::VectorXf::Constant(Eigen::Index(kDimension), 1e4f);
  for (auto& peer : swarm.peers) {
    peer->host.target = target;
    peer->host.rate = kRate;
  }
  swarm.run_for(3);
  std::uint64_t rounds = 0;
  for (auto& peer : swarm.peers) rounds += peer->training()->status().rounds;
  double worst = 0.0;
  double total = 0.0;
  int samples = 0;
  for (int k = 0; k < 300; ++k) {
    swarm.run_for_ms(7);
    for (auto& peer : swarm.peers) {
      const auto& held = peer->training()->last_parameters();
      REQUIRE(held);
      const Eigen::VectorXf& x = peer->host.x;
      const double per_step = double(kRate) * double((target - x).mean());
      const double lag = double((x - *held).mean()) / per_step;
      worst = std::max(worst, lag);
      total += lag;
      ++samples;
    }
  }
  std::uint64_t rounds_after = 0;
  for (auto& peer : swarm.peers) rounds_after += peer->training()->status().rounds;
  rounds = rounds_after - rounds;
  INFO("lag in steps: mean " << total / samples << ", worst " << worst << "; " << rounds
                             << " rounds in all, where 5 hosts took 2,100 steps each");
  CHECK(rounds <= 100);  // the budget binds: a tenth of the 1,050 rounds the steps ask for
  CHECK(total / samples <= 15.0);  // a round's 10 steps, the host's answer, a step or two
  CHECK(worst <= 40.0);
}

// The per-compressor defaults (src/node/training_internal.h; docs/learning.md,
// "Low-bit gossip"): what a peer runs with no --gamma and no --round-steps.
// Sign's γ 0.8 is a factor 1.5 below where pure consensus diverged (1.25 at 2
// peers) and its k 2 keeps 4 peers under 1/20 of all-reduce's bytes. Top-k's
// γ is twice its fraction, at most 1; random-k's its fraction.
TEST_CASE("training rounds: each compressor's default γ and k", "[runtime][training][rounds]") {
  const struct {
    const char* compressor;
    float gamma;
    std::uint64_t k;
  } cases[] = {{"none", 1.0f, 4},        {"int8", 1.0f, 4},      {"topk:0.01", 0.02f, 1}, {"topk:0.1", 0.2f, 1},
               {"topk:0.75", 1.0f, 1},   {"randk:0.05", 0.05f, 1}, {"sign", 0.8f, 2}};
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.compressor) {
      Swarm swarm(26);
      build_swarm(swarm, stepping_config(c.compressor, 2), 2);
      const auto status = swarm.peers[0]->training()->status();
      CHECK(status.gamma == Approx(c.gamma));
      CHECK(status.round_every_steps == c.k);
    }
  }
}
