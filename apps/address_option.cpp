// See address_option.h.
#include "address_option.h"

#include <string>

#include "parsed_check.h"
#include "starling/runtime/numeric_address.h"

namespace starling::apps {

CLI::Validator numeric_address_check() {
  // No description: the options' type name (HOST:PORT) says it in --help.
  return parsed_check(runtime::parse_numeric_address, "").name("numeric HOST:PORT");
}

Result<runtime::Address> parse_seed_address(std::string_view text) {
  auto parsed = runtime::parse_numeric_address(text);
  if (!parsed) return parsed;
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
