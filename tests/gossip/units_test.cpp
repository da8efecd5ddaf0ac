// The small pieces: config profiles, the suspicion formula, the broadcast
// queue's budget and order, local health, the neighbour sampler and the
// candidates' table.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "starling/gossip/awareness.h"
#include "starling/gossip/broadcast_queue.h"
#include "starling/gossip/candidates.h"
#include "starling/gossip/config.h"
#include "starling/gossip/neighbour_sampler.h"
#include "starling/gossip/suspicion.h"

using namespace starling::gossip;

namespace {
NodeId node(std::uint8_t n) {
  NodeId id{};
  id[0] = n;
  return id;
}
Update alive_update(std::uint8_t n, std::uint64_t incarnation = 0) {
  return Update{MemberRecord{node(n), "h:" + std::to_string(n), incarnation, MemberState::alive, {}, {}}, node(n), {}};
}
}  // namespace

TEST_CASE("profiles carry memberlist's LAN and WAN defaults", "[gossip][config]") {
  const Config lan = config_for_profile("lan").value();
  CHECK(lan.probe_interval_ms == 1000);
  CHECK(lan.probe_timeout_ms == 500);
  CHECK(lan.indirect_checks == 3);
  CHECK(lan.suspicion_mult == 4);
  CHECK(lan.retransmit_mult == 4);
  CHECK(lan.push_pull_interval_ms == 30000);
  CHECK(lan.validate().ok());

  const Config wan = config_for_profile("wan").value();
  CHECK(wan.probe_interval_ms == 5000);
  CHECK(wan.probe_timeout_ms == 3000);
  CHECK(wan.suspicion_mult == 6);
  CHECK(wan.push_pull_interval_ms == 60000);
  CHECK(wan.gossip_nodes == 4);
  CHECK(wan.validate().ok());

  const auto unknown = config_for_profile("moon");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().kind == starling::ErrorKind::invalid_argument);

  Config bad = lan;
  bad.probe_timeout_ms = bad.probe_interval_ms;
  CHECK_FALSE(bad.validate().ok());
}

TEST_CASE("suspicion timeout shrinks from max to min with confirmations", "[gossip][suspicion]") {
  // memberlist's numbers for 16 members at LAN defaults: min 4.8 s, max 28.8 s, K = 2.
  const std::int64_t min_ms = Suspicion::min_timeout_ms(4, 16, 1000);
  CHECK(min_ms == 4816);  // 4 * log10(16) * 1 s
  CHECK(Suspicion::min_timeout_ms(4, 3, 1000) == 4000);  // log10 floor of 1 for small swarms
  const std::int64_t max_ms = 6 * min_ms;
  CHECK(Suspicion::timeout_ms(0, 2, min_ms, max_ms) == max_ms);
  const auto one = Suspicion::timeout_ms(1, 2, min_ms, max_ms);
  CHECK(one == static_cast<std::int64_t>(std::floor(max_ms - (max_ms - min_ms) * std::log(2.0) / std::log(3.0))));
  CHECK(Suspicion::timeout_ms(2, 2, min_ms, max_ms) == min_ms);
  CHECK(Suspicion::timeout_ms(5, 2, min_ms, max_ms) == min_ms);
  CHECK(Suspicion::timeout_ms(0, 0, min_ms, max_ms) == min_ms);

  Suspicion suspicion(node(1), 2, 1000, 6000, 100);
  CHECK(suspicion.deadline_ms() == 6100);
  CHECK_FALSE(suspicion.confirm(node(1)));  // the accuser does not confirm itself
  CHECK(suspicion.confirm(node(2)));
  CHECK_FALSE(suspicion.confirm(node(2)));  // nor does anyone twice
  CHECK(suspicion.deadline_ms() < 6100);
  CHECK(suspicion.confirm(node(3)));
  CHECK(suspicion.deadline_ms() == 1100);
  CHECK_FALSE(suspicion.confirm(node(4)));  // at the floor already
}

