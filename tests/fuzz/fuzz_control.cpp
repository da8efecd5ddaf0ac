// libFuzzer target for the status/control request path, without I/O: a
// membership-only node::Peer on the in-memory network (src/runtime/memory_network) gets
// frames on a control connection and datagrams from a stranger. Steps:
//   0: a length-prefixed chunk sent as one frame on the control connection
//      (StatusQuery, FaultControl, TrainingControl, or anything else: the
//      peer's real router and decoding decide);
//   1: a chunk sent as a datagram (membership messages, which then show up in
//      the status answer);   2: virtual time passes;   3: a new connection.
// The status writer and the FaultControl handler of `starling peer` live in
// apps/ (cmd_peer.cpp, peer_training.cpp: CLI11, spdlog), which a fuzz target
// cannot link; this target mirrors their pure parts: the status JSON lists
// every member's address (written with nlohmann's replacing dump, as the
// status writer must), and a FaultControl is applied to the network's
// FaultPolicy field by field as apply_fault_control does, so hostile values
// (NaN, huge delays and rates) reach the real fault layer.
// Properties: every StatusAnswer carries one valid JSON object; the virtual
// network stays bounded (no event storm from one control message).
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "fuzz_input.h"
#include "starling/crypto/keys.h"
#include "starling/gossip/config.h"
#include "starling/node/peer.h"
#include "starling/runtime/memory_network.h"
#include "starling/node/record_authority.h"
#include "starling/wire/codec.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;

namespace {

constexpr const char* kTarget = "fuzz_control";
constexpr std::size_t kMaxEventsPerStep = 20'000;

// Mirrors the member list of apps/cmd_peer.cpp status_json.
std::string status_json(const PeerStatus& peer) {
  nlohmann::json members = nlohmann::json::array();
  for (const auto& member : peer.view.members) {
    members.push_back({{"node_id", gossip::to_hex(member.record.node_id)},
                       {"address", member.record.address},
                       {"state", gossip::to_string(member.record.state)},
                       {"incarnation", member.record.incarnation}});
  }
  nlohmann::json status = {{"joined", peer.joined}, {"members", std::move(members)}};
  // Strict on purpose (the peer itself writes with a replacing handler): the
  // wire codec must keep every string that reaches the view valid UTF-8, so
  // this never throws; if it does, an invalid string got in
  // (regressions/fuzz_control/non_utf8_member_address_in_status).
  return status.dump();
}

// Mirrors apps/peer_training.cpp apply_fault_control (field mapping only).
void apply_fault_control(const wire::FaultControl& control, FaultPolicy& policy, const std::string& self_key,
                         const MembershipDriver& driver) {
  LinkFaults faults;
  faults.drop_probability = control.drop_probability;
  faults.duplicate_probability = control.duplicate_probability;
  faults.delay_us = std::uint64_t(control.delay_ms) * 1000;
  faults.jitter_us = std::uint64_t(control.jitter_ms) * 1000;
  faults.bandwidth_bytes_per_second = control.bandwidth_bytes_per_second;
  auto address_of = [&](const wire::NodeId& id) -> std::optional<std::string> {
    const gossip::MemberRecord* record = driver.membership().find(id);
    if (!record) return std::nullopt;
    return record->address;
  };
  if (control.peer) {
    auto address = address_of(*control.peer);
    if (!address) return;
    policy.set_link(self_key, *address, faults);
  } else {
    policy.set_default(faults);
  }
  policy.set_link(self_key, kControlPeerLabel, LinkFaults{});
  policy.heal();
  for (const auto& id : control.partitioned_from) {
    if (auto address = address_of(id)) policy.block(self_key, *address);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  MemoryNetwork network(1);
  auto victim = network.create_transport("victim");
  auto client = network.create_transport("client");
  std::unique_ptr<Peer> peer;
  MemoryIncarnationStore incarnations;
  const std::string self_key = "victim:7946";
  static const auto authority = [] {  // derived once per process, not per input
    std::array<std::uint8_t, 32> seed{};
    seed[0] = 1;
    return make_record_authority(crypto::Identity::from_seed(std::span<const std::uint8_t, 32>(seed)));
  }();

  PeerOptions options;
  options.membership = gossip::lan_config();
  options.random_seed = 3;
  options.node_id = authority->node_id();
  options.authority = authority;
  options.status_answer = [](const PeerStatus& status) { return status_json(status); };
  // Plain mode proves no identity (empty): the client is the runner, so its
  // fault controls reach apply_fault_control.
  options.fault_control_from = Bytes{};
  options.on_control = [&](const wire::Message& control) {
    if (const auto* fault = std::get_if<wire::FaultControl>(&control)) {
      apply_fault_control(*fault, network.faults(), self_key, peer->membership());
    }
  };
  peer = std::make_unique<Peer>(*victim, nullptr, incarnations, std::move(options));
  TransportEvents events;
  events.on_frame = [&](ConnectionId, ByteSpan frame) {
    auto message = wire::decode(frame);
    if (!message.ok()) fuzz::property_failed(kTarget, "the peer sent a frame that does not decode");
    if (const auto* answer = std::get_if<wire::StatusAnswer>(&*message)) {
      auto parsed = nlohmann::json::parse(answer->json, nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_object()) fuzz::property_failed(kTarget, "a status answer that is not one JSON object");
    }
  };
  client->set_events(std::move(events));
  if (!peer->listen(Address{"victim", 7946}).ok() || !client->listen(Address{"client", 7946}).ok()) {
    fuzz::property_failed(kTarget, "cannot listen on the memory network");
  }
  peer->start({}, false);

  const Address victim_address{"victim", 7946};
  std::optional<ConnectionId> connection;
  for (int steps = 0; !in.empty() && steps < 64; ++steps) {
    switch (in.u8() % 4) {
      case 0: {
        if (!connection) {
          auto connected = client->connect(victim_address);
          if (!connected.ok()) break;
          connection = *connected;
        }
        if (!client->send(*connection, in.chunk()).ok()) connection.reset();
        break;
      }
      case 1: (void)client->send_datagram(victim_address, in.chunk()); break;
      case 2: network.run_for(std::uint64_t(in.u16()) * 1000, kMaxEventsPerStep); break;
      case 3:
        if (connection) client->close(*connection);
        connection.reset();
        break;
    }
    network.run_for(5'000, kMaxEventsPerStep);
  }
  network.run_for(1'000'000, kMaxEventsPerStep);
  client.reset();
  peer.reset();
  victim.reset();
  return 0;
}
