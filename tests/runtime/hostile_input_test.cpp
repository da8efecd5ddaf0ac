// Garbage from outside: 1 MB of random bytes thrown at a listener's TCP port
// and at its UDP port must leave it serving a well-behaved peer. Raw POSIX
// sockets play the attacker (tests may not use libuv directly).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "harness.h"
#include "security_modes.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;
using namespace starling::runtime::testing;

namespace {

constexpr std::uint64_t kWaitMs = 5'000;
constexpr std::size_t kGarbageBytes = 1'000'000;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Streams random bytes into the TCP port while the loop runs, until all are
// written or the listener hangs up. Returns the bytes written.
std::size_t flood_tcp(UvHarness& setup, std::uint16_t port, std::mt19937_64& generator, int* connections) {
  std::size_t written = 0;
  *connections = 0;
  // The listener may hang up after a few bytes; reconnect until 1 MB went in
  // (bounded by attempts, so a listener that stops accepting fails the test).
  for (int attempt = 0; attempt < 2000 && written < kGarbageBytes; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    REQUIRE(fd >= 0);
    ++*connections;
    sockaddr_in address = loopback(port);
    const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    REQUIRE((rc == 0 || errno == EINPROGRESS));
    const Bytes chunk = random_bytes(generator, 64 * 1024);
    for (int round = 0; round < 200 && written < kGarbageBytes; ++round) {
      setup.run_for(1);
      const ssize_t sent = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) {
        written += static_cast<std::size_t>(sent);
      } else if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN) {
        break;  // reset or broken pipe: the listener dropped us, as it should
      }
    }
    ::close(fd);
  }
  return written;
}

std::size_t flood_udp(std::uint16_t port, std::mt19937_64& generator) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address = loopback(port);
  std::size_t sent_total = 0;
  while (sent_total < kGarbageBytes) {
    // Mostly small datagrams, some oversized ones.
    const std::size_t size = (generator() % 8 == 0) ? 8'000 : 1 + generator() % 1'400;
    const Bytes datagram = random_bytes(generator, size);
    const ssize_t sent =
        ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    if (sent > 0) sent_total += static_cast<std::size_t>(sent);
  }
  ::close(fd);
  return sent_total;
}

template <typename Mode>
void check_survives_garbage() {
  UvHarness setup;
  Mode mode;
  TransportLimits limits;
  limits.handshake_timeout_ms = 500;
  Peer& server = setup.make_peer(limits, mode.make());
  std::mt19937_64 generator(99);

  int connections = 0;
  const std::size_t tcp_bytes = flood_tcp(setup, server.address.port, generator, &connections);
  CHECK(tcp_bytes >= kGarbageBytes);
  const std::size_t udp_bytes = flood_udp(server.address.port, generator);
  CHECK(udp_bytes >= kGarbageBytes);
  setup.run_for(50);
  INFO("garbage connections: " << connections);
  if (Mode::kSealed) {
    // Nothing garbage sent became a connection the application heard of...
    CHECK(server.events.connected.empty());
    CHECK(server.events.datagrams.empty());
    CHECK(server.transport->stats().datagrams_rejected > 0);
  }
  // ...and none lingers: broken framing dropped them, or the handshake timeout did.
  REQUIRE(setup.run_until([&] { return server.transport->connection_count() == 0; }, 2'000));
  // Plain mode announces a connection at once, so it must also report its end.
  CHECK(server.events.disconnected.size() == server.events.connected.size());

  // A well-behaved peer still gets full service.
  Peer& client = setup.make_peer({}, mode.make());
  auto id = client.transport->connect(server.address);
  REQUIRE(id.ok());
  const Bytes hello{'h', 'i'};
  REQUIRE(client.transport->send(*id, hello).ok());
  REQUIRE(client.transport->send_datagram(server.address, hello).ok());
  REQUIRE(setup.run_until(
      [&] {
        for (const auto& info : server.events.connected)
          if (server.events.frames[info.id].size() == 1) return !server.events.datagrams.empty();
        return false;
      },
      kWaitMs));
  CHECK(server.events.datagrams.back().second == hello);
}

}  // namespace

TEST_CASE("hostile: 1 MB of random bytes to the TCP and UDP ports of a plain listener", "[runtime][hostile]") {
  check_survives_garbage<PlainMode>();
}

#if STARLING_HAVE_CRYPTO
TEST_CASE("hostile: 1 MB of random bytes to the TCP and UDP ports of a sealed listener", "[runtime][hostile]") {
  check_survives_garbage<SealedMode>();
}
#endif
