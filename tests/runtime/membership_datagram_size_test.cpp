// gossip/ caps piggybacked updates by bytes, so every membership datagram,
// sealed, fits the transport's max_datagram_bytes and the driver never has to
// split one (it no longer can).
#include <catch2/catch.hpp>

#include <algorithm>

#include "starling/crypto/keys.h"
#include "starling/gossip/membership.h"
#include "starling/node/gossip_codec.h"
#include "starling/node/record_authority.h"
#include "starling/runtime/transport.h"
#include "starling/wire/codec.h"

using namespace starling;

TEST_CASE("membership datagrams fit max_datagram_bytes when sealed", "[runtime][membership]") {
  // Long (IPv6) addresses and signed accusations: the largest updates there are.
  auto address = [](int n) { return "[2001:db8:ffff:ffff:ffff:ffff:ffff:" + std::to_string(1000 + n) + "]:65535"; };
  crypto::Identity self_identity = crypto::Identity::generate();
  gossip::Identity self{self_identity.node_id().bytes(), address(0), 0,
                        node::make_record_authority(self_identity.clone())};
  gossip::Membership membership(gossip::lan_config(), std::move(self), 7, 0);
  (void)membership.join({}, 0);
  for (int n = 1; n <= 40; ++n) {
    crypto::Identity identity = crypto::Identity::generate();
    gossip::MemberRecord record{identity.node_id().bytes(), address(n), 0, gossip::MemberState::alive,
                                identity.public_key(), {}};
    record.signature = node::make_record_authority(identity.clone())->sign_record(record);
    (void)membership.on_message(address(n), gossip::GossipMessage{record.node_id, address(n), gossip::Gossip{}, {{record, record.node_id, {}}}}, 1);
  }
  REQUIRE(membership.live_member_count() == 40);
  const std::size_t max_bytes = node::TransportLimits{}.max_datagram_bytes;
  // Nobody answers: every member is suspected, then declared dead, and all of
  // that news is piggybacked.
  std::size_t datagrams = 0;
  std::size_t largest = 0;
  std::size_t most_updates = 0;
  for (std::int64_t now = 2; now < 120000; now = std::max(now + 1, membership.next_deadline_ms())) {
    for (const gossip::Outgoing& out : membership.tick(now).sends) {
      if (out.transport != gossip::Transport::datagram) continue;
      auto payload = node::encode_gossip(out.message);
      REQUIRE(payload.ok());
      // Sealing adds a nonce, the sender, timestamp, counter and a 16-byte tag.
      wire::SealedDatagram sealed;
      sealed.sender = membership.self().node_id;
      sealed.timestamp_ms = 1ull << 40;
      sealed.counter = ~0ull;
      sealed.ciphertext.assign(payload->size() + 16, 0xff);
      auto bytes = wire::encode(sealed);
      REQUIRE(bytes.ok());
      ++datagrams;
      largest = std::max(largest, bytes->size());
      most_updates = std::max(most_updates, out.message.updates.size());
      CHECK(bytes->size() <= max_bytes);
    }
  }
  WARN(datagrams << " datagrams, largest sealed " << largest << " bytes (limit " << max_bytes << "), at most "
                 << most_updates << " updates each");
  CHECK(most_updates >= 2);
}
