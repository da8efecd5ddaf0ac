// MembershipDriver on the in-memory network, in virtual time: a swarm forms
// through one seed, a crashed peer is declared dead, a leaving one is `left`,
// and a StatusQuery on a connection gets the status JSON back. The CLI test
// (tests/cli/swarm_membership.sh) does the same with real processes.
#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "starling/gossip/config.h"
#include "starling/runtime/membership_driver.h"
#include "starling/runtime/memory_network.h"
#include "starling/wire/codec.h"

using namespace starling;
using namespace starling::runtime;

namespace {

struct TestPeer {
  std::unique_ptr<Transport> transport;
  std::unique_ptr<MembershipDriver> driver;
  std::string address;
};

constexpr std::uint64_t kSecondUs = 1'000'000;

TestPeer make_peer(MemoryNetwork& network, int index, std::vector<std::string> seeds,
                   std::function<std::vector<gossip::Outgoing>(const gossip::Outgoing&)> rewrite = nullptr) {
  TestPeer peer;
  std::string host = "n";
  host += std::to_string(index);
  peer.transport = network.create_transport(host);
  MembershipDriverOptions options;
  options.config = gossip::lan_config();
  options.random_seed = 100 + static_cast<std::uint64_t>(index);
  options.status_json = [index] { return "{\"index\":" + std::to_string(index) + "}"; };
  options.rewrite_outgoing = std::move(rewrite);
  peer.driver = std::make_unique<MembershipDriver>(*peer.transport, std::move(options));
  auto bound = peer.transport->listen(Address{host, 7946});
  REQUIRE(bound.ok());
  peer.address = to_string(*bound);
  gossip::Identity self;
  self.node_id[0] = static_cast<std::uint8_t>(index + 1);
  self.address = peer.address;
  peer.driver->start(self, std::move(seeds));
  return peer;
}

// What `observer` believes about the member at `address` (nullopt: unknown).
std::optional<gossip::MemberState> state_of(const TestPeer& observer, const std::string& address) {
  for (const auto& member : observer.driver->view().members)
    if (member.record.address == address) return member.record.state;
  return std::nullopt;
}

bool everyone_sees(const std::vector<TestPeer>& peers, const std::vector<int>& observers, int subject,
                   gossip::MemberState state) {
  for (int observer : observers)
    if (state_of(peers[observer], peers[subject].address) != state) return false;
  return true;
}

void stop(TestPeer& peer) {
  peer.driver.reset();
  peer.transport.reset();
}

}  // namespace

TEST_CASE("membership driver: join, crash, leave and status on the memory network", "[runtime][driver]") {
  MemoryNetwork network(7);
  network.set_latency_us(1000);
  std::vector<TestPeer> peers;
  peers.push_back(make_peer(network, 0, {}));
  for (int i = 1; i < 6; ++i) peers.push_back(make_peer(network, i, {peers[0].address}));

  const std::vector<int> all{0, 1, 2, 3, 4, 5};
  REQUIRE(network.run_until(
      [&] {
        for (int subject : all) {
          std::vector<int> others;
          for (int o : all)
            if (o != subject) others.push_back(o);
          if (!everyone_sees(peers, others, subject, gossip::MemberState::alive)) return false;
        }
        return true;
      },
      10 * kSecondUs));
  for (const auto& peer : peers) CHECK(peer.driver->traffic().messages_sent > 0);

  // A StatusQuery on a connection is answered with the status JSON.
  std::optional<std::string> answer;
  auto client = network.create_transport("client");
  TransportEvents events;
  events.on_frame = [&](ConnectionId, ByteSpan frame) {
    auto message = wire::decode(frame);
    REQUIRE(message.ok());
    if (const auto* status = std::get_if<wire::StatusAnswer>(&*message)) answer = status->json;
  };
  client->set_events(std::move(events));
  auto connection = client->connect(*parse_address(peers[2].address));
  REQUIRE(connection.ok());
  REQUIRE(client->send(*connection, *wire::encode(wire::Message{wire::StatusQuery{5}})).ok());
  REQUIRE(network.run_until([&] { return answer.has_value(); }, kSecondUs));
  CHECK(*answer == "{\"index\":2}");
  client.reset();

  // Crash: the transport vanishes without a word; dead everywhere within 20 s.
  stop(peers[5]);
  CHECK(network.run_until([&] { return everyone_sees(peers, {0, 1, 2, 3, 4}, 5, gossip::MemberState::dead); },
                          20 * kSecondUs));

  // Graceful leave: `left` everywhere within 5 s, and the driver says it is done.
  bool left = false;
  peers[4].driver->leave([&] { left = true; });
  CHECK(network.run_until([&] { return left && everyone_sees(peers, {0, 1, 2, 3}, 4, gossip::MemberState::left); },
                          5 * kSecondUs));
  stop(peers[4]);

  // The seed's crash changes nothing for the rest: they stay alive to each other.
  stop(peers[0]);
  CHECK(network.run_until([&] { return everyone_sees(peers, {1, 2, 3}, 0, gossip::MemberState::dead); },
                          20 * kSecondUs));
  for (int subject : {1, 2, 3}) {
    for (int observer : {1, 2, 3})
      if (observer != subject) CHECK(state_of(peers[observer], peers[subject].address) == gossip::MemberState::alive);
  }
  for (auto& peer : peers) stop(peer);
}

TEST_CASE("membership driver: rewrite_outgoing decides what is sent instead of each message", "[runtime][driver]") {
  MemoryNetwork network(11);
  network.set_latency_us(1000);
  std::vector<TestPeer> peers;
  peers.push_back(make_peer(network, 0, {}));
  // A peer whose hook swallows everything never gets in, though gossip/ tried.
  int swallowed = 0;
  peers.push_back(make_peer(network, 1, {peers[0].address}, [&](const gossip::Outgoing&) {
    ++swallowed;
    return std::vector<gossip::Outgoing>{};
  }));
  // One whose hook sends each message twice joins, and the driver counts what
  // it really sent.
  int doubled = 0;
  peers.push_back(make_peer(network, 2, {peers[0].address}, [&](const gossip::Outgoing& outgoing) {
    ++doubled;
    return std::vector<gossip::Outgoing>{outgoing, outgoing};
  }));
  CHECK(network.run_until([&] { return state_of(peers[0], peers[2].address) == gossip::MemberState::alive; },
                          5 * kSecondUs));
  network.run_for(2 * kSecondUs);
  CHECK(swallowed > 0);
  CHECK(peers[1].driver->traffic().messages_sent == 0);
  CHECK_FALSE(state_of(peers[0], peers[1].address).has_value());
  CHECK(doubled > 0);
  CHECK(peers[2].driver->traffic().messages_sent == 2 * static_cast<std::uint64_t>(doubled));
  for (auto& peer : peers) stop(peer);
}
