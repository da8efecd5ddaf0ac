// The flags `starling scenario` adds for a file's optional [swarm] keys
// (apps/scenario_peer_flags.h): a key the file leaves out is the peer's own
// default (node/defaults.h), as in the simulator, so a scenario that says
// nothing runs the swarm `starling peer` runs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "peer_training.h"
#include "scenario_peer_flags.h"

using namespace starling;

namespace {

// The value after `flag` (empty: the flag is not there).
std::string value_of(const std::vector<std::string>& args, const std::string& flag) {
  const auto found = std::find(args.begin(), args.end(), flag);
  return found == args.end() || found + 1 == args.end() ? std::string() : *(found + 1);
}

}  // namespace

TEST_CASE("scenario peers: unset keys are the peer's own defaults, set ones are passed on", "[apps][scenario]") {
  // What `starling peer` runs with no flags: a scenario that leaves its
  // [swarm] keys out must start the same (it once ran `none` at lr 0.05,
  // batch 32, neighbourhood mixing, no budget: not what any user runs).
  const apps::PeerTrainingOptions peer;
  const scenario::SwarmSpec swarm;
  CHECK(swarm.compress == peer.compress);
  CHECK(swarm.lr == peer.training.lr);
  CHECK(swarm.batch == peer.training.batch);
  CHECK(swarm.model == peer.training.model);
  CHECK(swarm.data == peer.training.data);
  std::vector<std::string> args;
  apps::append_swarm_flags(swarm, args);
  CHECK(value_of(args, "--max-upload") == std::to_string(peer.max_upload));
  CHECK(value_of(args, "--max-upload") == "1000000");
  CHECK(value_of(args, "--mixing") == peer.mixing);
  CHECK(value_of(args, "--mixing") == "pairwise");
  CHECK(value_of(args, "--gamma").empty());  // unset keys stay the peer's own

  scenario::SwarmSpec set;
  set.max_upload = 0;  // no budget
  set.mixing = "on-delta";
  set.gamma = 0.25;
  set.round_steps = 3;
  args.clear();
  apps::append_swarm_flags(set, args);
  CHECK(value_of(args, "--max-upload") == "0");
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
