// UploadBudget and plan_delta (node/upload_budget.h): exact token arithmetic
// on a fake clock (plain integers: the budget takes time as an argument).
#include <catch2/catch.hpp>

#include <limits>

#include "starling/node/upload_budget.h"

using namespace starling::node;

TEST_CASE("upload budget: without a rate everything is allowed and only counted", "[node][budget]") {
  UploadBudget budget;
  CHECK_FALSE(budget.limited());
  budget.charge(5'000'000, 0);
  CHECK(budget.allowance(3) == std::numeric_limits<std::uint64_t>::max());
  CHECK(budget.bytes_charged() == 5'000'000);
}

TEST_CASE("upload budget: tokens refill at the rate, capped at the burst, exactly", "[node][budget]") {
  UploadBudget budget(UploadBudgetConfig{1000, 0});  // 1000 B/s, burst one second's worth
  CHECK(budget.burst_bytes() == 1000);
  budget.advance(0);
  CHECK(budget.tokens() == 1000);
  budget.charge(1000, 0);
  CHECK(budget.tokens() == 0);
  CHECK(budget.allowance(1) == 0);
  budget.advance(1);  // 1 ms at 1000 B/s: exactly one byte
  CHECK(budget.tokens() == 1);
  budget.advance(250);
  CHECK(budget.tokens() == 250);
  budget.advance(249);  // time never goes back
  CHECK(budget.tokens() == 250);
  budget.advance(5000);  // capped at the burst
  CHECK(budget.tokens() == 1000);
  // Shared equally among the links still to serve this round.
  CHECK(budget.allowance(4) == 250);
  CHECK(budget.allowance(3) == 333);
}

