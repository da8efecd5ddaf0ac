// The delta-gossip options of a training peer (node::TrainingDriverOptions)
// from `starling peer`'s gossip flags, for any model: the layout and model
// hash come from the caller (the built-in MLP's, or an embedded model's).
#pragma once

#include <nlohmann/json.hpp>

#include "peer_training.h"
#include "starling/compress/layout.h"
#include "starling/node/training_driver.h"
#include "starling/status.h"

namespace starling::apps {

// Checks --compress, --clip and --download-precision (invalid_argument with
// the flag's name).
Result<node::TrainingDriverOptions> gossip_driver_options(const PeerTrainingOptions& options,
                                                          compress::Layout layout, wire::Hash32 model_hash);

// The round pacing fields of the `training` status object (docs/learning.md,
// "When a peer gossips"): why the next round waits, the rules, the measures.
nlohmann::json round_pacing_json(const node::TrainingDriverStatus& status);

}  // namespace starling::apps
