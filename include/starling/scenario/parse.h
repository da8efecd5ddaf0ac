// Reading scenario files (TOML, docs/scenarios.md). Every error names the file
// and line: "scenarios/x.toml:12:3: unknown event kind 'explode' (...)".
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "starling/scenario/scenario.h"
#include "starling/status.h"

namespace starling::scenario {

// How many peers a backend runs at t = 0: processes on one machine, or
// simulated peers in one process.
inline constexpr int kMaxProcessPeers = 64;
inline constexpr int kMaxSimulatedPeers = 100'000;
// Peer samples a run keeps for its report (polls x peers, every backend):
// a few hundred bytes each without the views, which the executor thins
// (timeline_runner.h).
inline constexpr std::int64_t kMaxPeerSamples = 8'000'000;

struct ParseOptions {
  // The most `[swarm] peers` (or `peers` below) may be; `limit_reason` says
  // why in the error message.
  int max_peers = kMaxProcessPeers;
  std::string limit_reason = "one machine";
  // Replaces the file's `[swarm] peers` (`--peers N`) before the events and
  // expectations are checked, so they are checked against this count.
  std::optional<int> peers;
};

// Parses and validates. `source` names the text in messages. Errors:
// invalid_argument (malformed TOML, unknown key or event, bad value, peer
// count out of 1..max_peers, peer index out of range, times in the past or
// out of order). [swarm] values are checked with `starling peer`'s own
// parsers and bounds (model, compress, partition, clip, profile, lr, batch,
// gamma, neighbours, round_steps), so a value a peer would refuse is refused
// here, at its line.
Result<Scenario> parse_scenario(std::string_view text, const std::string& source, const ParseOptions& options = {});

// Reads the file, then parse_scenario. Errors: not_found, invalid_argument
// (a folder or a device, not a regular file), io, and the above.
Result<Scenario> load_scenario(const std::filesystem::path& path, const ParseOptions& options = {});

}  // namespace starling::scenario
