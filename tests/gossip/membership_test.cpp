// The state machine driven by hand, one message at a time.
#include <catch2/catch.hpp>

#include <algorithm>
#include <iterator>
#include <map>
#include <set>

#include "fake_authority.h"
#include "starling/gossip/membership.h"

using namespace starling::gossip;
using starling::gossip::testing::FakeAuthority;

namespace {
std::shared_ptr<const FakeAuthority> authority(std::uint8_t n) {
  static std::map<std::uint8_t, std::shared_ptr<const FakeAuthority>> all;
  auto& slot = all[n];
  if (!slot) slot = starling::gossip::testing::fake_authority(n);
  return slot;
}
NodeId node(std::uint8_t n) { return authority(n)->node_id(); }
std::string address(std::uint8_t n) { return "10.0.0." + std::to_string(n) + ":7946"; }
// Member n's own signed record.
MemberRecord record(std::uint8_t n, std::uint64_t incarnation, MemberState state = MemberState::alive) {
  return authority(n)->record(address(n), incarnation, state);
}
// Member `by`'s signed accusation of member n.
Update accusation(std::uint8_t by, std::uint8_t n, std::uint64_t incarnation, MemberState state) {
  return authority(by)->accusation(record(n, incarnation), state);
}

Membership make(std::uint8_t n, std::uint64_t incarnation = 0) {
  return Membership(lan_config(), Identity{node(n), address(n), incarnation, authority(n)}, n, 0);
}

template <typename Body>
const Outgoing* find_send(const Actions& actions, const std::string& to) {
  for (const Outgoing& out : actions.sends) {
    if (out.to_address == to && std::holds_alternative<Body>(out.message.body)) return &out;
  }
  return nullptr;
}

bool has_event(const Actions& actions, EventKind kind, const NodeId& about) {
  return std::any_of(actions.events.begin(), actions.events.end(),
                     [&](const Event& e) { return e.kind == kind && e.member.node_id == about; });
}

// Delivers every send of `actions` addressed to `to` into `machine`, returning what it answers.
Actions deliver(const Actions& actions, const std::string& from, Membership& machine, std::int64_t now) {
  Actions replies;
  for (const Outgoing& out : actions.sends) {
    if (out.to_address != machine.self().address) continue;
    Actions more = machine.on_message(from, out.message, now);
    for (auto& s : more.sends) replies.sends.push_back(std::move(s));
    for (auto& e : more.events) replies.events.push_back(std::move(e));
  }
  return replies;
}

// Joins b into a's swarm by hand: Join, then the PushPull reply.
void join_pair(Membership& a, Membership& b) {
  Actions join = b.join({a.self().address}, 0);
  REQUIRE(find_send<Join>(join, a.self().address) != nullptr);
  REQUIRE(find_send<Join>(join, a.self().address)->transport == Transport::stream);
  Actions reply = deliver(join, b.self().address, a, 1);
  CHECK(has_event(reply, EventKind::member_joined, b.self().node_id));
  const Outgoing* push_pull = find_send<PushPull>(reply, b.self().address);
  REQUIRE(push_pull != nullptr);
  CHECK(std::get<PushPull>(push_pull->message.body).is_join_reply);
  Actions joined = deliver(reply, a.self().address, b, 2);
  CHECK(has_event(joined, EventKind::joined_swarm, b.self().node_id));
  CHECK(has_event(joined, EventKind::member_joined, a.self().node_id));
  CHECK(b.joined());
}

// Members 2-6, each joined to `a` (member 1, which forms the swarm).
std::vector<Membership> join_members_2_to_6(Membership& a) {
  std::vector<Membership> others;
  for (std::uint8_t n = 2; n <= 6; ++n) others.push_back(make(n));
  (void)a.join({}, 0);
  for (Membership& m : others) join_pair(a, m);
  return others;
}

// Members 1, 2 and 3, the last two joined through the first.
struct Three {
  Membership a = make(1);
  Membership b = make(2);
  Membership c = make(3);
  Three() {
    (void)a.join({}, 0);
    join_pair(a, b);
    join_pair(a, c);
  }
};
}  // namespace

TEST_CASE("a first member needs no seed, a joiner gets in through one", "[gossip][membership]") {
  Membership a = make(1);
  Actions first = a.join({}, 0);
  CHECK(a.joined());
  CHECK(first.sends.empty());
  Membership b = make(2);
  join_pair(a, b);
  CHECK(a.live_member_count() == 1);
  CHECK(b.live_member_count() == 1);
  CHECK(b.find(node(1))->state == MemberState::alive);
}

TEST_CASE("probe: ping is acked only by the member it names", "[gossip][membership]") {
  Membership a = make(1);
  Membership b = make(2);
  (void)a.join({}, 0);
  join_pair(a, b);
  const std::int64_t t = a.next_deadline_ms();
  Actions probe;
  for (std::int64_t now = t; now <= 1000 && !find_send<Ping>(probe, address(2)); now += 10) probe = a.tick(now);
  const Outgoing* ping = find_send<Ping>(probe, address(2));
  REQUIRE(ping != nullptr);
  CHECK(std::get<Ping>(ping->message.body).target == node(2));

  Actions ack = b.on_message(address(1), ping->message, 1100);
  const Outgoing* reply = find_send<Ack>(ack, address(1));
  REQUIRE(reply != nullptr);
  CHECK(std::get<Ack>(reply->message.body).sequence == std::get<Ping>(ping->message.body).sequence);

  // A ping for someone who used to live at this address goes unanswered.
  GossipMessage stale = ping->message;
  std::get<Ping>(stale.body).target = node(9);
  CHECK(b.on_message(address(1), stale, 1101).sends.empty());
}

TEST_CASE("missed probe: indirect pings, then suspicion, then death", "[gossip][membership]") {
  Three three;
  Membership& a = three.a;
  Membership& c = three.c;
  // b has crashed; a and c talk with instant delivery. Record what a sees.
  bool indirect_to_c = false;
  bool nack_from_c = false;
  std::int64_t suspected_at = -1;
  std::int64_t dead_at = -1;
  std::vector<std::pair<std::string, Outgoing>> in_flight;  // (from, message)
  auto collect = [&](const std::string& from, Actions actions) {
    for (Outgoing& out : actions.sends) in_flight.emplace_back(from, std::move(out));
    return actions.events;
  };
  std::int64_t now = 10;
  while (dead_at < 0 && now < 60000) {
    now = std::min(a.next_deadline_ms(), c.next_deadline_ms());
    std::vector<Event> events_at_a;
    if (a.next_deadline_ms() <= now) events_at_a = collect(address(1), a.tick(now));
    if (c.next_deadline_ms() <= now) (void)collect(address(3), c.tick(now));
    while (!in_flight.empty()) {
      auto [from, out] = std::move(in_flight.back());
      in_flight.pop_back();
      if (out.to_address == address(3)) {
        if (std::holds_alternative<IndirectPing>(out.message.body)) indirect_to_c = true;
        (void)collect(address(3), c.on_message(from, out.message, now));
      } else if (out.to_address == address(1)) {
        if (std::holds_alternative<Nack>(out.message.body)) nack_from_c = true;
        for (Event& e : collect(address(1), a.on_message(from, out.message, now))) events_at_a.push_back(e);
      }
    }
    for (const Event& e : events_at_a) {
      if (e.member.node_id != node(2)) continue;
      if (e.kind == EventKind::member_suspected && suspected_at < 0) suspected_at = now;
      if (e.kind == EventKind::member_dead) dead_at = now;
    }
  }
  CHECK(indirect_to_c);
  CHECK(nack_from_c);
  REQUIRE(suspected_at >= 0);
  REQUIRE(dead_at >= 0);
  CHECK(a.find(node(2))->state == MemberState::dead);
  CHECK(a.find(node(3))->state == MemberState::alive);
  CHECK(a.health_score() == 0);  // c's nacks showed the fault was not ours
  // Three members cannot confirm (K = 0): the minimum timeout, 4 s, applies.
  CHECK(dead_at - suspected_at >= 4000);
  CHECK(dead_at - suspected_at <= 4100);
}

