// libFuzzer target for the membership state machine (gossip::Membership),
// structure-aware: the input is a program of steps. Each step is one of
//   0, 1: a length-prefixed chunk decoded with the real codec
//         (node::decode_gossip) and, if it decodes, fed to on_message from
//         the sender's address (0) or from an unrelated address (1);
//   2:    time advances by up to ~65 s (scaled by a byte) and tick() runs;
//   3:    the owner acts: leave(), sample_neighbours(), or a rejoin.
// Properties beyond "no crash, no leak, no UB, no assertion": the view agrees
// with live_member_count(), never lists ourselves, the neighbour sample holds
// only distinct live members, and everything the state machine sends encodes
// (a peer must never relay something its neighbours cannot decode).
#include <array>
#include <cstdint>
#include <span>
#include <set>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "starling/gossip/membership.h"
#include "starling/crypto/keys.h"
#include "starling/node/gossip_codec.h"
#include "starling/node/record_authority.h"

using namespace starling;

namespace {

constexpr const char* kTarget = "fuzz_membership";

// The one place the Membership under test is built (its constructor is
// changing: keep every argument here).
gossip::Membership make_membership(std::int64_t now_ms) {
  // Signing our own record needs a real authority; one identity for the whole
  // run (keys are derived once, not per input).
  static const auto authority = [] {
    std::array<std::uint8_t, 32> seed{};
    seed[0] = 1;
    return node::make_record_authority(crypto::Identity::from_seed(std::span<const std::uint8_t, 32>(seed)));
  }();
  gossip::Identity self;
  self.node_id = authority->node_id();
  self.address = "10.0.0.1:7946";
  self.authority = authority;
  return gossip::Membership(gossip::lan_config(), self, /*random_seed=*/42, now_ms);
}

bool is_live(gossip::MemberState state) {
  return state == gossip::MemberState::alive || state == gossip::MemberState::suspect;
}

void check(gossip::Membership& membership, const gossip::Actions& actions, std::int64_t now_ms) {
  for (const auto& out : actions.sends) {
    auto bytes = node::encode_gossip(out.message);
    if (!bytes.ok() && bytes.error().kind != ErrorKind::overloaded) {
      fuzz::property_failed(kTarget, std::string("an outgoing ") + gossip::body_name(out.message.body) +
                                         " does not encode: " + bytes.error().message);
    }
  }
  const gossip::MembershipView view = membership.view(now_ms);
  std::size_t live = 0;
  for (const auto& member : view.members) {
    if (member.record.node_id == membership.self().node_id) fuzz::property_failed(kTarget, "the view lists self");
    if (is_live(member.record.state)) ++live;
  }
  if (live != membership.live_member_count()) fuzz::property_failed(kTarget, "live_member_count disagrees with the view");
}

void check_sample(gossip::Membership& membership, std::size_t fanout) {
  std::set<gossip::NodeId> seen;
  for (const auto& record : membership.sample_neighbours(fanout)) {
    if (record.node_id == membership.self().node_id) fuzz::property_failed(kTarget, "self sampled as a neighbour");
    if (!seen.insert(record.node_id).second) fuzz::property_failed(kTarget, "a neighbour sampled twice");
    const gossip::MemberRecord* known = membership.find(record.node_id);
    if (!known || !is_live(known->state)) fuzz::property_failed(kTarget, "a neighbour that is not a live member");
  }
  if (seen.size() > fanout) fuzz::property_failed(kTarget, "more neighbours than asked for");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  std::int64_t now_ms = 1'000;
  gossip::Membership membership = make_membership(now_ms);
  const bool with_seed = (in.u8() & 1) != 0;
  check(membership, membership.join(with_seed ? std::vector<std::string>{"10.0.0.2:7946"} : std::vector<std::string>{},
                                    now_ms),
        now_ms);
  for (int steps = 0; !in.empty() && steps < 256; ++steps) {
    gossip::Actions actions;
    switch (in.u8() % 4) {
      case 0:
      case 1: {
        const bool from_sender = in.u8() % 2 == 0;
        auto message = node::decode_gossip(in.chunk());
        if (!message.ok()) continue;
        const std::string from = from_sender ? message->sender_address : std::string("10.9.9.9:1");
        actions = membership.on_message(from, *message, now_ms);
        break;
      }
      case 2:
        now_ms += std::int64_t(in.u16()) * (1 + in.u8() % 16);
        actions = membership.tick(now_ms);
        break;
      case 3:
        switch (in.u8() % 3) {
          case 0: actions = membership.leave(now_ms); break;
          case 1: check_sample(membership, 1 + in.u8() % 8); break;
          default: actions = membership.join({"10.0.0.3:7946"}, now_ms); break;
        }
        break;
    }
    check(membership, actions, now_ms);
  }
  return 0;
}
