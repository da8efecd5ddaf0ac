#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "starling/runtime/numeric_address.h"
#include "starling/runtime/transport.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;

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

TEST_CASE("addresses with bytes no host name holds are refused, and the error says what is wrong",
          "[runtime][address]") {
  for (const char* bad : {"\xff\xfe:80", "a b:80", "host\n:80", "h\xc3\xa9:80", "[::1%eth0]:80", "[xyz::1]:80"}) {
    INFO(bad);
    CHECK_FALSE(parse_address(bad).ok());
  }
  CHECK_THAT(parse_address("127.0.0.1:99999").error().message, Catch::Contains("bad port"));
  CHECK_THAT(parse_address("\xff:1").error().message, Catch::Contains("not printable"));
  CHECK(parse_address("peer-1.example_net:7946").ok());  // host names pass the syntax (the memory network uses them)
}

TEST_CASE("numeric addresses: IPv4 and IPv6 literals pass, host names are refused saying what is wanted",
          "[runtime][address]") {
  auto v4 = parse_numeric_address("192.0.2.10:7946");
  REQUIRE(v4.ok());
  CHECK(*v4 == Address{"192.0.2.10", 7946});
  auto v6 = parse_numeric_address("[2001:db8::1]:7946");
  REQUIRE(v6.ok());
  CHECK(*v6 == Address{"2001:db8::1", 7946});
  for (const char* name : {"localhost:17010", "peer-1.example_net:7946", "1.2.3:80", "256.1.1.1:80", "[::g]:80"}) {
    INFO(name);
    auto parsed = parse_numeric_address(name);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().kind == ErrorKind::invalid_argument);
  }
  CHECK_THAT(parse_numeric_address("localhost:17010").error().message,
             Catch::Contains("'localhost' is not a numeric IP address") && Catch::Contains("numeric IPv4 or IPv6 HOST:PORT"));
  CHECK_THAT(parse_numeric_address("127.0.0.1:99999").error().message, Catch::Contains("bad port"));  // syntax first
}

// A member advertises its listen address and dials its seeds: a wildcard
// (which dials the dialler itself), a multicast group or the broadcast
// address names no machine, and --listen 0.0.0.0 was advertised to the swarm.
TEST_CASE("numeric addresses: wildcard, multicast and broadcast addresses are named as such", "[runtime][address]") {
  const std::vector<std::pair<std::string, std::string>> special = {
      {"0.0.0.0:7946", "wildcard"},        {"[::]:7946", "wildcard"},          {"[0:0::0]:1", "wildcard"},
      {"224.0.0.1:7946", "multicast"},     {"239.255.255.250:1900", "multicast"}, {"[ff02::1]:7946", "multicast"},
      {"255.255.255.255:7946", "broadcast"},
  };
  for (const auto& [text, kind] : special) {
    INFO(text);
    auto parsed = parse_numeric_address(text);
    REQUIRE(parsed.ok());
    CHECK_THAT(unreachable_address_kind(*parsed), Catch::Contains(kind));
  }
  for (const char* ordinary : {"127.0.0.1:7946", "192.0.2.10:7946", "10.255.255.255:1", "223.255.255.255:1",
                               "240.0.0.1:1", "[::1]:7946", "[2001:db8::1]:7946", "[fe80::1]:1"}) {
    INFO(ordinary);
    auto parsed = parse_numeric_address(ordinary);
    REQUIRE(parsed.ok());
    CHECK(unreachable_address_kind(*parsed).empty());
  }
}