TEST_CASE("a suspected member refutes with a higher incarnation", "[gossip][membership]") {
  Membership a = make(1);
  Membership b = make(2);
  (void)a.join({}, 0);
  join_pair(a, b);
  GossipMessage rumour;
  rumour.sender = node(1);
  rumour.sender_address = address(1);
  rumour.body = Gossip{};
  rumour.updates.push_back(accusation(1, 2, 0, MemberState::suspect));
  Actions refuted = b.on_message(address(1), rumour, 100);
  CHECK(has_event(refuted, EventKind::self_refuted, node(2)));
  CHECK(b.incarnation() == 1);
  CHECK(b.health_score() == 1);

  // The refutation rides on b's next datagram and clears the suspicion at a.
  GossipMessage suspect_at_a = rumour;
  suspect_at_a.sender = node(3);  // a third member spread the rumour to a as well
  suspect_at_a.sender_address = address(3);
  (void)a.on_message(address(3), suspect_at_a, 100);
  REQUIRE(a.find(node(2))->state == MemberState::suspect);
  Actions ack = b.on_message(address(1), GossipMessage{node(1), address(1), Ping{42, node(2)}, {}}, 101);
  const Outgoing* reply = find_send<Ack>(ack, address(1));
  REQUIRE(reply != nullptr);
  const auto& updates = reply->message.updates;
  CHECK(std::any_of(updates.begin(), updates.end(), [](const Update& u) {
    return u.member.node_id == node(2) && u.member.incarnation == 1 && u.member.state == MemberState::alive;
  }));
  Actions recovered = a.on_message(address(2), reply->message, 102);
  CHECK(has_event(recovered, EventKind::member_recovered, node(2)));
  CHECK(a.find(node(2))->state == MemberState::alive);
  CHECK(a.find(node(2))->incarnation == 1);
}

TEST_CASE("dead members reject stale alive records", "[gossip][membership]") {
  Membership a = make(1);
  Membership b = make(2);
  (void)a.join({}, 0);
  join_pair(a, b);
  GossipMessage news;
  news.sender = node(2);
  news.sender_address = address(2);
  news.body = Gossip{};
  news.updates.push_back(Update{record(2, 4), node(2), {}});
  (void)a.on_message(address(2), news, 10);
  REQUIRE(a.find(node(2))->incarnation == 4);
  // a's own suspicion runs out unrefuted: a declares b dead.
  news.updates = {accusation(1, 2, 4, MemberState::suspect)};
  (void)a.on_message(address(2), news, 11);
  REQUIRE(a.find(node(2))->state == MemberState::suspect);
  bool dead = false;
  for (std::int64_t now = 12; now < 100000 && !dead; now = std::max(now + 1, a.next_deadline_ms())) {
    dead = has_event(a.tick(now), EventKind::member_dead, node(2));
  }
  REQUIRE(dead);
  news.updates = {Update{record(2, 4), node(2), {}}};
  (void)a.on_message(address(2), news, 100001);
  CHECK(a.find(node(2))->state == MemberState::dead);
  news.updates = {Update{record(2, 5), node(2), {}}};
  Actions back = a.on_message(address(2), news, 100002);
  CHECK(has_event(back, EventKind::member_joined, node(2)));
  CHECK(a.find(node(2))->state == MemberState::alive);
}

// Whether anything a sends in `actions` carries its own claim that n is dead.
bool claims_dead(const Actions& actions, std::uint8_t by, std::uint8_t n) {
  for (const Outgoing& out : actions.sends) {
    for (const Update& u : out.message.updates) {
      if (u.member.node_id == node(n) && u.member.state == MemberState::dead && u.source == node(by)) return true;
    }
  }
  return false;
}

// Runs a's timers until `until`, c answering whatever a sends it at once
// (c's own timers stay still); whether anything a sent matched `sent`.
template <typename Match>
bool run_answered(Membership& a, Membership& c, std::int64_t& now, std::int64_t until, Match sent) {
  bool seen = false;
  for (; now < until; now = std::max(now + 1, std::min(until, a.next_deadline_ms()))) {
    Actions from_a = a.tick(now);
    for (int hop = 0; hop < 8 && !from_a.sends.empty(); ++hop) {
      seen = seen || sent(from_a);
      from_a = deliver(deliver(from_a, a.self().address, c, now), c.self().address, a, now);
    }
  }
  return seen;
}

// A member cut off while another died missed the dead claims; once it
// suspects that member on its own, those who hold it dead tell it again
// (tests/sim/regressions/random-20036-partitioned-from-a-death.toml).
TEST_CASE("a member held dead is claimed dead again to whoever still suspects it", "[gossip][membership]") {
  Three three;
  Membership& a = three.a;
  Membership& c = three.c;
  // b has crashed; c never suspects b by itself. Whether a claimed b dead
  // in anything it sent until `until`.
  std::int64_t now = 10;
  auto run_until = [&](std::int64_t until) {
    return run_answered(a, c, now, until, [](const Actions& sent) { return claims_dead(sent, 1, 2); });
  };
  GossipMessage news;
  news.sender = node(3);
  news.sender_address = address(3);
  news.body = Gossip{};
  news.updates = {accusation(1, 2, 0, MemberState::suspect)};  // a's own, as an echo
  (void)a.on_message(address(3), news, now);
  REQUIRE(a.find(node(2))->state == MemberState::suspect);
  CHECK(run_until(30000));  // a's suspicion ran out: it declared b dead and said so
  REQUIRE(a.find(node(2))->state == MemberState::dead);
  REQUIRE(a.find(node(3))->state == MemberState::alive);
  CHECK_FALSE(run_until(60000));  // long since: the claim has used its retransmissions
  // A forged suspicion (signed by a member a does not know) changes nothing.
  news.updates = {accusation(9, 2, 0, MemberState::suspect)};
  (void)a.on_message(address(3), news, now);
  CHECK_FALSE(run_until(65000));
  // c suspects b (it missed a's claim): a gossips its claim again.
  news.updates = {accusation(3, 2, 0, MemberState::suspect)};
  (void)a.on_message(address(3), news, now);
  CHECK(a.find(node(2))->state == MemberState::dead);
  CHECK(run_until(70000));
  CHECK(a.find(node(3))->state == MemberState::alive);
}

