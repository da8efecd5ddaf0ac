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

// --listen: this peer's own address, which it also advertises to the swarm
// (there is no separate advertise option), so the others must be able to
// dial it: a wildcard (0.0.0.0, [::]), multicast or broadcast address was
// accepted and advertised, and every member that dialled it reached itself.
// `starling peer` and `init` also refuse port 0 (the port would change at
// every start); an embedded peer takes it (a free port, for tests and
// notebooks: embed.h). Errors: invalid_argument, saying which address to give.
Result<runtime::Address> parse_listen_address(std::string_view text);
Result<runtime::Address> parse_embed_listen_address(std::string_view text);
CLI::Validator listen_address_check();
CLI::Validator embed_listen_address_check();

// A seed is dialled, so its port must be one a peer listens on: port 0 (which
// --listen refuses too) was accepted and dialled every few seconds for ever;
// and its host a machine: a wildcard, multicast or broadcast address is
// refused as for --listen. Errors: invalid_argument, in
// runtime::parse_numeric_address's words or saying what to give instead.
Result<runtime::Address> parse_seed_address(std::string_view text);
CLI::Validator seed_address_check();

// A seed of the other address family than `listen` (IPv4 against IPv6):
// membership datagrams cannot cross families (the UDP socket is bound to
// one), so such a swarm joined over TCP, then cycled through suspect, dead
// and refuted for ever. invalid_argument naming both; ok when they match.
Status check_seed_family(const node::Address& listen, const runtime::Address& seed, std::string_view seed_text);

}  // namespace starling::apps
