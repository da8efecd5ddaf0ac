// A member that lies about membership (docs/membership.md, "Lying members"):
// forged records and accusations are rejected, a lone liar cannot get an
// honest member declared dead, and a persistent accuser is ignored.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <optional>

#include "fake_authority.h"
#include "sim_swarm.h"
#include "starling/gossip/membership.h"

using namespace starling::gossip;
using namespace starling::gossip::testing;

namespace {
constexpr std::int64_t second = 1000;

std::shared_ptr<const FakeAuthority> authority(std::uint8_t n) {
  static std::map<std::uint8_t, std::shared_ptr<const FakeAuthority>> all;
  auto& slot = all[n];
  if (!slot) slot = fake_authority(100 + n);
  return slot;
}
NodeId node(std::uint8_t n) { return authority(n)->node_id(); }
std::string address(std::uint8_t n) { return "10.0.1." + std::to_string(n) + ":7946"; }
MemberRecord record(std::uint8_t n, std::uint64_t incarnation, MemberState state = MemberState::alive) {
  return authority(n)->record(address(n), incarnation, state);
}
Membership make(std::uint8_t n) {
  return Membership(lan_config(), Identity{node(n), address(n), 0, authority(n)}, n, 0);
}
GossipMessage gossip_from(std::uint8_t sender, std::vector<Update> updates) {
  return GossipMessage{node(sender), address(sender), Gossip{}, std::move(updates)};
}
bool has_event(const Actions& actions, EventKind kind, const NodeId& about) {
  return std::any_of(actions.events.begin(), actions.events.end(),
                     [&](const Event& e) { return e.kind == kind && e.member.node_id == about; });
}

// Member 1 (the observer) knows 2 (honest) and 3 (the liar), both at
// incarnation 0, each heard from itself.
Membership observer_with_two() {
  Membership a = make(1);
  (void)a.join({}, 0);
  (void)a.on_message(address(2), gossip_from(2, {Update{record(2, 0), node(2), {}}}), 1);
  (void)a.on_message(address(3), gossip_from(3, {Update{record(3, 0), node(3), {}}}), 1);
  REQUIRE(a.live_member_count() == 2);
  return a;
}
}  // namespace

TEST_CASE("a forged alive cannot move a member or raise its incarnation", "[gossip][lying]") {
  Membership a = observer_with_two();
  // The liar (3) re-signs 2's record with its own key: another address ...
  MemberRecord moved = record(2, 0);
  moved.address = "10.6.6.6:7946";
  moved.incarnation = 1;
  moved.signature = authority(3)->sign_record(MemberRecord{node(3), moved.address, 1, MemberState::alive, {}, {}});
  (void)a.on_message(address(3), gossip_from(3, {Update{moved, node(2), {}}}), 10);
  CHECK(a.find(node(2))->address == address(2));
  // ... or its own key in 2's record (the key does not hash to 2's id) ...
  MemberRecord own_key = moved;
  own_key.public_key = authority(3)->public_key();
  (void)a.on_message(address(3), gossip_from(3, {Update{own_key, node(2), {}}}), 11);
  CHECK(a.find(node(2))->address == address(2));
  // ... or 2's genuine record at incarnation 0 with the incarnation raised.
  MemberRecord bumped = record(2, 0);
  bumped.incarnation = 9;
  (void)a.on_message(address(3), gossip_from(3, {Update{bumped, node(2), {}}}), 12);
  CHECK(a.find(node(2))->incarnation == 0);
  // The same through a push-pull and a join in 2's name.
  GossipMessage push{node(3), address(3), PushPull{false, false, {moved, bumped}}, {}};
  (void)a.on_message(address(3), push, 13);
  CHECK(a.find(node(2))->address == address(2));
  CHECK(a.find(node(2))->incarnation == 0);
  CHECK(a.view(14).rejected_records == 5);
  // 2's own signed move is believed.
  MemberRecord genuine = authority(2)->record("10.0.1.22:7946", 2);
  (void)a.on_message(address(2), gossip_from(2, {Update{genuine, node(2), {}}}), 15);
  CHECK(a.find(node(2))->address == "10.0.1.22:7946");
}

