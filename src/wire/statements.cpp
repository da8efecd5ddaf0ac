#include "starling/wire/statements.h"

#include <capnp/message.h>

#include "membership.capnp.h"

namespace starling::wire {
namespace {

namespace s = schema;

s::MemberState to_schema_state(MemberState state) {
  switch (state) {
    case MemberState::alive: return s::MemberState::ALIVE;
    case MemberState::suspect: return s::MemberState::SUSPECT;
    case MemberState::dead: return s::MemberState::DEAD;
    case MemberState::left: return s::MemberState::LEFT;
  }
  return s::MemberState::ALIVE;
}

template <std::size_t N>
kj::ArrayPtr<const kj::byte> bytes_of(const std::array<std::uint8_t, N>& array) {
  return kj::ArrayPtr<const kj::byte>(array.data(), array.size());
}

template <typename Reader>
std::vector<std::uint8_t> canonical(Reader reader) {
  const kj::Array<capnp::word> words = capnp::canonicalize(reader);
  const kj::ArrayPtr<const kj::byte> bytes = words.asBytes();
  return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
}

}  // namespace

std::vector<std::uint8_t> record_statement(const NodeId& node_id, const std::string& address, std::uint64_t incarnation,
                                           MemberState state, RecordFlags flags) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<s::RecordStatement>();
  out.setLabel("starling membership record v1");
  out.setNodeId(bytes_of(node_id));
  out.setAddress(capnp::Text::Reader(address.c_str(), address.size()));
  out.setIncarnation(incarnation);
  out.setState(to_schema_state(state));
  out.setOutboundOnly(flags.outbound_only);
  out.setMembershipOnly(flags.membership_only);
  return canonical(out.asReader());
}

std::vector<std::uint8_t> accusation_statement(const NodeId& accused, std::uint64_t incarnation, MemberState state) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<s::AccusationStatement>();
  out.setLabel("starling membership accusation v1");
  out.setAccused(bytes_of(accused));
  out.setIncarnation(incarnation);
  out.setState(to_schema_state(state));
  return canonical(out.asReader());
}

}  // namespace starling::wire