// The same for a member that left: its own signed `left` record goes out
// again, and ends the suspecter's suspicion at once.
TEST_CASE("a member that left is announced again to whoever still suspects it", "[gossip][membership]") {
  Three three;
  Membership& a = three.a;
  Membership& c = three.c;
  std::int64_t now = 10;
  // Whether a sent b's signed left record until `until`.
  auto sends_left = [&](std::int64_t until) {
    return run_answered(a, c, now, until, [](const Actions& sent) {
      return std::any_of(sent.sends.begin(), sent.sends.end(), [](const Outgoing& out) {
        return std::any_of(out.message.updates.begin(), out.message.updates.end(), [](const Update& u) {
          return u.member.node_id == node(2) && u.member.state == MemberState::left && u.source == node(2);
        });
      });
    });
  };
  GossipMessage news{node(3), address(3), Gossip{}, {Update{record(2, 0, MemberState::left), node(2), {}}}};
  (void)a.on_message(address(3), news, now);
  REQUIRE(a.find(node(2))->state == MemberState::left);
  CHECK(sends_left(20000));
  CHECK_FALSE(sends_left(40000));  // spent
  news.updates = {accusation(3, 2, 0, MemberState::suspect)};  // c missed the leave
  (void)a.on_message(address(3), news, now);
  CHECK(sends_left(45000));
  CHECK(a.find(node(3))->state == MemberState::alive);
  // And the record ends a suspicion at once.
  Membership fresh = make(4);
  (void)fresh.on_message(address(2), GossipMessage{node(2), address(2), Gossip{}, {Update{record(2, 0), node(2), {}}}}, now);
  (void)fresh.on_message(address(3), GossipMessage{node(3), address(3), Gossip{}, {Update{record(3, 0), node(3), {}}}}, now);
  (void)fresh.on_message(address(3), news, now);
  REQUIRE(fresh.find(node(2)) != nullptr);
  REQUIRE(fresh.find(node(2))->state == MemberState::suspect);
  news.updates = {Update{record(2, 0, MemberState::left), node(2), {}}};
  (void)fresh.on_message(address(1), GossipMessage{node(1), address(1), Gossip{}, news.updates}, now);
  CHECK(fresh.find(node(2))->state == MemberState::left);
}

// Each side of a healed cut declared the other dead, and the claims were
// spent: a member we hold dead that speaks to us hears its death from us
// (tests/sim/regressions/random-120059-dead-to-each-other.toml).
TEST_CASE("a member held dead that speaks to us is told it was declared dead", "[gossip][membership]") {
  Three three;
  Membership& a = three.a;
  Membership& b = three.b;
  std::int64_t now = 10;
  GossipMessage news{node(3), address(3), Gossip{}, {accusation(3, 2, 0, MemberState::suspect)}};
  (void)a.on_message(address(3), news, now);
  for (; a.find(node(2))->state != MemberState::dead && now < 60000; now = std::max(now + 1, a.next_deadline_ms())) {
    (void)a.tick(now);  // nobody answers: the suspicion runs out
  }
  REQUIRE(a.find(node(2))->state == MemberState::dead);
  now += 40000;  // long after: the claim's gossip is spent
  (void)a.tick(now);
  auto tells_b_dead = [&](const Actions& actions) {
    const Outgoing* out = find_send<Gossip>(actions, address(2));
    return out != nullptr && std::any_of(out->message.updates.begin(), out->message.updates.end(), [](const Update& u) {
             return u.member.node_id == node(2) && u.member.state == MemberState::dead && u.source == node(1);
           });
  };
  const GossipMessage hello{node(2), address(2), Gossip{}, {}};
  const Actions answer = a.on_message(address(2), hello, now);
  REQUIRE(tells_b_dead(answer));
  CHECK_FALSE(tells_b_dead(a.on_message(address(2), hello, now + 10)));  // once per probe interval
  CHECK(tells_b_dead(a.on_message(address(2), hello, now + lan_config().probe_interval_ms)));
  // b refutes, and a takes it back.
  const Actions refuted = deliver(answer, address(1), b, now);
  CHECK(b.incarnation() == 1);
  (void)a.on_message(address(2), GossipMessage{node(2), address(2), Gossip{}, {Update{record(2, 1), node(2), {}}}}, now + 20);
  CHECK(a.find(node(2))->state == MemberState::alive);
  CHECK_FALSE(tells_b_dead(a.on_message(address(2), hello, now + 3 * lan_config().probe_interval_ms)));
  (void)refuted;
}

// Whoever holds the newer record answers a stale accusation too, not only
// the accused (tests/sim/regressions/random-400029-flooder-and-one-way-cut.toml).
TEST_CASE("a stale accusation of another member is answered with its newer record", "[gossip][membership]") {
  Three three;
  Membership& a = three.a;
  // a holds b at incarnation 1 (b refuted), c still passes on a's old claim.
  (void)a.on_message(address(2), GossipMessage{node(2), address(2), Gossip{}, {Update{record(2, 1), node(2), {}}}}, 10);
  REQUIRE(a.find(node(2))->incarnation == 1);
  auto tells_c_newer = [&](const Actions& actions) {
    const Outgoing* out = find_send<Gossip>(actions, address(3));
    return out != nullptr && std::any_of(out->message.updates.begin(), out->message.updates.end(), [](const Update& u) {
             return u.member.node_id == node(2) && u.member.state == MemberState::alive && u.member.incarnation == 1;
           });
  };
  GossipMessage stale{node(3), address(3), Gossip{}, {accusation(3, 2, 0, MemberState::dead)}};
  CHECK(tells_c_newer(a.on_message(address(3), stale, 100)));
  CHECK_FALSE(tells_c_newer(a.on_message(address(3), stale, 200)));  // once per probe interval to c
  CHECK(a.find(node(2))->state == MemberState::alive);  // and nothing else changes
  // A suspect record goes out as what the member signed: alive.
  (void)a.on_message(address(3), GossipMessage{node(3), address(3), Gossip{}, {accusation(3, 2, 1, MemberState::suspect)}}, 300);
  REQUIRE(a.find(node(2))->state == MemberState::suspect);
  CHECK(tells_c_newer(a.on_message(address(3), stale, 100 + lan_config().probe_interval_ms)));
}

// A member that joined while we could not hear of it pings us without its
// record: we ask it for its view, which lists it first-hand
// (tests/sim/regressions/random-500074-joiner-behind-a-cut.toml).
TEST_CASE("a member we do not list that speaks to us is asked for its view", "[gossip][membership]") {
  Three three;
  Membership& a = three.a;
  Membership d = make(4);
  join_pair(three.b, d);  // d joins through b; a never hears of it
  REQUIRE(a.find(node(4)) == nullptr);
  const GossipMessage ping{node(4), address(4), Ping{7, node(1)}, {}};
  const Actions answer = a.on_message(address(4), ping, 100);
  CHECK(find_send<Ack>(answer, address(4)) != nullptr);
  const Outgoing* join = find_send<Join>(answer, address(4));
  REQUIRE(join != nullptr);
  CHECK(join->transport == Transport::stream);
  CHECK(find_send<Join>(a.on_message(address(4), ping, 200), address(4)) == nullptr);  // once per probe interval
  // d's answer, a full view, lists d first-hand.
  const Actions view = deliver(answer, address(1), d, 110);
  (void)deliver(view, address(4), a, 120);
  REQUIRE(a.find(node(4)) != nullptr);
  CHECK(a.find(node(4))->state == MemberState::alive);
  // Listed now: nothing more to ask.
  CHECK(find_send<Join>(a.on_message(address(4), ping, 100 + 2 * lan_config().probe_interval_ms), address(4)) == nullptr);
}

