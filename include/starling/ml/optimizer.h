// Optimizers over the flat parameter vector; their state is flat too, so it
// checkpoints as a few spans. Each step is one fused pass over the parameters.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <string>
#include <vector>

#include "starling/status.h"

namespace starling::ml {

// Learning rate over time: linear warm-up from 0 over `warmup_steps`, then
// constant, cosine decay to `final_fraction * lr` at `total_steps`, or
// exponential decay by `gamma` per epoch.
struct LrSchedule {
  enum class Decay { none, cosine, exponential };
  double lr = 0.02;
  std::int64_t warmup_steps = 0;
  Decay decay = Decay::none;
  std::int64_t total_steps = 0;   // for cosine
  double final_fraction = 0.0;    // for cosine
  double gamma = 1.0;             // for exponential, per `steps_per_epoch`
  std::int64_t steps_per_epoch = 1;

  double at(std::int64_t step) const;
  // "none", "cosine" or "exp:GAMMA".
  static Result<Decay> parse_decay(const std::string& text, double* gamma);
};

struct OptimizerConfig {
  enum class Kind { sgd, adam };
  Kind kind = Kind::sgd;
  double momentum = 0.9;   // SGD
  bool nesterov = false;   // SGD
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;  // Adam

  static Result<Kind> parse_kind(const std::string& text);  // "sgd" | "adam"
};

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, std::size_t parameter_count);

  // parameters -= update(gradient) with learning rate `lr`.
  void step(Eigen::Ref<Eigen::VectorXf> parameters, const Eigen::Ref<const Eigen::VectorXf>& gradient, float lr);

  // Fused SGD: when true, the caller may let the backward pass accumulate the
  // gradient into velocity() with decay momentum (forward_backward's
  // gradient_decay) and then call step_with_velocity(): the same update as
  // step(), without a separate gradient vector. Plain SGD with momentum only.
  bool fuses_momentum() const {
    return config_.kind == OptimizerConfig::Kind::sgd && !config_.nesterov && config_.momentum > 0.0;
  }
  Eigen::VectorXf& velocity() { return first_; }
  void step_with_velocity(Eigen::Ref<Eigen::VectorXf> parameters, float lr);

  const OptimizerConfig& config() const { return config_; }
  std::int64_t steps() const { return steps_; }
  // Flat state buffers (SGD: velocity; Adam: first and second moments), for checkpoints.
  std::vector<Eigen::VectorXf*> state() {
    if (second_.size() == 0) return {&first_};
    return {&first_, &second_};
  }
  void set_steps(std::int64_t steps) { steps_ = steps; }

 private:
  OptimizerConfig config_;
  Eigen::VectorXf first_;   // SGD velocity or Adam m
  Eigen::VectorXf second_;  // Adam v (empty for SGD)
  std::int64_t steps_ = 0;
};

}  // namespace starling::ml
