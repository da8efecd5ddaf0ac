// The checks of options that name an address this machine binds or dials
// (--listen, --seed, for `peer`, `init` and embedded peers): a numeric IPv4
// or IPv6 HOST:PORT (runtime/numeric_address.h). On the option itself, so a
// host name fails at start like any bad flag, from a --config file too,
// rather than being retried for ever.
#pragma once

#include <CLI/CLI.hpp>

#include <string_view>

#include "starling/runtime/transport.h"
#include "starling/status.h"

namespace starling::apps {

CLI::Validator numeric_address_check();

// A seed is dialled, so its port must be one a peer listens on: port 0 (which
// --listen refuses too) was accepted and dialled every few seconds for ever.
// Errors: invalid_argument, in runtime::parse_numeric_address's words or
// saying that port 0 cannot be dialled.
Result<runtime::Address> parse_seed_address(std::string_view text);
CLI::Validator seed_address_check();

// A seed of the other address family than `listen` (IPv4 against IPv6):
// membership datagrams cannot cross families (the UDP socket is bound to
// one), so such a swarm joined over TCP, then cycled through suspect, dead
// and refuted for ever. invalid_argument naming both; ok when they match.
Status check_seed_family(const node::Address& listen, const runtime::Address& seed, std::string_view seed_text);

}  // namespace starling::apps
