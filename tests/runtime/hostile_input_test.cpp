// Garbage from outside: 1 MB of random bytes thrown at a listener's TCP port
// and at its UDP port must leave it serving a well-behaved peer. Raw POSIX
// sockets play the attacker (tests may not use libuv directly).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "harness.h"
#include "security_modes.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;
using namespace starling::runtime::testing;

namespace {

constexpr std::uint64_t kWaitMs = 5'000;
constexpr std::size_t kGarbageBytes = 1'000'000;
// Every flood loop is bounded by a count and by wall time, so a loaded machine
// (a niced test gets little CPU beside other builds) makes it fail with a
// message, never run into ctest's timeout. 1 MB takes well under a second on
// an idle machine.
constexpr auto kFloodBudget = std::chrono::seconds(30);
constexpr auto kConnectionBudget = std::chrono::seconds(3);
constexpr int kMaxConnections = 2'000;
constexpr int kMaxSendsPerConnection = 2'000;
constexpr std::size_t kMaxDatagrams = 200'000;

using Clock = std::chrono::steady_clock;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

struct TcpFlood {
  std::size_t written = 0;
  int connections = 0;
  bool out_of_time = false;
};

// Streams random bytes into the TCP port while the loop runs, until all are
// written or the listener hangs up, then reconnects. A listener that stops
// accepting or reading fails the test when the budget runs out.
TcpFlood flood_tcp(UvHarness& setup, std::uint16_t port, std::mt19937_64& generator) {
  TcpFlood flood;
  const auto flood_deadline = Clock::now() + kFloodBudget;
  while (flood.connections < kMaxConnections && flood.written < kGarbageBytes) {
    if (Clock::now() >= flood_deadline) {
      flood.out_of_time = true;
      break;
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    REQUIRE(fd >= 0);
    ++flood.connections;
    sockaddr_in address = loopback(port);
    const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    REQUIRE((rc == 0 || errno == EINPROGRESS));
    const Bytes chunk = random_bytes(generator, 64 * 1024);
    const auto connection_deadline = std::min(flood_deadline, Clock::now() + kConnectionBudget);
    for (int send = 0; send < kMaxSendsPerConnection && flood.written < kGarbageBytes; ++send) {
      if (Clock::now() >= connection_deadline) break;
      const ssize_t sent = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) {
        flood.written += static_cast<std::size_t>(sent);
        setup.run_for(0);  // the listener reads what is there, without waiting on a timer
      } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN)) {
        setup.run_for(1);  // buffers full or still connecting: give the listener time
      } else {
        break;  // reset or broken pipe: the listener dropped us, as it should
      }
    }
    ::close(fd);
  }
  return flood;
}

std::size_t flood_udp(std::uint16_t port, std::mt19937_64& generator) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  const timeval send_timeout{0, 100'000};  // a blocked send gives up after 0.1 s
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout)) == 0);
  sockaddr_in address = loopback(port);
  std::size_t sent_total = 0;
  const auto deadline = Clock::now() + kFloodBudget;
  for (std::size_t count = 0; count < kMaxDatagrams && sent_total < kGarbageBytes; ++count) {
    if (count % 256 == 0 && Clock::now() >= deadline) break;
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

  const TcpFlood tcp = flood_tcp(setup, server.address.port, generator);
  INFO("garbage connections: " << tcp.connections << ", bytes " << tcp.written
                                << (tcp.out_of_time ? ", out of time" : ""));
  CHECK(tcp.written >= kGarbageBytes);
  const std::size_t udp_bytes = flood_udp(server.address.port, generator);
  CHECK(udp_bytes >= kGarbageBytes);
  setup.run_for(50);
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
