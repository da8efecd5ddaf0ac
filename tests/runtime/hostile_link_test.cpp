// A hostile neighbour on a training link (docs/security.md, "Members that
// pull too hard"): a member that links with us and then sends deltas as fast
// as it likes must not pull our model more than an honest neighbour could,
// nor make us reply past our upload budget.
#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <cstdint>
#include <set>
#include <vector>

#include "starling/compress/spec.h"
#include "starling/node/link.h"
#include "starling/node/training_driver.h"
#include "starling/wire/messages.h"
#include "training_swarm.h"

using namespace starling;
using namespace starling::node;
using namespace starling::test_training;

namespace {

// Links `member` with the peer it dialled: sends a snapshot of `model` (the
// dialler goes first; values exact in bf16) and waits for the peer's answer in the same epoch.
// Returns that epoch.
std::uint64_t open_link(Swarm& swarm, RawMember& member, const Eigen::VectorXf& model) {
  REQUIRE(swarm.run_until([&] { return member.connected; }, 5));
  swarm.run_for_ms(200);
  wire::SnapshotChunk snapshot;
  snapshot.epoch = 1;
  snapshot.total = std::uint64_t(model.size());
  snapshot.precision = wire::Precision::bf16;  // links' snapshots are bf16
  for (const float value : model) snapshot.values_half.push_back(bf16_bits(value));  // 0 and 1: exact
  member.send(wire::Message{snapshot});
  REQUIRE(swarm.run_until([&] { return !received<wire::SnapshotChunk>(member).empty(); }, 10));
  const std::uint64_t epoch = received<wire::SnapshotChunk>(member).front().epoch;
  REQUIRE(epoch == snapshot.epoch);
  return epoch;
}

// A delta that changes nothing (compressor none, all zeros).
wire::Delta empty_delta(std::uint64_t epoch, std::uint64_t seq, bool pair) {
  wire::Delta delta;
  delta.epoch = epoch;
  delta.seq = seq;
  delta.compressor = wire::CompressorKind::none;
  delta.dimension = kDimension;
  delta.values.assign(kDimension, 0.0f);
  delta.degree = 1;  // the largest weight it can ask for
  delta.pair = pair;
  return delta;
}

}  // namespace

TEST_CASE("hostile link: a burst of empty deltas pulls once per delta of ours, never past the sender's model",
          "[runtime][training][hostile]") {
  Swarm swarm(61);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("none");
  config.mixing = Mixing::on_delta;
  config.gamma = 1.0f;
  config.round_min_interval_ms = 1000;  // our rounds (our deltas on the link) are rare
  config.round_max_interval_ms = 1000;
  SwarmPeer& victim = swarm.add(config, {}, false, Eigen::VectorXf::Zero(kDimension));
  swarm.run_for(1);
  auto attacker = swarm.raw_member("attacker", victim, "test-model");
  const Eigen::VectorXf far = Eigen::VectorXf::Constant(kDimension, 1.0f);
  const std::uint64_t epoch = open_link(swarm, *attacker, far);
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(1); }, 5));
  swarm.run_for_ms(1100);  // just past a round of ours: the next is ~1 s away
  const Eigen::VectorXf before = victim.host.x;
  const auto status_before = victim.training()->status();

  // 200 deltas at once. Each used to pull γ·w·(x̂(j→i) − x̂(i→j)) again,
  // with neither copy changed: 200 x 1/2 of the gap, 100 times past `far`.
  for (std::uint64_t seq = 0; seq < 200; ++seq) attacker->send(wire::Message{empty_delta(epoch, seq, false)});
  swarm.run_for_ms(100);

  const auto status = victim.training()->status();
  const std::uint64_t ours = status.deltas_sent - status_before.deltas_sent;
  const std::uint64_t pulls = status.delta_pulls - status_before.delta_pulls;
  INFO("pulls " << pulls << ", skipped " << status.delta_pulls_skipped << ", our deltas meanwhile " << ours);
  CHECK(status.deltas_received - status_before.deltas_received == 200);
  CHECK(pulls <= ours + 1);
  CHECK(status.delta_pulls_skipped >= 199 - ours);
  // The victim moved towards `far` by at most the whole gap, not past it.
  const double moved = double((victim.host.x - before).norm());
  const double gap = double((far - before).norm());
  CHECK(moved <= gap * 1.001);
  CHECK(status.link_resets == status_before.link_resets);
}

