// One filled-in instance of every wire message, shared by the codec tests,
// the fuzz seed corpus and the benchmark. Values are distinct and non-zero so
// a field read from the wrong place shows up in a round trip.
#pragma once

#include <array>
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
  return MemberRecord{node_id(seed), "10.0.0." + std::to_string(seed) + ":7946", 100u + seed, state};
}

inline std::vector<MemberRecord> members(std::size_t count) {
  std::vector<MemberRecord> out;
  for (std::size_t i = 0; i < count; ++i) {
    out.push_back(member(static_cast<std::uint8_t>(i + 1), static_cast<MemberState>(i % 4)));
  }
  return out;
}

inline std::vector<Message> all() {
  std::vector<Message> out;
  out.push_back(Ping{1, node_id(1), "127.0.0.1:7000", node_id(2), members(3)});
  out.push_back(Ack{2, node_id(3), members(2)});
  out.push_back(IndirectPing{3, node_id(4), node_id(5), "[::1]:7001", members(1)});
  out.push_back(Nack{4, node_id(6), node_id(7)});
  out.push_back(Join{member(8, MemberState::alive)});
  out.push_back(Leave{node_id(9), 42});
  out.push_back(PushPull{true, members(4)});
  out.push_back(HandshakeHello{1, bytes<32>(1), bytes<32>(2), bytes<64>(3), {9, 8, 7, 6}, HandshakeRole::initiator});
  out.push_back(LinkHello{5, 235146, bytes<32>(4), Precision::bf16});
  out.push_back(SnapshotChunk{5, 1024, 235146, Precision::f32, {1.5f, -2.25f, 3.0e-8f}, {}});
  out.push_back(SnapshotChunk{5, 2048, 235146, Precision::bf16, {}, {0x3f80, 0xbf80, 0x0001}});
  out.push_back(SnapshotChunk{5, 4096, 235146, Precision::f16, {}, {0x3c00, 0x7bff}});
  out.push_back(Delta{5, 17, CompressorKind::topk, 235146, 0, {3, 99, 235145}, {0.5f, -0.25f, 1e-3f}, {}, {}});
  out.push_back(Delta{5, 18, CompressorKind::int8, 235146, 77, {}, {}, {1, 2, 255, 128}, {0.01f, 0.02f}});
  out.push_back(Digest{5, 19, bytes<32>(5)});
  out.push_back(Reset{6, ResetReason::digest_mismatch, "digest differs at seq 19"});
  out.push_back(ModelRequest{11, 65536, 1 << 20});
  out.push_back(ModelChunk{11, 65536, 940584, {1, 2, 3, 4, 5}});
  out.push_back(StatusQuery{12});
  out.push_back(StatusAnswer{12, R"({"node_id":"ab","members":[]})"});
  out.push_back(FaultControl{node_id(10), FaultDirection::outbound, 0.05, 20, 5, 0.01, 0.02, 1 << 20,
                             {node_id(11), node_id(12)}});
  out.push_back(FaultControl{});
  return out;
}

// A top-k delta whose encoding is about `bytes` long (indices + values).
inline Delta large_delta(std::size_t bytes) {
  Delta delta{7, 1, CompressorKind::topk, 1u << 24, 0, {}, {}, {}, {}};
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
