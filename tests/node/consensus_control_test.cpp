// Consensus control (node/consensus_control.h): k halves while the peer
// disagrees with its neighbours by more than the target (in local SGD
// steps), grows by one while it agrees, and stays within its bounds.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>

#include "starling/node/consensus_control.h"

using namespace starling::node;

TEST_CASE("consensus control: disagreement past the target halves k down to the minimum", "[node][consensus_control]") {
  ConsensusControl control(ConsensusControlConfig{}, 16);
  // Each step moves 1.0; the peer sits 10 steps' worth from its neighbours.
  CHECK(control.observe(10.0, 16.0, 16, 100.0) == 8);
  CHECK(control.ratio() == Approx(10.0));
  CHECK(control.observe(10.0, 8.0, 8, 100.0) == 4);
  CHECK(control.observe(10.0, 4.0, 4, 100.0) == 2);
  CHECK(control.observe(10.0, 2.0, 2, 100.0) == 1);
  CHECK(control.observe(10.0, 1.0, 1, 100.0) == 1);  // the minimum holds
}

TEST_CASE("consensus control: agreement under half the target backs off one step at a time to the maximum",
          "[node][consensus_control]") {
  ConsensusControlConfig config;
  config.max_steps = 6;
  ConsensusControl control(config, 1);
  std::uint64_t k = 1;
  for (std::uint64_t expected = 2; expected <= 6; ++expected) {
    k = control.observe(0.5, double(k), k, 100.0);  // half a step apart: 0.5 < target / 2
    CHECK(k == expected);
  }
  CHECK(control.observe(0.5, 6.0, 6, 100.0) == 6);  // the maximum holds
  // Between half the target and the target: k stays.
  CHECK(control.observe(1.5, 6.0, 6, 100.0) == 6);
}

TEST_CASE("consensus control: no training but disagreement gossips densely, agreement to rounding backs off",
          "[node][consensus_control]") {
  ConsensusControl control(ConsensusControlConfig{}, 4);
  CHECK(control.observe(1.0, 0.0, 4, 100.0) == 2);
  CHECK(control.ratio() == std::numeric_limits<double>::infinity());
  CHECK(control.observe(1.0, 0.0, 2, 100.0) == 1);
  // 1e-5 of a model of norm 100 is below the agreement floor (1e-6 relative): none.
  CHECK(control.observe(1e-5, 0.0, 1, 100.0) == 2);
  CHECK(control.ratio() == 0.0);
  // A distance that is not finite says nothing: k stays.
  CHECK(control.observe(std::numeric_limits<double>::quiet_NaN(), 1.0, 1, 100.0) == 2);
}

TEST_CASE("consensus control: the step size is smoothed, so one quiet round does not make a small distance look large",
          "[node][consensus_control]") {
  ConsensusControl control(ConsensusControlConfig{}, 4);
  CHECK(control.observe(1.0, 4.0, 4, 100.0) == 4);  // r = 1 = target / 2: not under it, k stays
  // A round that moved almost nothing (a stalled step): the EWMA keeps most
  // of the old step size (0.75), so r = 1 / 0.75 < target and k does not collapse.
  const std::uint64_t k = control.observe(1.0, 0.0, 5, 100.0);
  CHECK(k == 4);
  CHECK(control.ratio() == Approx(1.0 / 0.75));
}