TEST_CASE("broadcast queue spends a log(n) budget, freshest first", "[gossip][broadcast]") {
  CHECK(BroadcastQueue::transmit_limit(4, 1) == 4);
  CHECK(BroadcastQueue::transmit_limit(4, 9) == 4);
  CHECK(BroadcastQueue::transmit_limit(4, 10) == 8);
  CHECK(BroadcastQueue::transmit_limit(4, 64) == 8);
  CHECK(BroadcastQueue::transmit_limit(4, 1000) == 16);

  BroadcastQueue queue(4, 1024);
  queue.push(alive_update(1));
  queue.push(alive_update(2));
  const std::size_t one = BroadcastQueue::estimated_bytes(alive_update(1));
  auto first = queue.take(one, 5);
  REQUIRE(first.size() == 1);
  CHECK(first[0].member.node_id == node(2));  // newest first among the unsent
  auto second = queue.take(one, 5);
  CHECK(second[0].member.node_id == node(1));  // then the least sent

  // A newer update about the same member replaces the queued one.
  queue.push(alive_update(1, 7));
  CHECK(queue.size() == 2);
  int sent_about_one = 0;
  while (!queue.empty()) {
    for (const Update& update : queue.take(10 * one, 5)) {
      if (update.member.node_id == node(1)) {
        CHECK(update.member.incarnation == 7);
        ++sent_about_one;
      }
    }
  }
  CHECK(sent_about_one == 4);
}

TEST_CASE("broadcast queue: a peek carries the news without spending its budget", "[gossip][broadcast]") {
  const std::size_t one = BroadcastQueue::estimated_bytes(alive_update(1));
  BroadcastQueue queue(1, 1024);  // one transmission each below 10 members
  queue.push(alive_update(1));
  queue.push(alive_update(2));
  for (int i = 0; i < 5; ++i) {
    const auto peeked = queue.peek(one);
    REQUIRE(peeked.size() == 1);
    CHECK(peeked[0].member.node_id == node(2));  // what take() would send next
  }
  CHECK(queue.size() == 2);
  CHECK(queue.take(one, 5).at(0).member.node_id == node(2));  // now spent
  CHECK(queue.peek(10 * one).size() == 1);
  CHECK(queue.contains(node(1)));
  CHECK_FALSE(queue.contains(node(2)));
}

TEST_CASE("broadcast queue drops the most sent when full and follows a smaller budget", "[gossip][broadcast]") {
  const std::size_t one = BroadcastQueue::estimated_bytes(alive_update(1));
  BroadcastQueue queue(1, 3);
  queue.push(alive_update(1));
  queue.push(alive_update(2));
  CHECK(queue.take(one, 1000).at(0).member.node_id == node(2));  // sent once; the limit at 1000 is 4
  CHECK(queue.take(one, 1000).at(0).member.node_id == node(1));
  CHECK(queue.take(one, 1000).at(0).member.node_id == node(2));  // both sent once: the newer first
  queue.push(alive_update(3));
  queue.push(alive_update(4));  // full: 2 (sent twice) goes
  CHECK(queue.dropped() == 1);
  CHECK_FALSE(queue.contains(node(2)));
  CHECK(queue.contains(node(1)));
  queue.push(alive_update(5));  // full: 1 (sent once, the only one sent) goes
  CHECK_FALSE(queue.contains(node(1)));
  CHECK(queue.size() == 3);
  // A smaller cluster lowers the budget to 1: the update sent now leaves, and
  // so would any other already sent once; the unsent stay.
  const auto sent = queue.take(one, 1);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].member.node_id == node(5));
  CHECK(queue.size() == 2);
  CHECK(queue.contains(node(3)));
  CHECK(queue.contains(node(4)));
}

TEST_CASE("node ids order as bytes, first to last", "[gossip]") {
  NodeId a = node(1), b = node(1);
  CHECK_FALSE(NodeIdLess{}(a, b));
  b[31] = 1;
  CHECK(NodeIdLess{}(a, b) == (a < b));
  CHECK(NodeIdLess{}(b, a) == (b < a));
  a[0] = 0xff;
  CHECK(NodeIdLess{}(a, b) == (a < b));
  CHECK(NodeIdLess{}(b, a) == (b < a));
}

TEST_CASE("local health scales timeouts and stays in range", "[gossip][awareness]") {
  Awareness awareness(8);
  CHECK(awareness.scale(500) == 500);
  awareness.apply(3);
  CHECK(awareness.scale(500) == 2000);
  awareness.apply(100);
  CHECK(awareness.score() == 7);
  awareness.apply(-100);
  CHECK(awareness.score() == 0);
}

