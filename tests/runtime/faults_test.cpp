// The fault policy on its own: sans-I/O, so every decision is checked directly.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "starling/runtime/transport.h"

using namespace starling::runtime;
using namespace starling::node;
using Traffic = FaultPolicy::Traffic;

TEST_CASE("faults: a fresh policy is a perfect network and costs nothing", "[runtime][faults]") {
  FaultPolicy policy(std::mt19937_64(1));
  CHECK_FALSE(policy.active());
  const FaultDecision decision = policy.decide("a", "b", 100, 0, Traffic::stream);
  CHECK(decision.copies == 1);
  CHECK(decision.delay_us[0] == 0);
  CHECK(policy.stats().messages == 0);
}

TEST_CASE("faults: link beats outbound beats inbound beats default", "[runtime][faults]") {
  FaultPolicy policy(std::mt19937_64(1));
  policy.set_default(LinkFaults{.delay_us = 1});
  policy.set_inbound("b", LinkFaults{.delay_us = 2});
  policy.set_outbound("a", LinkFaults{.delay_us = 3});
  policy.set_link("a", "b", LinkFaults{.delay_us = 4});
  CHECK(policy.decide("a", "b", 1, 0, Traffic::stream).delay_us[0] == 4);
  CHECK(policy.decide("a", "c", 1, 0, Traffic::stream).delay_us[0] == 3);
  CHECK(policy.decide("c", "b", 1, 0, Traffic::stream).delay_us[0] == 2);
  CHECK(policy.decide("c", "d", 1, 0, Traffic::stream).delay_us[0] == 1);
  // Directions are separate.
  CHECK(policy.decide("b", "a", 1, 0, Traffic::stream).delay_us[0] == 1);
}

TEST_CASE("faults: drop and duplicate rates follow their probabilities", "[runtime][faults]") {
  FaultPolicy policy(std::mt19937_64(3));
  policy.set_link("a", "b",
                  LinkFaults{.drop_probability = 0.3, .duplicate_probability = 0.2, .stream_loss = StreamLoss::raw});
  int dropped = 0;
  int duplicated = 0;
  const int messages = 20'000;
  for (int i = 0; i < messages; ++i) {
    const FaultDecision decision = policy.decide("a", "b", 10, 0, Traffic::stream);
    if (decision.dropped()) ++dropped;
    if (decision.copies == 2) ++duplicated;
  }
  CHECK(dropped == Approx(0.3 * messages).epsilon(0.05));
  CHECK(duplicated == Approx(0.2 * 0.7 * messages).epsilon(0.07));
  CHECK(policy.stats().dropped == static_cast<std::uint64_t>(dropped));
  CHECK(policy.stats().duplicated == static_cast<std::uint64_t>(duplicated));
}

TEST_CASE("faults: the same seed replays the same decisions", "[runtime][faults]") {
  auto trace = [](std::uint64_t seed) {
    FaultPolicy policy{std::mt19937_64(seed)};
    policy.set_default(LinkFaults{.drop_probability = 0.5, .duplicate_probability = 0.5, .jitter_us = 1000});
    std::vector<std::uint64_t> out;
    for (int i = 0; i < 500; ++i) {
      const FaultDecision decision = policy.decide("x", "y", 10, 0, Traffic::stream);
      out.push_back(decision.copies * 1'000'000 + decision.delay_us[0] + decision.delay_us[1] * 7);
    }
    return out;
  };
  CHECK(trace(42) == trace(42));
  CHECK(trace(42) != trace(43));
}

TEST_CASE("faults: delay plus jitter stays within bounds", "[runtime][faults]") {
  FaultPolicy policy(std::mt19937_64(5));
  policy.set_default(LinkFaults{.delay_us = 1000, .jitter_us = 500});
  std::uint64_t smallest = ~0ULL;
  std::uint64_t largest = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::uint64_t delay = policy.decide("a", "b", 1, 0, Traffic::stream).delay_us[0];
    smallest = std::min(smallest, delay);
    largest = std::max(largest, delay);
  }
  CHECK(smallest >= 1000);
  CHECK(largest <= 1500);
  CHECK(largest - smallest > 400);  // the jitter is really used
}

