// HostileMembership, the scenario's lying and flooding member: what it makes
// of the messages its honest gossip::Membership produces.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <variant>
#include <vector>

#include "starling/node/gossip_codec.h"
#include "starling/node/hostile_membership.h"
#if STARLING_HAVE_CRYPTO
#include "starling/crypto/keys.h"
#endif

using namespace starling;
using namespace starling::node;

namespace {

gossip::NodeId id(int n) {
  gossip::NodeId out{};
  out[0] = static_cast<std::uint8_t>(n);
  return out;
}

gossip::MemberRecord record(int n, std::uint64_t incarnation, gossip::MemberState state = gossip::MemberState::alive) {
  return gossip::MemberRecord{id(n), "127.0.0.1:700" + std::to_string(n), incarnation, state};
}

// The liar is member 9; it knows members 1..4 (4 has left).
gossip::MembershipView liar_view() {
  gossip::MembershipView view;
  view.self = record(9, 2);
  for (int n = 1; n <= 3; ++n) view.members.push_back({record(n, static_cast<std::uint64_t>(n)), 0});
  view.members.push_back({record(4, 1, gossip::MemberState::left), 0});
  return view;
}

// A gossip datagram to member 1 carrying the liar's own record and a true
// update about member 2 (say, its refutation).
gossip::Outgoing gossip_to_1() {
  gossip::Outgoing out;
  out.transport = gossip::Transport::datagram;
  out.to_address = record(1, 0).address;
  out.message.sender = id(9);
  out.message.sender_address = record(9, 0).address;
  out.message.body = gossip::Gossip{};
  out.message.updates = {gossip::Update{record(9, 2), id(9)}, gossip::Update{record(2, 2), id(2)}};
  return out;
}

std::vector<gossip::Update> all_updates(const std::vector<gossip::Outgoing>& sent) {
  std::vector<gossip::Update> out;
  for (const auto& o : sent) out.insert(out.end(), o.message.updates.begin(), o.message.updates.end());
  return out;
}

}  // namespace

TEST_CASE("hostile membership: off, it sends every message as it is", "[runtime][hostile]") {
  HostileMembership hostile;
  CHECK_FALSE(hostile.active());
  const auto sent = hostile.rewrite(gossip_to_1(), liar_view());
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].message.updates == gossip_to_1().message.updates);
}

TEST_CASE("hostile membership: lies accuse and move every member but the recipient", "[runtime][hostile]") {
  HostileMembershipOptions options;
  options.updates_per_datagram = 3;
  HostileMembership hostile(options);
  hostile.set_mode(HostileMembershipMode::lies);
  const auto sent = hostile.rewrite(gossip_to_1(), liar_view());
  // Own record + (forged alive, dead) for members 2 and 3: 5 updates, 3 per datagram.
  REQUIRE(sent.size() == 2);
  for (const auto& o : sent) {
    CHECK(o.to_address == record(1, 0).address);
    CHECK(o.message.sender == id(9));
    CHECK(o.message.updates.size() <= 3);
    CHECK(encode_gossip(o.message).ok());
  }
  CHECK(std::holds_alternative<gossip::Gossip>(sent[1].message.body));
  const auto updates = all_updates(sent);
  REQUIRE(updates.size() == 5);
  CHECK(updates[0] == gossip::Update{record(9, 2), id(9)});  // the truth about itself stays
  for (int victim : {2, 3}) {
    const auto incarnation = static_cast<std::uint64_t>(victim) + 1;
    const gossip::MemberRecord moved{id(victim), record(9, 0).address, incarnation, gossip::MemberState::alive};
    // The accusation names the victim's real record at the incarnation it signed.
    const gossip::MemberRecord dead = record(victim, incarnation - 1, gossip::MemberState::dead);
    const auto at = static_cast<std::size_t>(1 + 2 * (victim - 2));
    CHECK(updates[at] == gossip::Update{moved, id(victim)});  // forged: "announced" by the victim
    CHECK(updates[at + 1] == gossip::Update{dead, id(9)});    // accused by the liar itself
  }
  // Nothing about the recipient (it would refute) nor the true update about 2.
  for (const auto& u : updates) {
    CHECK(u.member.node_id != id(1));
    CHECK_FALSE(u == gossip::Update{record(2, 2), id(2)});
  }

  // Its own view learns the lies back (others relay them): member 1 now
  // "listens" at the liar's address there, and is still spared as recipient.
  gossip::MembershipView echoed = liar_view();
  echoed.members[0].record.address = record(9, 0).address;
  echoed.members[0].record.incarnation = 2;
  for (const auto& u : all_updates(hostile.rewrite(gossip_to_1(), echoed))) CHECK(u.member.node_id != id(1));
}

