// How a scenario's [swarm] becomes the world's peers: membership profile,
// training driver options, and per-peer trainers (a real model on a real data
// set, or the synthetic objective). Mirrors `starling peer`'s defaults.
#pragma once

#include <memory>
#include <string>

#include "starling/ml/dataset.h"
#include "starling/scenario/scenario.h"
#include "starling/sim/simulate.h"
#include "starling/sim/world.h"
#include "starling/status.h"

namespace starling::sim::detail {

bool is_synthetic(const scenario::SwarmSpec& swarm);

// Fills world options (membership config, driver template, trainer factory).
// `data` must be loaded unless the swarm is synthetic or does not train.
Status configure_world(const scenario::Scenario& scenario, const SimulateOptions& options,
                       std::shared_ptr<const ml::TrainTest> data, WorldOptions& world);

}  // namespace starling::sim::detail
