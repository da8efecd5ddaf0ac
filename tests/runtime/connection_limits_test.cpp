// Strangers holding sockets open without a handshake (slowloris), from many
// loopback addresses so the per-address limit does not bound them: the
// listener keeps at most max_handshaking_connections of them, and an honest
// member still connects. Raw POSIX sockets play the attacker.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "harness.h"
#include "raw_connect.h"
#include "security_modes.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;
using namespace starling::runtime::testing;

#if STARLING_HAVE_CRYPTO
namespace {

constexpr int kStrangers = 300;
constexpr std::size_t kHandshakingLimit = 32;

}  // namespace

TEST_CASE("hostile: strangers that never handshake are capped, oldest evicted, and a member still gets in",
          "[runtime][hostile]") {
  UvHarness setup;
  SealedMode mode;
  TransportLimits limits;
  limits.max_handshaking_connections = kHandshakingLimit;
  limits.handshake_timeout_ms = 20'000;  // longer than the test: only the caps can free a slot
  Peer& server = setup.make_peer(limits, mode.make());

  std::vector<int> strangers;
  std::size_t most_connections = 0;
  for (int i = 0; i < kStrangers; ++i) {
    const int fd = connect_from(i, server.address.port);
    if (fd >= 0) strangers.push_back(fd);
    setup.run_for(0);  // the listener accepts as they come
    most_connections = std::max(most_connections, server.transport->connection_count());
  }
  setup.run_for(50);
  most_connections = std::max(most_connections, server.transport->connection_count());
  INFO("strangers " << strangers.size() << ", most connections held " << most_connections);
  CHECK(most_connections <= kHandshakingLimit);
  CHECK(server.transport->stats().connections_rejected >= kStrangers - kHandshakingLimit);

  // An honest member connects while the strangers keep their sockets.
  Peer& client = setup.make_peer({}, mode.make());
  auto id = client.transport->connect(server.address);
  REQUIRE(id.ok());
  const Bytes hello{'h', 'i'};
  REQUIRE(client.transport->send(*id, hello).ok());
  REQUIRE(setup.run_until(
      [&] {
        for (const auto& info : server.events.connected)
          if (server.events.frames[info.id].size() == 1) return true;
        return false;
      },
      5'000));
  for (int fd : strangers) ::close(fd);
}
#endif