TEST_CASE("a forged left cannot make a member leave", "[gossip][lying]") {
  Membership a = observer_with_two();
  MemberRecord forged = record(2, 0, MemberState::alive);
  forged.state = MemberState::left;  // 2 signed alive, not left
  Actions seen = a.on_message(address(3), gossip_from(3, {Update{forged, node(2), {}}}), 10);
  CHECK_FALSE(has_event(seen, EventKind::member_left, node(2)));
  MemberRecord resigned = forged;
  resigned.signature = authority(3)->sign_record(MemberRecord{node(3), address(2), 0, MemberState::left, {}, {}});
  seen = a.on_message(address(3), gossip_from(3, {Update{resigned, node(2), {}}}), 11);
  CHECK_FALSE(has_event(seen, EventKind::member_left, node(2)));
  CHECK(a.find(node(2))->state == MemberState::alive);
  // 2's own signed left counts.
  seen = a.on_message(address(2), gossip_from(2, {Update{record(2, 0, MemberState::left), node(2), {}}}), 12);
  CHECK(has_event(seen, EventKind::member_left, node(2)));
}

TEST_CASE("an accusation in someone else's name is rejected", "[gossip][lying]") {
  Membership a = observer_with_two();
  // The liar signs, but names 2 as the accuser of ... itself is refused; name
  // a third honest member instead: 4, known to a.
  (void)a.on_message(address(4), gossip_from(4, {Update{record(4, 0), node(4), {}}}), 2);
  Update forged = authority(3)->accusation(record(2, 0), MemberState::suspect);
  forged.source = node(4);
  Actions seen = a.on_message(address(3), gossip_from(3, {forged}), 10);
  CHECK_FALSE(has_event(seen, EventKind::member_suspected, node(2)));
  CHECK(a.find(node(2))->state == MemberState::alive);
  // An accuser we never verified is no accuser either.
  Update stranger = authority(9)->accusation(record(2, 0), MemberState::dead);
  seen = a.on_message(address(3), gossip_from(3, {stranger}), 11);
  CHECK(a.find(node(2))->state == MemberState::alive);
  // An incarnation 2 never signed.
  MemberRecord unsigned_future = record(2, 0);
  unsigned_future.incarnation = 5;
  Update future = authority(3)->accusation(unsigned_future, MemberState::suspect);
  seen = a.on_message(address(3), gossip_from(3, {future}), 12);
  CHECK(a.find(node(2))->state == MemberState::alive);
  CHECK(a.view(13).rejected_accusations == 3);
  // The liar's own signed accusation is a suspicion (not a death) as SWIM says.
  seen = a.on_message(address(3), gossip_from(3, {authority(3)->accusation(record(2, 0), MemberState::dead)}), 14);
  CHECK(has_event(seen, EventKind::member_suspected, node(2)));
  CHECK_FALSE(has_event(seen, EventKind::member_dead, node(2)));
  CHECK(a.find(node(2))->state == MemberState::suspect);
}