// A full view that lists a member dead is no evidence, but a hint: probe it
// next (tests/sim/regressions/random-40132-restart-behind-a-partition.toml).
// A suspicion we formed behind a cut has spent its retransmits by the time
// the cut heals, so nobody holding the death hears it and answers with a
// dead claim. A full view listing that member dead makes us gossip our
// suspicion again (tests/sim/regressions/random-40132-restart-behind-a-partition.toml).
TEST_CASE("a full view listing dead a member we suspect makes us gossip the suspicion again", "[gossip][membership]") {
  Membership a = make(1);
  std::vector<Membership> others = join_members_2_to_6(a);
  std::int64_t now = 10;
  GossipMessage told{node(2), address(2), Gossip{}, {}};
  told.updates = {accusation(2, 4, 0, MemberState::suspect)};
  (void)a.on_message(address(2), told, now);
  REQUIRE(a.find(node(4))->state == MemberState::suspect);
  // Ticks a alone (nobody answers) for `ms`; counts the updates about
  // member 4 it sends to anyone but 4 itself (4 gets reminders of its own).
  auto suspicions_sent = [&](std::int64_t ms) {
    int sent = 0;
    for (const std::int64_t until = now + ms; now < until; now = std::max(now + 1, a.next_deadline_ms())) {
      for (const Outgoing& out : a.tick(now).sends) {
        if (out.to_address == address(4)) continue;
        for (const Update& update : out.message.updates) {
          if (update.member.node_id == node(4) && update.member.state == MemberState::suspect) ++sent;
        }
      }
    }
    return sent;
  };
  REQUIRE(suspicions_sent(1500) > 0);  // it spreads, then its retransmits are spent
  REQUIRE(suspicions_sent(1000) == 0);
  GossipMessage view{node(3), address(3), PushPull{true, false, {record(4, 0, MemberState::dead)}}, {}};
  (void)a.on_message(address(3), view, now);
  CHECK(a.find(node(4))->state == MemberState::suspect);  // a full view is no evidence
  CHECK(suspicions_sent(1000) > 0);
}

TEST_CASE("a member another's full view lists as dead is probed next", "[gossip][membership]") {
  Membership a = make(1);
  std::vector<Membership> others = join_members_2_to_6(a);
  // Everyone answers a at once, so all stay alive. Returns where a's next
  // ping went.
  std::int64_t now = 10;
  auto next_ping = [&]() -> std::string {
    for (const std::int64_t until = now + 20000; now < until; now = std::max(now + 1, a.next_deadline_ms())) {
      Actions from_a = a.tick(now);
      std::string pinged;
      for (const Outgoing& out : from_a.sends) {
        if (std::holds_alternative<Ping>(out.message.body) && pinged.empty()) pinged = out.to_address;
      }
      for (Membership& m : others) {
        Actions back = deliver(from_a, address(1), m, now);
        (void)deliver(back, m.self().address, a, now);
      }
      if (!pinged.empty()) return pinged;
    }
    return "";
  };
  for (std::uint8_t target : {4, 2, 6, 5, 3}) {
    INFO("claimed dead: member " << int(target));
    GossipMessage view;
    view.sender = node(target == 3 ? 2 : 3);
    view.sender_address = address(target == 3 ? 2 : 3);
    PushPull body;
    body.is_reply = true;  // an answer to a push-pull of ours: nothing goes back
    body.members = {record(target, 0, MemberState::dead)};
    view.body = body;
    (void)a.on_message(view.sender_address, view, now);
    CHECK(a.find(node(target))->state == MemberState::alive);  // no evidence
    CHECK(next_ping() == address(target));
  }
  for (std::uint8_t n = 2; n <= 6; ++n) CHECK(a.find(node(n))->state == MemberState::alive);

  // Soon, too, at a raised health score (a member back from a cut): not a
  // whole scaled interval later, but one unscaled interval after the last
  // probe (tests/sim/regressions/random-40132-restart-behind-a-partition.toml).
  const std::int64_t interval = lan_config().probe_interval_ms;
  for (std::uint8_t i = 0; i < 6; ++i) {  // accused six times, by five members
    GossipMessage accused{node(2 + i % 5), address(2 + i % 5), Gossip{}, {}};
    accused.updates = {accusation(2 + i % 5, 1, a.incarnation(), MemberState::suspect)};
    (void)a.on_message(accused.sender_address, accused, now);
  }
  REQUIRE(a.health_score() >= 5);
  REQUIRE_FALSE(next_ping().empty());
  std::int64_t pinged_at = now;
  REQUIRE_FALSE(next_ping().empty());
  CHECK(now - pinged_at >= 4 * interval);  // the scaled pace, without a hint
  pinged_at = now;
  GossipMessage view{node(3), address(3), PushPull{true, false, {record(5, 0, MemberState::dead)}}, {}};
  (void)a.on_message(address(3), view, now + 1);
  CHECK(next_ping() == address(5));
  CHECK(now - pinged_at <= interval);
  // A second view at once gets no faster rate than a healthy member's.
  pinged_at = now;
  view.body = PushPull{true, false, {record(6, 0, MemberState::dead)}};
  (void)a.on_message(address(3), view, now + 1);
  CHECK(next_ping() == address(6));
  CHECK(now - pinged_at == interval);
  // Two in one view: both come next, the others keep their order.
  view.body = PushPull{true, false, {record(4, 0, MemberState::dead), record(2, 0, MemberState::dead)}};
  (void)a.on_message(address(3), view, now + 1);
  std::set<std::string> next_two{next_ping(), next_ping()};
  CHECK(next_two == std::set<std::string>{address(2), address(4)});
}

