// A member that starts large frames on many connections and never finishes
// them pins a reader buffer on each: about 19 MiB per connection at the
// default 16 MiB frame limit, up to about 10 GiB at the inbound caps. The
// libuv transport keeps all readers within max_inbound_buffer_bytes by
// dropping the connections whose frame in progress began first; an honest
// frame still gets through. Raw POSIX sockets play the member (plain mode:
// frames need no handshake).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "harness.h"
#include "raw_connect.h"
#include "security_modes.h"
#include "starling/wire/frame.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;
using namespace starling::runtime::testing;

namespace {

constexpr std::size_t kFrameLimit = 1u << 20;
constexpr std::size_t kBudget = 3u << 20;  // above the floor of one largest frame + 1 MiB
constexpr int kAttackers = 8;

}  // namespace

TEST_CASE("hostile: frames started and never finished on many connections stay within the readers' budget",
          "[runtime][hostile]") {
  UvHarness setup;
  PlainMode mode;
  TransportLimits limits;
  limits.max_frame_bytes = kFrameLimit;
  limits.max_inbound_buffer_bytes = kBudget;
  Peer& server = setup.make_peer(limits, mode.make());

  // Each attacker sends 90% of a frame at the limit, then waits.
  const Bytes payload(kFrameLimit - 1024, 0x5a);
  auto framed = wire::frame(payload, wire::FrameLimits{kFrameLimit});
  REQUIRE(framed.ok());
  const std::size_t part = framed->size() * 9 / 10;
  std::vector<int> attackers;
  std::uint64_t most_held = 0;
  for (int i = 0; i < kAttackers; ++i) {
    const int fd = connect_from(i, server.address.port, true);
    REQUIRE(fd >= 0);
    attackers.push_back(fd);
    REQUIRE(::fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
    std::size_t sent = 0;
    for (int turn = 0; sent < part && turn < 2'000; ++turn) {
      const ssize_t n = ::send(fd, framed->data() + sent, part - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;  // dropped
      setup.run_for(1);
      most_held = std::max(most_held, server.transport->stats().inbound_buffer_bytes);
    }
    setup.run_for(5);
    most_held = std::max(most_held, server.transport->stats().inbound_buffer_bytes);
  }
  setup.run_for(50);
  const TransportStats stats = server.transport->stats();
  INFO("most held " << most_held << ", held now " << stats.inbound_buffer_bytes << ", dropped "
                    << stats.connections_dropped);
  // A reader grows by at most one read past the budget before the check.
  CHECK(most_held <= kBudget + (256u << 10));
  CHECK(stats.inbound_buffer_bytes <= kBudget);
  // About 0.9 MiB held each: three fit, so the five oldest frames went.
  CHECK(stats.connections_dropped >= kAttackers - 3);
  CHECK(server.transport->connection_count() <= 3);

  // An honest member's whole frame at the limit still arrives.
  Peer& client = setup.make_peer({}, mode.make());
  auto id = client.transport->connect(server.address);
  REQUIRE(id.ok());
  const Bytes honest(kFrameLimit, 0x33);
  REQUIRE(client.transport->send(*id, honest).ok());
  REQUIRE(setup.run_until(
      [&] {
        for (const auto& [conn, frames] : server.events.frames)
          if (!frames.empty() && frames.back().size() == kFrameLimit) return true;
        return false;
      },
      5'000));
  for (int fd : attackers) ::close(fd);
}
