// Outbound-only members in the state machine, by hand (docs/membership.md,
// "Outbound-only members"): who probes, gossips to and confirms whom, given
// the signed outbound_only flag and the links the owner reports.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "fake_authority.h"
#include "starling/gossip/membership.h"

using namespace starling::gossip;

namespace {
std::shared_ptr<const testing::FakeAuthority> authority(std::uint8_t n) {
  static std::map<std::uint8_t, std::shared_ptr<const testing::FakeAuthority>> all;
  auto& slot = all[n];
  if (!slot) slot = testing::fake_authority(n);
  return slot;
}
NodeId node(std::uint8_t n) { return authority(n)->node_id(); }
std::string address(std::uint8_t n) { return "10.0.0." + std::to_string(n) + ":7946"; }
constexpr std::uint8_t kOutbound = 9;

Membership make(std::uint8_t n, bool outbound_only = false) {
  Identity identity{node(n), address(n), 0, authority(n)};
  identity.outbound_only = outbound_only;
  return Membership(lan_config(), identity, n, 0);
}

// X's own signed record at `incarnation`.
MemberRecord outbound_record(std::uint64_t incarnation) {
  MemberRecord record = authority(kOutbound)->record(address(kOutbound), incarnation);
  record.outbound_only = true;
  record.signature = authority(kOutbound)->sign_record(record);
  return record;
}

void append(Actions& into, Actions more) {
  for (auto& s : more.sends) into.sends.push_back(std::move(s));
  for (auto& e : more.events) into.events.push_back(std::move(e));
}

// Delivers every send of `actions` addressed to `machine` (as from `from`).
Actions deliver(const Actions& actions, const std::string& from, Membership& machine, std::int64_t now) {
  Actions replies;
  for (const Outgoing& out : actions.sends)
    if (out.to_address == machine.self().address) append(replies, machine.on_message(from, out.message, now));
  return replies;
}

// Ticks `machine` at its deadlines from `from_ms` to `to_ms`; everything it sent.
Actions run(Membership& machine, std::int64_t from_ms, std::int64_t to_ms) {
  Actions all;
  std::int64_t now = from_ms;
  for (int guard = 0; guard < 100000 && now <= to_ms; ++guard) {
    append(all, machine.tick(now));
    now = std::max(now + 1, machine.next_deadline_ms());
  }
  return all;
}

// Ticks the machines together, delivering what each sends to the one it is
// addressed to and the answers back (one round trip per step); returns what
// the first one sent.
Actions run_all(const std::vector<Membership*>& machines, std::int64_t from_ms, std::int64_t to_ms) {
  Actions all;
  std::int64_t now = from_ms;
  for (int guard = 0; guard < 100000 && now <= to_ms; ++guard) {
    std::int64_t next = now + 1'000'000;
    for (std::size_t i = 0; i < machines.size(); ++i) {
      Actions sent = machines[i]->tick(now);
      for (Membership* other : machines)
        if (other != machines[i]) deliver(deliver(sent, machines[i]->self().address, *other, now),
                                          other->self().address, *machines[i], now);
      if (i == 0) append(all, std::move(sent));
    }
    for (Membership* m : machines) next = std::min(next, m->next_deadline_ms());
    now = std::max(now + 1, next);
  }
  return all;
}

template <typename Body>
std::size_t count_to(const Actions& actions, const std::string& to) {
  return static_cast<std::size_t>(std::count_if(actions.sends.begin(), actions.sends.end(), [&](const Outgoing& o) {
    return o.to_address == to && std::holds_alternative<Body>(o.message.body);
  }));
}

std::size_t indirect_pings_for(const Actions& actions, const NodeId& target) {
  return static_cast<std::size_t>(std::count_if(actions.sends.begin(), actions.sends.end(), [&](const Outgoing& o) {
    const auto* request = std::get_if<IndirectPing>(&o.message.body);
    return request != nullptr && request->target == target;
  }));
}

// a (1) and b (2) know each other; X (9, outbound-only) joins through a.
struct Swarm {
  Membership a = make(1);
  Membership b = make(2);
  Membership x = make(kOutbound, true);
  Swarm() {
    a.join({}, 0);
    deliver(deliver(b.join({address(1)}, 0), address(2), a, 1), address(1), b, 2);
    Actions join = x.join({address(1)}, 3);
    REQUIRE(count_to<Join>(join, address(1)) == 1);
    Actions reply = deliver(join, address(kOutbound), a, 4);
    REQUIRE(count_to<PushPull>(reply, address(kOutbound)) == 1);  // the driver sends it over X's link
    deliver(reply, address(1), x, 5);
    REQUIRE(x.joined());
    REQUIRE(a.find(node(kOutbound)) != nullptr);
    REQUIRE(a.find(node(kOutbound))->outbound_only);  // its own signed flag
  }
};
}  // namespace