TEST_CASE("an accuser refuted again and again is ignored", "[gossip][lying]") {
  Membership a = observer_with_two();
  const Config config = lan_config();
  std::int64_t now = 10;
  for (std::uint64_t incarnation = 0; incarnation < static_cast<std::uint64_t>(config.accuser_strike_limit);
       ++incarnation) {
    Actions seen =
        a.on_message(address(3), gossip_from(3, {authority(3)->accusation(record(2, incarnation), MemberState::dead)}),
                     now++);
    REQUIRE(has_event(seen, EventKind::member_suspected, node(2)));
    // 2 refutes with its next signed incarnation.
    seen = a.on_message(address(2), gossip_from(2, {Update{record(2, incarnation + 1), node(2), {}}}), now++);
    REQUIRE(has_event(seen, EventKind::member_recovered, node(2)));
  }
  CHECK(a.view(now).ignored_accusers == 1);
  const std::uint64_t next = static_cast<std::uint64_t>(config.accuser_strike_limit);
  Actions ignored =
      a.on_message(address(3), gossip_from(3, {authority(3)->accusation(record(2, next), MemberState::dead)}), now++);
  CHECK_FALSE(has_event(ignored, EventKind::member_suspected, node(2)));
  CHECK(a.find(node(2))->state == MemberState::alive);
  // An honest accuser is not affected by the liar's strikes.
  (void)a.on_message(address(4), gossip_from(4, {Update{record(4, 0), node(4), {}}}), now++);
  Actions honest =
      a.on_message(address(4), gossip_from(4, {authority(4)->accusation(record(2, next), MemberState::suspect)}), now++);
  CHECK(has_event(honest, EventKind::member_suspected, node(2)));
  // After the cool-down the liar is heard again.
  now += config.accuser_ignore_ms;
  (void)a.on_message(address(2), gossip_from(2, {Update{record(2, next + 1), node(2), {}}}), now++);
  Actions heard = a.on_message(
      address(3), gossip_from(3, {authority(3)->accusation(record(2, next + 1), MemberState::suspect)}), now++);
  CHECK(has_event(heard, EventKind::member_suspected, node(2)));
}

TEST_CASE("accusations pass a token bucket per accuser", "[gossip][lying]") {
  Membership a = make(1);
  (void)a.join({}, 0);
  (void)a.on_message(address(3), gossip_from(3, {Update{record(3, 0), node(3), {}}}), 1);
  const int burst = lan_config().accusation_burst;
  for (int n = 10; n < 10 + burst + 5; ++n) {
    (void)a.on_message(address(static_cast<std::uint8_t>(n)),
                       gossip_from(static_cast<std::uint8_t>(n), {Update{record(static_cast<std::uint8_t>(n), 0),
                                                                         node(static_cast<std::uint8_t>(n)), {}}}),
                       2);
  }
  std::vector<Update> many;
  for (int n = 10; n < 10 + burst + 5; ++n) {
    many.push_back(authority(3)->accusation(record(static_cast<std::uint8_t>(n), 0), MemberState::suspect));
  }
  Actions seen = a.on_message(address(3), gossip_from(3, many), 3);
  const auto suspected = std::count_if(seen.events.begin(), seen.events.end(),
                                       [](const Event& e) { return e.kind == EventKind::member_suspected; });
  CHECK(suspected == burst);
  CHECK(a.view(3).dropped_accusations == 5);
}

TEST_CASE("piggybacked updates stay within the byte budget", "[gossip][bounds]") {
  Membership a = make(1);
  (void)a.join({}, 0);
  for (int n = 10; n < 60; ++n) {
    (void)a.on_message(address(static_cast<std::uint8_t>(n)),
                       gossip_from(static_cast<std::uint8_t>(n), {Update{record(static_cast<std::uint8_t>(n), 0),
                                                                         node(static_cast<std::uint8_t>(n)), {}}}),
                       2);
  }
  // And members heard of second-hand: their candidate pings carry our own
  // record on top of the queued news, still within the budget.
  for (int n = 60; n < 70; ++n) {
    (void)a.on_message(address(10),
                       gossip_from(10, {Update{record(static_cast<std::uint8_t>(n), 0), node(static_cast<std::uint8_t>(n)), {}}}),
                       2);
  }
  REQUIRE(a.view(2).candidates == 10);
  std::size_t most = 0;
  std::size_t candidate_pings = 0;
  for (std::int64_t now = 3; now < 3000; now = std::max(now + 1, a.next_deadline_ms())) {
    for (const Outgoing& out : a.tick(now).sends) {
      if (out.transport != Transport::datagram) continue;
      std::size_t bytes = 0;
      for (const Update& u : out.message.updates) bytes += BroadcastQueue::estimated_bytes(u);
      CHECK(bytes <= static_cast<std::size_t>(lan_config().piggyback_bytes_max));
      most = std::max(most, out.message.updates.size());
      const auto* ping = std::get_if<Ping>(&out.message.body);
      if (ping != nullptr && a.find(ping->target) == nullptr) {
        ++candidate_pings;
        CHECK(std::any_of(out.message.updates.begin(), out.message.updates.end(),
                          [&](const Update& u) { return u.member.node_id == node(1); }));
      }
    }
  }
  CHECK(most >= 2);
  CHECK(candidate_pings >= 10);
}

