// One filled-in instance of every wire message, shared by the codec tests,
// the fuzz seed corpus and the benchmark. Values are distinct and non-zero so
// a field read from the wrong place shows up in a round trip.
#pragma once

#include <array>
#include <optional>
#include <cstdint>
#include <string>
#include <vector>

#include "starling/wire/messages.h"

namespace starling::wire::samples {

inline NodeId node_id(std::uint8_t seed) {
  NodeId id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(seed * 31 + i);
  return id;
}

template <std::size_t N>
std::array<std::uint8_t, N> bytes(std::uint8_t seed) {
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = static_cast<std::uint8_t>(seed + 7 * i);
  return out;
}

inline MemberRecord member(std::uint8_t seed, MemberState state) {
  // Both flags in their combinations, so a round trip checks each.
  return MemberRecord{node_id(seed),   "10.0.0." + std::to_string(seed) + ":7946", 100u + seed, state,
                      bytes<32>(seed), bytes<64>(static_cast<std::uint8_t>(seed + 1)),
                      /*outbound_only=*/seed % 2 == 1, /*membership_only=*/seed % 4 >= 2};
}

inline std::vector<MemberRecord> members(std::size_t count) {
  std::vector<MemberRecord> out;
  for (std::size_t i = 0; i < count; ++i) {
    out.push_back(member(static_cast<std::uint8_t>(i + 1), static_cast<MemberState>(i % 4)));
  }
  return out;
}

// Piggybacked updates, each asserted by a different source.
inline std::vector<Update> updates(std::size_t count) {
  std::vector<Update> out;
  for (const MemberRecord& record : members(count)) {
    // Suspect and dead updates carry their accuser's signature.
    std::optional<Signature64> accusation;
    if (record.state == MemberState::suspect || record.state == MemberState::dead) {
      accusation = bytes<64>(static_cast<std::uint8_t>(90 + out.size()));
    }
    out.push_back(Update{record, node_id(static_cast<std::uint8_t>(200 + out.size())), accusation});
  }
  return out;
}

inline std::string address(std::uint8_t seed) { return "127.0.0." + std::to_string(seed) + ":7000"; }

inline std::vector<Message> all() {
  std::vector<Message> out;
  out.push_back(Ping{node_id(1), address(1), updates(3), 1, node_id(2)});
  out.push_back(Ack{node_id(3), address(3), updates(2), 2});
  out.push_back(IndirectPing{node_id(4), "[::1]:7001", updates(1), 3, node_id(5), "10.0.0.5:7946"});
  out.push_back(Nack{node_id(6), address(6), {}, 4});
  out.push_back(Gossip{node_id(7), address(7), updates(4)});
  out.push_back(Join{node_id(8), address(8), {}, member(8, MemberState::alive)});
  out.push_back(Leave{node_id(9), address(9), updates(1), 42});
  out.push_back(PushPull{node_id(10), address(10), {}, true, false, members(4)});
  out.push_back(PushPull{node_id(11), address(11), {}, true, true, members(2)});
  out.push_back(HandshakeHello{1, bytes<32>(1), bytes<kSealedIdentityBytes>(2), 3});
  out.push_back(HandshakeReply{1, bytes<32>(3), bytes<kSealedIdentityProofBytes>(4), 1});
  out.push_back(HandshakeFinish{bytes<kSealedSignatureBytes>(5)});
  out.push_back(SealedDatagram{bytes<kDatagramNonceBytes>(6), node_id(12), 1700000000123, 0x1234'5678'9abc,
                               std::vector<std::uint8_t>(90, 0x5a), bytes<32>(13), bytes<64>(14)});
  out.push_back(LinkHello{5, 235146, bytes<32>(4), Precision::bf16, false, ""});
  out.push_back(LinkHello{6, 235146, bytes<32>(4), Precision::f16, true, ""});
  out.push_back(LinkHello{7, 235146, bytes<32>(4), Precision::bf16, true, "mlp:256,128 over 784 inputs and 10 classes"});
  out.push_back(LinkHello{8, 235146, bytes<32>(4), Precision::bf16, true, "mlp:16 over 784 inputs and 10 classes", true});
  out.push_back(LinkHello{9, 235146, bytes<32>(4), Precision::bf16, true, "", true, true});
  out.push_back(LinkHello{10, 235146, bytes<32>(4), Precision::bf16, true, "", true, false, true});
  out.push_back(SnapshotChunk{5, 1024, 235146, Precision::f32, {1.5f, -2.25f, 3.0e-8f}, {}});
  out.push_back(SnapshotChunk{5, 2048, 235146, Precision::bf16, {}, {0x3f80, 0xbf80, 0x0001}});
  out.push_back(SnapshotChunk{5, 4096, 235146, Precision::f16, {}, {0x3c00, 0x7bff}});
  out.push_back(SnapshotChunk{6, 0, 235146, Precision::bf16, {}, {}, 0x9e3779b97f4a7c15ull});
  out.push_back(Delta{5, 17, CompressorKind::topk, 235146, 0, {3, 99, 235145}, {0.5f, -0.25f, 1e-3f}, {}, {}, 3});
  out.push_back(Delta{5, 18, CompressorKind::int8, 235146, 77, {}, {}, {1, 2, 255, 128}, {0.01f, 0.02f}});
  out.push_back(Digest{5, 19, bytes<32>(5)});
  out.push_back(PairDecline{5, 20, 750});
  out.push_back(Reset{6, ResetReason::digest_mismatch, "digest differs at seq 19"});
  out.push_back(ModelRequest{11, 65536, 1 << 20});
  out.push_back(ModelRequest{12, 2048, 1 << 16, Precision::bf16, 7});
  out.push_back(ModelChunk{11, 65536, 940584, {1, 2, 3, 4, 5}});
  out.push_back(ModelChunk{12, 2048, 470292, {6, 7}, Precision::bf16});
  out.push_back(ModelChunk{0, 0, 0, {}, Precision::f32, true, 9});  // busy: a model, but no slot free
  out.push_back(StatusQuery{12});
  out.push_back(StatusAnswer{12, R"({"node_id":"ab","members":[]})"});
  out.push_back(FaultControl{node_id(10), FaultDirection::outbound, 0.05, 20, 5, 0.01, 0.02, 1 << 20,
                             {node_id(11), node_id(12)}});
  out.push_back(FaultControl{});
  out.push_back(TrainingControl{10.0, ByzantineMode::scaled_deltas, -4.5});
  out.push_back(TrainingControl{});
  out.push_back(TrainingControl{1.0, ByzantineMode::garbage_frames, 1.0});
  out.push_back(TrainingControl{1.0, ByzantineMode::membership_lies, 1.0});
  out.push_back(TrainingControl{1.0, ByzantineMode::membership_flood, 1.0});
  return out;
}

// A top-k delta whose encoding is about `bytes` long (indices + values).
inline Delta large_delta(std::size_t bytes) {
  Delta delta{7, 1, CompressorKind::topk, 1u << 24, 0, {}, {}, {}, {}, 5};
  std::size_t entries = bytes / 8;
  delta.indices.resize(entries);
  delta.values.resize(entries);
  for (std::size_t i = 0; i < entries; ++i) {
    delta.indices[i] = static_cast<std::uint32_t>(i * 13);
    delta.values[i] = static_cast<float>(i) * 0.001f - 1.0f;
  }
  return delta;
}

}  // namespace starling::wire::samples
