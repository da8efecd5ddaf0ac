// Consensus control (Kong et al. 2021, "Consensus control for decentralized
// deep learning"): gossip densely while the peers disagree and back off while
// they agree, instead of a fixed round every k steps. Pure arithmetic, no
// clock; TrainingDriver feeds it once per round (docs/learning.md,
// "Consensus control").
//
// The measure: this peer's distance from its neighbours' weighted mean,
// ‖Σ_j w_j (x̂_j − x̂_i)‖ / Σ_j w_j (the round's consensus correction before
// γ, so it costs no extra pass over the model), in units of one local SGD
// step (the peer's own displacement over the last round divided by the steps
// it took). "The peers disagree by r local steps": a unit that does not
// depend on the model's size or scale, so one target fits any model.
//   r > target      : k halves (at least min_steps): gossip densely now;
//   r < target / 2  : k grows by one (at most max_steps): back off slowly;
//   otherwise       : k stays.
// A peer that does not train (displacement 0) but disagrees gossips densely;
// one that neither trains nor disagrees backs off. A distance at or below
// `agreement` times the model's norm (float rounding of copies that agree)
// counts as none.
#pragma once

#include <cstdint>

namespace starling::node {

struct ConsensusControlConfig {
  double target = 2.0;             // disagreement r (in local steps) to stay under
  std::uint64_t min_steps = 1;     // densest: a round every step
  std::uint64_t max_steps = 16;    // sparsest
  double smoothing = 0.25;         // EWMA weight of a new per-step displacement
  double agreement = 1e-6;         // relative distance that counts as agreement
};

class ConsensusControl {
 public:
  ConsensusControl(ConsensusControlConfig config, std::uint64_t initial_steps);

  // One round: the distance from the neighbours' mean (see above), our own
  // training displacement over the `steps` local steps since the last round
  // (< 0: not measured) and the model's norm. Returns the steps until the
  // next round.
  std::uint64_t observe(double distance, double displacement, std::uint64_t steps, double model_norm);

  std::uint64_t round_steps() const { return steps_; }
  // The last ratio r (0 before the first observation; infinity: disagreement
  // without training).
  double ratio() const { return ratio_; }
  const ConsensusControlConfig& config() const { return config_; }

 private:
  ConsensusControlConfig config_;
  std::uint64_t steps_;
  double step_displacement_ = 0.0;  // EWMA of ‖Δx‖ per local step
  bool have_displacement_ = false;
  double ratio_ = 0.0;
};

}  // namespace starling::node
