# The envelope every starling message travels in. `version` is the wire
# version (starling::wire::kWireVersion); see docs/wire.md for the rules.
# Ordinals are never reused or renumbered: new messages get new ordinals.
@0xfebefe6ff848cafa;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("starling::wire::schema");

using Membership = import "membership.capnp";
using Handshake = import "handshake.capnp";
using Training = import "training.capnp";
using Control = import "control.capnp";

struct Message {
  version @0 :UInt16;
  body :union {
    ping @1 :Membership.Ping;
    ack @2 :Membership.Ack;
    indirectPing @3 :Membership.IndirectPing;
    nack @4 :Membership.Nack;
    join @5 :Membership.Join;
    leave @6 :Membership.Leave;
    pushPull @7 :Membership.PushPull;
    handshakeHello @8 :Handshake.HandshakeHello;
    linkHello @9 :Training.LinkHello;
    snapshotChunk @10 :Training.SnapshotChunk;
    delta @11 :Training.Delta;
    digest @12 :Training.Digest;
    reset @13 :Training.Reset;
    modelRequest @14 :Training.ModelRequest;
    modelChunk @15 :Training.ModelChunk;
    statusQuery @16 :Control.StatusQuery;
    statusAnswer @17 :Control.StatusAnswer;
    faultControl @18 :Control.FaultControl;
    gossip @19 :Membership.Gossip;
    handshakeReply @20 :Handshake.HandshakeReply;
    handshakeFinish @21 :Handshake.HandshakeFinish;
    sealedDatagram @22 :Handshake.SealedDatagram;
    trainingControl @23 :Control.TrainingControl;
    pairDecline @24 :Training.PairDecline;
  }
}
