#include "starling/ml/optimizer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>

namespace starling::ml {

double LrSchedule::at(std::int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps) return lr * double(step + 1) / double(warmup_steps);
  switch (decay) {
    case Decay::none:
      return lr;
    case Decay::cosine: {
      if (total_steps <= warmup_steps) return lr;
      const double t = std::min(1.0, double(step - warmup_steps) / double(total_steps - warmup_steps));
      return lr * (final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + std::cos(std::numbers::pi * t)));
    }
    case Decay::exponential:
      return lr * std::pow(gamma, double(step - warmup_steps) / double(std::max<std::int64_t>(1, steps_per_epoch)));
  }
  return lr;
}

bool Optimizer::quasi_global() const {
  return config_.kind == OptimizerConfig::Kind::sgd && config_.momentum > 0.0 &&
         config_.momentum_mode == OptimizerConfig::MomentumMode::quasi_global;
}

void Optimizer::update_quasi_global_buffer() {
  // first_ holds the last step's displacement over lr, gossip included
  // (on_correction subtracted c / lr from it): fold it into m, and start
  // this step's direction from m (the step adds mu m + g).
  const float mu = float(config_.momentum);
  second_ = mu * second_ + (1.0f - mu) * first_;
  first_ = second_;
}

void Optimizer::prepare_fused_step() {
  STARLING_ASSERT(fuses_momentum());
  if (quasi_global()) update_quasi_global_buffer();
}

void Optimizer::on_correction(const Eigen::Ref<const Eigen::VectorXf>& correction) {
  STARLING_ASSERT(correction.size() == first_.size());
  if (config_.kind != OptimizerConfig::Kind::sgd || config_.momentum <= 0.0) return;
  const std::int64_t steps = steps_ - corrected_at_step_;
  corrected_at_step_ = steps_;
  if (steps_ == 0 || last_lr_ <= 0.0f) return;  // no step yet (or lr 0): no velocity to speak of
  switch (config_.momentum_mode) {
    case OptimizerConfig::MomentumMode::local:
      return;
    case OptimizerConfig::MomentumMode::absorb: {
      // The correction undoes the drift of the last k steps, lr times the sum
      // of (v - v_neighbourhood) over them, so c / (lr k) estimates how far v
      // is from the neighbourhood's velocity. Taking all of it (1/k) is
      // unstable in the swarm: the round's pull comes from the copies as of
      // the last round (CHOCO order), one round late, and the kick goes on
      // moving the model for 1/(1 - mu) steps. The share is capped at
      // QG-DSGDm's (1 - mu) (measured: 1/k at k = 4 collapsed a 4-peer
      // swarm to 10% accuracy, (1 - mu) learned; docs/learning.md). A second
      // correction at the same step boundary (or any while the replica does
      // not step: paused, lr 0) measures no velocity and leaves it alone.
      if (steps == 0) return;
      const float cap = config_.absorb_share > 0.0 ? float(config_.absorb_share) : 1.0f - float(config_.momentum);
      const float share = std::min(1.0f / float(steps), cap);
      first_ -= (share / last_lr_) * correction;
      return;
    }
    case OptimizerConfig::MomentumMode::quasi_global:
      // The displacement of this step, in units of lr, now includes -c
      // (QG-DSGDm's (x_prev - x) / lr; with Nesterov the step moved by
      // g + mu v, and v stands for it: an approximation).
      first_ -= (1.0f / last_lr_) * correction;
      return;
  }
}

void Optimizer::step_with_velocity(Eigen::Ref<Eigen::VectorXf> parameters, float lr) {
  STARLING_ASSERT(fuses_momentum() && parameters.size() == first_.size());
  ++steps_;
  last_lr_ = lr;
  // The backward pass already made v = mu v + g; weight decay joins here, in
  // the same pass that updates the parameters.
  const float wd = float(config_.weight_decay);
  auto p = parameters.array();
  auto v = first_.array();
  if (wd != 0.0f) v += wd * p;
  p -= lr * v;
}

