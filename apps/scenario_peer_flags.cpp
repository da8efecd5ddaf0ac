#include "scenario_peer_flags.h"

#include <fmt/format.h>

#include "starling/node/defaults.h"

namespace starling::apps {
namespace {

// The shortest form that reads back as the same double: "%g" would round a
// scenario's gamma or target to 6 significant digits.
std::string number(double value) { return fmt::format("{}", value); }

}  // namespace

void append_swarm_flags(const scenario::SwarmSpec& swarm, std::vector<std::string>& args) {
  // Unset keys are the peer's own defaults (node/defaults.h), as in the
  // simulator; mixing and the budget are spelled out all the same, so a
  // peer's command line in the report says what it ran.
  args.push_back("--mixing");
  args.push_back(swarm.mixing.value_or(std::string(node::defaults::kMixing)));
  if (swarm.round_steps) {
    args.push_back("--round-steps");
    args.push_back(std::to_string(*swarm.round_steps));
  }
  if (swarm.round_floor_ms) {
    args.push_back("--round-floor");
    args.push_back(std::to_string(*swarm.round_floor_ms));
  }
  if (swarm.momentum_mode) {
    args.push_back("--momentum-mode");
    args.push_back(*swarm.momentum_mode);
  }
  if (swarm.absorb_share) {
    args.push_back("--absorb-share");
    args.push_back(number(*swarm.absorb_share));
  }
  if (swarm.consensus_control) args.push_back("--consensus-control");
  if (swarm.consensus_target) {
    args.push_back("--consensus-target");
    args.push_back(number(*swarm.consensus_target));
  }
  if (swarm.gamma) {
    args.push_back("--gamma");
    args.push_back(number(*swarm.gamma));
  }
  args.push_back("--max-upload");
  args.push_back(std::to_string(swarm.max_upload.value_or(node::defaults::kMaxUploadBytesPerSecond)));
  if (swarm.neighbours) {
    args.push_back("--neighbours");
    args.push_back(std::to_string(*swarm.neighbours));
  }
}

}  // namespace starling::apps
