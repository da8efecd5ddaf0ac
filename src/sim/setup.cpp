#include "setup.h"

#include <cstdlib>

#include "starling/compress/mlp_layout.h"
#include "starling/compress/spec.h"
#include "starling/gossip/config.h"
#include "starling/node/defaults.h"
#include "starling/node/momentum_default.h"

namespace starling::sim::detail {

bool is_synthetic(const scenario::SwarmSpec& swarm) { return swarm.data.rfind("synthetic", 0) == 0; }

namespace {

Result<std::size_t> synthetic_dimension(const std::string& data, std::size_t fallback) {
  if (data == "synthetic") return fallback;
  if (data.rfind("synthetic:", 0) != 0) return make_error(ErrorKind::invalid_argument, "not synthetic: " + data);
  char* end = nullptr;
  const long long dimension = std::strtoll(data.c_str() + 10, &end, 10);
  if (end == data.c_str() + 10 || *end != '\0' || dimension < 1 || dimension > (1LL << 26))
    return make_error(ErrorKind::invalid_argument, "data = \"synthetic:DIM\" wants 1 <= DIM <= 2^26, got '" + data + "'");
  return std::size_t(dimension);
}

}  // namespace

Status configure_world(const scenario::Scenario& s, const SimulateOptions& options,
                       std::shared_ptr<const ml::TrainTest> data, WorldOptions& world) {
  const scenario::SwarmSpec& swarm = s.swarm;
  auto config = gossip::config_for_profile(swarm.profile);
  if (!config) return config.error();
  world.membership = *config;
  world.seed = options.seed;
  world.latency_us = options.latency_us;
  world.heterogeneity_sigma = options.heterogeneity_sigma;
  world.train = swarm.train;
  if (!swarm.train) return ok_status();

  auto compressor = compress::CompressorSpec::parse(swarm.compress);
  if (!compressor) return make_error(ErrorKind::invalid_argument, "compress: " + compressor.error().message);
  node::TrainingDriverOptions& d = world.driver;
  d.compressor = *compressor;
  auto clip = node::parse_clip(swarm.clip);
  if (!clip) return make_error(ErrorKind::invalid_argument, "clip: " + clip.error().message);
  d.clip = clip->mode;
  d.clip_radius = clip->radius;
  d.gamma = float(swarm.gamma.value_or(0.0));
  // A key the file leaves out is `starling peer`'s default (node/defaults.h).
  d.neighbours = std::size_t(swarm.neighbours.value_or(node::defaults::kNeighbours));
  d.upload_budget.bytes_per_second = swarm.max_upload.value_or(node::defaults::kMaxUploadBytesPerSecond);
  d.max_links = std::size_t(node::defaults::kMaxLinks);
  d.round_every_steps = std::uint64_t(swarm.round_steps.value_or(0));
  const auto mixing = node::parse_mixing(swarm.mixing.value_or(std::string(node::defaults::kMixing)));
  if (!mixing) return make_error(ErrorKind::invalid_argument, "mixing: " + swarm.mixing.value_or(""));
  d.mixing = *mixing;
  d.round_max_interval_ms = std::uint64_t(node::defaults::kGossipIntervalMs);
  // The simulator charges a round no CPU time, so the CPU rule of round
  // pacing never binds here: unset, it keeps the peer's 50 ms floor its
  // figures were measured with (docs/learning.md, "When a peer gossips").
  d.round_min_interval_ms = std::uint64_t(swarm.round_floor_ms.value_or(node::defaults::kRoundFloorMs));
  d.consensus_control = swarm.consensus_control;
  if (swarm.consensus_target) d.consensus_control_config.target = *swarm.consensus_target;
  // lr 0 is a consensus-only run: every replica keeps its own starting point
  // instead of downloading, so the swarm average means something.
  if (swarm.lr == 0.0) d.download_model = false;
  d.download_bf16 = true;  // as `starling peer`

  const double lr = swarm.lr;
  const std::int64_t eval_every = swarm.eval_every_steps;
  const double step_seconds = options.step_seconds;
  const std::uint64_t handoff_ms = options.handoff_ms;
  const double eval_seconds = options.eval_ms / 1000.0;
  // The breakage skews peer 0's corrections only: the pulls of a pair are
  // opposite, so skewing every peer's alike would keep the average.
  const float correction_scale = options.breakage == Breakage::skewed_corrections ? 1.5f : 1.0f;
  const std::uint64_t run_seed = options.seed;

  if (is_synthetic(swarm)) {
    auto dimension = synthetic_dimension(swarm.data, options.synthetic.dimension);
    if (!dimension) return dimension.error();
    SyntheticObjective objective = options.synthetic;
    objective.dimension = *dimension;
    if (lr == 0.0 && objective.initial_spread <= 0.0f) objective.initial_spread = 1.0f;
    d.layout = compress::Layout::whole(objective.dimension);
    d.model_hash = node::model_hash("starling-sim synthetic " + std::to_string(objective.dimension));
    auto mean_target = synthetic_mean_target(objective, run_seed);
    world.trainer = [=](int index, std::uint64_t seed) {
      TrainerOptions t;
      t.step_seconds = step_seconds;
      t.handoff_ms = handoff_ms;
    t.eval_seconds = eval_seconds;
      t.eval_every_steps = eval_every;
      t.lr = lr;
      t.seed = seed;
      t.synthetic = objective;
      t.mean_target = mean_target;
      t.correction_scale = index == 0 ? correction_scale : 1.0f;
      return t;
    };
    return ok_status();
  }

  if (!data) return make_error(ErrorKind::invalid_argument, "no data set loaded for " + swarm.data);
  auto spec = ml::ModelSpec::parse(swarm.model);
  if (!spec) return make_error(ErrorKind::invalid_argument, "model: " + spec.error().message);
  auto partition = ml::Partition::parse(swarm.partition);
  if (!partition) return make_error(ErrorKind::invalid_argument, "partition: " + partition.error().message);
  const int inputs = data->train.inputs();
  const int classes = data->train.classes;
  if (inputs <= 0 || classes < 2) {
    return make_error(ErrorKind::invalid_argument, "data " + swarm.data + ": " + std::to_string(classes) +
                                                       " class(es) of " + std::to_string(inputs) +
                                                       " features: a classifier needs at least 2 classes");
  }
  // Every peer builds one: a model past the bound is refused before the first.
  auto probe = ml::make_model(*spec, inputs, classes);
  if (!probe) return probe.error();
  d.layout = compress::layout_for(**probe);
  // The same description `starling peer` hashes, so the links agree.
  d.model_hash = node::model_hash(ml::model_description(*spec, inputs, classes));
  d.model_shape = ml::model_shape(*spec, inputs, classes);
  const int shards = s.total_peers();
  const int batch = swarm.batch;
  const ml::ModelSpec model_spec = *spec;
  const ml::Partition split = *partition;
  ml::OptimizerConfig::MomentumMode mode = node::default_momentum_mode(compressor->kind);
  if (swarm.momentum_mode) {
    auto parsed = ml::OptimizerConfig::parse_momentum_mode(*swarm.momentum_mode);
    if (!parsed) return make_error(ErrorKind::invalid_argument, "momentum_mode: " + parsed.error().message);
    mode = *parsed;
  }
  const std::optional<double> absorb_share = swarm.absorb_share;
  world.trainer = [=](int index, std::uint64_t seed) {
    TrainerOptions t;
    t.step_seconds = step_seconds;
    t.handoff_ms = handoff_ms;
    t.eval_seconds = eval_seconds;
    t.eval_every_steps = eval_every;
    t.lr = lr;
    t.seed = seed;
    t.correction_scale = index == 0 ? correction_scale : 1.0f;
    node::TrainingLoopOptions loop;
    loop.model = std::make_unique<ml::Mlp>(model_spec, inputs, classes);
    loop.model->initialize(run_seed);  // one --random-seed for the whole swarm, as the runner passes
    loop.schedule.lr = lr;
    loop.optimizer.momentum_mode = mode;
    if (absorb_share) loop.optimizer.absorb_share = *absorb_share;
    loop.shard = ml::shard_indices(data->train, ml::ShardSpec{index, shards}, split, run_seed);
    loop.schedule.steps_per_epoch = std::max<std::int64_t>(1, (std::int64_t(loop.shard.size()) + batch - 1) / batch);
    loop.data = data;
    loop.batch = batch;
    loop.seed = seed;
    loop.eval_every_steps = eval_every;
    t.loop = std::move(loop);
    return t;
  };
  return ok_status();
}

}  // namespace starling::sim::detail