TEST_CASE("hostile link: pair requests from a neighbour that takes no decline are answered within the budget",
          "[runtime][training][hostile]") {
  Swarm swarm(62);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("none");  // 12 kB a delta
  config.mixing = Mixing::pairwise;
  config.max_upload_bytes_per_second = 24'000;  // about 2 deltas a second
  SwarmPeer& victim = swarm.add(config, {}, false, Eigen::VectorXf::Zero(kDimension));
  swarm.run_for(1);
  // Its hello does not say pair_declines (an old peer's, or a hostile one's).
  auto attacker = swarm.raw_member("attacker", victim, "test-model");
  const std::uint64_t epoch = open_link(swarm, *attacker, Eigen::VectorXf::Zero(kDimension));
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(1); }, 10));
  swarm.run_for(2);  // the snapshot's debt paid off
  const std::size_t deltas_before = received<wire::Delta>(*attacker).size();

  // 40 pair requests a second for 5 s: each wants a 12 kB reply.
  std::uint64_t seq = 0;
  for (int tick = 0; tick < 200; ++tick) {
    attacker->send(wire::Message{empty_delta(epoch, seq++, true)});
    swarm.run_for_ms(25);
  }
  const std::size_t replies = received<wire::Delta>(*attacker).size() - deltas_before;
  const auto status = victim.training()->status();
  INFO("deltas to the attacker in 5 s: " << replies << ", unanswered " << status.pairs_unanswered);
  // The budget allows 120 kB in 5 s, 10 deltas, plus a bucket; before, all
  // 200 requests got their reply (2.4 MB).
  CHECK(replies <= 16);
  CHECK(status.pairs_unanswered >= 150);
  CHECK(status.link_resets == 0);
}

TEST_CASE("hostile link: a member that says hello and never opens the link loses it, so it cannot hold --max-links",
          "[runtime][training][hostile]") {
  Swarm swarm(63);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("sign");
  config.max_links = 2;
  SwarmPeer& victim = swarm.add(config, {}, false, swarm.random_model());
  swarm.run_for(1);
  // Two members fill both slots: a hello each, then only keepalives.
  auto first = swarm.raw_member("squatter-1", victim, "test-model");
  auto second = swarm.raw_member("squatter-2", victim, "test-model");
  REQUIRE(swarm.run_until([&] { return victim.training()->status().neighbours.size() == 2; }, 5));
  for (int second_count = 0; second_count < 10 && victim.training()->status().neighbours.size() == 2;
       ++second_count) {
    first->send(wire::Message{wire::Digest{}});
    second->send(wire::Message{wire::Digest{}});
    swarm.run_for(1);
  }
  // Dropped a stall after the hello (they used to stay for ever): an honest
  // member's link now gets in.
  CHECK(victim.training()->status().neighbours.empty());
  SwarmPeer& honest = swarm.add(config, {0}, false, swarm.random_model());
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(1) && honest.training()->status().neighbours.size() == 1; },
                          20));
}

