#include "starling/sim/trainer.h"

#include <algorithm>
#include <cmath>

#include "starling/assert.h"
#include "starling/node/peer.h"

namespace starling::sim {

std::shared_ptr<const Eigen::VectorXf> synthetic_mean_target(const SyntheticObjective& objective,
                                                             std::uint64_t seed) {
  std::mt19937_64 random(seed ^ 0x7A26'E7A2'6E7A'0001ULL);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto target = std::make_shared<Eigen::VectorXf>(Eigen::Index(objective.dimension));
  for (auto& v : *target) v = normal(random);
  return target;
}

SteppedTrainer::SteppedTrainer(node::Transport& transport, node::Peer** driver, TrainerOptions options)
    : transport_(transport), driver_(driver), options_(std::move(options)), random_(options_.seed) {
  STARLING_ASSERT(options_.loop.has_value() != options_.synthetic.has_value());
  if (options_.loop) {
    loop_ = std::make_unique<node::TrainingLoop>(std::move(*options_.loop));
    options_.loop.reset();
    return;
  }
  const SyntheticObjective& objective = *options_.synthetic;
  STARLING_ASSERT(options_.mean_target && std::size_t(options_.mean_target->size()) == objective.dimension);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  target_ = *options_.mean_target;
  for (auto& v : target_) v += objective.target_spread * normal(random_);
  x_ = Eigen::VectorXf::Zero(Eigen::Index(objective.dimension));
  if (objective.initial_spread > 0.0f) {
    for (auto& v : x_) v = objective.initial_spread * normal(random_);
  }
}

SteppedTrainer::~SteppedTrainer() {
  if (step_timer_) transport_.cancel_timer(*step_timer_);
  for (node::TimerId id : answer_timers_) transport_.cancel_timer(id);
}

const Eigen::VectorXf& SteppedTrainer::parameters() const { return loop_ ? loop_->parameters() : x_; }
std::size_t SteppedTrainer::parameter_count() const { return std::size_t(parameters().size()); }
bool SteppedTrainer::failed() const { return loop_ && loop_->failed(); }
std::string SteppedTrainer::error() const { return loop_ ? loop_->error() : std::string(); }

void SteppedTrainer::start_training(const Eigen::VectorXf* initial) {
  STARLING_ASSERT(!started_);
  started_ = true;
  if (failed()) {
    resume(initial);
    return;
  }
  if (initial != nullptr) {
    if (loop_) {
      // The downloaded model replaces ours: the loop adds the difference.
      const Eigen::VectorXf difference = *initial - loop_->parameters();
      (void)loop_->add_correction(difference);
    } else {
      x_ = *initial;
    }
  }
  if (failed()) return;
  const double now = now_seconds();
  next_step_seconds_ = now;
  schedule_next();
}

void SteppedTrainer::resume(const Eigen::VectorXf* initial) {
  // As the worker's restart: the model given (or our last finite one) with a
  // fresh optimizer state; corrections held for the failed model are dropped.
  holding_ = false;
  publish_at_step_.reset();
  if (!loop_->recover(initial != nullptr ? *initial : Eigen::VectorXf(loop_->parameters()))) return;
  next_step_seconds_ = now_seconds();
  schedule_next();
}

void SteppedTrainer::request_parameters(std::int64_t at_step) {
  // A future step waits for the step (a newer request replaces it); a due
  // one is answered on the next turn of the world, like the training
  // thread's post.
  if (at_step > steps_) {
    publish_at_step_ = at_step;
    return;
  }
  publish_at_step_.reset();
  answer();
}

void SteppedTrainer::answer() {
  settle();  // the worker publishes at a boundary, after applying what it holds
  auto id = std::make_shared<node::TimerId>(0);
  if (options_.handoff_ms > 0) {
    // The copy of this step travels, as the worker's post does.
    *id = transport_.start_timer(options_.handoff_ms, [this, id, copy = parameters(), step = steps_]() mutable {
      answer_timers_.erase(std::remove(answer_timers_.begin(), answer_timers_.end(), *id), answer_timers_.end());
      if (*driver_ != nullptr) (*driver_)->on_parameters(std::move(copy), step);
    });
    answer_timers_.push_back(*id);
    return;
  }
  *id = transport_.start_timer(0, [this, id] {
    answer_timers_.erase(std::remove(answer_timers_.begin(), answer_timers_.end(), *id), answer_timers_.end());
    settle();
    if (*driver_ != nullptr) (*driver_)->on_parameters(parameters(), steps_);
  });
  answer_timers_.push_back(*id);
}

void SteppedTrainer::add_correction(const Eigen::VectorXf& correction) {
  if (options_.correction_scale != 1.0f) {
    const Eigen::VectorXf scaled = options_.correction_scale * correction;
    if (loop_) hold(scaled);
    else if (scaled.size() == x_.size() && scaled.allFinite()) x_ += scaled;
    return;
  }
  if (loop_) {
    hold(correction);
    return;
  }
  if (correction.size() == x_.size() && correction.allFinite()) x_ += correction;
}

void SteppedTrainer::hold(const Eigen::VectorXf& correction) {
  // A NaN correction (or one of the wrong size) is refused on its own, as the
  // worker's hand-off refuses it, not summed into the others.
  if (correction.size() != loop_->parameters().size() || !correction.allFinite()) {
    (void)loop_->add_correction(correction);
    return;
  }
  if (holding_) {
    held_correction_ += correction;
  } else {
    held_correction_ = correction;
    holding_ = true;
  }
}

void SteppedTrainer::settle() {
  if (!holding_ || !loop_) return;
  holding_ = false;
  (void)loop_->add_correction(held_correction_);  // a sum that overflowed is refused, as the worker's
}

void SteppedTrainer::schedule_next() {
  // lr 0 still steps (a step changes nothing): rounds follow steps, as a
  // training peer's do, so consensus-only runs mix at the same pace.
  if (failed()) return;
  const double now = now_seconds();
  const double wait_ms = std::max(0.0, (next_step_seconds_ - now) * 1000.0);
  step_timer_ = transport_.start_timer(std::uint64_t(std::ceil(wait_ms)), [this] {
    step_timer_.reset();
    on_step_timer();
  });
}

void SteppedTrainer::on_step_timer() {
  const double now = now_seconds();
  const double step_seconds = std::max(1e-6, options_.step_seconds * options_.speed_factor * slowdown_);
  // Steps shorter than the timer's millisecond all run on one tick; their
  // modelled durations still add up exactly.
  int guard = 0;
  while (next_step_seconds_ <= now + 1e-9 && !failed() && guard++ < 100'000) {
    step_once(next_step_seconds_);
    next_step_seconds_ += step_seconds;
  }
  if (next_step_seconds_ < now) next_step_seconds_ = now;
  schedule_next();
}

void SteppedTrainer::step_once(double now_seconds) {
  ++steps_;
  if (publish_at_step_ && steps_ >= *publish_at_step_) {
    publish_at_step_.reset();
    answer();
  }
  if (loop_) {
    settle();
    const node::StepResult result = loop_->step(now_seconds);
    if (result.kind == node::StepResult::Kind::stepped && result.stats.count > 0)
      loss_ = result.stats.loss_sum / result.stats.count;
    // As `starling peer` does: a failed replica closes its links, then joins
    // again with a neighbour's model (start_training comes again).
    if (result.kind == node::StepResult::Kind::failed && *driver_ != nullptr) {
      ++failures_;
      (*driver_)->on_training_failed(loop_->error(), [this] { started_ = false; });
    }
    if (!loop_->failed() && loop_->evaluation_due()) evaluate_now();
    return;
  }
  const SyntheticObjective& objective = *options_.synthetic;
  const float lr = float(options_.lr);
  if (lr == 0.0f) {
    // Consensus-only runs (bench/consensus_scale.sh): the step moves nothing,
    // so its gradient noise (one normal draw per coordinate, most of a
    // fifth of a 1000-peer run's time) is not drawn. random_ serves nothing else after
    // construction, so the run is the same.
    loss_ = 0.5 * double((x_ - target_).squaredNorm());
  } else {
    std::normal_distribution<float> normal(0.0f, objective.gradient_noise);
    Eigen::VectorXf gradient = x_ - target_;
    loss_ = 0.5 * double(gradient.squaredNorm());
    for (auto& g : gradient) g += normal(random_);
    x_ -= lr * gradient;
  }
  if (options_.eval_every_steps > 0 && steps_ % options_.eval_every_steps == 0) evaluate_now();
}

double SteppedTrainer::synthetic_accuracy(const Eigen::VectorXf& x) const {
  const double reference = std::max(1e-12, double(options_.mean_target->squaredNorm()));
  return 1.0 / (1.0 + double((x - *options_.mean_target).squaredNorm()) / reference);
}

void SteppedTrainer::evaluate_now() {
  // The next step (and any hand-off waiting for a step boundary) starts once
  // the evaluation is done: step_once's caller adds the step time after this.
  next_step_seconds_ += options_.eval_seconds;
  accuracy_ = loop_ ? loop_->evaluate().accuracy : synthetic_accuracy(x_);
  if (options_.on_evaluation) options_.on_evaluation(steps_, *accuracy_);
  if (!options_.evaluate_local_average || *driver_ == nullptr || (*driver_)->training() == nullptr) return;
  // The runtime's round trip (worker -> loop thread -> worker) in one turn:
  // the same parameters, averaged in place with the copies held now.
  Eigen::VectorXf average = parameters();
  const Result<std::size_t> neighbours = (*driver_)->training()->local_average(average);
  if (!neighbours) return;
  if (!loop_) {
    local_average_accuracy_ = synthetic_accuracy(average);
    return;
  }
  const Result<ml::Evaluation> evaluated = loop_->evaluate_local_average(average, loop_->steps(), *neighbours);
  if (evaluated) local_average_accuracy_ = evaluated->accuracy;
}

}  // namespace starling::sim
