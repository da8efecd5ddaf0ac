#include "starling/node/training_loop.h"

#include <algorithm>
#include <utility>

#include "starling/assert.h"
#include "starling/ml/fpu.h"

namespace starling::node {
namespace {

constexpr int kMaxConsecutiveNan = 100;  // then failed
constexpr double kNanWarningInterval = 5.0;  // seconds between skip summaries

// A model-sized vector from outside: `what` has the model's size and, when
// `finite` is asked for, no NaN/Inf entry.
enum class Finite { check, known };
Status check_model_sized(const Eigen::VectorXf& v, const Eigen::VectorXf& model, const char* what, Finite finite) {
  if (v.size() != model.size()) {
    return make_error(ErrorKind::invalid_argument, std::string(what) + " has " + std::to_string(v.size()) +
                                                       " entries, the model " + std::to_string(model.size()));
  }
  if (finite == Finite::check && !ml::all_finite(v.data(), std::size_t(v.size())))
    return make_error(ErrorKind::numerical, std::string(what) + " holds NaN or Inf");
  return ok_status();
}
constexpr double kRateWindow = 0.5;          // seconds per steps_per_second window

// Why the options cannot train, or empty.
std::string invalid_options(const TrainingLoopOptions& o) {
  const ml::TrainTest& data = *o.data;
  if (o.batch < 1) return "batch must be at least 1";
  if (o.shard.empty()) return "the shard holds no training samples";
  for (std::size_t index : o.shard) {
    if (index >= data.train.size()) {
      return "shard index " + std::to_string(index) + " is outside the training set of " +
             std::to_string(data.train.size()) + " samples";
    }
  }
  if (o.model->inputs() != data.train.inputs()) {
    return "model takes " + std::to_string(o.model->inputs()) + " inputs, the data has " +
           std::to_string(data.train.inputs());
  }
  if (data.test.size() > 0 && data.test.inputs() != data.train.inputs()) {
    return "test split has " + std::to_string(data.test.inputs()) + " inputs, the training split " +
           std::to_string(data.train.inputs());
  }
  if (o.model->classes() < std::max(data.train.classes, data.test.classes)) {
    return "model has " + std::to_string(o.model->classes()) + " classes, the data " +
           std::to_string(std::max(data.train.classes, data.test.classes));
  }
  if (!o.model->parameters().allFinite()) return "initial parameters are not finite";
  return {};
}

}  // namespace

struct TrainingLoop::Engine {
  ml::Optimizer optimizer;
  ml::Batcher batcher;
  ml::Trainer trainer;

  explicit Engine(const TrainingLoopOptions& o)
      : optimizer(o.optimizer, o.model->parameter_count()),
        batcher(o.data->train, o.shard, o.batch, o.seed),
        trainer(*o.model, optimizer, batcher, o.schedule) {}