TEST_CASE("a liar accusing everyone never gets an honest member declared dead", "[gossip][lying][swarm]") {
  for (std::uint64_t seed : {5u, 6u}) {
    SimSwarm swarm(seed, test_config());
    const std::size_t n = 10;
    swarm.add_nodes(n);
    swarm.start_all(0);
    REQUIRE(swarm.run_until_true([&] { return swarm.converged(); }, 60 * second));
    const std::size_t liar = 3;
    // On every message, the liar accuses every other member of being dead at
    // the incarnation it believes, signed with its own key (all it can do), and
    // advertises a forged record moving each of them to its own address.
    std::size_t honest_pulls = 0;  // full-state requests by the honest members
    swarm.tamper = [&](std::size_t from, std::size_t, GossipMessage& message) {
      if (const auto* push_pull = std::get_if<PushPull>(&message.body); push_pull && !push_pull->is_reply && from != liar)
        ++honest_pulls;
      if (from != liar) return;
      for (std::size_t other = 0; other < swarm.size(); ++other) {
        if (other == liar) continue;
        const auto belief = swarm.belief(liar, other);
        if (!belief) continue;
        message.updates.push_back(swarm.authority(liar).accusation(*belief, MemberState::dead));
        MemberRecord moved = *belief;
        moved.address = swarm.address(liar);
        moved.incarnation += 1;
        message.updates.push_back(Update{moved, moved.node_id, {}});
      }
    };
    const std::int64_t from_ms = swarm.now_ms();
    swarm.run_for(5 * 60 * second);
    std::size_t honest_deaths = 0;
    std::size_t suspicions = 0;
    for (const LoggedEvent& logged : swarm.events()) {
      if (logged.time_ms < from_ms || logged.observer == liar || logged.event.member.node_id == swarm.id(liar)) continue;
      if (logged.event.kind == EventKind::member_dead) ++honest_deaths;
      if (logged.event.kind == EventKind::member_suspected) ++suspicions;
    }
    std::size_t moved = 0;
    for (std::size_t observer = 0; observer < n; ++observer) {
      for (std::size_t subject = 0; subject < n; ++subject) {
        if (observer == subject || observer == liar || subject == liar) continue;
        if (swarm.belief(observer, subject)->address != swarm.address(subject)) ++moved;
      }
    }
    const auto regular_pulls = static_cast<std::size_t>(5 * 60 * second / test_config().push_pull_interval_ms);
    WARN("seed " << seed << ", 10 peers, one liar for 5 min: " << suspicions << " suspicions of honest peers, "
                 << honest_deaths << " declared dead, " << moved << " moved addresses, " << honest_pulls
                 << " full-state pulls by honest peers (regular: " << regular_pulls << " each)");
    CHECK(honest_deaths == 0);
    CHECK(moved == 0);
    // Being declared dead makes a member pull early, from the teller and a
    // random partner (declared_dead_self), but the liar's claims buy no
    // stream of pulls: pulls that teach nothing back off, and a struck
    // accuser is ignored.
    CHECK(honest_pulls <= (n - 1) * (2 * regular_pulls + 4));
    // A crash is still detected with the liar around.
    const std::size_t victim = 7;
    const std::int64_t crashed_at = swarm.now_ms();
    swarm.crash(victim);
    const auto detected = swarm.run_until_true(
        [&] {
          for (std::size_t i = 0; i < n; ++i) {
            if (i != victim && i != liar && swarm.belief(i, victim)->state != MemberState::dead) return false;
          }
          return true;
        },
        60 * second);
    REQUIRE(detected.has_value());
    CHECK(*detected <= 20 * second);  // as fast as without a liar (its accusations slow nobody's probing)
    WARN("with the liar: crash of an honest peer dead everywhere in " << static_cast<double>(*detected) / 1000.0
                                                                      << " s (crashed at " << crashed_at << " ms)");
  }
}

