#include "training_options.h"

#include <CLI/CLI.hpp>
#include <Eigen/Core>

#include "starling/ml/fpu.h"

namespace starling::apps {

TrainingOptions train_defaults() {
  TrainingOptions options;
  options.lr_decay = "cosine";
  return options;
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
  app.add_option("--batch", o.batch, "Minibatch size")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--lr", o.lr, "Learning rate")->capture_default_str()->check(CLI::Range(0.0, 1e6));
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
}

Result<TrainingSetup> prepare_training(const TrainingOptions& o) {
  TrainingSetup setup;
  auto spec = ml::ModelSpec::parse(o.model);
  if (!spec) return spec.error();
  auto kind = ml::OptimizerConfig::parse_kind(o.optimizer);
  if (!kind) return kind.error();
  double gamma = 1.0;
  auto decay = ml::LrSchedule::parse_decay(o.lr_decay, &gamma);
  if (!decay) return decay.error();
  auto shard = ml::ShardSpec::parse(o.shard);
  if (!shard) return shard.error();
  auto partition = ml::Partition::parse(o.partition);
  if (!partition) return partition.error();

  if (auto threads = ml::set_math_threads(o.threads); !threads) return threads.error();

  auto data = ml::load_dataset(o.data, o.seed);
  if (!data) return data.error();
  setup.data = std::move(*data);
  if (setup.data.train.size() == 0) return make_error(ErrorKind::invalid_argument, "the training set is empty");
  std::tie(setup.data_mean, setup.data_std) = ml::standardize(setup.data);

  setup.model = std::make_unique<ml::Mlp>(*spec, setup.data.train.inputs(), setup.data.train.classes);
  setup.model->initialize(o.seed);
  setup.shard = ml::shard_indices(setup.data.train, *shard, *partition, o.seed);
  if (setup.shard.empty()) {
    return make_error(ErrorKind::invalid_argument, "shard " + o.shard + " of the training set is empty");
  }
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

}  // namespace starling::apps
