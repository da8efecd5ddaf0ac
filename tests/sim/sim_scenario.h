// Scenario text for simulator tests: the simulator's parse limits and a
// parse that fails the test with the parser's message.
#pragma once

#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "starling/scenario/parse.h"

namespace starling::sim_test {

inline scenario::ParseOptions simulator_limits(std::optional<int> peers = std::nullopt, int max_peers = 100'000) {
  scenario::ParseOptions options;
  options.max_peers = max_peers;
  options.limit_reason = "the simulator";
  options.peers = peers;
  return options;
}

inline scenario::Scenario parse(const std::string& text) {
  auto parsed = scenario::parse_scenario(text, "test.toml", simulator_limits());
  INFO((parsed ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return *parsed;
}

}  // namespace starling::sim_test