TEST_CASE("a member heard of second-hand is listed only once it answers", "[gossip][flood]") {
  Membership a = make(1);
  (void)a.join({}, 0);
  (void)a.on_message(address(3), gossip_from(3, {Update{record(3, 0), node(3), {}}}), 1);
  // 3 tells a about 2.
  (void)a.on_message(address(3), gossip_from(3, {Update{record(2, 0), node(2), {}}}), 2);
  CHECK(a.find(node(2)) == nullptr);
  CHECK(a.live_member_count() == 1);
  CHECK(a.view(2).candidates == 1);
  // a pings the candidate on its next round ...
  const Outgoing* ping = nullptr;
  Actions round;
  for (std::int64_t now = 3; now < 1000 && ping == nullptr; now = std::max(now + 1, a.next_deadline_ms())) {
    round = a.tick(now);
    for (const Outgoing& out : round.sends) {
      if (out.to_address == address(2) && std::holds_alternative<Ping>(out.message.body)) ping = &out;
    }
  }
  REQUIRE(ping != nullptr);
  CHECK(std::get<Ping>(ping->message.body).target == node(2));
  // ... and lists it when it answers itself.
  Actions listed = a.on_message(address(2), GossipMessage{node(2), address(2), Ack{std::get<Ping>(ping->message.body).sequence}, {}}, 1001);
  CHECK(has_event(listed, EventKind::member_joined, node(2)));
  CHECK(a.live_member_count() == 2);
  CHECK(a.view(1001).candidates == 0);
  // A candidate that never answers is dropped after its pings.
  (void)a.on_message(address(3), gossip_from(3, {Update{record(5, 0), node(5), {}}}), 1002);
  REQUIRE(a.view(1002).candidates == 1);
  for (std::int64_t now = 1003; now < 20000; now = std::max(now + 1, a.next_deadline_ms())) (void)a.tick(now);
  CHECK(a.view(20000).candidates == 0);
  CHECK(a.view(20000).candidates_expired == 1);
  CHECK(a.find(node(5)) == nullptr);
}

TEST_CASE("a candidate learns who pings it from the ping itself", "[gossip][flood]") {
  // a lists 3, and its own alive update has long spent its retransmit budget
  // (sized for a tiny cluster) on gossip to 3.
  Membership a = make(1);
  (void)a.join({}, 0);
  (void)a.on_message(address(3), gossip_from(3, {Update{record(3, 0), node(3), {}}}), 1);
  std::int64_t now = 2;
  for (; now < 10 * second; now = std::max(now + 1, a.next_deadline_ms())) (void)a.tick(now);
  // 3 tells a about 2, which has never heard of a.
  (void)a.on_message(address(3), gossip_from(3, {Update{record(2, 0), node(2), {}}}), now);
  const std::int64_t told_ms = now;
  std::optional<GossipMessage> ping;
  for (; now < told_ms + second && !ping; now = std::max(now + 1, a.next_deadline_ms())) {
    for (const Outgoing& out : a.tick(now).sends) {
      if (out.to_address == address(2) && std::holds_alternative<Ping>(out.message.body)) ping = out.message;
    }
  }
  REQUIRE(ping.has_value());
  // The ping carries a's own signed record, so 2 lists a first-hand at once
  // (and its ack then confirms 2 to a): otherwise 2 would answer a sender it
  // cannot list and wait for gossip or a push-pull to name it.
  Membership b = make(2);
  (void)b.join({}, now);
  const Actions answer = b.on_message(address(1), *ping, now);
  CHECK(has_event(answer, EventKind::member_joined, node(1)));
  REQUIRE(b.find(node(1)) != nullptr);
  CHECK(b.find(node(1))->state == MemberState::alive);
  CHECK(b.view(now).candidates == 0);
}

