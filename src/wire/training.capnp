# Training links (CHOCO-style delta gossip) and model download (src/node).
# Float payloads are List(Float32) / List(UInt16): little-endian on the wire,
# copied in and out with one memcpy on little-endian hosts.
@0xd87fb0d3a84a391c;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("starling::wire::schema");

enum Precision {
  f32 @0;
  bf16 @1;
  f16 @2;
}

enum CompressorKind {
  none @0;
  topk @1;
  randk @2;
  int8 @3;
  sign @4;
  sign2 @5;
}

enum ResetReason {
  unspecified @0;
  sequenceGap @1;
  digestMismatch @2;
  reconnect @3;
  modelMismatch @4;
  shutdown @5;
}

struct LinkHello {
  linkEpoch @0 :UInt64;
  parameterCount @1 :UInt64;
  modelHash @2 :Data;            # exactly 32 bytes: hash of the model description
  snapshotPrecision @3 :Precision;
  pairDeclines @4 :Bool;         # the sender understands PairDecline (old peers: false)
  modelShape @5 :Text;           # for people: the model, e.g. "mlp:16 over 784 inputs and 10 classes" (old peers: empty)
  basedSnapshots @6 :Bool;       # the sender understands SnapshotChunk.base (old peers: false)
  joining @7 :Bool;              # the sender is downloading the swarm's model: it opens the link once it trains
  roundDeltas @8 :Bool;          # the sender mixes by rounds (neighbourhood, on-delta), not pairwise: its deltas are
                                 # neither requests nor replies, and it never asks to pair (old peers: false)
}

struct SnapshotChunk {
  epoch @0 :UInt64;
  offset @1 :UInt64;             # first parameter index in this chunk
  total @2 :UInt64;              # parameters in the whole snapshot
  values :union {
    f32 @3 :List(Float32);
    bf16 @4 :List(UInt16);       # raw bf16 bit patterns
    f16 @5 :List(UInt16);        # raw IEEE half bit patterns
  }
  base @6 :UInt64;               # nonzero: no values; this epoch's copy of the sender starts at the
                                 # model served under this snapshot id (ModelChunk), exactly
}

struct Delta {
  epoch @0 :UInt64;
  seq @1 :UInt64;
  compressor @2 :CompressorKind;
  dimension @3 :UInt64;          # length of the dense vector the delta applies to
  seed @4 :UInt64;               # shared seed (randk)
  indices @5 :List(UInt32);
  values @6 :List(Float32);
  codes @7 :Data;                # packed int8 / sign / sign2 codes
  scales @8 :List(Float32);
  degree @9 :UInt16;             # the sender's ready links now (0: not said); Metropolis-Hastings weights
  pair @10 :Bool;                # pairwise mixing: the receiver mirrors the sender's correction
}

# Pairwise mixing: the answer to a pair request (a Delta with pair set) that
# the receiver will not reply to now (its upload budget or the link's queue):
# neither end pulls; the request's delta stands as any other.
struct PairDecline {
  epoch @0 :UInt64;
  seq @1 :UInt64;                # the declined request's sequence number
  retryAfterMs @2 :UInt32;       # ask this link again no sooner (a hint)
}

struct Digest {
  epoch @0 :UInt64;
  seq @1 :UInt64;
  hash @2 :Data;                 # exactly 32 bytes
}

struct Reset {
  epoch @0 :UInt64;
  reason @1 :ResetReason;
  detail @2 :Text;
}

struct ModelRequest {
  snapshotId @0 :UInt64;         # 0: the latest; else resume that snapshot
  offset @1 :UInt64;             # byte offset to resume from
  maxBytes @2 :UInt32;           # largest chunk the requester accepts (0: sender's choice)
  precision @3 :Precision;       # bf16: the requester takes a bf16 model too (old peers: f32); never f16
  requestId @4 :UInt64;          # echoed in the ModelChunk that answers it
}

struct ModelChunk {
  snapshotId @0 :UInt64;
  offset @1 :UInt64;
  total @2 :UInt64;
  data @3 :Data;
  precision @4 :Precision;       # how data encodes the values: f32 (4 bytes each) or bf16 (2); never f16
  busy @5 :Bool;                 # with total 0: the sender has a model but serves other joiners now
  requestId @6 :UInt64;          # the ModelRequest's it answers
}
