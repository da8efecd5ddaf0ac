// Membership messages as plain values. The wire layer (src/wire) maps each of
// these structs to a Cap'n Proto struct field by field; nothing here knows how
// bytes look. Field types are chosen to map one to one: node id = 32 bytes,
// address = "host:port" text, incarnation = uint64, state = enum.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace starling::gossip {

// Hash of the peer's public key (src/crypto); opaque here.
using NodeId = std::array<std::uint8_t, 32>;
// The same order as NodeId's operator< (bytes, first to last), for the maps
// keyed by node id: ids are uniform hashes, so the first byte almost always
// decides, inline, where std::less calls memcmp on every comparison (a large
// share of a 1000-peer simulation's membership work).
struct NodeIdLess {
  bool operator()(const NodeId& a, const NodeId& b) const noexcept {
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i] != b[i]) return a[i] < b[i];
    }
    return false;
  }
};
// A member's identity public key (Ed25519 in the runtime) and a signature by
// it. gossip/ never computes either: a RecordAuthority does (record_authority.h).
using PublicKey = std::array<std::uint8_t, 32>;
using Signature = std::array<std::uint8_t, 64>;

std::string to_hex(const NodeId& id);
// The first bytes in hex, for log lines.
std::string short_hex(const NodeId& id);

enum class MemberState : std::uint8_t { alive = 0, suspect = 1, dead = 2, left = 3 };

// "alive", "suspect", "dead", "left": the spelling `starling status --json` uses.
const char* to_string(MemberState state);

// What one peer believes about another. Ordered by incarnation: a record with a
// higher incarnation replaces any older one; at equal incarnation the states
// order alive < suspect < dead/left.
//
// `signature` is the member's own signature (by `public_key`, which hashes to
// `node_id`) over (node_id, address, incarnation, alive-or-left): only the
// member itself can move its address, raise its incarnation or say it left.
// A suspect or dead record keeps the member's last alive signature; those
// states are other members' claims, carried by a signed Update.
struct MemberRecord {
  NodeId node_id{};
  std::string address;  // "host:port" the member listens on (datagrams and streams)
  std::uint64_t incarnation = 0;
  MemberState state = MemberState::alive;
  PublicKey public_key{};
  Signature signature{};
  // The member accepts no inbound connection or datagram (--outbound-only):
  // nobody dials it or pings it directly; it is reached over connections it
  // opened (docs/membership.md, "Outbound-only members"). Covered by its
  // signature, so nobody else can mark it so.
  bool outbound_only = false;
  // The member keeps membership only (`starling peer --no-train`): it holds
  // no model and takes no training link, so training peers leave it out of
  // their neighbour sample (docs/membership.md, "Membership-only members").
  // Signed like outbound_only.
  bool membership_only = false;

  friend bool operator==(const MemberRecord&, const MemberRecord&) = default;
};

// The state a member's own signature covers: left when it left, else alive.
MemberState signed_state(MemberState state);

// One piggybacked membership update: a record plus who asserted it. `source`
// matters for suspect (each distinct source is an independent confirmation)
// and is the subject itself for alive and left. A suspect or dead update
// carries `accusation`: the source's signature over (accused node id,
// incarnation, state), so nobody can accuse in someone else's name. All zero
// for alive and left (the record's own signature covers those).
struct Update {
  MemberRecord member;
  NodeId source{};
  Signature accusation{};

  friend bool operator==(const Update&, const Update&) = default;
};

// Datagram: "are you alive?". `target` names who the sender thinks listens at
// the address; a peer that is someone else (restarted with a new identity)
// stays silent, so the old identity is correctly suspected.
struct Ping {
  std::uint64_t sequence = 0;
  NodeId target{};
};

// Datagram: please ping `target` for me and forward its ack (Lifeguard: the
// helper always sends a Nack when the target stays silent, so the requester
// can tell its own trouble from the target's).
struct IndirectPing {
  std::uint64_t sequence = 0;  // the requester's sequence, echoed in Ack/Nack
  NodeId target{};
  std::string target_address;
};

// Datagram: answer to Ping (directly or forwarded by an indirect prober).
struct Ack {
  std::uint64_t sequence = 0;
};

// Datagram: an indirect prober got no answer from the target in time.
struct Nack {
  std::uint64_t sequence = 0;
};

// Datagram with no request of its own: carries only piggybacked updates.
struct Gossip {};

// Datagram: the sender leaves the swarm gracefully (also spread as an Update
// with state `left`; this direct notice just makes it faster).
struct Leave {
  std::uint64_t incarnation = 0;
};

// Stream: a new (or restarted) peer asks a seed to let it in. The seed answers
// with a PushPull reply holding its whole view.
struct Join {
  MemberRecord self;
};

// Stream: full state exchange. The initiator sends its view, the receiver
// merges it and answers with its own (is_reply), which the initiator merges.
struct PushPull {
  bool is_reply = false;
  bool is_join_reply = false;  // the reply to a Join: the joiner is now in
  std::vector<MemberRecord> members;
};

using MessageBody = std::variant<Ping, IndirectPing, Ack, Nack, Gossip, Leave, Join, PushPull>;

// The envelope every membership message travels in.
struct GossipMessage {
  NodeId sender{};
  std::string sender_address;  // where the sender listens; replies on streams go here
  MessageBody body;
  std::vector<Update> updates;  // piggybacked dissemination (datagrams only)
};

// Name of the body alternative, for logs and tests.
const char* body_name(const MessageBody& body);

}  // namespace starling::gossip
