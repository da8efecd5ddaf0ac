// The delta-gossip options of a training peer (node::TrainingDriverOptions)
// from `starling peer`'s gossip flags, for any model: the layout and model
// hash come from the caller (the built-in MLP's, or an embedded model's).
#pragma once

#include "peer_training.h"
#include "starling/compress/layout.h"
#include "starling/node/training_driver.h"
#include "starling/status.h"

namespace starling::apps {

// Checks --compress and --clip (invalid_argument with the flag's name).
Result<node::TrainingDriverOptions> gossip_driver_options(const PeerTrainingOptions& options,
                                                          compress::Layout layout, wire::Hash32 model_hash);

}  // namespace starling::apps
