// The in-memory network beyond the shared conformance suite: determinism from
// a seed, and virtual time that only moves when driven.
#include <catch2/catch.hpp>

#include <new>
#include <sstream>

#include "harness.h"
#include "starling/crypto/frame.h"
#include "starling/wire/frame.h"
#if STARLING_HAVE_CRYPTO
#include "starling/crypto/keys.h"
#include "starling/runtime/crypto_security.h"
#endif

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

// A simulation that ran out of memory in a handler used to report it as a
// bug, drop a connection and go on, each later handler failing the same way,
// and never end. Out of memory stops the network; its driver ends the run.
TEST_CASE("memory network: out of memory in a handler stops the network", "[runtime][memory]") {
  MemoryNetwork network(1);
  auto transport = network.create_transport("solo");
  int later = 0;
  transport->start_timer(1, [] { throw std::bad_alloc(); });
  transport->start_timer(2, [&] { ++later; });
  CHECK_FALSE(network.out_of_memory());
  CHECK(network.step());
  REQUIRE(network.out_of_memory());
  CHECK(*network.out_of_memory() == std::bad_alloc().what());
  CHECK_FALSE(network.step());  // nothing runs any more
  CHECK(network.run_for(10'000) == 0);
  CHECK(network.now_us() == 1'000 + 10'000);  // the clock still moves, so a driver's loop ends
  CHECK_FALSE(network.run_until([&] { return later > 0; }, 10'000));
  CHECK(later == 0);
}

TEST_CASE("memory network: a paused transport gets nothing and fires no timer until it resumes", "[runtime][memory]") {
  MemoryNetwork network(3);
  auto sender = network.create_transport("a");
  auto receiver = network.create_transport("b");
  std::vector<std::string> seen;
  TransportEvents events;
  events.on_datagram = [&](const Address&, ByteSpan datagram, const Bytes&) {
    seen.push_back("datagram " + std::to_string(int(datagram[0])) + " at " + std::to_string(network.now_us()));
  };
  receiver->set_events(std::move(events));
  const Address to = *receiver->listen(Address{"b", 1});
  REQUIRE(sender->listen(Address{"a", 1}).ok());
  std::vector<std::string> deliveries;
  network.set_delivery_observer([&](const MemoryDelivery& delivery) {
    deliveries.push_back(delivery.from_host + ">" + delivery.to_host + " " + std::to_string(delivery.bytes.size()));
  });

  network.pause(*receiver);
  CHECK(network.paused(*receiver));
  receiver->start_timer(5, [&] { seen.push_back("timer at " + std::to_string(network.now_us())); });
  REQUIRE(sender->send_datagram(to, Bytes{1}).ok());
  REQUIRE(sender->send_datagram(to, Bytes{2, 2}).ok());
  network.run_for(50'000);
  CHECK(seen.empty());       // held, not lost
  CHECK(deliveries.empty());
  network.resume(*receiver);
  CHECK_FALSE(network.paused(*receiver));
  network.run_for(1'000);
  // Everything that came due while stopped runs at the resume, in its order.
  const std::vector<std::string> expected = {"datagram 1 at 50000", "datagram 2 at 50000", "timer at 50000"};
  CHECK(seen == expected);
  CHECK(deliveries == std::vector<std::string>{"a>b 1", "a>b 2"});

  // A transport destroyed while paused takes its held events with it.
  network.pause(*receiver);
  REQUIRE(sender->send_datagram(to, Bytes{3}).ok());
  network.run_for(10'000);
  receiver.reset();
  network.run_for(10'000);
  CHECK(seen.size() == 3);
}

// Byte accounting (TransportStats::secure_wire_bytes_sent): the memory network
// neither frames nor, with plain security, seals, so it counts what the real
// secure session would put on the wire. The simulator's bytes per step rest on it.
TEST_CASE("memory network: plain traffic is counted as the sealed wire would carry it", "[runtime][memory]") {
  MemoryNetwork network(5);
  auto a = network.create_transport("a");
  auto b = network.create_transport("b");
  a->set_events({});
  b->set_events({});
  const Address at_b = *b->listen(Address{"b", 0});
  auto id = a->connect(at_b);
  REQUIRE(id.ok());
  network.run_for(10'000);
  const std::vector<std::size_t> frames = {7, 100, 1000};
  std::size_t expected = 0;
  for (std::size_t size : frames) {
    REQUIRE(a->send(*id, Bytes(size, 1)).ok());
    expected += wire::framed_size(size + crypto::kFrameTagBytes);  // tag, then Cap'n Proto stream framing
  }
  network.run_for(10'000);
  TransportStats stats = a->stats();
  CHECK(stats.bytes_sent == 1107);  // plain: the frames as they are
  CHECK(stats.secure_wire_bytes_sent == expected);
  REQUIRE(a->send_datagram(at_b, Bytes(50, 2)).ok());
  stats = a->stats();
  CHECK(stats.datagram_bytes_sent == 50);
  // At least the envelope's fixed fields: nonce, tag, sender, key, signature, two counters.
  CHECK(stats.secure_wire_bytes_sent - expected >= 50 + 24 + 16 + 32 + 32 + 64 + 16);
}

#if STARLING_HAVE_CRYPTO
TEST_CASE("memory network: a plain datagram's sealed size is the real sealed datagram's", "[runtime][memory]") {
  for (std::size_t payload : {std::size_t{1}, std::size_t{50}, std::size_t{333}, std::size_t{900}}) {
    MemoryNetwork network(7);
    const crypto::SwarmKey key = crypto::SwarmKey::generate();
    auto plain = network.create_transport("plain");
    auto sealed = network.create_transport(
        "sealed", MemoryTransportOptions{{}, make_crypto_security(crypto::Identity::generate(), key.clone()), {}});
    auto sink = network.create_transport("sink");
    const Address to = *sink->listen(Address{"sink", 0});
    INFO("payload " << payload);
    REQUIRE(plain->send_datagram(to, Bytes(payload, 3)).ok());
    const Status sent = sealed->send_datagram(to, Bytes(payload, 3));
    INFO((sent ? std::string() : sent.error().message));
    REQUIRE(sent.ok());
    CHECK(sealed->stats().datagram_bytes_sent == sealed->stats().secure_wire_bytes_sent);
    CHECK(plain->stats().secure_wire_bytes_sent == sealed->stats().datagram_bytes_sent);
    CHECK(plain->stats().datagram_bytes_sent == payload);
  }
}
#endif
