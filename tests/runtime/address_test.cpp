#include <catch2/catch.hpp>

#include "starling/runtime/transport.h"

using namespace starling;
using namespace starling::runtime;

TEST_CASE("addresses print and parse for IPv4 and IPv6", "[runtime][address]") {
  CHECK(to_string(Address{"127.0.0.1", 9000}) == "127.0.0.1:9000");
  CHECK(to_string(Address{"::1", 9000}) == "[::1]:9000");
  auto v4 = parse_address("10.1.2.3:65535");
  REQUIRE(v4.ok());
  CHECK(*v4 == Address{"10.1.2.3", 65535});
  auto v6 = parse_address("[::1]:1");
  REQUIRE(v6.ok());
  CHECK(*v6 == Address{"::1", 1});
  for (const char* bad : {"", "host", ":1", "h:", "h:65536", "h:1x", "::1:4", "[::1]4", "[::1"}) {
    INFO(bad);
    auto parsed = parse_address(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().kind == ErrorKind::invalid_argument);
  }
}
