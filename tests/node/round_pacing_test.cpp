// RoundPacer (node/round_pacing.h): the floor, the CPU rule and the upload
// rule on a fake clock (time and costs are plain integers).
#include <catch2/catch.hpp>

#include <cstdint>

#include "starling/node/round_pacing.h"

using namespace starling::node;

namespace {

// A host that asks for a round every `step_ms` and gets one whenever the
// pacer allows it; returns the rounds run in [0, duration_ms).
std::uint64_t run_host(RoundPacer& pacer, std::uint64_t step_ms, std::uint64_t cost_us, std::uint64_t duration_ms) {
  const UploadBudget no_budget;
  std::uint64_t rounds = 0;
  for (std::uint64_t now = 0; now < duration_ms; now += step_ms) {
    if (pacer.pause(now, no_budget, 0).wait_ms > 0) continue;
    pacer.on_round(now, cost_us, std::int64_t(now / step_ms));
    ++rounds;
  }
  return rounds;
}

}  // namespace

TEST_CASE("round pacing: no rule binds before the first round or without a measured cost", "[node][pacing]") {
  RoundPacer pacer(RoundPacingConfig{0.25, 20'000, 0});
  const UploadBudget no_budget;
  CHECK(pacer.pause(0, no_budget, 1'000'000).wait_ms == 0);
  // Costs of 0 (no clock): every step may be a round.
  CHECK(run_host(pacer, 1, 0, 1'000) == 1'000);
  CHECK(pacer.pause(1'000, no_budget, 0).reason == RoundWait::steps);
  CHECK(pacer.steps_per_round() == Approx(1.0));
}

TEST_CASE("round pacing: rounds take at most the CPU share of wall time, whatever the clock's resolution",
          "[node][pacing]") {
  for (std::uint64_t cost_us : {300u, 2'000u, 9'000u}) {
    DYNAMIC_SECTION("cost " << cost_us << " us") {
      RoundPacer pacer(RoundPacingConfig{0.25, 20'000, 0});
      const std::uint64_t rounds = run_host(pacer, 1, cost_us, 100'000);
      // 100 s at 25% of wall time: 25 s of rounds, plus the 20 ms burst (5 ms of CPU).
      const double allowed = (25'000'000.0 + 5'000.0) / double(cost_us);
      INFO(rounds << " rounds, allowed " << allowed);
      CHECK(double(rounds) <= allowed + 1);
      CHECK(double(rounds) >= allowed * 0.97 - 1);
      CHECK(pacer.round_cost_us() == Approx(double(cost_us)));
      CHECK(pacer.cpu_share_used() == Approx(0.25).epsilon(0.05));
    }
  }
  SECTION("cheap rounds are never held") {
    RoundPacer pacer(RoundPacingConfig{0.25, 20'000, 0});
    CHECK(run_host(pacer, 1, 200, 10'000) == 10'000);  // 0.8 ms of wall per round, a step is 1 ms
  }
}

TEST_CASE("round pacing: the wait says which rule holds the round longest", "[node][pacing]") {
  SECTION("CPU") {
    RoundPacer pacer(RoundPacingConfig{0.5, 0, 0});
    pacer.on_round(100, 3'000, 0);  // 6 ms of wall to pay
    const RoundPause pause = pacer.pause(101, UploadBudget{}, 0);
    CHECK(pause.reason == RoundWait::cpu);
    CHECK(pause.wait_ms == 5);
    CHECK(pacer.pause(106, UploadBudget{}, 0).wait_ms == 0);
  }
  SECTION("floor") {
    RoundPacer pacer(RoundPacingConfig{0.0, 0, 50});
    pacer.on_round(100, 3'000, 0);
    const RoundPause pause = pacer.pause(120, UploadBudget{}, 0);
    CHECK(pause.reason == RoundWait::floor);
    CHECK(pause.wait_ms == 30);
    CHECK(pacer.pause(150, UploadBudget{}, 0).wait_ms == 0);
    CHECK_FALSE(pacer.cpu_rule());
  }
  SECTION("upload: until the tokens cover the round's deltas, at most a full bucket") {
    RoundPacer pacer(RoundPacingConfig{0.25, 20'000, 0});
    UploadBudget budget(UploadBudgetConfig{10'000, 0});  // 10 kB/s, burst 10 kB
    budget.advance(0);
    budget.charge(10'000, 0);  // empty
    RoundPause pause = pacer.pause(0, budget, 4'000);
    CHECK(pause.reason == RoundWait::upload);
    CHECK(pause.wait_ms == 400);
    budget.advance(400);
    CHECK(pacer.pause(400, budget, 4'000).wait_ms == 0);
    // A round bigger than the bucket waits for a full bucket, not forever.
    pause = pacer.pause(400, budget, 50'000);
    CHECK(pause.wait_ms == 600);
    // Unknown size (no delta sent yet): no wait.
    CHECK(pacer.pause(400, budget, 0).wait_ms == 0);
  }
  SECTION("the longest wins") {
    RoundPacer pacer(RoundPacingConfig{0.1, 0, 20});
    pacer.on_round(0, 5'000, 0);  // CPU: 50 ms; floor: 20 ms
    CHECK(pacer.pause(0, UploadBudget{}, 0).reason == RoundWait::cpu);
    CHECK(pacer.pause(0, UploadBudget{}, 0).wait_ms == 50);
  }
}

TEST_CASE("round pacing: a forced round in debt deepens the debt", "[node][pacing]") {
  RoundPacer pacer(RoundPacingConfig{0.5, 0, 0});
  pacer.on_round(0, 10'000, 0);   // 20 ms
  pacer.on_round(5, 10'000, 5);   // forced at 5 ms: 15 + 20 ms to go
  CHECK(pacer.pause(5, UploadBudget{}, 0).wait_ms == 35);
  CHECK(pacer.cpu_credit_us(40) == 0);
  CHECK(pacer.steps_per_round() == Approx(5.0));
  CHECK(pacer.round_interval_ms() == Approx(5.0));
}
