// parse_numeric_address. See starling/runtime/numeric_address.h.
#include "starling/runtime/numeric_address.h"

#include <netinet/in.h>

#include <cstring>
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

std::string unreachable_address_kind(const Address& address) {
  auto storage = uv::to_sockaddr(address);
  if (!storage) return {};
  if (storage->ss_family == AF_INET) {
    sockaddr_in v4{};
    std::memcpy(&v4, &*storage, sizeof(v4));
    const std::uint32_t host = ntohl(v4.sin_addr.s_addr);
    if (host == INADDR_ANY) return "the unspecified (wildcard) address";
    if (host == INADDR_BROADCAST) return "the broadcast address";
    if ((host >> 28) == 0xE) return "a multicast address";  // 224.0.0.0/4
    return {};
  }
  sockaddr_in6 v6{};
  std::memcpy(&v6, &*storage, sizeof(v6));
  if (IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr)) return "the unspecified (wildcard) address";
  if (IN6_IS_ADDR_MULTICAST(&v6.sin6_addr)) return "a multicast address";
  return {};
}

}  // namespace starling::runtime