TEST_CASE("hostile membership: a liar's push-pull view forges every other member", "[runtime][hostile]") {
  HostileMembership hostile;
  hostile.set_mode(HostileMembershipMode::lies);
  gossip::Outgoing reply;
  reply.transport = gossip::Transport::stream;
  reply.to_address = record(3, 0).address;
  reply.message.sender = id(9);
  reply.message.sender_address = record(9, 0).address;
  gossip::PushPull view;
  view.is_reply = true;
  view.members = {record(9, 2), record(1, 1), record(2, 2), record(3, 3)};
  reply.message.body = view;
  const auto sent = hostile.rewrite(reply, liar_view());
  REQUIRE(sent.size() == 1);
  const auto& members = std::get<gossip::PushPull>(sent[0].message.body).members;
  REQUIRE(members.size() == 5);  // itself, then members 1 and 2 twice (3 is the recipient)
  CHECK(members[0] == record(9, 2));
  CHECK(members[1] == gossip::MemberRecord{id(1), record(9, 0).address, 2, gossip::MemberState::alive});
  CHECK(members[2] == record(1, 1, gossip::MemberState::dead));  // its real record, accused
  CHECK(members[3].node_id == id(2));
  CHECK(members[3].address == record(9, 0).address);
}

TEST_CASE("hostile membership: a flood announces fresh members, then revives them", "[runtime][hostile]") {
  HostileMembershipOptions options;
  options.fake_members_max = 50;
  options.fake_updates_per_message = 20;
  options.updates_per_datagram = 8;
  options.random_seed = 3;
  HostileMembership hostile(options);
  hostile.set_mode(HostileMembershipMode::flood);
  const auto sent = hostile.rewrite(gossip_to_1(), liar_view());
  // The message keeps its two true updates and gains 6; 14 more in two datagrams.
  REQUIRE(sent.size() == 3);
  CHECK(sent[0].message.updates.size() == 8);
  CHECK(sent[0].message.updates[1] == gossip::Update{record(2, 2), id(2)});
  for (const auto& o : sent) CHECK(encode_gossip(o.message).ok());
  const auto updates = all_updates(sent);
  std::set<gossip::NodeId> fresh;
  for (std::size_t i = 2; i < updates.size(); ++i) {
    const auto& u = updates[i];
    CHECK(u.source == u.member.node_id);  // each "announces" itself
    CHECK(u.member.state == gossip::MemberState::alive);
    CHECK(u.member.incarnation == 0);
    CHECK(u.member.address.rfind("127.0.0.1:", 0) == 0);  // the liar's host
    CHECK(u.member.address != record(9, 0).address);
    fresh.insert(u.member.node_id);
  }
  CHECK(fresh.size() == 20);
  CHECK(hostile.fakes().size() == 20);

  // 60 more: 30 new ones up to the cap of 50, then the oldest again, one incarnation up.
  (void)hostile.rewrite(gossip_to_1(), liar_view());
  const auto third = all_updates(hostile.rewrite(gossip_to_1(), liar_view()));
  CHECK(hostile.fakes().size() == 50);
  const auto& revived = third.back();
  CHECK(revived.member.node_id == hostile.fakes()[9].record.node_id);
  CHECK(revived.member.incarnation == 1);

  // Its own view has learned its fakes back: what gossip/ sends to a fake
  // goes as it is, and the announcements go to a real member instead.
  gossip::MembershipView polluted = liar_view();
  polluted.members.push_back({hostile.fakes()[0].record, 0});
  gossip::Outgoing to_fake = gossip_to_1();
  to_fake.to_address = hostile.fakes()[0].record.address;
  const auto redirected = hostile.rewrite(to_fake, polluted);
  REQUIRE(redirected.size() == 4);  // 20 announcements in 3 datagrams of up to 8
  CHECK(redirected[0].to_address == to_fake.to_address);
  CHECK(redirected[0].message.updates == to_fake.message.updates);
  const std::set<std::string> real{record(1, 0).address, record(2, 0).address, record(3, 0).address};
  for (std::size_t i = 1; i < redirected.size(); ++i) CHECK(real.count(redirected[i].to_address) == 1);

  // A push-pull view carries every made-up member.
  gossip::Outgoing push;
  push.transport = gossip::Transport::stream;
  push.to_address = record(1, 0).address;
  push.message.sender = id(9);
  push.message.body = gossip::PushPull{false, false, {record(9, 2)}};
  const auto pushed = hostile.rewrite(push, liar_view());
  REQUIRE(pushed.size() == 1);
  CHECK(std::get<gossip::PushPull>(pushed[0].message.body).members.size() == 51);
}

TEST_CASE("hostile membership: made-up members have the node id of a real key", "[runtime][hostile]") {
#if STARLING_HAVE_CRYPTO
  HostileMembershipOptions options;
  options.fake_updates_per_message = 1;
  HostileMembership hostile(options);
  hostile.set_mode(HostileMembershipMode::flood);
  (void)hostile.rewrite(gossip_to_1(), liar_view());
  const FakeMember& fake = hostile.fakes().at(0);
  CHECK(fake.record.node_id == crypto::Identity::from_seed(std::span<const std::uint8_t, 32>(fake.key_seed))
                                   .node_id()
                                   .bytes());
  CHECK(fake.record.node_id != fake.key_seed);
#endif
}
