// What `starling peer` runs with when a flag is not given, in one place: the
// peer's flags (apps/peer_training.h, apps/training_options.h), the scenario
// runner (apps/scenario_peer_flags.cpp) and the simulator (src/sim/setup.cpp)
// all read these, so a scenario file that leaves a setting out runs the swarm
// a user runs. docs/learning.md ("Where the targets stand") measures them.
#pragma once

#include <cstdint>
#include <string_view>

namespace starling::node::defaults {

// Scaled sign under a 1 MB/s upload budget, mixed pairwise: measured against
// top-k 1% in docs/learning.md, "Where the targets stand", session 12.
inline constexpr std::string_view kCompress = "sign";
// Pairwise: one delta (and its reply) per round whatever the degree, so a
// round under the budget waits for one delta's tokens, not three.
inline constexpr std::string_view kMixing = "pairwise";
// Bytes per second of gossip traffic: a home uplink (0: no budget).
inline constexpr std::uint64_t kMaxUploadBytesPerSecond = 1'000'000;
inline constexpr int kNeighbours = 3;
inline constexpr int kMaxLinks = 8;
inline constexpr int kRoundFloorMs = 50;        // shortest time between rounds
inline constexpr int kGossipIntervalMs = 1000;  // longest time between rounds

// The built-in trainer (`starling train` and `starling peer`).
inline constexpr std::string_view kData = "fashion-mnist";
inline constexpr std::string_view kModel = "mlp:256,128";
inline constexpr int kBatch = 64;
inline constexpr double kLearningRate = 0.02;

}  // namespace starling::node::defaults