TEST_CASE("upload budget: sub-byte refills are carried, not lost", "[node][budget]") {
  UploadBudget budget(UploadBudgetConfig{333, 10'000});
  budget.advance(0);
  budget.charge(10'000, 0);
  for (std::uint64_t ms = 1; ms <= 3000; ++ms) budget.advance(ms);  // 3000 calls of 0.333 bytes
  CHECK(budget.tokens() == 999);
}

TEST_CASE("upload budget: a snapshot leaves a debt that deltas wait out", "[node][budget]") {
  UploadBudget budget(UploadBudgetConfig{100'000, 0});
  budget.advance(0);
  budget.charge(470'000, 0);  // a bf16 MLP snapshot: sent whole, charged whole
  CHECK(budget.tokens() == 100'000 - 470'000);
  CHECK(budget.allowance(1) == 0);
  budget.advance(3700);
  CHECK(budget.tokens() == 0);
  CHECK(budget.allowance(1) == 0);
  budget.advance(3750);
  CHECK(budget.tokens() == 5000);
}

TEST_CASE("upload budget: the measured rate counts whole seconds of the last ten", "[node][budget]") {
  UploadBudget budget(UploadBudgetConfig{1'000'000, 0});
  budget.advance(0);
  CHECK(budget.measured_bytes_per_second(500) == 0.0);  // no whole second yet
  for (std::uint64_t second = 0; second < 20; ++second) budget.charge(1000 * (second + 1), second * 1000 + 10);
  // At 20.5 s: seconds 10..19 carried 11..20 kB, mean 15.5 kB/s.
  CHECK(budget.measured_bytes_per_second(20'500) == Approx(15'500.0));
  // Bytes of the current second leave the window's oldest second counted (it
  // was overwritten: a peer at its budget read about 90% of it).
  budget.charge(50'000, 20'600);
  CHECK(budget.measured_bytes_per_second(20'700) == Approx(15'500.0));
  // At 2.5 s: seconds 0 and 1 only.
  UploadBudget early(UploadBudgetConfig{});
  early.advance(0);
  early.charge(3000, 100);
  early.charge(1000, 1100);
  early.charge(7000, 2100);  // the current second is not counted yet
  CHECK(early.measured_bytes_per_second(2500) == Approx(2000.0));
  // Nothing sent for a long while: the old seconds age out.
  CHECK(early.measured_bytes_per_second(60'000) == 0.0);
}

TEST_CASE("plan_delta: the link's queue holds at most one delta", "[node][budget]") {
  const UploadBudget unlimited;
  CHECK(plan_delta(unlimited, 1, 0, 0, true).send);            // nothing queued, size unknown
  CHECK_FALSE(plan_delta(unlimited, 1, 1, 0, true).send);      // a snapshot still leaving
  CHECK(plan_delta(unlimited, 1, 20'000, 20'000, true).send);  // one delta still queued: fine
  CHECK_FALSE(plan_delta(unlimited, 1, 20'001, 20'000, true).send);
  CHECK(plan_delta(unlimited, 1, 0, 20'000, true).fraction_scale == 1.0);
}

TEST_CASE("plan_delta: a sparse delta shrinks to the budget's share, a dense one goes whole if the tokens cover it",
          "[node][budget]") {
  UploadBudget budget(UploadBudgetConfig{60'000, 0});
  budget.advance(0);  // 60,000 tokens
  // 3 links: 20,000 each; a 20,000-byte delta fits whole.
  DeltaPlan plan = plan_delta(budget, 3, 0, 20'000, true);
  CHECK(plan.send);
  CHECK(plan.fraction_scale == 1.0);
  // A 40,000-byte delta gets half its fraction; a dense one is skipped.
  plan = plan_delta(budget, 3, 0, 40'000, true);
  CHECK(plan.send);
  CHECK(plan.fraction_scale == Approx(0.5));
  // Dense: over its share, but the tokens cover it whole (the round's later
  // links wait their turn).
  plan = plan_delta(budget, 3, 0, 40'000, false);
  CHECK(plan.send);
  CHECK(plan.fraction_scale == 1.0);
  // 45,000 tokens do not cover 50,000 and the bucket is not full: it waits.
  budget.charge(15'000, 0);
  CHECK_FALSE(plan_delta(budget, 1, 0, 50'000, false).send);
  // Below kMinFractionScale of its size: skipped.
  CHECK_FALSE(plan_delta(budget, 3, 0, 20'000 * 9, true).send);
  // In debt: nothing.
  budget.charge(70'000, 0);
  CHECK_FALSE(plan_delta(budget, 1, 0, 100, true).send);
}

TEST_CASE("plan_delta: a dense delta larger than the bucket goes when it is full, and the rate holds",
          "[node][budget]") {
  // 100 kB/s, so a 100 kB bucket, and 235 kB deltas (a first int8 delta of
  // the default model): they can never be covered; each goes once the
  // bucket is full and its debt is waited out before the next.
  UploadBudget budget(UploadBudgetConfig{100'000, 0});
  constexpr std::size_t kDelta = 235'000;
  budget.advance(0);
  REQUIRE(plan_delta(budget, 1, 0, kDelta, false).send);  // full at the start
  std::uint64_t sent = 0;
  std::uint64_t sends = 0;
  for (std::uint64_t ms = 0; ms <= 60'000; ms += 10) {
    budget.advance(ms);
    if (!plan_delta(budget, 1, 0, kDelta, false).send) continue;
    budget.charge(kDelta, ms);
    sent += kDelta;
    ++sends;
  }
  // 60 s at 100 kB/s plus the first bucket: 6.1 MB at most, 25 deltas;
  // every send after the first waits out 235 kB of refill.
  CHECK(sends >= 24);
  CHECK(sent <= 6'100'000 + kDelta);
  CHECK(budget.tokens() > -std::int64_t(kDelta));
  // Never below the full bucket: a delta goes only with a full bucket.
  UploadBudget half(UploadBudgetConfig{100'000, 0});
  half.advance(0);
  half.charge(1, 0);
  CHECK_FALSE(plan_delta(half, 1, 0, kDelta, false).send);
}

TEST_CASE("reply_fits: a pair reply may take the tokens one bucket into debt, no further", "[node][budget]") {
  UploadBudget budget(UploadBudgetConfig{100'000, 0});
  budget.advance(0);
  CHECK(reply_fits(budget, 0, 35'000));
  CHECK_FALSE(reply_fits(budget, 35'001, 35'000));  // the queue rule holds
  budget.charge(165'000, 0);                         // -65,000: a 35,000 reply reaches -100,000
  CHECK(reply_fits(budget, 0, 35'000));
  budget.charge(1, 0);
  CHECK_FALSE(reply_fits(budget, 0, 35'000));
  CHECK(reply_fits(UploadBudget{}, 0, 1u << 30));  // no budget
}
