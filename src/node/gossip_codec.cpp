#include "starling/node/gossip_codec.h"

#include <optional>
#include <string>
#include <type_traits>
#include <variant>

namespace starling::node {

wire::MemberState to_wire_state(gossip::MemberState state) {
  switch (state) {
    case gossip::MemberState::alive: return wire::MemberState::alive;
    case gossip::MemberState::suspect: return wire::MemberState::suspect;
    case gossip::MemberState::dead: return wire::MemberState::dead;
    case gossip::MemberState::left: return wire::MemberState::left;
  }
  STARLING_ASSERT_MSG(false, "unknown gossip::MemberState");
}


namespace {

static_assert(std::is_same_v<gossip::NodeId, wire::NodeId>, "node ids map one to one");

// ---- gossip -> wire ----

wire::MemberRecord to_wire(const gossip::MemberRecord& in) {
  return wire::MemberRecord{in.node_id,   in.address,   in.incarnation,   to_wire_state(in.state),
                            in.public_key, in.signature, in.outbound_only, in.membership_only};
}

template <typename Out>
Out with_header(const gossip::GossipMessage& in) {
  Out out;
  out.source = in.sender;
  out.source_address = in.sender_address;
  out.updates.reserve(in.updates.size());
  for (const gossip::Update& update : in.updates) {
    // Only suspect/dead updates carry an accusation; alive/left send none.
    std::optional<wire::Signature64> accusation;
    if (update.member.state == gossip::MemberState::suspect || update.member.state == gossip::MemberState::dead) {
      accusation = update.accusation;
    }
    out.updates.push_back(wire::Update{to_wire(update.member), update.source, accusation});
  }
  return out;
}

struct ToWire {
  const gossip::GossipMessage& in;

  wire::Message operator()(const gossip::Ping& body) const {
    auto out = with_header<wire::Ping>(in);
    out.seq = body.sequence;
    out.target = body.target;
    return out;
  }
  wire::Message operator()(const gossip::IndirectPing& body) const {
    auto out = with_header<wire::IndirectPing>(in);
    out.seq = body.sequence;
    out.target = body.target;
    out.target_address = body.target_address;
    return out;
  }
  wire::Message operator()(const gossip::Ack& body) const {
    auto out = with_header<wire::Ack>(in);
    out.seq = body.sequence;
    return out;
  }
  wire::Message operator()(const gossip::Nack& body) const {
    auto out = with_header<wire::Nack>(in);
    out.seq = body.sequence;
    return out;
  }
  wire::Message operator()(const gossip::Gossip&) const { return with_header<wire::Gossip>(in); }
  wire::Message operator()(const gossip::Leave& body) const {
    auto out = with_header<wire::Leave>(in);
    out.incarnation = body.incarnation;
    return out;
  }
  wire::Message operator()(const gossip::Join& body) const {
    auto out = with_header<wire::Join>(in);
    out.member = to_wire(body.self);
    return out;
  }
  wire::Message operator()(const gossip::PushPull& body) const {
    auto out = with_header<wire::PushPull>(in);
    out.reply = body.is_reply;
    out.join_reply = body.is_join_reply;
    out.members.reserve(body.members.size());
    for (const gossip::MemberRecord& record : body.members) out.members.push_back(to_wire(record));
    return out;
  }
};

// ---- wire -> gossip ----

gossip::MemberState from_wire(wire::MemberState state) {
  switch (state) {
    case wire::MemberState::alive: return gossip::MemberState::alive;
    case wire::MemberState::suspect: return gossip::MemberState::suspect;
    case wire::MemberState::dead: return gossip::MemberState::dead;
    case wire::MemberState::left: return gossip::MemberState::left;
  }
  STARLING_ASSERT_MSG(false, "unknown wire::MemberState");  // the decoder rejects unknown values
}

gossip::MemberRecord from_wire(wire::MemberRecord in) {
  return gossip::MemberRecord{in.node_id,    std::move(in.address), in.incarnation, from_wire(in.state),
                              in.public_key, in.signature,          in.outbound_only, in.membership_only};
}

template <typename In>
gossip::GossipMessage envelope(In& in, gossip::MessageBody body) {
  gossip::GossipMessage out;
  out.sender = in.source;
  out.sender_address = std::move(in.source_address);
  out.body = std::move(body);
  out.updates.reserve(in.updates.size());
  for (wire::Update& update : in.updates) {
    // A missing accusation stays all zero: it never verifies.
    out.updates.push_back(gossip::Update{from_wire(std::move(update.member)), update.source,
                                         update.accusation.value_or(gossip::Signature{})});
  }
  return out;
}

struct FromWire {
  const char* kind;  // the message's name, for the error

  Result<gossip::GossipMessage> operator()(wire::Ping& in) const {
    return envelope(in, gossip::Ping{in.seq, in.target});
  }
  Result<gossip::GossipMessage> operator()(wire::IndirectPing& in) const {
    return envelope(in, gossip::IndirectPing{in.seq, in.target, std::move(in.target_address)});
  }
  Result<gossip::GossipMessage> operator()(wire::Ack& in) const { return envelope(in, gossip::Ack{in.seq}); }
  Result<gossip::GossipMessage> operator()(wire::Nack& in) const { return envelope(in, gossip::Nack{in.seq}); }
  Result<gossip::GossipMessage> operator()(wire::Gossip& in) const { return envelope(in, gossip::Gossip{}); }
  Result<gossip::GossipMessage> operator()(wire::Leave& in) const {
    return envelope(in, gossip::Leave{in.incarnation});
  }
  Result<gossip::GossipMessage> operator()(wire::Join& in) const {
    return envelope(in, gossip::Join{from_wire(std::move(in.member))});
  }
  Result<gossip::GossipMessage> operator()(wire::PushPull& in) const {
    gossip::PushPull body;
    body.is_reply = in.reply;
    body.is_join_reply = in.join_reply;
    body.members.reserve(in.members.size());
    for (wire::MemberRecord& record : in.members) body.members.push_back(from_wire(std::move(record)));
    return envelope(in, std::move(body));
  }
  template <typename Other>
  Result<gossip::GossipMessage> operator()(Other&) const {
    return make_error(ErrorKind::corrupt, std::string("expected a membership message, got ") + kind);
  }
};

}  // namespace

wire::Message to_wire(const gossip::GossipMessage& message) { return std::visit(ToWire{message}, message.body); }

bool is_membership_message(const wire::Message& message) {
  return std::holds_alternative<wire::Ping>(message) || std::holds_alternative<wire::Ack>(message) ||
         std::holds_alternative<wire::IndirectPing>(message) || std::holds_alternative<wire::Nack>(message) ||
         std::holds_alternative<wire::Gossip>(message) || std::holds_alternative<wire::Join>(message) ||
         std::holds_alternative<wire::Leave>(message) || std::holds_alternative<wire::PushPull>(message);
}

Result<gossip::GossipMessage> from_wire(wire::Message message) {
  return std::visit(FromWire{wire::message_name(message)}, message);
}

Result<Bytes> encode_gossip(const gossip::GossipMessage& message, const wire::Limits& limits) {
  return wire::encode(to_wire(message), limits);
}

Result<gossip::GossipMessage> decode_gossip(ByteSpan bytes, const wire::Limits& limits) {
  auto message = wire::decode(bytes, limits);
  if (!message) return message.error();
  return from_wire(std::move(message).value());
}

}  // namespace starling::node