// A peer that wiped its state came back at member 4's address under a new
// node id (docs/membership.md, "Addresses taken over"): we probe member 4
// next, and soon, but hold it alive until that probe fails. Also when we
// only adopted someone else's suspicion of it: our own failed probe is the
// confirmation that shortens the timeout. Both fail without the rule (the
// old id waits for its turn in a round of every listed member).
TEST_CASE("a new identity at a member's address makes us probe the old one next", "[gossip][membership]") {
  Membership a = make(1);
  std::vector<Membership> others = join_members_2_to_6(a);
  const std::int64_t interval = lan_config().probe_interval_ms;
  std::int64_t now = 10;
  // Runs a until its next probe and returns (address, named target); the
  // members answer, except that nobody answers a ping naming member 4.
  auto next_ping = [&]() -> std::pair<std::string, NodeId> {
    for (const std::int64_t until = now + 20000; now < until; now = std::max(now + 1, a.next_deadline_ms())) {
      Actions from_a = a.tick(now);
      for (const Outgoing& out : from_a.sends) {
        if (!std::holds_alternative<Ping>(out.message.body)) continue;
        const NodeId target = std::get<Ping>(out.message.body).target;
        if (target != node(4)) {
          for (Membership& m : others) (void)deliver(deliver(from_a, address(1), m, now), m.self().address, a, now);
        }
        return {out.to_address, target};
      }
    }
    return {};
  };
  auto speak_at_address_4 = [&](std::uint8_t renewed) {
    // Its first message to us carries its own signed record at address 4.
    GossipMessage hello{node(renewed), address(4), Gossip{}, {}};
    hello.updates = {Update{authority(renewed)->record(address(4), 0, MemberState::alive), node(renewed), {}}};
    (void)a.on_message(address(4), hello, now);
    REQUIRE(a.find(node(renewed)) != nullptr);
  };
  (void)next_ping();
  const std::int64_t last = now;
  speak_at_address_4(7);
  CHECK(a.find(node(4))->state == MemberState::alive);  // a hint, no evidence
  const auto [to, target] = next_ping();
  CHECK(to == address(4));
  CHECK(target == node(4));
  CHECK(now - last <= interval);

  // Member 4 is suspected by member 2 first; we adopt it, and another new
  // identity at its address brings our own probe of it forward again.
  Membership b = make(1);
  others = join_members_2_to_6(b);
  std::swap(a, b);
  now = 10;
  (void)next_ping();
  GossipMessage accused{node(2), address(2), Gossip{}, {}};
  accused.updates = {accusation(2, 4, 0, MemberState::suspect)};
  (void)a.on_message(address(2), accused, now);
  REQUIRE(a.find(node(4))->state == MemberState::suspect);
  speak_at_address_4(8);
  const auto [to_again, target_again] = next_ping();
  CHECK(to_again == address(4));
  CHECK(target_again == node(4));
}

// A hinted member moves to the front of the rest of the round, and the
// others keep their order: the rest of the round is what it was, less the
// hinted member (before session 22 a swap sent the member displaced by the
// hint to the hinted member's old place, so it could wait a round longer).
// Two twins, the same seeds and the same messages: one hears the hint.
TEST_CASE("a probe hint keeps the order of the rest of the round", "[gossip][membership]") {
  struct Star {
    Membership a = make(1);
    std::vector<Membership> others;
    std::int64_t now = 10;
    Star() {
      for (std::uint8_t n = 2; n <= 8; ++n) others.push_back(make(n));
      (void)a.join({}, 0);
      for (Membership& m : others) join_pair(a, m);
    }
    std::string next_ping() {
      for (const std::int64_t until = now + 20000; now < until; now = std::max(now + 1, a.next_deadline_ms())) {
        Actions from_a = a.tick(now);
        std::string pinged;
        for (const Outgoing& out : from_a.sends) {
          if (std::holds_alternative<Ping>(out.message.body) && pinged.empty()) pinged = out.to_address;
        }
        for (Membership& m : others) (void)deliver(deliver(from_a, address(1), m, now), m.self().address, a, now);
        if (!pinged.empty()) return pinged;
      }
      return "";
    }
  };
  Star hinted, plain;
  REQUIRE(hinted.next_ping() == plain.next_ping());  // the first of a round of 7
  std::vector<std::string> rest;
  for (int i = 0; i < 6; ++i) rest.push_back(plain.next_ping());
  REQUIRE(std::set<std::string>(rest.begin(), rest.end()).size() == 6);
  const std::string last = rest.back();
  const auto n = static_cast<std::uint8_t>(std::stoi(last.substr(std::string("10.0.0.").size())));
  GossipMessage view{node(n == 2 ? 3 : 2), address(n == 2 ? 3 : 2), PushPull{true, false, {record(n, 0, MemberState::dead)}}, {}};
  (void)hinted.a.on_message(view.sender_address, view, hinted.now + 1);
  std::vector<std::string> expected{last};
  expected.insert(expected.end(), rest.begin(), rest.end() - 1);
  std::vector<std::string> got;
  for (int i = 0; i < 6; ++i) got.push_back(hinted.next_ping());
  CHECK(got == expected);
}

// An accuser that missed our refutation hears it from us straight away
// (tests/sim/regressions/random-60004-refutation-missed-behind-a-cut.toml).
TEST_CASE("an accusation of an incarnation already refuted is answered to whoever hands it", "[gossip][membership]") {
  Three three;
  Membership& a = three.a;
  Membership& b = three.b;
  GossipMessage rumour;
  rumour.sender = node(3);
  rumour.sender_address = address(3);
  rumour.body = Gossip{};
  rumour.updates = {Update{record(3, 0), node(3), {}}};  // b learns c from c itself
  (void)b.on_message(address(3), rumour, 90);
  REQUIRE(b.find(node(3)) != nullptr);
  rumour.updates = {accusation(3, 2, 0, MemberState::suspect)};
  (void)b.on_message(address(3), rumour, 100);
  REQUIRE(b.incarnation() == 1);  // refuted c's suspicion; a never heard it
  auto tells_a = [&](const Actions& actions) {
    const Outgoing* out = find_send<Gossip>(actions, address(1));
    return out != nullptr && std::any_of(out->message.updates.begin(), out->message.updates.end(), [](const Update& u) {
             return u.member.node_id == node(2) && u.member.state == MemberState::alive && u.member.incarnation == 1;
           });
  };
  // a adopted c's suspicion of b's old incarnation: its reminder hands c's
  // accusation to b, and b answers a, who handed it, not c.
  GossipMessage reminder;
  reminder.sender = node(1);
  reminder.sender_address = address(1);
  reminder.body = Gossip{};
  reminder.updates = {accusation(3, 2, 0, MemberState::suspect)};
  const Actions answer = b.on_message(address(1), reminder, 200);
  CHECK(tells_a(answer));
  CHECK(find_send<Gossip>(answer, address(3)) == nullptr);
  CHECK(b.incarnation() == 1);  // no second refutation for an old claim
  // At most once per probe interval to each member: a stale accusation
  // from c in the same interval is answered to c.
  CHECK_FALSE(tells_a(b.on_message(address(1), reminder, 300)));
  GossipMessage from_c = reminder;
  from_c.sender = node(3);
  from_c.sender_address = address(3);
  const Outgoing* to_c = find_send<Gossip>(b.on_message(address(3), from_c, 300), address(3));
  CHECK(to_c != nullptr);
  CHECK(tells_a(b.on_message(address(1), reminder, 200 + lan_config().probe_interval_ms)));
  // The answer clears a's suspicion.
  (void)a.on_message(address(3), rumour, 150);
  REQUIRE(a.find(node(2))->state == MemberState::suspect);
  const Outgoing* out = find_send<Gossip>(answer, address(1));
  REQUIRE(out != nullptr);
  (void)a.on_message(address(2), out->message, 250);
  CHECK(a.find(node(2))->state == MemberState::alive);
  CHECK(a.find(node(2))->incarnation == 1);
}