TEST_CASE("hostile link: a based snapshot naming a copy not wholly served on that link earns no snapshot of ours",
          "[runtime][training][hostile]") {
  // A member asked for 1 byte (now 8 kB) of our model, named the copy in a based
  // snapshot (taken as its snapshot), then sent a malformed chunk: each such
  // pair earned a whole snapshot of ours, 470 kB for the default MLP.
  Swarm swarm(64);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("sign");
  config.model_chunk_bytes = 1000;  // the test model is 6 kB in bf16: one 8 kB chunk would hold it all
  SwarmPeer& victim = swarm.add(config, {}, false, swarm.random_model());
  swarm.run_for(1);
  auto attacker = swarm.raw_member("attacker", victim, "test-model", true);
  REQUIRE(swarm.run_until([&] { return attacker->connected; }, 5));
  swarm.run_for_ms(200);
  wire::ModelRequest request;
  request.max_bytes = 1;
  request.precision = wire::Precision::bf16;
  attacker->send(wire::Message{request});
  REQUIRE(swarm.run_until([&] { return !attacker->chunks.empty(); }, 5));
  const std::uint64_t copy = attacker->chunks.back().snapshot_id;
  REQUIRE(copy != 0);
  REQUIRE(attacker->chunks.back().data.size() < attacker->chunks.back().total);  // not all of it
  wire::SnapshotChunk based;
  based.epoch = 1;
  based.total = kDimension;
  based.precision = wire::Precision::bf16;
  based.base = copy;
  attacker->send(wire::Message{based});
  wire::SnapshotChunk malformed = based;
  malformed.base = 0;
  malformed.total = kDimension + 1;
  malformed.values_half.assign(4, 0);
  attacker->send(wire::Message{malformed});
  swarm.run_for(1);
  std::size_t values_sent = 0;
  for (const auto& chunk : received<wire::SnapshotChunk>(*attacker)) values_sent += chunk.values_half.size();
  CHECK(values_sent == 0);
  CHECK(victim.training()->status().neighbours.empty());  // closed at the based chunk
  CHECK(victim.training()->status().links_started_from_download == 0);
}

TEST_CASE("hostile link: pair requests faster than any honest round get no reply and no pull",
          "[runtime][training][hostile]") {
  Swarm swarm(65);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("none");
  config.mixing = Mixing::pairwise;
  config.round_min_interval_ms = 50;  // starling peer's --round-floor
  SwarmPeer& victim = swarm.add(config, {}, false, Eigen::VectorXf::Zero(kDimension));
  swarm.run_for(1);
  auto attacker = swarm.raw_member("attacker", victim, "test-model");
  const std::uint64_t epoch = open_link(swarm, *attacker, Eigen::VectorXf::Constant(kDimension, 1.0f));
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(1); }, 10));
  swarm.run_for(1);
  const auto before = victim.training()->status();

  // A request every millisecond for 2 s: each used to earn a reply and a pull.
  std::uint64_t seq = 0;
  for (int tick = 0; tick < 2000; ++tick) {
    attacker->send(wire::Message{empty_delta(epoch, seq++, true)});
    swarm.run_for_ms(1);
  }
  const auto status = victim.training()->status();
  const std::uint64_t answered = status.pair_mirrors - before.pair_mirrors;
  INFO("answered " << answered << " of 2000, too soon " << status.pairs_too_soon);
  CHECK(answered <= 2000 / 25 + 2);  // one per half round floor
  CHECK(status.pairs_too_soon >= 1800);  // the rest: answers, and crossings with our own requests
  CHECK(status.link_resets == before.link_resets);
}

TEST_CASE("hostile link: requests for a new model copy in a loop reuse one copy, and get whole chunks",
          "[runtime][training][hostile]") {
  // Each request for a new snapshot froze (copied, rounded) the whole model
  // on the loop thread, and a 1-byte request got 4 bytes: a loop of them
  // kept the thread copying and a serving slot held for ever.
  Swarm swarm(66);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("sign");
  config.model_chunk_bytes = 1000;
  SwarmPeer& victim = swarm.add(config, {}, false, swarm.random_model());
  swarm.run_for(1);
  auto attacker = swarm.raw_member("attacker", victim, "test-model", false, nullptr, true);
  REQUIRE(swarm.run_until([&] { return attacker->connected; }, 5));
  swarm.run_for_ms(200);
  for (int k = 0; k < 100; ++k) {
    wire::ModelRequest request;
    request.request_id = std::uint64_t(k) + 1;
    request.max_bytes = 1;
    request.precision = wire::Precision::bf16;
    attacker->send(wire::Message{request});
    swarm.run_for_ms(5);
  }
  REQUIRE(swarm.run_until([&] { return attacker->chunks.size() == 100; }, 5));
  std::set<std::uint64_t> copies;
  for (const auto& chunk : attacker->chunks) {
    copies.insert(chunk.snapshot_id);
    CHECK(chunk.data.size() == 1000);  // the chunk limit, not the 1 byte asked
  }
  CHECK(copies.size() == 1);
}
