// Addresses the runtime can bind and dial: a numeric IPv4 address or a
// bracketed IPv6 one, with a port ("192.0.2.10:7946", "[2001:db8::1]:7946").
// Nothing in starling resolves host names. node::parse_address checks only
// the syntax (a member may advertise a name it cannot use), so a name given
// as a seed was accepted and then retried forever ("not a numeric IPv4
// address"); the command line checks with this instead, at start.
#pragma once

#include <string>
#include <string_view>

#include "starling/runtime/transport.h"
#include "starling/status.h"

namespace starling::runtime {

// Errors: invalid_argument, saying what is wrong (the syntax, the port, or a
// host that is not a numeric IP address).
Result<Address> parse_numeric_address(std::string_view text);

// What `address` (one parse_numeric_address accepted) is when it names no
// machine the others can dial: "the unspecified (wildcard) address" (0.0.0.0,
// [::]: a socket bound to it listens on every interface, but dialling it
// reaches the dialler itself), "a multicast address" or "the broadcast
// address"; empty for an ordinary address. A member advertises its listen
// address and dials its seeds, so neither may be one of these.
std::string unreachable_address_kind(const Address& address);

}  // namespace starling::runtime