TEST_CASE("neighbour sampler keeps its set, replaces the gone, rotates one", "[gossip][neighbours]") {
  Random random(7);
  std::vector<NodeId> live;
  for (std::uint8_t i = 1; i <= 10; ++i) live.push_back(node(i));
  NeighbourSampler sampler;
  const std::vector<NodeId> first = sampler.refresh(live, 4, random);
  CHECK(first.size() == 4);
  CHECK(sampler.refresh(live, 4, random) == first);  // stable

  const NodeId gone = first[1];
  std::erase(live, gone);
  const std::vector<NodeId> after = sampler.refresh(live, 4, random);
  CHECK(after.size() == 4);
  CHECK(std::find(after.begin(), after.end(), gone) == after.end());
  CHECK(std::count_if(after.begin(), after.end(), [&](const NodeId& id) {
          return std::find(first.begin(), first.end(), id) != first.end();
        }) == 3);

  REQUIRE(sampler.rotate(live, random));
  const std::vector<NodeId>& rotated = sampler.current();
  CHECK(std::count_if(rotated.begin(), rotated.end(), [&](const NodeId& id) {
          return std::find(after.begin(), after.end(), id) != after.end();
        }) == 3);

  // Fewer live members than the fan-out: take them all.
  const std::vector<NodeId> few{node(1), node(2)};
  CHECK(sampler.refresh(few, 4, random).size() == 2);
}

TEST_CASE("neighbour sampler swaps out a refusing neighbour for one outside the set", "[gossip][neighbours]") {
  Random random(11);
  std::vector<NodeId> live;
  for (std::uint8_t i = 1; i <= 6; ++i) live.push_back(node(i));
  NeighbourSampler sampler;
  const std::vector<NodeId> before = sampler.refresh(live, 3, random);
  const NodeId refused = before[0];
  REQUIRE(sampler.replace(refused, live, random));
  const std::vector<NodeId>& after = sampler.current();
  CHECK(after.size() == 3);
  CHECK(std::find(after.begin(), after.end(), refused) == after.end());
  CHECK(after[1] == before[1]);  // the others stay
  CHECK(after[2] == before[2]);
  CHECK(std::find(live.begin(), live.end(), after[0]) != live.end());
  // Not in the set, or nobody outside it: nothing changes.
  CHECK_FALSE(sampler.replace(refused, live, random));
  const std::vector<NodeId> all{after[0], after[1], after[2]};
  CHECK_FALSE(sampler.replace(after[0], all, random));
  CHECK(sampler.current().size() == 3);
}

namespace {
MemberRecord candidate(std::uint16_t n) {
  NodeId id{};
  id[0] = static_cast<std::uint8_t>(n >> 8);
  id[1] = static_cast<std::uint8_t>(n);
  return MemberRecord{id, "h:" + std::to_string(n), 0, MemberState::alive, {}, {}};
}
// Offers `record` from `source` as Membership does: wants(), then add().
bool offer(Candidates& table, const MemberRecord& record, std::uint8_t source, bool exempt = false) {
  if (!table.wants(record, node(source), exempt, 0)) return false;
  table.add(record, node(source), 0);
  return true;
}
}  // namespace

// A seed's join reply is exempt from the per-source quota; a hostile seed's
// made-up members must not take every place (simulate --random seed 200445).
TEST_CASE("a full candidates table gives other sources a fair share", "[gossip][flood]") {
  Config config = lan_config();
  config.candidates_max = 10;
  Candidates table(config);
  for (std::uint16_t n = 0; n < 20; ++n) offer(table, candidate(n), 1, true);  // the seed's view
  REQUIRE(table.size() == 10);
  // Another source's news still gets in, each in place of one of the seed's,
  // until the two hold about as many.
  int admitted = 0;
  for (std::uint16_t n = 100; n < 120; ++n) admitted += offer(table, candidate(n), 2);
  CHECK(table.size() == 10);
  CHECK(admitted == 5);  // 5 and 5: one more would leave the seed fewer
  CHECK(table.evicted() == 5);
  CHECK(table.contains(candidate(100).node_id));
  CHECK(table.contains(candidate(104).node_id));
  CHECK_FALSE(table.contains(candidate(105).node_id));
  // A third source gets its share from the largest holder in turn.
  CHECK(offer(table, candidate(200), 3));
  CHECK(table.size() == 10);
}

TEST_CASE("corroborated candidates are pinged first", "[gossip][flood]") {
  Candidates table(lan_config());
  for (std::uint16_t n = 0; n < 40; ++n) offer(table, candidate(n), 1);  // a lone flooder's
  const MemberRecord real = candidate(1000);  // sorts after them
  offer(table, real, 2);
  CHECK_FALSE(offer(table, real, 3));  // not new, but now corroborated
  const std::vector<MemberRecord> first = table.due(0, 8);
  REQUIRE(first.size() == 8);
  CHECK(first.front().node_id == real.node_id);
}