  // Why `c` cannot resume this engine's model and optimizer, or empty.
  std::string cannot_resume(const ml::Checkpoint& c, const ml::Mlp& model, const ml::OptimizerConfig& config) {
    const auto state = optimizer.state();
    if (c.spec.to_string() != model.spec().to_string() || c.inputs != model.inputs() ||
        c.classes != model.classes() || c.parameters.size() != model.parameters().size()) {
      return "checkpoint holds model " + c.spec.to_string() + " (" + std::to_string(c.inputs) + " inputs, " +
             std::to_string(c.classes) + " classes), not " + model.spec().to_string() + " (" +
             std::to_string(model.inputs()) + ", " + std::to_string(model.classes()) + ")";
    }
    if (c.optimizer.kind != config.kind || c.optimizer_state.size() != state.size()) {
      return "checkpoint optimizer differs from the configured one";
    }
    if (!c.parameters.allFinite()) return "checkpoint parameters are not finite";
    for (std::size_t i = 0; i < state.size(); ++i) {
      if (c.optimizer_state[i].size() != state[i]->size()) return "checkpoint optimizer state has the wrong size";
    }
    return {};
  }
};

TrainingLoop::TrainingLoop(TrainingLoopOptions options) : options_(std::move(options)) {
  STARLING_ASSERT_MSG(options_.model != nullptr, "TrainingLoopOptions::model is required");
  STARLING_ASSERT_MSG(options_.data != nullptr, "TrainingLoopOptions::data is required");
  if (std::string why = invalid_options(options_); !why.empty()) {
    error_ = std::move(why);
    return;
  }
  engine_ = std::make_unique<Engine>(options_);
  schedule_next_evaluation();
  if (!options_.resume) return;

  const ml::Checkpoint& c = *options_.resume;
  if (std::string why = engine_->cannot_resume(c, *options_.model, options_.optimizer); !why.empty()) {
    engine_.reset();
    error_ = "cannot resume: " + why;
    return;
  }
  options_.model->parameters() = c.parameters;
  const auto state = engine_->optimizer.state();
  for (std::size_t i = 0; i < state.size(); ++i) *state[i] = c.optimizer_state[i];
  engine_->optimizer.set_steps(c.optimizer_steps);
  engine_->trainer.restore_counters(c.step, c.samples);
  schedule_next_evaluation();  // on the grid of the restored step count
  options_.resume.reset();  // its vectors were copied in: do not hold a second model
}

TrainingLoop::~TrainingLoop() = default;

const Eigen::VectorXf& TrainingLoop::parameters() const { return options_.model->parameters(); }

std::int64_t TrainingLoop::steps() const { return engine_ ? engine_->trainer.steps() : 0; }

void TrainingLoop::fix_origin(double now_seconds) {
  if (origin_seconds_) return;
  origin_seconds_ = now_seconds;
  rate_mark_seconds_ = now_seconds;
}

StepResult TrainingLoop::step(double now_seconds) {
  STARLING_ASSERT_MSG(!failed(), "TrainingLoop::step() on a failed loop");
  fix_origin(now_seconds);
  Engine& e = *engine_;

  // steps_per_second: steps completed between the window's mark and now.
  const double rate_elapsed = now_seconds - rate_mark_seconds_;
  if (rate_elapsed >= kRateWindow) {
    steps_per_second_ = double(steps_this_run_ - rate_mark_steps_) / rate_elapsed;
    rate_mark_seconds_ = now_seconds;
    rate_mark_steps_ = steps_this_run_;
    first_rate_window_ = false;
  } else if (first_rate_window_ && rate_elapsed > 0.0) {
    steps_per_second_ = double(steps_this_run_) / rate_elapsed;  // first window: since the origin
  }

  StepResult result;
  Result<ml::BatchStats> stats = e.trainer.step();
  if (stats) {
    consecutive_nan_ = 0;
    ++steps_this_run_;
    record_loss(*stats);
    result.stats = *stats;
    return result;
  }

  result.kind = StepResult::Kind::skipped;
  ++consecutive_nan_;
  ++nan_total_;
  // The trainer left the parameters alone, but fused SGD has already folded
  // the bad gradient into its velocity: drop a momentum buffer that holds
  // NaN/Inf, or the next good step would carry it into the parameters.
  bool reset = false;
  for (Eigen::VectorXf* buffer : e.optimizer.state()) {
    if (!buffer->allFinite()) {
      buffer->setZero();
      reset = true;
    }
  }
  if (consecutive_nan_ >= kMaxConsecutiveNan) {
    error_ = "training diverged: " + std::to_string(kMaxConsecutiveNan) +
             " steps in a row had a NaN/Inf loss; last: " + stats.error().message;
    // The trainer's hint names the learning rate; in a swarm the
    // neighbours' corrections move the model too.
    if (corrections_applied_ > 0) {
      error_ += "; this replica had applied " + std::to_string(corrections_applied_) +
                " gossip corrections, the last at step " + std::to_string(step_at_last_correction_) +
                ": a diverged or hostile neighbour can cause this too (keep --clip auto)";
    }
    result.kind = StepResult::Kind::failed;
    result.warning = error_;
  } else if (!last_nan_warning_seconds_ || now_seconds - *last_nan_warning_seconds_ >= kNanWarningInterval) {
    result.warning = "step skipped (" + stats.error().message + "); " +
                     std::to_string(nan_total_ - nan_at_last_warning_) + " skipped since the last warning, " +
                     std::to_string(nan_total_) + " in all" + (reset ? "; optimizer state reset" : "");
    last_nan_warning_seconds_ = now_seconds;
    nan_at_last_warning_ = nan_total_;
  }
  return result;
}

Status TrainingLoop::add_correction(const Eigen::VectorXf& correction) {
  if (Status checked = check_model_sized(correction, parameters(), "correction", Finite::check); !checked) return checked;
  return add_finite_correction(correction);
}

Status TrainingLoop::add_finite_correction(const Eigen::VectorXf& correction) {
  if (Status checked = check_model_sized(correction, parameters(), "correction", Finite::known); !checked) return checked;
  Eigen::VectorXf& parameters = options_.model->parameters();
  parameters += correction;
  // The momentum mode (ml::OptimizerConfig::MomentumMode) decides whether the
  // optimizer state takes the pull too; the default leaves it alone.
  if (engine_) engine_->optimizer.on_correction(correction);
  ++corrections_applied_;
  step_at_last_correction_ = steps();
  return ok_status();
}

Status TrainingLoop::recover(const Eigen::VectorXf& parameters) {
  if (!failed() || !engine_) {
    return make_error(ErrorKind::invalid_argument,
                      failed() ? "cannot recover: the loop never started (" + error_ + ")"
                               : std::string("cannot recover: the loop has not failed"));
  }
  Eigen::VectorXf& own = options_.model->parameters();
  if (Status checked = check_model_sized(parameters, own, "the model to recover from", Finite::check); !checked)
    return checked;
  own = parameters;
  // A fresh optimizer: the velocity of the run that diverged would carry it
  // on. Assigned in place (the trainer holds a reference to it).
  const ml::OptimizerConfig config = engine_->optimizer.config();
  const std::int64_t steps = engine_->optimizer.steps();
  engine_->optimizer = ml::Optimizer(config, std::size_t(own.size()));
  engine_->optimizer.set_steps(steps);
  consecutive_nan_ = 0;
  error_.clear();
  ++recoveries_;
  return ok_status();
}

void TrainingLoop::schedule_next_evaluation() {
  const std::int64_t every = options_.eval_every_steps;
  next_eval_step_ = every > 0 ? (steps() / every + 1) * every : 0;
}

bool TrainingLoop::evaluation_due() const {
  if (failed() || options_.data->test.size() == 0 || options_.eval_every_steps <= 0) return false;
  return steps() >= next_eval_step_;
}

ml::Evaluation TrainingLoop::evaluate() {
  last_evaluation_ = ml::evaluate(*options_.model, options_.data->test);
  evaluated_at_step_ = steps();
  ++evaluations_;
  schedule_next_evaluation();
  return *last_evaluation_;
}

Result<ml::Evaluation> TrainingLoop::evaluate_local_average(Eigen::VectorXf& parameters, std::int64_t at_step,
                                                            std::size_t neighbours) {
  STARLING_ASSERT_MSG(!failed(), "TrainingLoop::evaluate_local_average() on a failed loop");
  Eigen::VectorXf& own = options_.model->parameters();
  if (Status checked = check_model_sized(parameters, own, "local average", Finite::check); !checked)
    return checked.error();
  // The layers are views made from parameters() at each use, so swapping the
  // vectors' buffers (O(1)) makes the model compute with the average.
  own.swap(parameters);
  const ml::Evaluation evaluation = ml::evaluate(*options_.model, options_.data->test);
  own.swap(parameters);
  local_average_evaluation_ = evaluation;
  local_average_at_step_ = at_step;
  local_average_neighbours_ = std::int64_t(neighbours);
  ++local_average_evaluations_;
  return evaluation;
}

void TrainingLoop::record_loss(const ml::BatchStats& stats) {
  loss_sum_[loss_next_] = stats.loss_sum;
  loss_count_[loss_next_] = stats.count;
  loss_next_ = (loss_next_ + 1) % kLossWindow;
  loss_filled_ = std::min(loss_filled_ + 1, kLossWindow);
}

double TrainingLoop::mean_loss() const {
  double sum = 0.0;
  std::int64_t count = 0;
  for (int i = 0; i < loss_filled_; ++i) {
    sum += loss_sum_[i];
    count += loss_count_[i];
  }
  return count > 0 ? sum / double(count) : std::numeric_limits<double>::quiet_NaN();
}

void TrainingLoop::progress_into(TrainingProgress& p) const {
  p.step = steps();
  p.samples = engine_ ? engine_->trainer.samples() : 0;
  p.epoch = engine_ ? engine_->trainer.epoch() : 0.0;
  p.train_loss = mean_loss();
  p.evaluated = last_evaluation_.has_value();
  if (last_evaluation_) {
    p.test_accuracy = last_evaluation_->accuracy;
    p.test_loss = last_evaluation_->loss;
  }
  p.evaluated_at_step = evaluated_at_step_;
  p.local_average_evaluated = local_average_evaluation_.has_value();
  if (local_average_evaluation_) {
    p.local_average_accuracy = local_average_evaluation_->accuracy;
    p.local_average_loss = local_average_evaluation_->loss;
  }
  p.local_average_at_step = local_average_at_step_;
  p.local_average_neighbours = local_average_neighbours_;
  p.local_average_evaluations = local_average_evaluations_;
  p.steps_per_second = steps_per_second_;
  p.steps_this_run = steps_this_run_;
  p.evaluations = evaluations_;
  p.nan_steps_skipped = nan_total_;
  p.recoveries = recoveries_;
}

TrainingProgress TrainingLoop::progress() const {
  TrainingProgress p;
  progress_into(p);
  p.corrections_applied = corrections_applied_;
  p.state = failed() ? "failed" : origin_seconds_ ? "training" : "idle";
  p.error = error_;
  return p;
}

ml::Checkpoint TrainingLoop::checkpoint() const {
  STARLING_ASSERT_MSG(!failed(), "TrainingLoop::checkpoint() on a failed loop");
  const ml::Mlp& model = *options_.model;
  Engine& e = *engine_;
  ml::Checkpoint c;
  c.spec = model.spec();
  c.inputs = model.inputs();
  c.classes = model.classes();
  c.parameters = model.parameters();
  c.optimizer = e.optimizer.config();
  for (const Eigen::VectorXf* v : e.optimizer.state()) c.optimizer_state.push_back(*v);
  c.optimizer_steps = e.optimizer.steps();
  c.step = e.trainer.steps();
  c.samples = e.trainer.samples();
  c.epoch = e.trainer.epoch();
  c.data_mean = options_.data_mean;
  c.data_std = options_.data_std;
  c.metadata = options_.checkpoint_metadata;
  c.metadata["model"] = "own";  // which model (docs/checkpoints.md); a caller exporting the local average says so
  return c;
}

}  // namespace starling::node
