// Command-line options shared by every command that trains (train, and later
// peer): data, model, optimizer, schedule, shard. One place, so they stay alike.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "starling/ml/dataset.h"
#include "starling/ml/model.h"
#include "starling/ml/optimizer.h"
#include "starling/node/defaults.h"
#include "starling/status.h"

namespace CLI {
class App;
}

namespace starling::apps {

struct TrainingOptions {
  std::string data{node::defaults::kData};
  std::string model{node::defaults::kModel};
  int batch = node::defaults::kBatch;
  double lr = node::defaults::kLearningRate;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 0.0;
  std::string optimizer = "sgd";
  std::int64_t warmup_steps = 0;
  std::string lr_decay = "none";
  int threads = 1;
  std::uint64_t seed = 1;
  std::string shard = "0/1";
  std::string partition = "iid";
  // The model's outputs (--classes): labels must be below it. 0: the data's
  // largest label + 1. The peers of a swarm, each reading its own file that
  // may lack the top classes, agree on a model only through this.
  int classes = 0;
};

// `starling train`'s defaults: the shared ones, but the learning rate decays
// (cosine) to 0 over the run, whose length train knows (--epochs). One epoch
// of Fashion-MNIST: 86.3% mean test accuracy over seeds 1-6 (min 86.0%)
// against 84.7% at a constant rate (bench/train_defaults.sh, docs/learning.md).
// A peer trains open-ended, has no run length to decay over, and keeps
// TrainingOptions{} (constant rate).
TrainingOptions train_defaults();

// `seed_flag` names the seed option ("--seed"; `peer` uses --seed for a seed
// node and calls this one "--random-seed").
void add_training_options(CLI::App& app, TrainingOptions& options, const char* seed_flag = "--seed");

// What the options make before any data is read: the initialised model (its
// shape from the data's headers), the optimizer and schedule, and which
// shard to cut.
struct TrainingModel {
  ml::DatasetShape shape;
  std::unique_ptr<ml::Mlp> model;
  ml::OptimizerConfig optimizer_config;
  ml::LrSchedule schedule;
  ml::ShardSpec shard_spec;
  ml::Partition partition;
};

// The data a replica trains on: loaded, standardised, its shard cut.
struct TrainingData {
  ml::TrainTest data;
  float data_mean = 0.0f;
  float data_std = 1.0f;
  std::vector<std::size_t> shard;  // indices of the training samples this replica uses
  std::size_t train_samples = 0;   // in the whole training set (data.train may hold only the shard)
  // ml::label_warning of the whole set ("" : none), for the command to say
  // (train on stderr, a peer in its log): the data still trains.
  std::string label_warning;
};

struct TrainingSetup : TrainingModel, TrainingData {};

// The minibatch a replica of `samples` training samples steps with: `batch`,
// or all of them when there are fewer (the same steps, and no buffer sized
// for samples that do not exist).
int effective_batch(int batch, std::size_t samples);

// Fits a schedule to a run of known length: cosine decays over all of it,
// exponential decay counts epochs of `steps_per_epoch`.
void fit_schedule_to_run(ml::LrSchedule& schedule, std::int64_t steps_per_epoch, std::int64_t epochs);

// Validates the options and builds and initialises a model for data of
// `shape` (no data is read). Every failure is an Error with a message.
Result<TrainingModel> prepare_model(const TrainingOptions& options, const ml::DatasetShape& shape);

// prepare_model's checks of the options alone (model spec, optimizer, lr
// decay, shard, partition, classes, threads), without data: for
// `--print-config` and for checks that must come before the data is read.
Status check_training_options(const TrainingOptions& options);

// Loads and standardises the data and cuts this replica's shard (the slow
// part: about 0.3 s for Fashion-MNIST, most of it gzip). IDX data keeps only
// the shard's training samples (shard then counts 0..n-1); text formats keep
// the whole set (keep_only_shard drops the rest). Safe on any thread.
Result<TrainingData> load_training_data(const TrainingOptions& options, const ml::ShardSpec& shard,
                                        const ml::Partition& partition);

// Drops the training samples outside this replica's shard and renumbers the
// shard 0..n-1 (the batches stay the same samples): a peer on 1/N of the
// data holds 1/N of the training features (Fashion-MNIST: 188 MB as floats).
void keep_only_shard(TrainingData& data);

// The loaded data's shape, and corrupt when it is not the one its headers gave.
ml::DatasetShape shape_of(const TrainingData& data);
Status check_shape(const TrainingData& data, const ml::DatasetShape& shape);

// prepare_model's checks of the options, then load_training_data: a bad flag
// fails before the slow load.
Result<TrainingData> check_options_and_load(const TrainingOptions& options);

// All of the above at once (`starling train`): options checked, data loaded,
// model built for it.
Result<TrainingSetup> prepare_training(const TrainingOptions& options);

}  // namespace starling::apps
