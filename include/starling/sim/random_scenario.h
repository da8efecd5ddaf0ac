// Randomized mode (`starling simulate --random --seeds N`): per seed, a
// scenario with a fault mix drawn from the ranges in docs/simulator.md. The
// draw is a plain scenario file, so a failing seed is saved as one and
// replays by itself (tests/sim/regressions/ holds the ones worth keeping).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "starling/sim/simulate.h"
#include "starling/status.h"

namespace starling::sim {

struct RandomRun {
  std::uint64_t seed = 0;
  std::string toml;     // the scenario file's text
  std::string summary;  // one line: what was drawn
};

// Same seed (and peers), same scenario. `peers` replaces the drawn swarm size.
RandomRun draw_random_run(std::uint64_t seed, std::optional<int> peers = std::nullopt);

// Writes run.toml to `path`. Errors: io.
Status save_random_run(const RandomRun& run, const std::filesystem::path& path);

// Hook for network knobs beyond the file format (none yet: every drawn fault
// is a scenario event, so the saved file is the whole run).
inline void apply_network(const RandomRun&, SimulateOptions&) {}

}  // namespace starling::sim
