#include "starling/gossip/messages.h"

namespace starling::gossip {

namespace {
std::string hex_prefix(const NodeId& id, std::size_t bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (std::size_t i = 0; i < bytes; ++i) {
    out.push_back(digits[id[i] >> 4]);
    out.push_back(digits[id[i] & 0xf]);
  }
  return out;
}
}  // namespace

std::string to_hex(const NodeId& id) { return hex_prefix(id, id.size()); }
std::string short_hex(const NodeId& id) { return hex_prefix(id, 4); }

const char* to_string(MemberState state) {
  switch (state) {
    case MemberState::alive: return "alive";
    case MemberState::suspect: return "suspect";
    case MemberState::dead: return "dead";
    case MemberState::left: return "left";
  }
  return "unknown";
}

MemberState signed_state(MemberState state) {
  return state == MemberState::left ? MemberState::left : MemberState::alive;
}

const char* body_name(const MessageBody& body) {
  struct Namer {
    const char* operator()(const Ping&) const { return "ping"; }
    const char* operator()(const IndirectPing&) const { return "indirect-ping"; }
    const char* operator()(const Ack&) const { return "ack"; }
    const char* operator()(const Nack&) const { return "nack"; }
    const char* operator()(const Gossip&) const { return "gossip"; }
    const char* operator()(const Leave&) const { return "leave"; }
    const char* operator()(const Join&) const { return "join"; }
    const char* operator()(const PushPull&) const { return "push-pull"; }
  };
  return std::visit(Namer{}, body);
}

}  // namespace starling::gossip
