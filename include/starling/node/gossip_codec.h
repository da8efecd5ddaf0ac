// Maps the membership core's messages (gossip/messages.h) to wire messages
// (starling/wire/messages.h) and back, and to bytes through the one wire
// codec. It lives in the runtime because the runtime sits above both layers:
// gossip/ knows no bytes and src/wire knows no gossip.
//
// The mapping is one to one: the envelope's sender and sender_address are
// each wire message's source and source_address, and every message carries
// its piggybacked updates.
#pragma once

#include "starling/gossip/messages.h"
#include "starling/node/transport.h"
#include "starling/status.h"
#include "starling/wire/codec.h"
#include "starling/wire/messages.h"

namespace starling::node {

wire::Message to_wire(const gossip::GossipMessage& message);
// One member state as the wire spells it (also what signed statements carry).
wire::MemberState to_wire_state(gossip::MemberState state);

// Errors: corrupt when `message` is not a membership message (a training or
// handshake message where membership was expected).
Result<gossip::GossipMessage> from_wire(wire::Message message);

// True for the messages gossip/ speaks (probes, acks, gossip, join, leave,
// push-pull): what from_wire accepts.
bool is_membership_message(const wire::Message& message);

// to_wire + wire::encode. Errors: those of wire::encode (invalid_argument for
// an address over the limit or too many updates, overloaded when too big).
Result<Bytes> encode_gossip(const gossip::GossipMessage& message, const wire::Limits& limits = {});

// wire::decode + from_wire. Errors: those of wire::decode, and corrupt for a
// message of another kind.
Result<gossip::GossipMessage> decode_gossip(ByteSpan bytes, const wire::Limits& limits = {});

}  // namespace starling::node
