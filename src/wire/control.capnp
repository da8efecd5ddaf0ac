# Status queries (`starling status`) and fault control (scenario runner).
@0xb1038b8c10c5d0b4;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("starling::wire::schema");

struct StatusQuery {
  requestId @0 :UInt64;
}

struct StatusAnswer {
  requestId @0 :UInt64;
  json @1 :Text;                 # one JSON object (see `starling status --json`)
}

enum FaultDirection {
  both @0;
  inbound @1;
  outbound @2;
}

struct FaultControl {
  peer @0 :Data;                 # empty: every peer; else exactly 32 bytes
  direction @1 :FaultDirection;
  dropProbability @2 :Float64;
  delayMs @3 :UInt32;
  jitterMs @4 :UInt32;
  duplicateProbability @5 :Float64;
  reorderProbability @6 :Float64;
  bandwidthBytesPerSecond @7 :UInt64;  # 0: unlimited
  partitionedFrom @8 :List(Data);      # node ids this peer must not reach
}

enum ByzantineMode {
  none @0;
  randomDeltas @1;     # sends random corrections instead of its own
  scaledDeltas @2;     # sends its corrections multiplied by byzantineScale
  garbageFrames @3;    # sends frames that do not decode
  membershipLies @4;   # trains normally; its membership messages accuse every
                       # other member of being dead and move them to its address
  membershipFlood @5;  # trains normally; announces thousands of made-up members
  driftDeltas @6;      # on each link, the neighbour's copy moved against our
                       # own progress by byzantineScale median link gaps
}

# Training behaviour of the receiving peer (scenario runner): replaces the
# previous settings.
struct TrainingControl {
  slowdown @0 :Float64;          # 1: normal speed; 10: each step takes 10x as long
  byzantine @1 :ByzantineMode;
  byzantineScale @2 :Float64;    # factor for scaledDeltas (also the size of randomDeltas and driftDeltas)
}
