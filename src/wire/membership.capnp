# SWIM membership and discovery (gossip/; src/runtime's gossip_codec maps
# gossip/messages.h to these). Node ids are Data of exactly 32 bytes (hash of
# the Ed25519 identity key); the codec rejects any other size.
#
# Every membership message begins with the same three fields: who sent it
# (source), where the sender listens (sourceAddress, "host:port"; may be
# empty) and the piggybacked updates it disseminates.
@0x9b30083fac4e321c;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("starling::wire::schema");

enum MemberState {
  alive @0;
  suspect @1;
  dead @2;
  left @3;
}

struct MemberRecord {
  nodeId @0 :Data;
  address @1 :Text;          # "host:port" the member listens on
  incarnation @2 :UInt64;
  state @3 :MemberState;
  publicKey @4 :Data;        # the member's Ed25519 key, exactly 32 bytes; hashes to nodeId
  signature @5 :Data;        # exactly 64 bytes: the member's signature of RecordStatement
  outboundOnly @6 :Bool;     # accepts no inbound connection or datagram: reached over its own
                             # connections (docs/membership.md, "Outbound-only members"); signed
  membershipOnly @7 :Bool;   # keeps membership only (`peer --no-train`): holds no model, takes no
                             # training link, so training peers leave it out of their neighbour
                             # sample (docs/membership.md, "Membership-only members"); signed
}

# One piggybacked update: a record plus who asserted it (for suspect, each
# distinct source is an independent confirmation).
struct Update {
  member @0 :MemberRecord;
  source @1 :Data;           # exactly 32 bytes
  accusation @2 :Data;       # suspect/dead: 64 bytes, source's signature of AccusationStatement; else empty
}

# What a member signs about itself (canonical Cap'n Proto encoding). Never
# sent: each side rebuilds it from the record's fields to check a signature.
struct RecordStatement {
  label @0 :Text;            # "starling membership record v1"
  nodeId @1 :Data;
  address @2 :Text;
  incarnation @3 :UInt64;
  state @4 :MemberState;     # alive or left
  outboundOnly @5 :Bool;     # false encodes exactly as before the field existed (canonical
                             # encoding drops zero data words), so older signatures still verify
  membershipOnly @6 :Bool;   # the same: false signs exactly as before
}

# What an accuser signs (canonical encoding, never sent).
struct AccusationStatement {
  label @0 :Text;            # "starling membership accusation v1"
  accused @1 :Data;
  incarnation @2 :UInt64;
  state @3 :MemberState;     # suspect or dead
}

# "Are you alive?" `target` names who the sender believes listens there.
struct Ping {
  source @0 :Data;
  sourceAddress @1 :Text;
  updates @2 :List(Update);
  seq @3 :UInt64;
  target @4 :Data;
}

# Answer to a ping (directly or forwarded by an indirect prober).
struct Ack {
  source @0 :Data;
  sourceAddress @1 :Text;
  updates @2 :List(Update);
  seq @3 :UInt64;
}

# "Probe target for me" (SWIM ping-req). The helper always answers with an
# ack or a nack (Lifeguard), so there is no want-nack flag.
struct IndirectPing {
  source @0 :Data;
  sourceAddress @1 :Text;
  updates @2 :List(Update);
  seq @3 :UInt64;            # the requester's sequence, echoed in Ack/Nack
  target @4 :Data;
  targetAddress @5 :Text;
}

# An indirect prober got no answer from the target in time.
struct Nack {
  source @0 :Data;
  sourceAddress @1 :Text;
  updates @2 :List(Update);
  seq @3 :UInt64;
}

# No request of its own: carries only piggybacked updates.
struct Gossip {
  source @0 :Data;
  sourceAddress @1 :Text;
  updates @2 :List(Update);
}

# A new (or restarted) peer asks a seed to let it in (stream).
struct Join {
  source @0 :Data;
  sourceAddress @1 :Text;
  updates @2 :List(Update);
  member @3 :MemberRecord;   # the joiner's own record
}

# The sender leaves the swarm gracefully.
struct Leave {
  source @0 :Data;
  sourceAddress @1 :Text;
  updates @2 :List(Update);
  incarnation @3 :UInt64;
}

# Full state exchange (stream). The receiver of a request answers with its
# own view (reply); the answer to a Join also sets joinReply.
struct PushPull {
  source @0 :Data;
  sourceAddress @1 :Text;
  updates @2 :List(Update);
  reply @3 :Bool;
  joinReply @4 :Bool;
  members @5 :List(MemberRecord);
}