TEST_CASE("outbound-only: the flag is signed, a record with it flipped is refused", "[gossip][outbound]") {
  MemberRecord flipped = outbound_record(0);
  CHECK(authority(kOutbound)->verify_record(flipped));
  flipped.outbound_only = false;
  CHECK_FALSE(authority(kOutbound)->verify_record(flipped));
  Membership c = make(3);
  c.join({}, 0);
  GossipMessage forged{node(1), address(1), Gossip{}, {Update{flipped, node(kOutbound), {}}}};
  c.on_message(address(1), forged, 1);
  CHECK(c.find(node(kOutbound)) == nullptr);
  CHECK(c.view(2).rejected_records == 1);
}

TEST_CASE("outbound-only: nobody probes or gossips to it without a link, a broken link probes it indirectly "
          "until it refutes",
          "[gossip][outbound]") {
  Swarm swarm;
  Membership& a = swarm.a;
  // Not linked: a probes b, never X; no datagram, stream or indirect probe for X.
  Actions unlinked = run_all({&a, &swarm.b}, 10, 30'000);
  CHECK(count_to<Ping>(unlinked, address(2)) > 0);
  CHECK(count_to<Ping>(unlinked, address(kOutbound)) == 0);
  CHECK(a.find(node(2))->state == MemberState::alive);
  CHECK(count_to<Gossip>(unlinked, address(kOutbound)) == 0);
  CHECK(count_to<PushPull>(unlinked, address(kOutbound)) == 0);
  CHECK(indirect_pings_for(unlinked, node(kOutbound)) == 0);
  CHECK(a.find(node(kOutbound))->state == MemberState::alive);
  // Nobody dials it for delta gossip.
  for (const MemberRecord& neighbour : a.sample_neighbours(8)) CHECK_FALSE(neighbour.outbound_only);

  // Linked (X dialled a): a probes it (the driver sends the pings over the link).
  a.set_linked(node(kOutbound), true);
  Actions linked = run_all({&a, &swarm.b, &swarm.x}, 30'001, 40'000);
  CHECK(count_to<Ping>(linked, address(kOutbound)) > 0);
  CHECK(a.find(node(kOutbound))->state == MemberState::alive);

  // The link breaks and X is gone: a keeps probing it, only through others,
  // and suspects it when nobody answers (a crash).
  a.set_linked(node(kOutbound), false);
  Actions broken = run_all({&a, &swarm.b}, 40'001, 50'000);
  CHECK(count_to<Ping>(broken, address(kOutbound)) == 0);
  CHECK(indirect_pings_for(broken, node(kOutbound)) > 0);
  CHECK(a.find(node(kOutbound))->state != MemberState::alive);  // suspected, then dead

  // X redialled elsewhere and refutes at a higher incarnation: a stops.
  GossipMessage refutation{node(2), address(2), Gossip{}, {Update{outbound_record(1), node(kOutbound), {}}}};
  a.on_message(address(2), refutation, 50'001);
  CHECK(a.find(node(kOutbound))->state == MemberState::alive);
  Actions after = run_all({&a, &swarm.b}, 50'002, 80'000);
  CHECK(indirect_pings_for(after, node(kOutbound)) == 0);
  CHECK(count_to<Ping>(after, address(kOutbound)) == 0);
}

TEST_CASE("outbound-only: it probes only linked members, announces itself to the rest and confirms them "
          "through a link",
          "[gossip][outbound]") {
  Swarm swarm;
  Membership& x = swarm.x;
  x.set_linked(node(1), true);
  // b is a candidate (heard of from a): X asks a to ping it, never pings it itself.
  REQUIRE(x.find(node(2)) == nullptr);
  Actions first = run(x, 10, 1'000);
  CHECK(count_to<Ping>(first, address(2)) == 0);
  const Outgoing* ask = nullptr;
  for (const Outgoing& o : first.sends) {
    const auto* request = std::get_if<IndirectPing>(&o.message.body);
    if (request != nullptr && request->target == node(2) && o.to_address == address(1)) ask = &o;
  }
  REQUIRE(ask != nullptr);
  // a pings b, b acks a, a forwards the ack to X (over X's link): b is listed.
  Actions ping = swarm.a.on_message(address(kOutbound), ask->message, 1'001);
  Actions ack = deliver(ping, address(1), swarm.b, 1'002);
  Actions forwarded = deliver(ack, address(2), swarm.a, 1'003);
  REQUIRE(count_to<Ack>(forwarded, address(kOutbound)) == 1);
  deliver(forwarded, address(1), x, 1'004);
  REQUIRE(x.find(node(2)) != nullptr);
  CHECK(x.find(node(2))->state == MemberState::alive);

  // From now on X pings only a (linked); b gets X's own signed record instead.
  Actions later = run(x, 1'005, 30'000);
  CHECK(count_to<Ping>(later, address(1)) > 0);
  CHECK(count_to<Ping>(later, address(2)) == 0);
  const bool announced = std::any_of(later.sends.begin(), later.sends.end(), [](const Outgoing& o) {
    return o.to_address == address(2) && std::holds_alternative<Gossip>(o.message.body) &&
           std::any_of(o.message.updates.begin(), o.message.updates.end(), [](const Update& u) {
             return u.member.node_id == node(kOutbound) && u.member.outbound_only;
           });
  });
  CHECK(announced);
  // X never suspects b for not answering (it cannot hear b).
  CHECK(x.find(node(2))->state == MemberState::alive);
}
