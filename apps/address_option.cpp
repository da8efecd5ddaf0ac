// See address_option.h.
#include "address_option.h"

#include <string>

#include "parsed_check.h"
#include "starling/runtime/numeric_address.h"

namespace starling::apps {

namespace {

// "e.g. 192.0.2.10:7946" in the family the user wrote.
std::string example_for(const runtime::Address& address) {
  return address.host.find(':') != std::string::npos ? "[2001:db8::1]:7946" : "192.0.2.10:7946";
}

Result<runtime::Address> parse_own_address(std::string_view text, bool any_port) {
  auto parsed = runtime::parse_numeric_address(text);
  if (!parsed) return parsed;
  if (const std::string kind = runtime::unreachable_address_kind(*parsed); !kind.empty())
    return make_error(ErrorKind::invalid_argument,
                      "'" + parsed->host + "' is " + kind +
                          ": a peer advertises its listen address to the swarm and the others dial it, so give this "
                          "machine's own address as the others reach it (e.g. " + example_for(*parsed) + ")");
  if (!any_port && parsed->port == 0)
    return make_error(ErrorKind::invalid_argument,
                      "give a port other than 0: a peer listens on a fixed port, which the others dial (port 0 "
                      "would pick another one at every start)");
  return parsed;
}

}  // namespace

Result<runtime::Address> parse_listen_address(std::string_view text) { return parse_own_address(text, false); }
Result<runtime::Address> parse_embed_listen_address(std::string_view text) { return parse_own_address(text, true); }

// No description: the options' type name (HOST:PORT) says it in --help.
CLI::Validator listen_address_check() { return parsed_check(parse_listen_address, "").name("listen HOST:PORT"); }
CLI::Validator embed_listen_address_check() {
  return parsed_check(parse_embed_listen_address, "").name("listen HOST:PORT");
}

Result<runtime::Address> parse_seed_address(std::string_view text) {
  auto parsed = runtime::parse_numeric_address(text);
  if (!parsed) return parsed;
  if (const std::string kind = runtime::unreachable_address_kind(*parsed); !kind.empty())
    return make_error(ErrorKind::invalid_argument,
                      "'" + parsed->host + "' is " + kind + ", which names no machine to dial: give the seed's own "
                      "address as the others reach it (its --listen, e.g. " + example_for(*parsed) + ")");
  if (parsed->port == 0)
    return make_error(ErrorKind::invalid_argument,
                      std::string(text) + ": port 0 cannot be dialled (want the seed's --listen port)");
  return parsed;
}

Status check_seed_family(const node::Address& listen, const runtime::Address& seed, std::string_view seed_text) {
  const bool listen_v6 = listen.host.find(':') != std::string::npos;
  const bool seed_v6 = seed.host.find(':') != std::string::npos;
  if (listen_v6 == seed_v6) return ok_status();
  const auto family = [](bool v6) { return v6 ? "IPv6" : "IPv4"; };
  return make_error(ErrorKind::invalid_argument,
                    std::string(seed_text) + " is an " + family(seed_v6) + " address and this peer listens on " +
                        family(listen_v6) + " (" + node::to_string(listen) +
                        "): membership datagrams cannot cross address families; give a seed of the same family, or "
                        "listen on an " + family(seed_v6) + " address");
}

CLI::Validator seed_address_check() { return parsed_check(parse_seed_address, "").name("seed HOST:PORT"); }

}  // namespace starling::apps
