// What a link costs when it keeps breaking (training_internal.h,
// kMaxLinkResets): each reset sends a model-sized snapshot each way at once.
// A replica whose model went to NaN broke every link with every delta and
// snapshot (the simulator's byzantine-one-noclip at the peer's defaults: 455
// MB from one peer within a second), and a hostile member got a whole
// snapshot back for each malformed chunk it sent, with a new identity per
// handshake if it liked.
#include <catch2/catch.hpp>

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "starling/compress/spec.h"
#include "starling/node/training_driver.h"
#include "training_swarm.h"

using namespace starling;
using namespace starling::node;
using namespace starling::test_training;

namespace {

bool logged(const SwarmPeer& peer, const std::string& event) {
  for (const auto& e : peer.events)
    if (e.event == event) return true;
  return false;
}

// The newest epoch the member heard of on its link (a snapshot or a reset).
std::uint64_t newest_epoch(const RawMember& member) {
  std::uint64_t epoch = 0;
  for (const auto& message : member.messages) {
    if (const auto* chunk = std::get_if<wire::SnapshotChunk>(&message)) epoch = std::max(epoch, chunk->epoch);
    if (const auto* reset = std::get_if<wire::Reset>(&message)) epoch = std::max(epoch, reset->epoch);
  }
  return epoch;
}

std::uint64_t snapshots_received(const RawMember& member) {
  std::uint64_t snapshots = 0;
  for (const auto& message : member.messages)
    if (const auto* chunk = std::get_if<wire::SnapshotChunk>(&message); chunk && chunk->offset == 0) ++snapshots;
  return snapshots;
}

// A malformed snapshot chunk: a total that is not the model's.
wire::Message malformed_chunk(std::uint64_t epoch) {
  wire::SnapshotChunk chunk;
  chunk.epoch = epoch;
  chunk.total = kDimension + 1;
  chunk.precision = wire::Precision::bf16;
  chunk.values_half.assign(4, 0);
  return chunk;
}

// A whole, valid snapshot (zeros) in one chunk.
wire::Message whole_snapshot(std::uint64_t epoch) {
  wire::SnapshotChunk chunk;
  chunk.epoch = epoch;
  chunk.total = kDimension;
  chunk.precision = wire::Precision::bf16;
  chunk.values_half.assign(kDimension, bf16_bits(0.0f));
  return chunk;
}

// The peer the members dial: int8 deltas, alone, a second in.
SwarmPeer& add_server(Swarm& swarm) {
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("int8");
  SwarmPeer& server = swarm.add(config, {}, false, swarm.random_model());
  swarm.run_for(1);
  return server;
}

}  // namespace

TEST_CASE("link resets: a member that sends a bad chunk before any snapshot of its own is closed, not sent ours",
          "[runtime][training][hostile]") {
  Swarm swarm(41);
  SwarmPeer& server = add_server(swarm);
  // Each with a new identity (free to anyone with the swarm key, so a ban
  // per identity does not bound it): 20 handshakes, one bad chunk each.
  std::uint64_t snapshots = 0;
  int closed = 0;
  for (int k = 0; k < 20; ++k) {
    const crypto::Identity sybil = crypto::Identity::generate();
    auto member = swarm.raw_member("sybil" + std::to_string(k), server, "test-model", false, &sybil);
    REQUIRE(swarm.run_until([&] { return member->connected; }, 5));
    swarm.run_for_ms(200);
    REQUIRE(server.training()->status().neighbours.size() == 1);
    member->send(malformed_chunk(newest_epoch(*member) + 1));
    swarm.run_for_ms(200);
    snapshots += snapshots_received(*member);
    if (server.training()->status().neighbours.empty()) ++closed;
    member.reset();
    swarm.run_for_ms(100);
  }
  const auto status = server.training()->status();
  INFO(snapshots << " snapshots sent back for 20 bad chunks; " << closed << " links closed at once; "
                 << snapshot_bytes_sent(status) << " bytes of snapshots");
  CHECK(snapshots == 0);  // was one per bad chunk (470 kB each for the default model)
  CHECK(closed == 20);
  CHECK(snapshot_bytes_sent(status) == 0);
  CHECK(logged(server, "link.refused_input"));
}

