// The real RecordAuthority (Ed25519 identities, BLAKE2b node ids) under
// gossip::Membership: what the fake does in gossip's tests holds with real
// signatures too.
#include <catch2/catch.hpp>

#include "starling/crypto/keys.h"
#include "starling/gossip/membership.h"
#include "starling/node/record_authority.h"

using namespace starling;

namespace {
struct Member {
  crypto::Identity identity = crypto::Identity::generate();
  std::shared_ptr<const gossip::RecordAuthority> authority = node::make_record_authority(identity.clone());
  gossip::NodeId id() const { return identity.node_id().bytes(); }
  gossip::MemberRecord record(const std::string& address, std::uint64_t incarnation,
                              gossip::MemberState state = gossip::MemberState::alive) const {
    gossip::MemberRecord out{id(), address, incarnation, state, identity.public_key(), {}};
    out.signature = authority->sign_record(out);
    return out;
  }
};
gossip::GossipMessage gossip_from(const Member& sender, std::vector<gossip::Update> updates) {
  return gossip::GossipMessage{sender.id(), "127.0.0.9:1", gossip::Gossip{}, std::move(updates)};
}
}  // namespace

TEST_CASE("Ed25519 records: only the member can sign its record", "[runtime][membership][security]") {
  Member a, b, liar;
  const auto verifier = node::make_record_verifier();
  const gossip::MemberRecord genuine = b.record("127.0.0.2:7946", 3);
  CHECK(verifier->verify_record(genuine));
  gossip::MemberRecord moved = genuine;
  moved.address = "127.0.0.66:7946";
  CHECK_FALSE(verifier->verify_record(moved));
  gossip::MemberRecord bumped = genuine;
  bumped.incarnation = 4;
  CHECK_FALSE(verifier->verify_record(bumped));
  gossip::MemberRecord left = genuine;
  left.state = gossip::MemberState::left;
  CHECK_FALSE(verifier->verify_record(left));
  // The liar's key in b's record: signs fine, but does not hash to b's id.
  gossip::MemberRecord resigned = moved;
  resigned.public_key = liar.identity.public_key();
  resigned.signature = liar.identity.sign(std::vector<std::uint8_t>{1, 2, 3});
  CHECK_FALSE(verifier->verify_record(resigned));

  const gossip::Signature accusation = liar.authority->sign_accusation(b.id(), 3, gossip::MemberState::dead);
  CHECK(verifier->verify_accusation(liar.identity.public_key(), b.id(), 3, gossip::MemberState::dead, accusation));
  CHECK_FALSE(verifier->verify_accusation(a.identity.public_key(), b.id(), 3, gossip::MemberState::dead, accusation));
  CHECK_FALSE(verifier->verify_accusation(liar.identity.public_key(), b.id(), 3, gossip::MemberState::suspect,
                                          accusation));
  CHECK_FALSE(verifier->verify_accusation(liar.identity.public_key(), b.id(), 4, gossip::MemberState::dead, accusation));
}

TEST_CASE("Ed25519 records under Membership: forgeries change nothing", "[runtime][membership][security]") {
  Member a, b, liar;
  gossip::Identity self{a.id(), "127.0.0.1:7946", 0, a.authority};
  gossip::Membership membership(gossip::lan_config(), std::move(self), 1, 0);
  (void)membership.join({}, 0);
  (void)membership.on_message("127.0.0.2:7946", gossip_from(b, {gossip::Update{b.record("127.0.0.2:7946", 0), b.id(), {}}}), 1);
  (void)membership.on_message("127.0.0.3:7946",
                              gossip_from(liar, {gossip::Update{liar.record("127.0.0.3:7946", 0), liar.id(), {}}}), 1);
  REQUIRE(membership.live_member_count() == 2);

  gossip::MemberRecord moved = b.record("127.0.0.2:7946", 0);
  moved.address = "127.0.0.3:7946";
  moved.incarnation = 5;
  gossip::Update forged_source;
  forged_source.member = b.record("127.0.0.2:7946", 0);
  forged_source.member.state = gossip::MemberState::dead;
  forged_source.source = a.id();  // in a's own name, signed by the liar
  forged_source.accusation = liar.authority->sign_accusation(b.id(), 0, gossip::MemberState::dead);
  gossip::MemberRecord forged_left = b.record("127.0.0.2:7946", 0);
  forged_left.state = gossip::MemberState::left;
  forged_left.incarnation = 1;
  (void)membership.on_message("127.0.0.3:7946",
                              gossip_from(liar, {gossip::Update{moved, b.id(), {}}, forged_source,
                                                 gossip::Update{forged_left, b.id(), {}}}),
                              2);
  const gossip::MemberRecord* seen = membership.find(b.id());
  REQUIRE(seen != nullptr);
  CHECK(seen->address == "127.0.0.2:7946");
  CHECK(seen->incarnation == 0);
  CHECK(seen->state == gossip::MemberState::alive);
  const gossip::MembershipView view = membership.view(3);
  CHECK(view.rejected_records == 2);
}

