// Reading scenario files (TOML, docs/scenarios.md). Every error names the file
// and line: "scenarios/x.toml:12:3: unknown event kind 'explode' (...)".
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "starling/scenario/scenario.h"
#include "starling/status.h"

namespace starling::scenario {

// What a backend accepts: the process runner hosts at most 64 peers on one
// machine; the simulator up to 100,000. `peers` replaces [swarm] peers before
// the file is checked (`starling simulate --peers N`).
struct ParseOptions {
  int max_peers = 64;
  std::optional<int> peers;
};

// Parses and validates. `source` names the text in messages. Errors:
// invalid_argument (malformed TOML, unknown key or event, bad value, peer
// index out of range, times in the past or out of order).
Result<Scenario> parse_scenario(std::string_view text, const std::string& source, ParseOptions options = {});

// Reads the file, then parse_scenario. Errors: not_found, io, and the above.
Result<Scenario> load_scenario(const std::filesystem::path& path, ParseOptions options = {});

}  // namespace starling::scenario
