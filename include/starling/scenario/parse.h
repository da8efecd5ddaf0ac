// Reading scenario files (TOML, docs/scenarios.md). Every error names the file
// and line: "scenarios/x.toml:12:3: unknown event kind 'explode' (...)".
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "starling/scenario/scenario.h"
#include "starling/status.h"

namespace starling::scenario {

// Parses and validates. `source` names the text in messages. Errors:
// invalid_argument (malformed TOML, unknown key or event, bad value, peer
// index out of range, times in the past or out of order).
Result<Scenario> parse_scenario(std::string_view text, const std::string& source);

// Reads the file, then parse_scenario. Errors: not_found, io, and the above.
Result<Scenario> load_scenario(const std::filesystem::path& path);

}  // namespace starling::scenario