// A member that adopted another's suspicion hands it to the accused too,
// once the gossip of it is spent, so a refutation that missed it behind a cut
// still reaches it (tests/sim/regressions/random-20109-adopted-suspicion.toml).
TEST_CASE("a member that adopted a suspicion hands it to the accused", "[gossip][membership]") {
  Three three;
  Membership& a = three.a;
  const std::int64_t interval = lan_config().probe_interval_ms;
  GossipMessage news{node(3), address(3), Gossip{}, {accusation(3, 2, 0, MemberState::suspect)}};
  const std::int64_t adopted = 100;
  (void)a.on_message(address(3), news, adopted);
  REQUIRE(a.find(node(2))->state == MemberState::suspect);
  // b and c ack a's pings, so a suspects nobody itself, and hear nothing
  // else. When does a send b a gossip datagram with the accusation?
  std::vector<std::int64_t> handed;
  for (std::int64_t now = adopted; now < adopted + 10 * interval && a.find(node(2))->state == MemberState::suspect;
       now = std::max(now + 1, a.next_deadline_ms())) {
    const Actions out = a.tick(now);
    for (const Outgoing& sent : out.sends) {
      if (const Ping* ping = std::get_if<Ping>(&sent.message.body)) {
        const std::uint8_t n = sent.to_address == address(2) ? 2 : 3;
        (void)a.on_message(address(n), GossipMessage{node(n), address(n), Ack{ping->sequence}, {}}, now);
      }
    }
    const Outgoing* gossip = find_send<Gossip>(out, address(2));
    if (gossip != nullptr && std::any_of(gossip->message.updates.begin(), gossip->message.updates.end(),
                                         [](const Update& u) {
                                           return u.member.node_id == node(2) && u.member.state == MemberState::suspect &&
                                                  u.source == node(3);
                                         })) {
      handed.push_back(now - adopted);
    }
  }
  // First the gossip of it (a few rounds), then nothing while a refutation
  // could still spread by itself, then once per probe interval.
  const std::int64_t gossip_spent = 4 * lan_config().gossip_interval_ms;
  std::vector<std::int64_t> reminders;
  std::copy_if(handed.begin(), handed.end(), std::back_inserter(reminders),
               [&](std::int64_t t) { return t > gossip_spent; });
  REQUIRE(reminders.size() >= 2);
  CHECK(reminders.front() >= 2 * interval);
  CHECK(reminders.front() < 3 * interval);
  for (std::size_t i = 1; i < reminders.size(); ++i) CHECK(reminders[i] - reminders[i - 1] >= interval);
  CHECK(a.find(node(2))->state == MemberState::dead);  // nobody refuted: it ran out
}

TEST_CASE("restart: an old record of ourselves is superseded", "[gossip][membership]") {
  Membership a = make(1);
  (void)a.join({}, 0);
  GossipMessage news;
  news.sender = node(3);
  news.sender_address = address(3);
  news.body = PushPull{true, true, {record(1, 6)}};
  Actions actions = a.on_message(address(3), news, 10);
  CHECK(has_event(actions, EventKind::self_refuted, node(1)));
  CHECK(a.incarnation() == 7);

  // The persistence hook: starting above the old value needs no refutation.
  Membership restarted = make(1, 8);
  Actions quiet = restarted.on_message(address(3), news, 10);
  CHECK_FALSE(has_event(quiet, EventKind::self_refuted, node(1)));
  CHECK(restarted.incarnation() == 8);
}

// Restarted without its incarnation file, a member starts at 0 again while
// the others hold its `left` at 0, which wins over `alive` at the same
// number: it was kept out (links refused as "no longer alive", twice a
// second) until they forgot the record, 10 minutes later.
TEST_CASE("restart: our own left record at our incarnation is superseded", "[gossip][membership]") {
  Membership a = make(1);
  (void)a.join({}, 0);
  REQUIRE(a.incarnation() == 0);
  GossipMessage news;
  news.sender = node(3);
  news.sender_address = address(3);
  news.body = PushPull{true, true, {record(1, 0, MemberState::left)}};
  Actions actions = a.on_message(address(3), news, 10);
  CHECK(has_event(actions, EventKind::self_refuted, node(1)));
  CHECK(a.incarnation() == 1);
  // And the other side takes the new alive over the left it held.
  Membership c = make(3);
  (void)c.join({}, 0);
  GossipMessage left_news = news;
  left_news.sender = node(2);
  left_news.sender_address = address(2);
  (void)c.on_message(address(2), left_news, 10);
  GossipMessage alive_news;
  alive_news.sender = node(1);
  alive_news.sender_address = address(1);
  alive_news.body = PushPull{true, true, {a.self()}};
  (void)c.on_message(address(1), alive_news, 20);
  REQUIRE(c.find(node(1)) != nullptr);
  CHECK(c.find(node(1))->state == MemberState::alive);
  CHECK(c.find(node(1))->incarnation == 1);
}

// Every Leave carries the leaver's signed `left` record: a member that
// learned the leave from a bare Leave would list it left under a record
// whose signature covers `alive`, and everyone would reject that in its full
// views, so a member that missed the leave never learned it from them
// (`starling simulate --random` seed 10043: 9 s after the last event a
// member still listed the one that left as alive).
TEST_CASE("a leave reaches a member that missed it through others' full views", "[gossip][membership]") {
  Membership hub = make(1);
  (void)hub.join({}, 0);
  std::vector<Membership> others;
  for (std::uint8_t n = 2; n <= 12; ++n) others.push_back(make(n));
  for (Membership& m : others) join_pair(hub, m);
  // More Leaves (11) than the piggyback budget sends an update (8 at 12 members).
  const Actions bye = hub.leave(100);
  for (Membership& m : others) {
    INFO("Leave to " << m.self().address);
    const Outgoing* leave = find_send<Leave>(bye, m.self().address);
    REQUIRE(leave != nullptr);
    CHECK(std::any_of(leave->message.updates.begin(), leave->message.updates.end(), [](const Update& u) {
      return u.member.node_id == node(1) && u.member.state == MemberState::left;
    }));
  }
  // All but the last hear their Leave; the last then learns it from the
  // full view of the one whose Leave went out just before its own.
  for (std::size_t i = 0; i + 1 < others.size(); ++i) {
    (void)deliver(bye, address(1), others[i], 101);
    REQUIRE(others[i].find(node(1))->state == MemberState::left);
  }
  Membership& missed = others.back();
  REQUIRE(missed.find(node(1))->state == MemberState::alive);
  Membership& told = others[others.size() - 2];
  // Its push-pull (delivered by hand: the timer picks a random member) gets
  // the full view back.
  const Actions reply = told.on_message(
      address(12), GossipMessage{node(12), address(12), PushPull{false, false, {missed.self()}}, {}}, 200);
  REQUIRE(find_send<PushPull>(reply, address(12)) != nullptr);
  (void)deliver(reply, address(11), missed, 201);
  CHECK(missed.find(node(1))->state == MemberState::left);
}

