// Outbound-only members (docs/membership.md, "Outbound-only members") on the
// memory network, sealed: a member whose host refuses every inbound
// connection and datagram (MemoryTransportOptions::firewalled, the model of
// the netns test's nftables rule) joins through its seeds, stays alive for
// everyone, learns every member, is never offered as a delta-gossip
// neighbour, survives the crash of a member it is linked with, and is
// declared dead when it crashes itself (paused: links stay open and say
// nothing; or gone: links close). Without membership links it never joins:
// the seed's answer to its Join is a new connection, refused.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "starling/crypto/keys.h"
#include "starling/gossip/config.h"
#include "starling/node/membership_driver.h"
#include "starling/node/record_authority.h"
#include "starling/runtime/crypto_security.h"
#include "starling/runtime/memory_network.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;

namespace {

constexpr std::uint64_t kSecondUs = 1'000'000;

struct Member {
  std::unique_ptr<Transport> transport;
  std::unique_ptr<ConnectionRouter> router;
  std::unique_ptr<MembershipDriver> driver;
  std::string address;
  gossip::NodeId id{};
  bool outbound_only = false;
  int suspected_outbound_only = 0;  // suspicions of any outbound-only member this one raised or heard
};

// claimed_address: the address its own record names (default: where it
// listens), for a member that lies about it.
std::unique_ptr<Member> make_member(MemoryNetwork& network, int index, const crypto::SwarmKey& swarm_key,
                                    std::vector<std::string> seeds, bool outbound_only,
                                    const std::string& claimed_address = "") {
  auto member = std::make_unique<Member>();
  const std::string host = "h" + std::to_string(index);
  crypto::Identity identity = crypto::Identity::generate();
  gossip::Identity self;
  self.node_id = identity.node_id().bytes();
  self.authority = make_record_authority(identity.clone());
  self.outbound_only = outbound_only;
  MemoryTransportOptions transport_options;
  transport_options.security = make_crypto_security(std::move(identity), swarm_key.clone());
  transport_options.firewalled = outbound_only;
  member->transport = network.create_transport(host, std::move(transport_options));
  MembershipDriverOptions options;
  options.config = gossip::lan_config();
  options.random_seed = 500 + static_cast<std::uint64_t>(index);
  Member* raw = member.get();
  options.on_event = [raw](const gossip::Event& event) {
    if (event.kind == gossip::EventKind::member_suspected && event.member.outbound_only) ++raw->suspected_outbound_only;
  };
  member->router = std::make_unique<ConnectionRouter>(*member->transport);
  member->driver = std::make_unique<MembershipDriver>(*member->router, std::move(options));
  auto bound = member->transport->listen(Address{host, 7946});
  REQUIRE(bound.ok());
  self.address = claimed_address.empty() ? to_string(*bound) : claimed_address;
  member->address = self.address;
  member->id = self.node_id;
  member->outbound_only = outbound_only;
  member->driver->start(self, std::move(seeds));
  return member;
}

const gossip::MemberRecord* record_at(const Member& observer, const Member& subject) {
  for (const auto& member : observer.driver->view().members)
    if (member.record.node_id == subject.id) {
      static thread_local gossip::MemberRecord copy;
      copy = member.record;
      return &copy;
    }
  return nullptr;
}

std::optional<gossip::MemberState> state_at(const Member& observer, const Member& subject) {
  const gossip::MemberRecord* record = record_at(observer, subject);
  if (record == nullptr) return std::nullopt;
  return record->state;
}

void crash(std::unique_ptr<Member>& member) {
  member->driver.reset();
  member->router.reset();
  member->transport.reset();
}

}  // namespace