Result<LrSchedule::Decay> LrSchedule::parse_decay(const std::string& text, double* gamma) {
  if (text == "none") return Decay::none;
  if (text == "cosine") return Decay::cosine;
  if (text.rfind("exp:", 0) == 0) {
    double value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + 4, text.data() + text.size(), value);
    if (ec == std::errc() && ptr == text.data() + text.size() && value > 0 && value <= 1) {
      *gamma = value;
      return Decay::exponential;
    }
  }
  return make_error(ErrorKind::invalid_argument,
                    "unknown learning-rate decay '" + text + "' (expected none, cosine or exp:GAMMA with 0 < GAMMA <= 1)");
}

Result<OptimizerConfig::MomentumMode> OptimizerConfig::parse_momentum_mode(const std::string& text) {
  if (text == "local") return MomentumMode::local;
  if (text == "absorb") return MomentumMode::absorb;
  if (text == "quasi-global") return MomentumMode::quasi_global;
  return make_error(ErrorKind::invalid_argument,
                    "unknown momentum mode '" + text + "' (expected local, absorb or quasi-global)");
}

const char* OptimizerConfig::momentum_mode_name(MomentumMode mode) {
  switch (mode) {
    case MomentumMode::local: return "local";
    case MomentumMode::absorb: return "absorb";
    case MomentumMode::quasi_global: return "quasi-global";
  }
  return "local";
}

Result<OptimizerConfig::Kind> OptimizerConfig::parse_kind(const std::string& text) {
  if (text == "sgd") return Kind::sgd;
  if (text == "adam") return Kind::adam;
  return make_error(ErrorKind::invalid_argument, "unknown optimizer '" + text + "' (expected sgd or adam)");
}

Optimizer::Optimizer(const OptimizerConfig& config, std::size_t parameter_count) : config_(config) {
  first_ = Eigen::VectorXf::Zero(Eigen::Index(parameter_count));
  if (config.kind == OptimizerConfig::Kind::adam || quasi_global())
    second_ = Eigen::VectorXf::Zero(Eigen::Index(parameter_count));
}

void Optimizer::step(Eigen::Ref<Eigen::VectorXf> parameters, const Eigen::Ref<const Eigen::VectorXf>& gradient,
                     float lr) {
  STARLING_ASSERT(parameters.size() == first_.size() && gradient.size() == first_.size());
  ++steps_;
  last_lr_ = lr;
  const float wd = float(config_.weight_decay);
  auto p = parameters.array();
  auto g = gradient.array();
  if (config_.kind == OptimizerConfig::Kind::sgd) {
    // PyTorch's formulation: v = mu v + (g + wd p); p -= lr (g + mu v) for
    // Nesterov, p -= lr v otherwise. Each branch is one fused Eigen pass.
    const float mu = float(config_.momentum);
    if (quasi_global()) update_quasi_global_buffer();  // then v = mu m + g below
    auto v = first_.array();
    if (wd == 0.0f) {
      v = mu * v + g;
      if (config_.nesterov) p -= lr * (g + mu * v);
      else p -= lr * v;
    } else {
      v = mu * v + (g + wd * p);
      if (config_.nesterov) p -= lr * ((g + wd * p) + mu * v);
      else p -= lr * v;
    }
    return;
  }
  // Adam with bias correction; weight decay added to the gradient (L2).
  const float b1 = float(config_.beta1), b2 = float(config_.beta2), eps = float(config_.epsilon);
  const float correction1 = 1.0f - float(std::pow(config_.beta1, double(steps_)));
  const float correction2 = 1.0f - float(std::pow(config_.beta2, double(steps_)));
  const float step_size = lr / correction1;
  const float inv_sqrt_c2 = 1.0f / std::sqrt(correction2);
  auto m = first_.array();
  auto v = second_.array();
  if (wd == 0.0f) {
    m = b1 * m + (1.0f - b1) * g;
    v = b2 * v + (1.0f - b2) * g.square();
  } else {
    m = b1 * m + (1.0f - b1) * (g + wd * p);
    v = b2 * v + (1.0f - b2) * (g + wd * p).square();
  }
  p -= step_size * m / (v.sqrt() * inv_sqrt_c2 + eps);
}

}  // namespace starling::ml
