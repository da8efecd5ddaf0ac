// The momentum mode a swarm peer's SGD takes unless told otherwise
// (`starling peer --momentum-mode`, the simulator's `momentum_mode`), per
// compressor, as γ and the round's steps are (docs/learning.md, "Momentum and
// gossip"). OptimizerConfig's own default stays local: a lone replica never
// gets a correction.
#pragma once

#include "starling/compress/spec.h"
#include "starling/ml/optimizer.h"

namespace starling::node {

// `absorb` feeds a round's correction into the velocity as well as into the
// parameters, so the velocity goes on moving the model along it for about
// 1/(1 − μ) steps: in the long run a correction moves the model up to twice.
// Measured in the simulator (MLP, lr 0.02, rounds every k steps, no floor):
// - none, int8 (γ 1, copies near exact): 8 peers need 16-23% fewer steps to
//   88%, 16 peers stay together;
// - top-k (γ = its fraction, far below its stability edge): 4 peers reached
//   88% where local momentum did not;
// - sign (γ 0.8, a round every 2 steps, corrections that carry the
//   compression error its copies feed back): whole swarms of 8 and 16 peers
//   diverged to NaN within 1,000-1,600 steps; with local momentum the same
//   runs learned (16 peers: 1,900 steps). Sign's γ sits within a factor
//   1.5-2 of its pure-consensus edge (1.25-1.5), so a doubled pull crosses it.
inline ml::OptimizerConfig::MomentumMode default_momentum_mode(compress::CompressorKind kind) {
  switch (kind) {
    case compress::CompressorKind::none:
    case compress::CompressorKind::int8:
    case compress::CompressorKind::topk:
    case compress::CompressorKind::randk: return ml::OptimizerConfig::MomentumMode::absorb;
    case compress::CompressorKind::sign:
    case compress::CompressorKind::sign2: return ml::OptimizerConfig::MomentumMode::local;
  }
  return ml::OptimizerConfig::MomentumMode::local;
}

}  // namespace starling::node