TEST_CASE("faults: a bandwidth cap queues messages behind each other", "[runtime][faults]") {
  FaultPolicy policy(std::mt19937_64(1));
  policy.set_link("a", "b", LinkFaults{.bandwidth_bytes_per_second = 1'000'000});  // 1 byte per us
  CHECK(policy.decide("a", "b", 1000, 0, Traffic::stream).delay_us[0] == 1000);
  CHECK(policy.decide("a", "b", 1000, 0, Traffic::stream).delay_us[0] == 2000);  // waits for the first
  CHECK(policy.decide("a", "b", 500, 10'000, Traffic::stream).delay_us[0] == 500);  // link idle again
  // Other links are not slowed by it.
  CHECK(policy.decide("b", "a", 1000, 0, Traffic::stream).delay_us[0] == 0);
}

TEST_CASE("faults: a datagram shares a capped link's rate but waits behind at most a buffer of its backlog",
          "[runtime][faults]") {
  FaultPolicy policy(std::mt19937_64(1));
  policy.set_link("a", "b", LinkFaults{.bandwidth_bytes_per_second = 1'000'000});  // 1 byte per us
  // A 1 MB model chunk: one second of backlog on the stream.
  CHECK(policy.decide("a", "b", 1'000'000, 0, Traffic::stream).delay_us[0] == 1'000'000);
  // A 100-byte membership probe: FaultPolicy::kDatagramQueueUs behind, plus its own transfer.
  CHECK(policy.decide("a", "b", 100, 0, Traffic::datagram).delay_us[0] == FaultPolicy::kDatagramQueueUs + 100);
  // It did not push the stream back.
  CHECK(policy.decide("a", "b", 1000, 0, Traffic::stream).delay_us[0] == 1'001'000);
  // On an idle link only its own transfer.
  CHECK(policy.decide("a", "b", 100, 5'000'000, Traffic::datagram).delay_us[0] == 100);
}

TEST_CASE("faults: partitions, one-way blocks, heal and switching off", "[runtime][faults]") {
  FaultPolicy policy(std::mt19937_64(1));
  policy.partition({{"a", "b"}, {"c"}});
  CHECK(policy.active());
  CHECK_FALSE(policy.decide("a", "b", 1, 0, Traffic::stream).dropped());
  CHECK(policy.decide("a", "c", 1, 0, Traffic::stream).dropped());
  CHECK(policy.decide("c", "b", 1, 0, Traffic::stream).partitioned);
  CHECK_FALSE(policy.decide("a", "d", 1, 0, Traffic::stream).dropped());  // d is in no group
  policy.heal();
  CHECK_FALSE(policy.decide("a", "c", 1, 0, Traffic::stream).dropped());
  CHECK_FALSE(policy.active());

  policy.block("a", "b");
  CHECK(policy.decide("a", "b", 1, 0, Traffic::stream).dropped());
  CHECK_FALSE(policy.decide("b", "a", 1, 0, Traffic::stream).dropped());
  policy.set_enabled(false);
  CHECK_FALSE(policy.active());
  CHECK_FALSE(policy.decide("a", "b", 1, 0, Traffic::stream).dropped());
  policy.set_enabled(true);
  CHECK(policy.decide("a", "b", 1, 0, Traffic::stream).dropped());
  policy.clear();
  CHECK_FALSE(policy.active());
  CHECK(policy.stats().partitioned == 4);
}

TEST_CASE("faults: a clog holds every message from or to a peer until it ends", "[runtime][faults]") {
  FaultPolicy policy(std::mt19937_64(5));
  policy.clog("a", 5'000);
  CHECK(policy.active());
  CHECK(policy.decide("a", "b", 10, 1'000, Traffic::stream).delay_us[0] == 4'000);  // from the clogged peer
  CHECK(policy.decide("c", "a", 10, 2'000, Traffic::stream).delay_us[0] == 3'000);  // to it
  CHECK(policy.decide("b", "c", 10, 2'000, Traffic::stream).delay_us[0] == 0);      // elsewhere: untouched
  CHECK(policy.decide("a", "b", 10, 5'000, Traffic::stream).delay_us[0] == 0);      // over
  CHECK_FALSE(policy.decide("a", "b", 10, 1'000, Traffic::stream).dropped());       // held, never lost
  // The link's own delay starts when the clog ends.
  policy.set_link("a", "b", LinkFaults{.delay_us = 300});
  CHECK(policy.decide("a", "b", 10, 4'000, Traffic::stream).delay_us[0] == 1'300);
  CHECK(policy.stats().clogged == 4);
  policy.unclog("a");
  CHECK(policy.decide("c", "a", 10, 1'000, Traffic::stream).delay_us[0] == 0);
  policy.clog("b", 9'000);
  policy.heal();
  CHECK(policy.decide("c", "b", 10, 1'000, Traffic::stream).delay_us[0] == 0);
}

TEST_CASE("faults: delay min and mean give a long tail above the minimum", "[runtime][faults]") {
  FaultPolicy policy(std::mt19937_64(9));
  policy.set_default(LinkFaults{.delay_us = 1'000, .delay_mean_us = 5'000});
  CHECK(policy.active());
  const int messages = 20'000;
  double sum_us = 0.0;
  std::uint64_t lowest_us = ~0ULL, highest_us = 0;
  for (int i = 0; i < messages; ++i) {
    const std::uint64_t delay_us = policy.decide("a", "b", 10, 0, Traffic::stream).delay_us[0];
    sum_us += double(delay_us);
    lowest_us = std::min(lowest_us, delay_us);
    highest_us = std::max(highest_us, delay_us);
  }
  CHECK(lowest_us >= 1'000);
  CHECK(lowest_us < 1'100);
  CHECK(sum_us / messages == Approx(5'000).epsilon(0.03));
  CHECK(highest_us > 20'000);  // exponential: e^-4.75 of the mass lies past 20 ms
  // A mean at or below the minimum is no tail at all.
  FaultPolicy flat(std::mt19937_64(9));
  flat.set_default(LinkFaults{.delay_us = 1'000, .delay_mean_us = 1'000});
  CHECK(flat.decide("a", "b", 10, 0, Traffic::stream).delay_us[0] == 1'000);
}

TEST_CASE("faults: loss on a stream costs retransmission time, never a frame, datagrams are lost",
          "[runtime][faults]") {
  FaultPolicy policy(std::mt19937_64(11));
  policy.set_link("a", "b", LinkFaults{.drop_probability = 0.3, .duplicate_probability = 0.5, .delay_us = 150'000});
  const std::uint64_t round_trip_us = 300'000;  // above the floors
  std::map<std::uint64_t, int> extras;
  const int frames = 20'000;
  int late = 0;
  // The path's loss limits its rate (about 10.8 kB/s here): frames a second
  // apart never queue, and each takes its 10 bytes' transfer time.
  const std::uint64_t rate = FaultPolicy::with_loss_limit(0, LinkFaults{.drop_probability = 0.3, .delay_us = 150'000});
  REQUIRE(rate == 10'792);
  const std::uint64_t transfer_us = (10 * 1'000'000 + rate - 1) / rate;
  for (int i = 0; i < frames; ++i) {
    const std::uint64_t now_us = std::uint64_t(i) * 1'000'000;
    const FaultDecision decision = policy.decide("a", "b", 10, now_us, Traffic::stream);
    REQUIRE(decision.copies == 1);  // nothing lost, nothing doubled
    CHECK(decision.in_order);
    REQUIRE(decision.delay_us[0] >= 150'000 + transfer_us);
    const std::uint64_t extra = decision.delay_us[0] - 150'000 - transfer_us;
    if (extra > 0) ++late;
    ++extras[extra];
    // 0, or a round trip (300 ms), then timeouts of two round trips doubling
    // per further loss: 300, 900, 2100 ...
    CHECK(extra % round_trip_us == 0);
  }
  CHECK(extras[300'000] == Approx(0.3 * 0.7 * frames).epsilon(0.07));  // repaired at once
  CHECK(extras[900'000] == Approx(0.3 * 0.3 * 0.7 * frames).epsilon(0.15));  // the repair lost too
  CHECK(late == Approx(0.3 * frames).epsilon(0.05));
  CHECK(policy.stats().retransmitted == std::uint64_t(late));
  CHECK(policy.stats().dropped == 0);
  CHECK(policy.stats().duplicated == 0);

  // The same faults on datagrams lose and double them.
  int lost = 0;
  for (int i = 0; i < frames; ++i) {
    if (policy.decide("a", "b", 10, 0, FaultPolicy::Traffic::datagram).dropped()) ++lost;
  }
  CHECK(lost == Approx(0.3 * frames).epsilon(0.05));

  // Without delay the floors apply: 10 ms for a first loss, 200 ms more for a
  // lost repair.
  policy.set_link("a", "b", LinkFaults{.drop_probability = 0.5});
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(policy.decide("a", "b", 10, 0, Traffic::stream).delay_us[0]);
  CHECK(seen.count(0) == 1);
  CHECK(seen.count(10'000) == 1);
  CHECK(seen.count(210'000) == 1);
  CHECK(seen.count(610'000) == 1);

  // A dead path (everything lost) loses stream frames too.
  policy.set_link("a", "b", LinkFaults{.drop_probability = 1.0});
  CHECK(policy.decide("a", "b", 10, 0, Traffic::stream).dropped());
  // Raw stream loss, for protocol tests: frames lost, out of order allowed.
  policy.set_link("a", "b", LinkFaults{.drop_probability = 0.999, .stream_loss = StreamLoss::raw});
  const FaultDecision raw = policy.decide("a", "b", 10, 0, Traffic::stream);
  CHECK(raw.dropped());
  CHECK_FALSE(raw.in_order);
}

TEST_CASE("faults: a lossy path carries only what TCP's congestion control lets through", "[runtime][faults]") {
  // 20% loss at 50 ms each way: Mathis' limit, 1448 * sqrt(3/2) / (0.1 s *
  // sqrt(0.2)), about 39.7 kB/s.
  const LinkFaults lossy{.drop_probability = 0.2, .delay_us = 50'000};
  const std::uint64_t rate = FaultPolicy::with_loss_limit(0, lossy);
  CHECK(rate == Approx(39'655).margin(2));
  // A megabyte sent at once (a model download) takes about 25 s, not 0.1 s.
  FaultPolicy policy(std::mt19937_64(3));
  policy.set_link("a", "b", lossy);
  FaultDecision last;
  for (int i = 0; i < 100; ++i) last = policy.decide("a", "b", 10'000, 0, Traffic::stream);
  CHECK(last.delay_us[0] >= 25'000'000);
  CHECK(last.delay_us[0] <= 25'300'000 + 8 * 3'200'000);  // plus the delay and at most one frame's repairs
  CHECK(last.queue_us[0] >= 25'000'000);  // the sender's backlog, as TCP's send buffer
  // A set bandwidth below the limit wins; above it, the limit does.
  CHECK(FaultPolicy::with_loss_limit(10'000, lossy) == 10'000);
  CHECK(FaultPolicy::with_loss_limit(1'000'000, lossy) == rate);
  // Less loss, more rate (1/sqrt(p)); a longer path, less (1/R); jitter and the
  // long tail count half and whole towards the mean round trip.
  CHECK(FaultPolicy::with_loss_limit(0, LinkFaults{.drop_probability = 0.05, .delay_us = 50'000}) ==
        Approx(2.0 * double(rate)).margin(2));
  CHECK(FaultPolicy::with_loss_limit(0, LinkFaults{.drop_probability = 0.2, .delay_us = 100'000}) ==
        Approx(0.5 * double(rate)).margin(2));
  CHECK(FaultPolicy::with_loss_limit(0, LinkFaults{.drop_probability = 0.2, .delay_us = 25'000, .jitter_us = 50'000}) ==
        Approx(double(rate)).margin(2));
  // No loss, a dead path, raw frames, datagrams and paths shorter than 2 ms
  // round trips are not limited.
  CHECK(FaultPolicy::with_loss_limit(0, LinkFaults{.delay_us = 50'000}) == 0);
  CHECK(FaultPolicy::with_loss_limit(0, LinkFaults{.drop_probability = 0.2, .delay_us = 999}) == 0);
  policy.set_link("a", "b", LinkFaults{.drop_probability = 0.2, .delay_us = 999});
  CHECK(policy.decide("a", "b", 1'000'000, 1'000'000'000, Traffic::stream).delay_us[0] <= 999 + 8 * 3'200'000);
  policy.set_link("a", "b", LinkFaults{.drop_probability = 0.2, .delay_us = 50'000, .stream_loss = StreamLoss::raw});
  const FaultDecision raw = policy.decide("a", "b", 1'000'000, 2'000'000'000, Traffic::stream);
  CHECK((raw.dropped() || raw.delay_us[0] == 50'000));
  policy.set_link("a", "b", lossy);
  const FaultDecision datagram = policy.decide("a", "b", 1'000, 3'000'000'000, FaultPolicy::Traffic::datagram);
  CHECK((datagram.dropped() || datagram.delay_us[0] == 50'000));
}
