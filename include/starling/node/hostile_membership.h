// A peer that misbehaves on purpose in membership (scenario fault injection,
// `kind = "byzantine", mode = "membership_lies" | "membership_flood"`): it
// rewrites the membership messages its own honest gossip::Membership produces,
// just before MembershipDriver encodes them (MembershipDriverOptions::
// rewrite_outgoing). Its own view and its training stay honest; only what it
// tells others lies. Off (mode none) it passes every message through as is.
//
// lies:  every message it sends accuses every other member it knows (but the
//        recipient, who would refute at once) of being dead at the incarnation
//        it last signed, with an accusation signed by the liar's own key
//        (options.authority), and carries a forged `alive` record for that
//        member: the member's node id with the liar's own address, also one
//        incarnation higher, as if the member had announced it moved. The
//        honest updates it would relay about others (refutations included) are
//        dropped. Its push-pull views say the same.
// flood: every message it sends is followed by announcements of made-up
//        members, sent to a real member (the recipient, or a random real
//        member when the recipient is one of its fakes): fresh node ids (each the hash of a real Ed25519 key, as an
//        attacker's would be) at plausible addresses (its own host, random
//        ports), up to fake_members_max of them; then it cycles through them
//        again one incarnation higher, reviving those declared dead. Its
//        push-pull views carry every made-up member.
//
// Pure: no clock, no socket; randomness from the seed. One per peer, used on
// the loop thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "starling/gossip/membership.h"
#include "starling/gossip/messages.h"
#include "starling/gossip/random.h"
#include "starling/gossip/record_authority.h"

namespace starling::node {

enum class HostileMembershipMode : std::uint8_t { none, lies, flood };

const char* to_string(HostileMembershipMode mode);

struct HostileMembershipOptions {
  std::uint64_t random_seed = 0;
  // The liar's own signing authority (its real identity): a member can sign
  // its own accusations, so the liar does, as a real attacker would. Unset:
  // its accusations go out unsigned (and are refused by every peer).
  std::shared_ptr<const gossip::RecordAuthority> authority;
  // Flood: distinct made-up members before it starts cycling through them.
  std::size_t fake_members_max = 4000;
  // Flood: made-up members announced after each message it sends.
  std::size_t fake_updates_per_message = 128;
  // Updates per datagram it builds (lies spill into extra Gossip datagrams to
  // the same member), so each fits max_datagram_bytes like gossip/'s own
  // (piggyback_updates_max is 10).
  std::size_t updates_per_datagram = 8;
};

// A made-up member. key_seed is the seed of its Ed25519 identity
// (crypto::Identity::from_seed): node_id is that identity's node id, so a
// record signed with it would verify like a real member's.
struct FakeMember {
  std::array<std::uint8_t, 32> key_seed{};
  gossip::MemberRecord record;  // its current announcement (alive), signed by its own key
  std::shared_ptr<const gossip::RecordAuthority> authority;  // the made-up member's key
};

class HostileMembership {
 public:
  explicit HostileMembership(HostileMembershipOptions options = {});

  void set_mode(HostileMembershipMode mode) { mode_ = mode; }
  HostileMembershipMode mode() const { return mode_; }
  bool active() const { return mode_ != HostileMembershipMode::none; }

  // What this peer sends instead of `outgoing`: `outgoing` itself (mode none),
  // or it rewritten plus, for datagrams, extra Gossip datagrams to the same
  // member. `view` is this peer's own, honest view (the lies are built from
  // it; view.self is the liar).
  std::vector<gossip::Outgoing> rewrite(const gossip::Outgoing& outgoing, const gossip::MembershipView& view);

  // Flood: the made-up members created so far.
  const std::vector<FakeMember>& fakes() const { return fakes_; }

 private:
  void lie(gossip::Outgoing& outgoing, const gossip::MembershipView& view, std::vector<gossip::Update>& extra);
  // Returns where the extra announcements go: a real member.
  std::string flood(gossip::Outgoing& outgoing, const gossip::MembershipView& view, std::vector<gossip::Update>& extra);
  // One accusation by the liar, signed by it: `victim`, at the incarnation it
  // signed last, is dead.
  gossip::Update accusation(const gossip::MemberRecord& victim, const gossip::MemberRecord& self) const;
  // `victim` "announces" that it moved to the liar's address, one incarnation up.
  gossip::Update forged_alive(const gossip::MemberRecord& victim, const gossip::MemberRecord& self) const;
  // The next made-up member to announce: a new one until fake_members_max,
  // then the oldest again, one incarnation higher.
  const FakeMember& next_fake(const gossip::MemberRecord& self);
  FakeMember make_fake(const gossip::MemberRecord& self);
  // Signs the fake's current record with its own key, as a real attacker
  // with a keypair per made-up member would.
  static void sign_fake(FakeMember& fake);

  HostileMembershipOptions options_;
  HostileMembershipMode mode_ = HostileMembershipMode::none;
  gossip::Random random_;
  std::map<gossip::NodeId, std::string> real_addresses_;  // lies: where each member really listens
  std::vector<FakeMember> fakes_;
  std::set<gossip::NodeId> fake_ids_;
  std::size_t next_fake_ = 0;
};

}  // namespace starling::node