TEST_CASE("outbound-only: a firewalled member joins, stays alive, learns everyone and is never dialled",
          "[runtime][driver][outbound]") {
  MemoryNetwork network(41);
  network.set_latency_us(1000);
  const crypto::SwarmKey swarm_key = crypto::SwarmKey::generate();
  std::vector<std::unique_ptr<Member>> members;
  members.push_back(make_member(network, 0, swarm_key, {}, false));
  for (int i = 1; i < 5; ++i) members.push_back(make_member(network, i, swarm_key, {members[0]->address}, false));
  // Two outbound-only members (they never link with each other), joining
  // through two seeds.
  for (int i = 5; i < 7; ++i)
    members.push_back(make_member(network, i, swarm_key, {members[0]->address, members[1]->address}, true));
  const std::vector<int> normal{0, 1, 2, 3, 4};
  const std::vector<int> outbound{5, 6};

  auto alive_everywhere = [&](int subject, const std::vector<int>& observers) {
    return std::all_of(observers.begin(), observers.end(), [&](int o) {
      return o == subject || state_at(*members[o], *members[subject]) == gossip::MemberState::alive;
    });
  };
  // Everyone that accepts connections sees everyone; each outbound-only
  // member sees every member that accepts connections.
  REQUIRE(network.run_until(
      [&] {
        for (int s = 0; s < 7; ++s)
          if (!alive_everywhere(s, normal)) return false;
        for (int o : outbound)
          for (int s : normal)
            if (state_at(*members[o], *members[s]) != gossip::MemberState::alive) return false;
        return true;
      },
      30 * kSecondUs));

  // Its own signed record says outbound-only; nobody offers it as a neighbour.
  for (int o : outbound)
    for (int s : normal) {
      const gossip::MemberRecord* record = record_at(*members[s], *members[o]);
      REQUIRE(record != nullptr);
      CHECK(record->outbound_only);
      CHECK_FALSE(record_at(*members[o], *members[s])->outbound_only);
    }
  for (int s : {0, 1, 2, 3, 4, 5, 6}) {
    for (const gossip::MemberRecord& neighbour : members[s]->driver->sample_neighbours(10))
      CHECK_FALSE(neighbour.outbound_only);
  }

  // Two minutes: never suspected, links held (at most 3 each), nothing reached
  // them but over their own connections, and nobody wasted a datagram on
  // them (their firewall would drop it: nobody probes or gossips to an
  // outbound-only member it is not linked with).
  std::vector<std::uint64_t> dropped_before;
  for (int o : outbound) dropped_before.push_back(members[o]->transport->stats().datagrams_dropped_by_faults);
  network.run_for(120 * kSecondUs);
  for (int o : outbound) {
    CHECK(alive_everywhere(o, normal));
    const std::size_t links = members[o]->driver->link_count();
    CHECK(links >= 1);
    CHECK(links <= 3);
    CHECK(members[o]->driver->membership().health_score() == 0);
    INFO("member " << o);
    CHECK(members[o]->transport->stats().datagrams_received == 0);
    CHECK(members[o]->transport->stats().datagrams_dropped_by_faults == dropped_before[static_cast<std::size_t>(o - 5)]);
  }
  for (int s = 0; s < 7; ++s) CHECK(members[s]->suspected_outbound_only == 0);

  // A member the outbound-only ones may be linked with crashes: dead for
  // them too, and they stay alive everywhere (they redial elsewhere).
  crash(members[0]);
  REQUIRE(network.run_until(
      [&] {
        for (int o : {1, 2, 3, 4, 5, 6})
          if (state_at(*members[o], *members[0]) != gossip::MemberState::dead) return false;
        return true;
      },
      30 * kSecondUs));
  network.run_for(40 * kSecondUs);
  const std::vector<int> rest{1, 2, 3, 4};
  for (int o : outbound) {
    CHECK(alive_everywhere(o, rest));
    CHECK(members[o]->driver->link_count() >= 1);
  }

  // An outbound-only member stops answering (paused: its links stay open):
  // dead everywhere. The other one is gone for good (links close): dead too.
  network.pause(*members[5]->transport);
  crash(members[6]);
  CHECK(network.run_until(
      [&] {
        for (int o : rest)
          if (state_at(*members[o], *members[5]) != gossip::MemberState::dead ||
              state_at(*members[o], *members[6]) != gossip::MemberState::dead)
            return false;
        return true;
      },
      40 * kSecondUs));
  network.resume(*members[5]->transport);
  for (auto& member : members)
    if (member) crash(member);
}

TEST_CASE("outbound-only: the flag is covered by the member's Ed25519 signature", "[runtime][outbound]") {
  crypto::Identity identity = crypto::Identity::generate();
  auto authority = make_record_authority(identity.clone());
  gossip::MemberRecord record{identity.node_id().bytes(), "10.0.0.4:7946", 2, gossip::MemberState::alive,
                              identity.public_key(), {}, true};
  record.signature = authority->sign_record(record);
  CHECK(authority->verify_record(record));
  gossip::MemberRecord flipped = record;
  flipped.outbound_only = false;
  CHECK_FALSE(authority->verify_record(flipped));
  // An ordinary record signs the same statement as before the flag existed
  // (false is the default), so its signature does not depend on the field.
  gossip::MemberRecord ordinary = record;
  ordinary.outbound_only = false;
  ordinary.signature = authority->sign_record(ordinary);
  CHECK(authority->verify_record(ordinary));
  CHECK(ordinary.signature != record.signature);
}

TEST_CASE("outbound-only: a member whose link claims a reachable member's address is refused the link",
          "[runtime][driver][outbound][hostile]") {
  // Its link would take every message meant for that address: the pings,
  // acks and gossip of the member that really listens there.
  MemoryNetwork network(44);
  network.set_latency_us(1000);
  const crypto::SwarmKey swarm_key = crypto::SwarmKey::generate();
  auto seed = make_member(network, 0, swarm_key, {}, false);
  auto honest = make_member(network, 1, swarm_key, {seed->address}, false);
  network.run_for(3 * kSecondUs);
  REQUIRE(state_at(*seed, *honest) == gossip::MemberState::alive);
  // Outbound-only, with a record that names `honest`'s address; and an
  // honest outbound-only member for contrast.
  auto hijacker = make_member(network, 2, swarm_key, {seed->address}, true, honest->address);
  auto outbound = make_member(network, 3, swarm_key, {seed->address}, true);
  for (int second = 0; second < 30; ++second) {
    network.run_for(kSecondUs);
    CHECK(state_at(*seed, *honest) == gossip::MemberState::alive);
  }
  CHECK(seed->driver->link_count() == 1);  // the honest outbound-only member's
  CHECK(state_at(*seed, *outbound) == gossip::MemberState::alive);
  CHECK(state_at(*seed, *hijacker) != gossip::MemberState::alive);
  CHECK(record_at(*seed, *honest)->address == honest->address);
}