TEST_CASE("Ed25519 records: a memoised verification accepts only the same bytes", "[runtime][membership][security]") {
  Member b, liar;
  const auto memo = std::make_shared<node::VerifiedStatements>();
  const auto first = node::make_record_verifier(memo);
  const auto second = node::make_record_verifier(memo);  // shares the memo, as the simulator's peers do
  const gossip::MemberRecord genuine = b.record("127.0.0.2:7946", 3);
  REQUIRE(first->verify_record(genuine));
  CHECK(memo->size() == 1);
  CHECK(second->verify_record(genuine));
  CHECK(memo->size() == 1);  // a hit: nothing new to remember
  // Each field differing from the memoised record misses and fails.
  gossip::MemberRecord moved = genuine;
  moved.address = "127.0.0.66:7946";
  CHECK_FALSE(second->verify_record(moved));
  gossip::MemberRecord bumped = genuine;
  bumped.incarnation = 4;
  CHECK_FALSE(second->verify_record(bumped));
  gossip::MemberRecord left = genuine;
  left.state = gossip::MemberState::left;
  CHECK_FALSE(second->verify_record(left));
  gossip::MemberRecord flipped = genuine;
  flipped.signature[0] ^= 1;
  CHECK_FALSE(second->verify_record(flipped));
  gossip::MemberRecord other_key = genuine;
  other_key.public_key = liar.identity.public_key();
  CHECK_FALSE(second->verify_record(other_key));
  CHECK(memo->size() == 1);  // failures are never remembered

  const gossip::Signature accusation = liar.authority->sign_accusation(b.id(), 3, gossip::MemberState::dead);
  REQUIRE(first->verify_accusation(liar.identity.public_key(), b.id(), 3, gossip::MemberState::dead, accusation));
  CHECK(memo->size() == 2);
  CHECK(second->verify_accusation(liar.identity.public_key(), b.id(), 3, gossip::MemberState::dead, accusation));
  CHECK_FALSE(second->verify_accusation(b.identity.public_key(), b.id(), 3, gossip::MemberState::dead, accusation));
  CHECK_FALSE(second->verify_accusation(liar.identity.public_key(), b.id(), 3, gossip::MemberState::suspect,
                                        accusation));
  CHECK_FALSE(second->verify_accusation(liar.identity.public_key(), b.id(), 2, gossip::MemberState::dead, accusation));
  // A record statement never stands in for an accusation (and back).
  CHECK_FALSE(second->verify_accusation(b.identity.public_key(), b.id(), 3, gossip::MemberState::suspect,
                                        genuine.signature));
}

TEST_CASE("Verified statements: bounded, emptied when full", "[runtime][membership]") {
  node::VerifiedStatements memo(2);
  memo.insert("a");
  memo.insert("b");
  CHECK(memo.contains("a"));
  CHECK(memo.contains("b"));
  memo.insert("c");
  CHECK(memo.size() == 1);
  CHECK(memo.contains("c"));
  CHECK_FALSE(memo.contains("a"));
}
