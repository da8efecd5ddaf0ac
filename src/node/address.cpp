#include <string>

#include "starling/node/transport.h"
#include "starling/text.h"

namespace starling::node {

std::string to_string(const Address& address) {
  const bool ipv6 = address.host.find(':') != std::string::npos;
  std::string text = ipv6 ? "[" + address.host + "]" : address.host;
  text += ':';
  text += std::to_string(address.port);
  return text;
}

// The syntax is starling::split_host_port's (text.h), the one the wire codec
// checks every advertised address against: what parses here is what a peer
// may advertise, and the other way round.
Result<Address> parse_address(std::string_view text) {
  auto parsed = split_host_port(text);
  if (parsed) return Address{std::string(parsed->host), parsed->port};
  // Say what is wrong without echoing bytes that may not be printable.
  const bool printable = is_valid_utf8(text) && text.size() <= 300 &&
                         text.find_first_of(std::string_view("\0\n\r\t", 4)) == std::string_view::npos;
  const std::string shown = printable ? "'" + std::string(text) + "'" : "(" + std::to_string(text.size()) + " bytes, not printable)";
  if (!text.empty() && text.front() != '[' && text.find(':') != text.rfind(':'))
    return make_error(ErrorKind::invalid_argument, "IPv6 addresses need brackets: " + shown);
  const auto colon = text.rfind(':');
  if (colon != std::string_view::npos && colon > 0 && split_host_port(std::string(text.substr(0, colon)) + ":1"))
    return make_error(ErrorKind::invalid_argument, "bad port in " + shown + " (want 0-65535)");
  return make_error(ErrorKind::invalid_argument, "expected HOST:PORT or [IPv6]:PORT, got " + shown);
}

}  // namespace starling::node