// Under churn most of a seed's view is dead and left members, and each join
// reply carried them all to joiners that drop news of members they never
// listed (a soak review: 467 of 520 records). A new joiner gets the live
// members; a member we list gets the whole view (its own dead record is what
// makes a restarted member refute).
TEST_CASE("a new joiner's reply lists the live members only, a known member's lists all", "[gossip][membership]") {
  Membership hub = make(1);
  (void)hub.join({}, 0);
  Membership stays = make(2);
  Membership leaves = make(3);
  join_pair(hub, stays);
  join_pair(hub, leaves);
  (void)deliver(leaves.leave(10), address(3), hub, 11);
  REQUIRE(hub.find(node(3))->state == MemberState::left);

  const auto listed = [](const Actions& reply, const std::string& to) {
    std::vector<NodeId> ids;
    const Outgoing* out = find_send<PushPull>(reply, to);
    REQUIRE(out != nullptr);
    for (const MemberRecord& m : std::get<PushPull>(out->message.body).members) ids.push_back(m.node_id);
    return ids;
  };
  Membership fresh = make(4);
  const Actions to_fresh = deliver(fresh.join({address(1)}, 20), address(4), hub, 21);
  const std::vector<NodeId> fresh_got = listed(to_fresh, address(4));
  CHECK(std::count(fresh_got.begin(), fresh_got.end(), node(3)) == 0);
  CHECK(std::count(fresh_got.begin(), fresh_got.end(), node(1)) == 1);
  CHECK(std::count(fresh_got.begin(), fresh_got.end(), node(2)) == 1);

  // `stays` is listed by the hub: a Join from it (it asks because it was
  // unknown to someone, or it restarted) gets the whole view, the left record too.
  const Actions to_known =
      hub.on_message(address(2), GossipMessage{node(2), address(2), Join{stays.self()}, {}}, 30);
  const std::vector<NodeId> known_got = listed(to_known, address(2));
  CHECK(std::count(known_got.begin(), known_got.end(), node(3)) == 1);
}

TEST_CASE("leave spreads `left` and completes once drained", "[gossip][membership]") {
  Membership a = make(1);
  Membership b = make(2);
  (void)a.join({}, 0);
  join_pair(a, b);
  Actions bye = b.leave(100);
  const Outgoing* leave = find_send<Leave>(bye, address(1));
  REQUIRE(leave != nullptr);
  Actions seen = a.on_message(address(2), leave->message, 101);
  CHECK(has_event(seen, EventKind::member_left, node(2)));
  CHECK(a.find(node(2))->state == MemberState::left);
  CHECK(a.live_member_count() == 0);
  std::int64_t now = 100;
  while (!b.leave_complete(now)) {
    now = std::max(now + 1, b.next_deadline_ms());
    (void)b.tick(now);
  }
  CHECK(now < 100 + lan_config().leave_timeout_ms);
  // A leaving member does not refute its own departure.
  GossipMessage dead{node(1), address(1), Gossip{}, {accusation(1, 2, 0, MemberState::dead)}};
  CHECK(b.on_message(address(1), dead, now).events.empty());
}

TEST_CASE("joins are retried with growing jittered delays", "[gossip][membership]") {
  Membership b = make(2);
  Actions first = b.join({address(1), address(2)}, 0);  // our own address is skipped
  CHECK(first.sends.size() == 1);
  std::vector<std::int64_t> delays;
  std::int64_t now = 0;
  while (delays.size() < 5) {
    now = b.next_deadline_ms();
    for (const Event& e : b.tick(now).events) {
      if (e.kind == EventKind::join_retry) delays.push_back(e.retry_after_ms);
    }
  }
  // The first event is the second try's: twice the first backoff, jittered 0.5-1.5x.
  CHECK(delays.front() >= lan_config().join_retry_ms);
  CHECK(delays.back() > delays.front());
  CHECK(delays.back() <= lan_config().join_retry_max_ms * 3 / 2);
  CHECK_FALSE(b.joined());
}

TEST_CASE("view shows self and members for status", "[gossip][membership]") {
  Membership a = make(1, 3);
  Membership b = make(2);
  (void)a.join({}, 0);
  join_pair(a, b);
  const MembershipView view = a.view(5000);
  CHECK(view.self.node_id == node(1));
  CHECK(view.self.incarnation == 3);
  CHECK(view.uptime_ms == 5000);
  REQUIRE(view.members.size() == 1);
  CHECK(view.members[0].record.address == address(2));
  CHECK(std::string(to_string(view.members[0].record.state)) == "alive");
}

TEST_CASE("members started together do not rotate neighbours in lockstep", "[gossip][membership]") {
  // 64 members started 1 ms apart, as the simulator starts a swarm. In
  // lockstep (every first rotation one period after the start) a 1000-peer
  // swarm rewired within one virtual second; the first rotation now falls at
  // a random phase in [start + period, start + 2 period).
  const std::int64_t period = lan_config().neighbour_rotation_ms;
  std::vector<std::int64_t> first;
  for (std::uint8_t n = 1; n <= 64; ++n) {
    const std::int64_t start = n;
    Membership m(lan_config(), Identity{node(n), address(n), 0, authority(n)}, n, start);
    const std::int64_t due = m.next_rotation_ms();
    CHECK(due >= start + period);
    CHECK(due < start + 2 * period);
    first.push_back(due - start);
  }
  std::sort(first.begin(), first.end());
  CHECK(std::unique(first.begin(), first.end()) == first.end());  // 64 draws of 30,000: no two alike here
  // Spread over the whole window: at most about a quarter of it in any quarter.
  const std::int64_t quarter = period / 4;
  for (std::int64_t from = period; from < 2 * period; from += quarter) {
    const auto in = std::count_if(first.begin(), first.end(), [&](std::int64_t d) { return d >= from && d < from + quarter; });
    INFO("first rotations in [" << from << ", " << from + quarter << ") ms: " << in);
    CHECK(in >= 6);
    CHECK(in <= 28);
  }

  // The same seed gives the same phase (the simulator replays runs).
  Membership a(lan_config(), Identity{node(1), address(1), 0, authority(1)}, 7, 0);
  Membership b(lan_config(), Identity{node(1), address(1), 0, authority(1)}, 7, 0);
  CHECK(a.next_rotation_ms() == b.next_rotation_ms());

  // After the first rotation the member keeps its phase: one per period.
  Membership c = make(2);
  c.join({}, 0);
  c.sample_neighbours(3);
  const std::int64_t due = c.next_rotation_ms();
  c.tick(due - 1);
  CHECK(c.next_rotation_ms() == due);
  c.tick(due);
  CHECK(c.next_rotation_ms() == due + period);
}

