// parse_numeric_address. See starling/runtime/numeric_address.h.
#include "starling/runtime/numeric_address.h"

#include <string>

#include "uv.h"

namespace starling::runtime {

Result<Address> parse_numeric_address(std::string_view text) {
  auto address = parse_address(text);
  if (!address) return address.error();
  // The very check the transport makes before it binds or dials.
  if (!uv::to_sockaddr(*address))
    return make_error(ErrorKind::invalid_argument,
                      "'" + address->host + "' is not a numeric IP address (host names are not resolved): want a "
                      "numeric IPv4 or IPv6 HOST:PORT, e.g. 192.0.2.10:7946 or [2001:db8::1]:7946");
  return address;
}

}  // namespace starling::runtime
