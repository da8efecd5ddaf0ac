// node::PairWindow: how long our open pair request blocks the next one.
#include <catch2/catch.hpp>

#include "starling/node/pair_window.h"

using starling::node::PairWindow;

TEST_CASE("pair window: before any reply an open request blocks for the longest timeout", "[node][pairwise]") {
  PairWindow window;
  CHECK_FALSE(window.smoothed_rtt_ms());
  CHECK(window.timeout_ms() == PairWindow::kMaxTimeoutMs);
  CHECK(window.blocks(1000, 1000 + PairWindow::kMaxTimeoutMs - 1));
  CHECK_FALSE(window.blocks(1000, 1000 + PairWindow::kMaxTimeoutMs));
}

TEST_CASE("pair window: the timeout follows the round trip and its spread, within bounds", "[node][pairwise]") {
  PairWindow wan;
  for (int i = 0; i < 50; ++i) wan.on_reply(300);
  REQUIRE(wan.smoothed_rtt_ms());
  CHECK(*wan.smoothed_rtt_ms() == Approx(300.0));
  // A steady round trip: the deviation decays, the timeout nears it.
  CHECK(wan.timeout_ms() >= 300);
  CHECK(wan.timeout_ms() <= 310);
  CHECK(wan.blocks(0, 299));

  PairWindow jittery;
  for (int i = 0; i < 50; ++i) jittery.on_reply(i % 2 == 0 ? 200 : 400);
  CHECK(jittery.timeout_ms() > 500);  // mean 300 plus four deviations of ~100

  PairWindow lan;
  for (int i = 0; i < 50; ++i) lan.on_reply(1);
  CHECK(lan.timeout_ms() == PairWindow::kMinTimeoutMs);

  PairWindow stuck;
  stuck.on_reply(60'000);
  CHECK(stuck.timeout_ms() == PairWindow::kMaxTimeoutMs);
}
