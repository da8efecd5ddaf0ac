// The flags `starling scenario` adds for a file's optional [swarm] keys
// (apps/scenario_peer_flags.h): an unset key means what it means in the
// simulator, so an unset max_upload is no budget, not the peer's 1 MB/s, and
// an unset mixing is neighbourhood, not the peer's pairwise.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "scenario_peer_flags.h"

using namespace starling;

namespace {

// The value after `flag` (empty: the flag is not there).
std::string value_of(const std::vector<std::string>& args, const std::string& flag) {
  const auto found = std::find(args.begin(), args.end(), flag);
  return found == args.end() || found + 1 == args.end() ? std::string() : *(found + 1);
}

}  // namespace

TEST_CASE("scenario peers: unset max_upload and mixing keep the simulator's meaning, set ones are passed on",
          "[apps][scenario]") {
  scenario::SwarmSpec swarm;
  std::vector<std::string> args;
  apps::append_swarm_flags(swarm, args);
  CHECK(value_of(args, "--max-upload") == "0");
  CHECK(value_of(args, "--mixing") == "neighbourhood");  // the simulator's, not the peer's pairwise
  CHECK(value_of(args, "--gamma").empty());  // unset keys stay the peer's own

  swarm.max_upload = 100000;
  swarm.mixing = "on-delta";
  swarm.gamma = 0.25;
  swarm.round_steps = 3;
  args.clear();
  apps::append_swarm_flags(swarm, args);
  CHECK(value_of(args, "--max-upload") == "100000");
  CHECK(value_of(args, "--mixing") == "on-delta");
  CHECK(value_of(args, "--gamma") == "0.25");
  CHECK(value_of(args, "--round-steps") == "3");
}

TEST_CASE("scenario peers: numbers reach the peer exactly, not rounded to 6 digits", "[apps][scenario]") {
  scenario::SwarmSpec swarm;
  swarm.gamma = 0.0123456789;
  swarm.consensus_target = 1.0e-7;
  std::vector<std::string> args;
  apps::append_swarm_flags(swarm, args);
  CHECK(std::stod(value_of(args, "--gamma")) == 0.0123456789);
  CHECK(std::stod(value_of(args, "--consensus-target")) == 1.0e-7);
}
