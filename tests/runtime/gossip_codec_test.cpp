// gossip <-> wire mapping: every membership message survives encode + decode
// with its envelope (sender, address, piggybacked updates) and body intact.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "starling/node/gossip_codec.h"

using namespace starling;
using namespace starling::node;

namespace {

gossip::NodeId id(std::uint8_t seed) {
  gossip::NodeId out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(seed * 17 + i);
  return out;
}

gossip::MemberRecord record(std::uint8_t seed, gossip::MemberState state) {
  gossip::MemberRecord out{id(seed), "10.1.0." + std::to_string(seed) + ":7946", 1000u + seed, state};
  out.outbound_only = seed % 2 == 1;  // both flags in their combinations cross the codec
  out.membership_only = seed % 4 >= 2;
  return out;
}

gossip::GossipMessage message(gossip::MessageBody body, std::size_t update_count) {
  gossip::GossipMessage out;
  out.sender = id(1);
  out.sender_address = "127.0.0.1:4000";
  out.body = std::move(body);
  for (std::size_t i = 0; i < update_count; ++i) {
    auto seed = static_cast<std::uint8_t>(i + 10);
    out.updates.push_back(gossip::Update{record(seed, static_cast<gossip::MemberState>(i % 4)), id(seed + 50)});
  }
  return out;
}

std::vector<gossip::GossipMessage> every_kind() {
  gossip::PushPull request{false, false, {record(3, gossip::MemberState::alive), record(4, gossip::MemberState::dead)}};
  gossip::PushPull join_reply{true, true, {record(5, gossip::MemberState::suspect)}};
  return {
      message(gossip::Ping{7, id(2)}, 3),
      message(gossip::IndirectPing{8, id(3), "[::1]:4001"}, 1),
      message(gossip::Ack{9}, 2),
      message(gossip::Nack{10}, 0),
      message(gossip::Gossip{}, 4),
      message(gossip::Leave{11}, 1),
      message(gossip::Join{record(1, gossip::MemberState::alive)}, 0),
      message(request, 0),
      message(join_reply, 2),
  };
}

}  // namespace

TEST_CASE("gossip_codec: every membership message round-trips through bytes", "[runtime][gossip_codec]") {
  std::size_t kinds = 0;
  for (const gossip::GossipMessage& original : every_kind()) {
    INFO(gossip::body_name(original.body));
    auto bytes = encode_gossip(original);
    REQUIRE(bytes.ok());
    auto decoded = decode_gossip(*bytes);
    REQUIRE(decoded.ok());
    CHECK(decoded->sender == original.sender);
    CHECK(decoded->sender_address == original.sender_address);
    CHECK(decoded->updates == original.updates);
    CHECK(decoded->body.index() == original.body.index());
    // Bodies have no operator==: equal wire images mean equal fields.
    CHECK(to_wire(*decoded) == to_wire(original));
    ++kinds;
  }
  CHECK(kinds >= std::variant_size_v<gossip::MessageBody>);
}

TEST_CASE("gossip_codec: body fields land where the core reads them", "[runtime][gossip_codec]") {
  auto ping = decode_gossip(*encode_gossip(message(gossip::Ping{42, id(9)}, 0)));
  REQUIRE(ping.ok());
  CHECK(std::get<gossip::Ping>(ping->body).sequence == 42);
  CHECK(std::get<gossip::Ping>(ping->body).target == id(9));

  auto indirect = decode_gossip(*encode_gossip(message(gossip::IndirectPing{5, id(4), "h:1"}, 0)));
  REQUIRE(indirect.ok());
  CHECK(std::get<gossip::IndirectPing>(indirect->body).target_address == "h:1");

  gossip::PushPull reply{true, true, {record(7, gossip::MemberState::left)}};
  auto pulled = decode_gossip(*encode_gossip(message(reply, 0)));
  REQUIRE(pulled.ok());
  const auto& body = std::get<gossip::PushPull>(pulled->body);
  CHECK(body.is_reply);
  CHECK(body.is_join_reply);
  CHECK(body.members == reply.members);

  auto joined = decode_gossip(*encode_gossip(message(gossip::Join{record(6, gossip::MemberState::alive)}, 0)));
  REQUIRE(joined.ok());
  CHECK(std::get<gossip::Join>(joined->body).self == record(6, gossip::MemberState::alive));

  auto left = decode_gossip(*encode_gossip(message(gossip::Leave{77}, 0)));
  REQUIRE(left.ok());
  CHECK(std::get<gossip::Leave>(left->body).incarnation == 77);
}

TEST_CASE("gossip_codec: a non-membership message is corrupt", "[runtime][gossip_codec]") {
  auto bytes = wire::encode(wire::StatusQuery{1});
  REQUIRE(bytes.ok());
  auto decoded = decode_gossip(*bytes);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().kind == ErrorKind::corrupt);
  CHECK_THAT(decoded.error().message, Catch::Contains("status_query"));
}

TEST_CASE("gossip_codec: limits of the wire codec apply", "[runtime][gossip_codec]") {
  auto crowded = message(gossip::Gossip{}, 6);
  wire::Limits limits;
  limits.max_members = 5;
  auto refused = encode_gossip(crowded, limits);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::invalid_argument);

  auto bytes = encode_gossip(crowded);
  REQUIRE(bytes.ok());
  auto decoded = decode_gossip(*bytes, limits);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().kind == ErrorKind::overloaded);
}
