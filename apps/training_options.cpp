#include "training_options.h"

#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <fmt/format.h>

#include <numeric>

#include "starling/ml/byte_dataset.h"
#include "starling/ml/fpu.h"
#include "starling/text.h"

namespace starling::apps {

TrainingOptions train_defaults() {
  TrainingOptions options;
  options.lr_decay = "cosine";
  return options;
}

int effective_batch(int batch, std::size_t samples) {
  return samples > 0 && samples < std::size_t(batch) ? int(samples) : batch;
}

void fit_schedule_to_run(ml::LrSchedule& schedule, std::int64_t steps_per_epoch, std::int64_t epochs) {
  schedule.steps_per_epoch = steps_per_epoch;
  schedule.total_steps = steps_per_epoch * epochs;
}

void add_training_options(CLI::App& app, TrainingOptions& o, const char* seed_flag) {
  app.add_option("--data", o.data,
                 "fashion-mnist | mnist | a folder of IDX files | a .csv or .libsvm file")
      ->capture_default_str();
  app.add_option("--model", o.model, "linear | mlp:H1,H2,... (ReLU hidden layers)")->capture_default_str();
  app.add_option("--batch", o.batch, "Minibatch size")->capture_default_str()->check(CLI::Range(1, ml::kMaxBatch));
  app.add_option("--lr", o.lr, "Learning rate")->capture_default_str()->check(CLI::Range(0.0, ml::kMaxLearningRate));
  app.add_option("--momentum", o.momentum, "SGD momentum")->capture_default_str()->check(CLI::Range(0.0, 0.9999));
  app.add_flag("--nesterov", o.nesterov, "Nesterov momentum");
  app.add_option("--weight-decay", o.weight_decay, "L2 weight decay")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--optimizer", o.optimizer, "sgd | adam")->capture_default_str();
  app.add_option("--warmup-steps", o.warmup_steps, "Linear learning-rate warm-up")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--lr-decay", o.lr_decay, "none | cosine (to 0 over the run: train only) | exp:GAMMA (per epoch)")->capture_default_str();
  app.add_option("--threads", o.threads, "Math threads for this replica")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option(seed_flag, o.seed, "Seed for initialisation, shuffling and shards")->capture_default_str();
  app.add_option("--shard", o.shard, "Train on shard I of N (0-based), e.g. 2/4")->capture_default_str();
  app.add_option("--partition", o.partition, "iid | dirichlet:ALPHA (label-skewed shards)")->capture_default_str();
  app.add_option("--classes", o.classes,
                 "Outputs of the model, for labels 0..N-1 (a larger label is an error); 0: the data's largest "
                 "label + 1. Peers of a swarm with their own files: give all the same N")
      ->capture_default_str()
      ->check(CLI::Range(0, ml::kMaxClasses));
}

namespace {

// prepare_model's checks of the options, and what they make, without the
// model (its shape comes from the data).
Result<TrainingModel> checked_options(const TrainingOptions& o, ml::ModelSpec& spec) {
  TrainingModel setup;
  auto parsed_spec = ml::ModelSpec::parse(o.model);
  if (!parsed_spec) return parsed_spec.error();
  spec = *parsed_spec;
  auto kind = ml::OptimizerConfig::parse_kind(o.optimizer);
  if (!kind) return kind.error();
  double gamma = 1.0;
  auto decay = ml::LrSchedule::parse_decay(o.lr_decay, &gamma);
  if (!decay) return decay.error();
  auto shard = ml::ShardSpec::parse(o.shard);
  if (!shard) return shard.error();
  auto partition = ml::Partition::parse(o.partition);
  if (!partition) return partition.error();
  if (o.classes == 1) {
    return make_error(ErrorKind::invalid_argument, "--classes 1: a classifier needs at least 2 (0: from the data)");
  }
  if (auto threads = ml::set_math_threads(o.threads); !threads) return threads.error();
  setup.shard_spec = *shard;
  setup.partition = *partition;
  setup.optimizer_config.kind = *kind;
  setup.optimizer_config.momentum = o.momentum;
  setup.optimizer_config.nesterov = o.nesterov;
  setup.optimizer_config.weight_decay = o.weight_decay;
  setup.schedule.lr = o.lr;
  setup.schedule.warmup_steps = o.warmup_steps;
  setup.schedule.decay = *decay;
  setup.schedule.gamma = gamma;
  return setup;
}

}  // namespace

Status check_training_options(const TrainingOptions& o) {
  ml::ModelSpec spec;
  auto checked = checked_options(o, spec);
  if (!checked) return checked.error();
  return ok_status();
}

Result<TrainingModel> prepare_model(const TrainingOptions& o, const ml::DatasetShape& shape) {
  ml::ModelSpec spec;
  auto setup = checked_options(o, spec);
  if (!setup) return setup.error();
  if (shape.inputs <= 0) return make_error(ErrorKind::invalid_argument, "the data set's samples have no features");
  if (shape.classes < 2) {
    return make_error(ErrorKind::invalid_argument,
                      "the data set has " + std::to_string(shape.classes) +
                          " class(es): a classifier needs at least 2 (labels are classes 0, 1, 2 ...; when other "
                          "files hold the other classes, give their number with --classes)");
  }
  setup->shape = shape;
  auto model = ml::make_model(spec, shape.inputs, shape.classes);
  if (!model) return model.error();
  setup->model = std::move(*model);
  setup->model->initialize(o.seed);
  return setup;
}

namespace {

// IDX data: the mean and deviation from a histogram of the bytes, and only
// the shard's training samples made floats (renumbered 0..n-1 as
// keep_only_shard would). The same features, bit for bit, as the float path
// below gives for the same mean and scale.
// More shards than training samples leave every shard one sample at most, and
// the split sizes its tables by the shard count: --shard 0/100000000 took
// 2.3 GB and 10 s before saying the shard was empty.
Status shard_count_fits(const std::string& text, const ml::ShardSpec& shard, std::size_t samples) {
  if (std::size_t(shard.count) <= samples) return ok_status();
  return make_error(ErrorKind::invalid_argument,
                    "--shard " + text + ": " + std::to_string(shard.count) + " shards of " + std::to_string(samples) +
                        " training samples leave at most one sample a shard; give N <= " + std::to_string(samples));
}

Result<TrainingData> load_idx_shard(ml::ByteTrainTest bytes, const TrainingOptions& o, const ml::ShardSpec& shard,
                                    const ml::Partition& partition) {
  TrainingData out;
  out.train_samples = bytes.train.size();
  const ml::Standardization standardization = ml::standardization_of(bytes.train);
  out.data_mean = standardization.mean;
  out.data_std = standardization.deviation;
  out.label_warning = ml::label_warning(bytes.train.labels, bytes.test.labels,
                                        std::max(bytes.train.classes, bytes.test.classes), o.classes > 0);
  if (Status fits = shard_count_fits(o.shard, shard, bytes.train.size()); !fits) return fits.error();
  std::vector<std::size_t> kept = ml::shard_indices(ml::labels_of(bytes.train), shard, partition, o.seed);
  if (kept.empty()) return make_error(ErrorKind::invalid_argument, "shard " + o.shard + " of the training set is empty");
  out.data.train = ml::features_of(bytes.train, standardization, &kept);
  bytes.train = {};  // before the test set's floats are made: a lower peak
  out.data.test = ml::features_of(bytes.test, standardization);
  out.shard.resize(kept.size());
  std::iota(out.shard.begin(), out.shard.end(), std::size_t{0});
  return out;
}

}  // namespace

Result<TrainingData> load_training_data(const TrainingOptions& o, const ml::ShardSpec& shard,
                                        const ml::Partition& partition) {
  auto bytes = ml::load_dataset_bytes(o.data, o.classes);
  if (!bytes) return bytes.error();
  if (*bytes) return load_idx_shard(std::move(**bytes), o, shard, partition);
  TrainingData out;
  auto data = ml::load_dataset(o.data, o.seed, ml::kTestFraction, o.classes);
  if (!data) return data.error();
  out.data = std::move(*data);
  if (out.data.train.size() == 0) return make_error(ErrorKind::invalid_argument, "the training set is empty");
  out.train_samples = out.data.train.size();
  out.label_warning =
      ml::label_warning(out.data.train.labels, out.data.test.labels, out.data.train.classes, o.classes > 0);
  std::tie(out.data_mean, out.data_std) = ml::standardize(out.data);
  // Values near the float limit overflow when centred (3e38 - -1e38): a NaN
  // loss at step 0 would blame --lr. The data is what to fix.
  for (const auto& [part, name] : {std::pair{&out.data.train, "training"}, std::pair{&out.data.test, "test"}}) {
    if (std::string where = ml::first_non_finite_feature(*part); !where.empty()) {
      return make_error(ErrorKind::invalid_argument,
                        "--data " + quoted_text(o.data) + ": feature values too large to standardise in float (mean " +
                            fmt::format("{:g}", out.data_mean) + ", deviation " + fmt::format("{:g}", out.data_std) +
                            "; standardised, in the " + name + " set " + where +
                            "): scale the features down, e.g. to |x| < 1e30");
    }
  }
  if (Status fits = shard_count_fits(o.shard, shard, out.data.train.size()); !fits) return fits.error();
  out.shard = ml::shard_indices(out.data.train, shard, partition, o.seed);
  if (out.shard.empty()) return make_error(ErrorKind::invalid_argument, "shard " + o.shard + " of the training set is empty");
  return out;
}

void keep_only_shard(TrainingData& data) {
  if (data.shard.size() == data.data.train.size()) return;  // the whole set: nothing to drop
  data.data.train = data.data.train.subset(data.shard);
  // Position k now holds the sample shard[k] named: the batcher's seeded
  // shuffle permutes positions, so the batches are the same samples as before.
  std::iota(data.shard.begin(), data.shard.end(), std::size_t{0});
}

ml::DatasetShape shape_of(const TrainingData& data) {
  return ml::DatasetShape{data.data.train.inputs(), data.data.train.classes};
}

Status check_shape(const TrainingData& data, const ml::DatasetShape& shape) {
  const ml::DatasetShape loaded = shape_of(data);
  if (loaded == shape) return ok_status();
  return make_error(ErrorKind::corrupt, "the data loaded has " + std::to_string(loaded.inputs) + " inputs and " +
                                            std::to_string(loaded.classes) + " classes, its headers said " +
                                            std::to_string(shape.inputs) + " and " + std::to_string(shape.classes));
}

Result<TrainingData> check_options_and_load(const TrainingOptions& o) {
  // The options first, so a bad flag fails before the data loads.
  ml::ModelSpec spec;
  auto checked = checked_options(o, spec);
  if (!checked) return checked.error();
  return load_training_data(o, checked->shard_spec, checked->partition);
}

Result<TrainingSetup> prepare_training(const TrainingOptions& o) {
  auto data = check_options_and_load(o);
  if (!data) return data.error();
  auto model = prepare_model(o, shape_of(*data));
  if (!model) return model.error();
  TrainingSetup setup;
  static_cast<TrainingModel&>(setup) = std::move(*model);
  static_cast<TrainingData&>(setup) = std::move(*data);
  return setup;
}

}  // namespace starling::apps
