#include <charconv>
#include <string>

#include "starling/runtime/transport.h"

namespace starling::runtime {

std::string to_string(const Address& address) {
  const bool ipv6 = address.host.find(':') != std::string::npos;
  std::string text = ipv6 ? "[" + address.host + "]" : address.host;
  text += ':';
  text += std::to_string(address.port);
  return text;
}

Result<Address> parse_address(std::string_view text) {
  Address address;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return make_error(ErrorKind::invalid_argument, "expected [IPv6]:PORT, got '" + std::string(text) + "'");
    address.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0)
      return make_error(ErrorKind::invalid_argument, "expected HOST:PORT, got '" + std::string(text) + "'");
    address.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (address.host.find(':') != std::string::npos)
      return make_error(ErrorKind::invalid_argument, "IPv6 addresses need brackets: '" + std::string(text) + "'");
  }
  unsigned port = 0;
  const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc{} || end != port_text.data() + port_text.size() || port > 65535 || port_text.empty())
    return make_error(ErrorKind::invalid_argument, "bad port in '" + std::string(text) + "'");
  address.port = static_cast<std::uint16_t>(port);
  return address;
}

}  // namespace starling::runtime
