// `starling train`'s checkpoint file as a run sees it: whether this run may
// write it, and what it records about the run that wrote it, so a resumed
// run can be checked against that (docs/checkpoints.md, "Resuming").
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "starling/ml/checkpoint.h"
#include "starling/ml/model.h"
#include "starling/ml/optimizer.h"
#include "starling/status.h"

namespace starling::apps {

// Whether a run may start at `path`: with --resume always (it continues the
// file, or starts it when absent); otherwise only when nothing is there (or
// an empty file), or with --force. An earlier run's checkpoint is
// invalid_argument naming the file and both ways on: it used to be
// overwritten in silence at the first epoch's end.
Status check_checkpoint_overwrite(const std::string& path, bool resume, bool force);

// What a run's step and epoch counts depend on, beyond the model: a step
// takes `batch` samples of a shard of `shard_samples`, drawn as --shard,
// --partition and --seed cut it. A peer knows the batch and the shard's size
// only once its data has loaded (after it joined): before that they are 0,
// which check_resume_layout does not compare.
struct RunLayout {
  int batch = 0;  // samples per step: --batch, cut to the shard's size
  std::string shard;
  std::string partition;
  std::uint64_t seed = 0;
  std::size_t shard_samples = 0;  // one epoch
  // How the command spells what differs between train and peer: the seed
  // option (a peer's --seed names a seed node), and how to start a new run
  // over the checkpoint instead of continuing it (train: --force).
  const char* seed_flag = "--seed";
  const char* start_over = "pass --force instead of --resume to start a new run over";
};

// `run` as checkpoint metadata (keys batch, shard, partition, seed, shard_samples).
std::map<std::string, std::string> run_metadata(const RunLayout& run);

// Whether a run laid out as `run` may continue the checkpoint at `path`
// whose metadata is `metadata`: invalid_argument naming every value that
// differs, the checkpoint's and this run's. A key the checkpoint lacks (one
// written before starling recorded it) is taken to hold this run's value and
// added to `unrecorded`, for the caller to say so.
Status check_resume_layout(const std::string& path, const std::map<std::string, std::string>& metadata,
                           const RunLayout& run, std::vector<std::string>& unrecorded);

// What a checkpoint holds that this run does not, as (the checkpoint's, this
// run's) in flags' words: the model ("--model mlp:8 (8 inputs, 4 classes)")
// or the optimizer; nullopt when they agree.
std::optional<std::pair<std::string, std::string>> resume_difference(const ml::Checkpoint& checkpoint,
                                                                     const ml::Mlp& model,
                                                                     const ml::OptimizerConfig& optimizer);

// The same for the training set: the checkpoint's model was trained on
// features standardised with its data_mean and data_std, and another data
// set of the same shape (which resumed in silence, its model fed features
// scaled for another) standardises differently.
std::optional<std::pair<std::string, std::string>> data_difference(const ml::Checkpoint& checkpoint, float data_mean,
                                                                   float data_std);

}  // namespace starling::apps
