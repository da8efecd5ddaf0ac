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

CLI::Validator seed_address_check() { return parsed_check(parse_seed_address, "").name("seed HOST:PORT"); }

}  // namespace starling::apps
