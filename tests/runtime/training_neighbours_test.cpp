// Neighbour choice under link caps: a member that refuses a link because it is
// at --max-links is swapped out of the dialler's sample at once, so late
// joiners find the members that still have room instead of waiting for the
// sample to rotate (bench/consensus_scale.sh saw 188 of 1000 peers unlinked).
#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <cstdint>
#include <string>
#include <vector>

#include "starling/node/peer.h"
#include "starling/node/training_driver.h"

#include "training_swarm.h"

using namespace starling;
using namespace starling::node;
using namespace starling::test_training;

namespace {

std::size_t ready_links(SwarmPeer& peer) {
  std::size_t ready = 0;
  for (const NeighbourStatus& n : peer.training()->status().neighbours) ready += n.ready ? 1 : 0;
  return ready;
}

}  // namespace

TEST_CASE("training driver: late joiners whose sampled neighbours are full find the members with room",
          "[runtime][training][neighbours]") {
  // Three early members with a cap of two links form a full triangle. Two
  // late joiners each sample one neighbour out of four: without resampling a
  // late joiner that drew a full member stays unlinked until its sample
  // rotates (30 s), and both do so with probability 9/16 per swarm. Six
  // independent swarms: every one must link both late joiners within 15 s.
  for (std::uint64_t seed = 41; seed < 47; ++seed) {
    Swarm swarm(seed);
    SwarmConfig early;
    early.compressor = *compress::CompressorSpec::parse("none");
    early.neighbours = 2;
    early.max_links = 2;
    for (int i = 0; i < 3; ++i) {
      early.random_seed = seed * 100 + std::uint64_t(i) + 1;
      swarm.add(early, i == 0 ? std::vector<int>{} : std::vector<int>{0}, false, Eigen::VectorXf::Zero(kDimension));
    }
    REQUIRE(swarm.run_until(
        [&] {
          for (int i = 0; i < 3; ++i)
            if (ready_links(*swarm.peers[std::size_t(i)]) < 2) return false;
          return true;
        },
        30));
    SwarmConfig late = early;
    late.neighbours = 1;
    for (int i = 0; i < 2; ++i) {
      late.random_seed = seed * 100 + std::uint64_t(i) + 11;
      swarm.add(late, {0}, false, Eigen::VectorXf::Zero(kDimension));
    }
    const bool linked = swarm.run_until(
        [&] { return ready_links(*swarm.peers[3]) >= 1 && ready_links(*swarm.peers[4]) >= 1; }, 15);
    INFO("seed " << seed << ": late joiners' ready links " << ready_links(*swarm.peers[3]) << " and "
                 << ready_links(*swarm.peers[4]));
    CHECK(linked);
    for (int i = 0; i < 3; ++i) CHECK(ready_links(*swarm.peers[std::size_t(i)]) <= 2);
  }
}