TEST_CASE("a candidate two members vouch for gets more pings before it is dropped", "[gossip][flood]") {
  // Under loss all of a candidate's pings or their acks can be lost; a real
  // member is usually passed on by several members (honest ones pass on only
  // members that answered them), a flooder's fakes only by the flooder.
  Membership a = make(1);
  (void)a.join({}, 0);
  (void)a.on_message(address(3), gossip_from(3, {Update{record(3, 0), node(3), {}}}), 1);
  (void)a.on_message(address(4), gossip_from(4, {Update{record(4, 0), node(4), {}}}), 1);
  (void)a.on_message(address(3), gossip_from(3, {Update{record(2, 0), node(2), {}}}), 2);  // 2: from 3 only
  (void)a.on_message(address(3), gossip_from(3, {Update{record(5, 0), node(5), {}}}), 2);  // 5: from 3 ...
  (void)a.on_message(address(4), gossip_from(4, {Update{record(5, 0), node(5), {}}}), 3);  // ... and 4
  (void)a.on_message(address(3), gossip_from(3, {Update{record(5, 0), node(5), {}}}), 3);  // 3 again: no more
  // 6: from 3, and 4 passes on a record with a signature 6 never made.
  (void)a.on_message(address(3), gossip_from(3, {Update{record(6, 0), node(6), {}}}), 3);
  MemberRecord forged = record(6, 0);
  forged.signature[0] ^= 0xff;
  (void)a.on_message(address(4), gossip_from(4, {Update{forged, node(6), {}}}), 3);
  REQUIRE(a.view(3).candidates == 3);
  std::map<std::string, int> pings;
  for (std::int64_t now = 4; now < 30 * second; now = std::max(now + 1, a.next_deadline_ms())) {
    for (const Outgoing& out : a.tick(now).sends) {
      if (std::holds_alternative<Ping>(out.message.body)) ++pings[out.to_address];
    }
  }
  const int attempts = lan_config().candidate_ping_attempts;
  CHECK(pings[address(2)] == attempts);
  CHECK(pings[address(5)] == 2 * attempts);
  CHECK(pings[address(6)] == attempts);
  CHECK(a.view(30 * second).candidates == 0);
  CHECK(a.view(30 * second).candidates_expired == 3);
}

TEST_CASE("messages with nowhere to answer are dropped, not answered at an empty address", "[gossip][lying]") {
  // The codec allows an empty sender address (it carries nothing for a
  // datagram, whose source is the address), so over a stream a member can
  // send one; each of these used to reach a send to "" and abort the peer.
  Membership a = observer_with_two();
  GossipMessage ping{node(3), "", Ping{7, node(1)}, {}};
  Actions seen = a.on_message("", ping, 10);
  CHECK(seen.sends.empty());
  GossipMessage indirect{node(3), "", IndirectPing{8, node(2), address(2)}, {}};
  seen = a.on_message("", indirect, 11);
  CHECK(seen.sends.empty());
  for (std::int64_t t = 12; t < 20 * second; t += 50) {
    for (const Outgoing& out : a.tick(t).sends) CHECK_FALSE(out.to_address.empty());
  }
  // A join whose own signed record has no address: refused, and no view sent.
  GossipMessage join{node(4), address(4), Join{authority(4)->record("", 0)}, {}};
  seen = a.on_message(address(4), join, 20 * second);
  for (const Outgoing& out : seen.sends) CHECK_FALSE(out.to_address.empty());
  CHECK(a.find(node(4)) == nullptr);
  // The same messages with an address are answered as ever.
  seen = a.on_message(address(3), GossipMessage{node(3), address(3), Ping{9, node(1)}, {}}, 21 * second);
  CHECK(std::any_of(seen.sends.begin(), seen.sends.end(), [](const Outgoing& out) {
    return out.to_address == address(3) && std::holds_alternative<Ack>(out.message.body);
  }));
}