TEST_CASE("link resets: a member that breaks its link again and again is closed and refused, not sent a snapshot "
          "for each break",
          "[runtime][training][hostile]") {
  Swarm swarm(41);
  SwarmPeer& server = add_server(swarm);
  const crypto::Identity mallory = crypto::Identity::generate();
  // A whole snapshot of its own each time, then a bad chunk: each break is
  // answered with a reset and our snapshot, until the resets come too often.
  const auto break_until_closed = [&](RawMember& member) {
    int breaks = 0;
    for (int k = 0; k < 20 && !server.training()->status().neighbours.empty(); ++k) {
      member.send(whole_snapshot(std::max<std::uint64_t>(1, newest_epoch(member))));
      swarm.run_for_ms(100);
      member.send(malformed_chunk(newest_epoch(member) + 1));
      ++breaks;
      swarm.run_for_ms(100);
    }
    return breaks;
  };
  auto member = swarm.raw_member("mallory", server, "test-model", false, &mallory);
  REQUIRE(swarm.run_until([&] { return member->connected; }, 5));
  swarm.run_for(1);
  REQUIRE(server.training()->status().neighbours.size() == 1);
  const int breaks = break_until_closed(*member);
  const std::uint64_t snapshots = snapshots_received(*member);
  const auto status = server.training()->status();
  INFO("the member broke the link " << breaks << " times; it got " << snapshots << " snapshots ("
                                    << snapshot_bytes_sent(status) << " bytes), " << status.link_resets << " resets");
  CHECK(breaks == 4);     // kMaxLinkResets: the fourth reset closes the link
  CHECK(snapshots <= 4);  // the answer to its first, and one per reset before the fourth
  CHECK(status.link_resets <= 4);
  CHECK(logged(server, "link.banned"));
  REQUIRE(status.neighbours.empty());

  // The same member dialling again within the ban (10 s) is refused at its
  // hello; after the ban its link is taken again. (A new identity is a new
  // member: docs/security.md says what that leaves.)
  const auto dial_after = [&](std::unique_ptr<RawMember>& previous, int wait_s, const std::string& name) {
    previous.reset();
    if (wait_s > 0) swarm.run_for(wait_s);
    auto next = swarm.raw_member(name, server, "test-model", false, &mallory);
    swarm.run_for(1);
    return next;
  };
  auto again = dial_after(member, 0, "mallory2");
  CHECK(server.training()->status().neighbours.empty());
  auto later = dial_after(again, 10, "mallory3");
  REQUIRE(server.training()->status().neighbours.size() == 1);

  // Breaking it again after the ban earns twice the ban (20 s): the record
  // outlives its ban, so refused at 15 s and taken again at 21 s.
  break_until_closed(*later);
  REQUIRE(server.training()->status().neighbours.empty());
  auto repeat = dial_after(later, 15, "mallory4");
  CHECK(server.training()->status().neighbours.empty());
  auto last = dial_after(repeat, 5, "mallory5");
  CHECK(server.training()->status().neighbours.size() == 1);
}

TEST_CASE("link resets: a replica whose model goes to NaN sends none of it, its links stay whole", "[runtime][training]") {
  Swarm swarm(43);
  SwarmConfig config;
  config.compressor = *compress::CompressorSpec::parse("sign");
  config.step_every_ms = 5;
  for (int i = 0; i < 3; ++i)
    swarm.add(config, i == 0 ? std::vector<int>{} : std::vector<int>{0}, false, swarm.random_model());
  REQUIRE(swarm.run_until([&] { return swarm.all_links_ready(2); }, 20));
  swarm.run_for(1);
  std::vector<TrainingDriverStatus> before;
  for (const auto& peer : swarm.peers) before.push_back(peer->training()->status());
  // Peer 2 diverges: every parameter NaN from now on (its host would fail
  // after a run of non-finite losses; this one never does).
  swarm.peers[2]->host.x.setConstant(std::numeric_limits<float>::quiet_NaN());
  swarm.peers[2]->host.frozen = true;
  swarm.run_for(1);
  // A new neighbour links with it: the link starts with a snapshot each way.
  // Of the NaN model, the newcomer refused it as corrupt, reset the link and
  // sent its own snapshot again, which was answered with another NaN one:
  // in the simulator 455 MB from one peer within a second.
  before.push_back({});
  swarm.add(config, {2}, false, swarm.random_model());
  swarm.run_for(5);
  for (std::size_t i = 0; i < swarm.peers.size(); ++i) {
    const auto after = swarm.peers[i]->training()->status();
    const std::uint64_t snapshot_bytes = snapshot_bytes_sent(after) - snapshot_bytes_sent(before[i]);
    INFO("peer " << i << ": " << after.link_resets - before[i].link_resets << " resets, " << snapshot_bytes
                 << " snapshot bytes in 6 s");
    CHECK(after.link_resets == before[i].link_resets);
    // Peer 2: at most one snapshot (bf16) to the newcomer, of its last finite model.
    if (i == 2) CHECK(snapshot_bytes <= 2 * kDimension + 200);
    if (i != 2) CHECK(swarm.peers[i]->host.x.allFinite());  // nothing of the NaN model reached them
  }
  CHECK(logged(*swarm.peers[2], "training.nonfinite"));
  const auto diverged = swarm.peers[2]->training()->status();
  CHECK(diverged.deltas_sent - before[2].deltas_sent <= 2);  // pair replies of the last finite model only
}
