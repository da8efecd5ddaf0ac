// `starling peer`'s checkpoint, DATA_DIR/model.ckpt, as a starting peer sees
// it: whether this run may write it, and what a resumed run must share with
// the run that wrote it (docs/checkpoints.md, "A peer's checkpoint"). Checked
// before the peer joins the swarm: a checkpoint that cannot be written used to
// show only when the first one failed, a minute or an hour into training.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "starling/ml/checkpoint.h"
#include "starling/ml/dataset.h"
#include "starling/status.h"
#include "train_checkpoint.h"
#include "training_options.h"

namespace starling::apps {

// Whether a peer's checkpoint: every one records the compressor its deltas
// used (metadata "compress"); `starling train`'s never did.
bool written_by_a_peer(const ml::Checkpoint& checkpoint);

// Whether a peer may write its checkpoints to `path`: a file name (not a
// directory, device or FIFO: invalid_argument) in a writable folder (io),
// not a file that is not a starling checkpoint, and, without --resume, not a
// checkpoint another command wrote (`starling train`'s: invalid_argument
// naming both ways on). A peer's own earlier checkpoint is replaced, as it
// always was (a restarted peer downloads the swarm's model, which holds its
// work): `notice` then says so, for the log; empty otherwise.
Status check_peer_checkpoint_target(const std::string& path, bool resume, std::string& notice);

// A peer's run layout (train_checkpoint.h), recorded in its checkpoints and
// checked on --resume: --batch (cut to the shard), --shard, --partition,
// --random-seed and the shard's size. `batch` and `shard_samples` are 0 until
// the data has loaded (then not compared).
RunLayout peer_run_layout(const TrainingOptions& options, const ml::ShardSpec& shard, const ml::Partition& partition,
                          int batch = 0, std::size_t shard_samples = 0);

// Whether a peer laid out as `run`, training `model` with `optimizer`, may
// continue `checkpoint` (read from `path`): the same model and optimizer
// kind, and check_resume_layout. invalid_argument names the checkpoint's
// value and this run's, and what to do. Keys an older checkpoint lacks are
// added to `unrecorded`.
Status check_peer_resume(const std::string& path, const ml::Checkpoint& checkpoint, const ml::Mlp& model,
                         const ml::OptimizerConfig& optimizer, const RunLayout& run,
                         std::vector<std::string>& unrecorded);

}  // namespace starling::apps