// Membership-only members (`peer --no-train`) hold no model: a training peer
// that sampled one dialled it only to be refused, and held one of its few
// neighbour slots for nothing (docs/membership.md, "Membership-only members").
TEST_CASE("a membership-only member is probed like any other but never sampled as a training neighbour",
          "[gossip][membership]") {
  Membership a = make(1);
  (void)a.join({}, 0);
  std::vector<Membership> others;
  others.reserve(5);
  for (std::uint8_t n = 2; n <= 6; ++n) {
    Identity identity{node(n), address(n), 0, authority(n)};
    identity.membership_only = n == 3 || n == 5;
    others.emplace_back(lan_config(), identity, n, 0);
    join_pair(a, others.back());
  }
  REQUIRE(a.find(node(3))->membership_only);  // its own signed flag
  REQUIRE(a.find(node(5))->membership_only);
  REQUIRE_FALSE(a.find(node(2))->membership_only);

  // Room for four: only the three training members fill it.
  std::vector<NodeId> sampled;
  for (const MemberRecord& member : a.sample_neighbours(4)) sampled.push_back(member.node_id);
  std::sort(sampled.begin(), sampled.end());
  std::vector<NodeId> training{node(2), node(4), node(6)};
  std::sort(training.begin(), training.end());
  CHECK(sampled == training);
  // A refusing neighbour has no membership-only stand-in.
  CHECK_FALSE(a.replace_neighbour(node(2)));

  // Membership itself treats them as any member: they are probed.
  std::size_t pings_to_membership_only = 0;
  std::int64_t now = 3;
  for (int guard = 0; guard < 1000 && now < 12'000; ++guard) {
    const Actions actions = a.tick(now);
    for (const Outgoing& out : actions.sends)
      if (std::holds_alternative<Ping>(out.message.body) && (out.to_address == address(3) || out.to_address == address(5)))
        ++pings_to_membership_only;
    now = std::max(now + 1, a.next_deadline_ms());
  }
  CHECK(pings_to_membership_only >= 2);

  // The flag is signed: nobody else can set or clear it.
  MemberRecord flipped = *a.find(node(3));
  flipped.membership_only = false;
  CHECK_FALSE(authority(3)->verify_record(flipped));
  MemberRecord claimed = record(2, 0);
  claimed.membership_only = true;
  CHECK_FALSE(authority(2)->verify_record(claimed));
}

// One identity, two processes (a copied identity file or data dir): only our
// key signs our record, so our record naming another address at our
// incarnation or above is the other process's. A previous life that lost its
// incarnation file is seen once and refuted; a clone keeps being seen.
TEST_CASE("our own record at another address, seen twice, reports the identity in use elsewhere",
          "[gossip][membership][identity]") {
  Membership a = make(1);
  (void)a.join({}, 0);
  const std::string clone_at = "10.9.9.9:7946";
  auto hear = [&](const MemberRecord& record, std::int64_t now) {
    return a.on_message(address(2), GossipMessage{node(2), address(2), Gossip{}, {Update{record, node(1), {}}}}, now);
  };
  auto count = [](const Actions& actions, EventKind kind) {
    return std::count_if(actions.events.begin(), actions.events.end(), [&](const Event& e) { return e.kind == kind; });
  };

  // Our own record, as it is: nothing.
  CHECK(hear(a.self(), 10).events.empty());
  // A previous life at another address, above us: refuted once, no report.
  Actions previous_life = hear(authority(1)->record("10.7.7.7:7946", 3), 20);
  CHECK(count(previous_life, EventKind::self_refuted) == 1);
  CHECK(count(previous_life, EventKind::identity_in_use) == 0);
  REQUIRE(a.self().incarnation == 4);

  // A previous life at our own incarnation (its incarnation file was lost
  // and it listened elsewhere): refuted, so ours wins, and its copies still
  // in flight are below us now. Never reported.
  Actions equal_life = hear(authority(1)->record("10.8.8.8:7946", 4), 500);
  CHECK(count(equal_life, EventKind::self_refuted) == 1);
  REQUIRE(a.self().incarnation == 5);
  for (int copy = 0; copy < 5; ++copy) CHECK(hear(authority(1)->record("10.8.8.8:7946", 4), 600 + copy).events.empty());

  // A clone refutes in turn, so it is seen again at or above what we took:
  // the first sighting could be a previous life, the second is reported,
  // naming where it listens and who passed it on.
  CHECK(count(hear(authority(1)->record(clone_at, 5), 1000), EventKind::identity_in_use) == 0);
  REQUIRE(a.self().incarnation == 6);
  const Actions second = hear(authority(1)->record(clone_at, 7), 2000);
  REQUIRE(count(second, EventKind::identity_in_use) == 1);
  const auto reported = std::find_if(second.events.begin(), second.events.end(),
                                     [](const Event& e) { return e.kind == EventKind::identity_in_use; });
  CHECK(reported->member.address == clone_at);
  CHECK(reported->member.node_id == node(1));
  CHECK(reported->source == node(2));  // who passed it on
  CHECK(count(second, EventKind::self_refuted) == 1);
  CHECK(a.self().address == address(1));
  // At most one report in ten minutes, however often it is seen.
  for (std::int64_t t = 3000; t < 500'000; t += 30'000)
    CHECK(count(hear(authority(1)->record(clone_at, a.self().incarnation), t), EventKind::identity_in_use) == 0);
  CHECK(count(hear(authority(1)->record(clone_at, a.self().incarnation), 2000 + IdentityClash::kWindowMs),
              EventKind::identity_in_use) == 1);

  // A record of ours nobody signed (address changed after signing) is no evidence.
  const std::uint64_t now_at = a.self().incarnation;
  MemberRecord forged = authority(1)->record(address(1), now_at + 5);
  forged.address = "10.6.6.6:7946";
  const std::int64_t later = 2000 + 3 * IdentityClash::kWindowMs;
  CHECK(hear(forged, later).events.empty());
  CHECK(hear(forged, later + 1000).events.empty());
  CHECK(a.self().incarnation == now_at);
  // Nor is an old record of ours at a lower incarnation (a replayed past life).
  CHECK(hear(authority(1)->record("10.5.5.5:7946", 1), later + 2000).events.empty());
  CHECK(hear(authority(1)->record("10.5.5.5:7946", 1), later + 3000).events.empty());
}

// A previous life of ours that died at incarnation 3 and lost its
// incarnation file: we start at 0 and the others hold us dead at 3. Its dead
// record still carries our own signature of alive-at-3, so we refute above
// it; before, we ignored "an incarnation we never signed" and stayed out for
// the hour of dead retention. One we did not sign is still ignored.
TEST_CASE("a member restarted below its own dead record refutes it, one never signed is ignored",
          "[gossip][membership][identity]") {
  Membership a = make(1);
  (void)a.join({}, 0);
  MemberRecord previous_life = record(1, 3);
  previous_life.state = MemberState::dead;
  PushPull full{false, false, {record(2, 0), previous_life}};
  const Actions pulled = a.on_message(address(2), GossipMessage{node(2), address(2), full, {}}, 10);
  CHECK(has_event(pulled, EventKind::self_refuted, node(1)));
  CHECK(a.self().incarnation == 4);

  // The same as a signed accusation (a gossip update) above us.
  Membership b = make(1);
  (void)b.join({}, 0);
  (void)b.on_message(address(2), GossipMessage{node(2), address(2), Gossip{}, {Update{record(2, 0), node(2), {}}}}, 1);
  const Actions accused =
      b.on_message(address(2), GossipMessage{node(2), address(2), Gossip{}, {accusation(2, 1, 3, MemberState::dead)}}, 2);
  CHECK(has_event(accused, EventKind::self_refuted, node(1)));
  CHECK(b.self().incarnation == 4);

  // Never signed by us (a made-up incarnation): no refutation, no jump.
  Membership c = make(1);
  (void)c.join({}, 0);
  MemberRecord made_up = record(1, 3);
  made_up.incarnation = 1'000'000;
  made_up.state = MemberState::dead;
  PushPull lie{false, false, {record(2, 0), made_up}};
  CHECK_FALSE(has_event(c.on_message(address(2), GossipMessage{node(2), address(2), lie, {}}, 10), EventKind::self_refuted,
                        node(1)));
  CHECK(c.self().incarnation == 0);
}
