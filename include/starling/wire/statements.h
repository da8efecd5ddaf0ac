// The exact bytes a member signs: its own record, or an accusation of
// another member. Canonical Cap'n Proto encodings of RecordStatement and
// AccusationStatement (src/wire/membership.capnp), each with a fixed domain
// label, so a signature over one can never be replayed as the other or as
// any other signed message (handshake proofs sign different labels).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "starling/wire/messages.h"

namespace starling::wire {

// What a member's record says of the member beyond where it is: both signed,
// both false by default (and then signed exactly as before the fields existed).
struct RecordFlags {
  bool outbound_only = false;
  bool membership_only = false;
};

std::vector<std::uint8_t> record_statement(const NodeId& node_id, const std::string& address, std::uint64_t incarnation,
                                           MemberState state, RecordFlags flags = {});
std::vector<std::uint8_t> accusation_statement(const NodeId& accused, std::uint64_t incarnation, MemberState state);

}  // namespace starling::wire
