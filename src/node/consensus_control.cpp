// Consensus control: see include/starling/node/consensus_control.h.
#include "starling/node/consensus_control.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "starling/assert.h"

namespace starling::node {

ConsensusControl::ConsensusControl(ConsensusControlConfig config, std::uint64_t initial_steps)
    : config_(config), steps_(initial_steps) {
  STARLING_ASSERT(config_.min_steps >= 1 && config_.min_steps <= config_.max_steps);
  STARLING_ASSERT(config_.target > 0.0 && config_.smoothing > 0.0 && config_.smoothing <= 1.0);
  steps_ = std::clamp(steps_, config_.min_steps, config_.max_steps);
}

std::uint64_t ConsensusControl::observe(double distance, double displacement, std::uint64_t steps,
                                        double model_norm) {
  if (!std::isfinite(distance) || distance < 0.0) return steps_;  // nothing to judge by
  if (std::isfinite(displacement) && displacement >= 0.0 && steps > 0) {
    const double per_step = displacement / double(steps);
    step_displacement_ = have_displacement_
                             ? (1.0 - config_.smoothing) * step_displacement_ + config_.smoothing * per_step
                             : per_step;
    have_displacement_ = true;
  }
  if (distance <= config_.agreement * (std::isfinite(model_norm) ? std::abs(model_norm) : 0.0)) {
    ratio_ = 0.0;
  } else if (step_displacement_ > 0.0) {
    ratio_ = distance / step_displacement_;
  } else {
    ratio_ = std::numeric_limits<double>::infinity();
  }
  if (ratio_ > config_.target) {
    steps_ = std::max(config_.min_steps, steps_ / 2);
  } else if (ratio_ < config_.target / 2.0) {
    steps_ = std::min(config_.max_steps, steps_ + 1);
  }
  return steps_;
}

}  // namespace starling::node
