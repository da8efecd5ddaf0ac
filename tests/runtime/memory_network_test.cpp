// The in-memory network beyond the shared conformance suite: determinism from
// a seed, and virtual time that only moves when driven.
#include <catch2/catch.hpp>

#include <sstream>

#include "harness.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;
using namespace starling::runtime::testing;

namespace {

// A small lossy, jittery exchange; returns a trace of everything that happened.
std::string run_scenario(std::uint64_t seed) {
  MemoryNetwork network(seed);
  network.faults().set_default(
      LinkFaults{.drop_probability = 0.2, .duplicate_probability = 0.1, .delay_us = 500, .jitter_us = 2000});
  std::ostringstream trace;
  std::vector<std::unique_ptr<Transport>> peers;
  std::vector<Address> addresses;
  for (int i = 0; i < 4; ++i) {
    // Appended, not "n" + to_string(i): GCC 12 warns falsely (-Wrestrict) on that.
    std::string host = "n";
    host += std::to_string(i);
    peers.push_back(network.create_transport(host));
    TransportEvents events;
    events.on_datagram = [&trace, &network, i](const Address& from, ByteSpan datagram, const Bytes&) {
      trace << network.now_us() << ' ' << i << '<' << to_string(from) << ':' << int(datagram[0]) << '\n';
    };
    events.on_frame = [&trace, &network, i](ConnectionId id, ByteSpan frame) {
      trace << network.now_us() << ' ' << i << " frame " << id << ':' << int(frame[0]) << '\n';
    };
    peers.back()->set_events(std::move(events));
    addresses.push_back(*peers.back()->listen(Address{host, 0}));
  }
  auto id = peers[0]->connect(addresses[1]);
  for (std::uint8_t round = 0; round < 50; ++round) {
    for (std::size_t from = 0; from < peers.size(); ++from)
      (void)peers[from]->send_datagram(addresses[(from + 1 + round) % peers.size()], Bytes{round});
    (void)peers[0]->send(*id, Bytes{round});
    network.run_for(1000);
  }
  network.run_for(100'000);
  return trace.str();
}

}  // namespace

TEST_CASE("memory network: a seed replays a run exactly", "[runtime][memory]") {
  const std::string first = run_scenario(11);
  CHECK(first.size() > 1000);
  CHECK(run_scenario(11) == first);
  CHECK(run_scenario(12) != first);
}

TEST_CASE("memory network: time moves only when driven", "[runtime][memory]") {
  MemoryNetwork network(1);
  auto transport = network.create_transport("solo");
  bool fired = false;
  transport->start_timer(1'000, [&] { fired = true; });
  CHECK(network.now_us() == 0);
  CHECK(network.pending_events() == 1);
  network.run_for(999'000);
  CHECK_FALSE(fired);
  CHECK(network.step());
  CHECK(fired);
  CHECK(network.now_us() == 1'000'000);
  CHECK_FALSE(network.step());
}
