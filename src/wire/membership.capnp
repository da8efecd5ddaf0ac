# SWIM membership and discovery (gossip/). Node ids are Data of exactly 32
# bytes (hash of the Ed25519 identity key); the codec rejects any other size.
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
}

struct Ping {
  seq @0 :UInt64;
  source @1 :Data;           # node id of the sender
  sourceAddress @2 :Text;    # where to answer, when it differs from the datagram's source
  target @3 :Data;           # node id the sender believes it is probing
  updates @4 :List(MemberRecord);  # piggybacked dissemination
}

struct Ack {
  seq @0 :UInt64;
  source @1 :Data;
  updates @2 :List(MemberRecord);
}

struct IndirectPing {
  seq @0 :UInt64;
  source @1 :Data;
  target @2 :Data;
  targetAddress @3 :Text;
  updates @4 :List(MemberRecord);
}

struct Nack {
  seq @0 :UInt64;
  source @1 :Data;
  target @2 :Data;
}

struct Join {
  member @0 :MemberRecord;
}

struct Leave {
  nodeId @0 :Data;
  incarnation @1 :UInt64;
}

struct PushPull {
  join @0 :Bool;             # true when the sender is joining through this exchange
  members @1 :List(MemberRecord);
}
