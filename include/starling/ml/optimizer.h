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

// The largest learning rate a command or scenario file may ask for (`--lr`,
// `[swarm] lr`).
inline constexpr double kMaxLearningRate = 1e6;

struct OptimizerConfig {
  enum class Kind { sgd, adam };
  // What SGD's momentum does with a consensus correction added to the
  // parameters from outside (gossip, Optimizer::on_correction;
  // docs/learning.md, "Momentum and gossip"):
  //   local         nothing: the velocity is the replica's own (the default);
  //   absorb        v -= min(1/k, cap) c / lr, k the steps since the last
  //                 correction, cap = absorb_share (0: 1 - mu): the velocity
  //                 takes a share of the pull on the parameters (c / (lr k) is
  //                 the drift per step it undoes), so a replica re-adds less of
  //                 its own past noise after a round;
  //   quasi_global  QG-DSGDm (Lin et al. 2021): a buffer m tracks the model's
  //                 whole displacement per step, gossip included,
  //                 m = mu m + (1 - mu) (x_prev - x) / lr, and a step moves by
  //                 lr (mu m + g); one more model-sized vector.
  // Adam and SGD without momentum ignore it.
  enum class MomentumMode { local, absorb, quasi_global };
  Kind kind = Kind::sgd;
  double momentum = 0.9;   // SGD
  bool nesterov = false;   // SGD
  MomentumMode momentum_mode = MomentumMode::local;  // SGD
  // absorb's cap on the share of a correction the velocity takes per step
  // since the last one; 0: 1 - mu (QG-DSGDm's). A smaller cap damps the
  // second move a correction makes through the velocity (docs/learning.md,
  // "Absorb with low-bit gossip").
  double absorb_share = 0.0;  // SGD, absorb
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;  // Adam

  static Result<Kind> parse_kind(const std::string& text);  // "sgd" | "adam"
  // "local" | "absorb" | "quasi-global"
  static Result<MomentumMode> parse_momentum_mode(const std::string& text);
  static const char* momentum_mode_name(MomentumMode mode);
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
  // Fused SGD: call before the backward pass accumulates into velocity()
  // (quasi-global momentum sets the velocity to its buffer there).
  void prepare_fused_step();
  void step_with_velocity(Eigen::Ref<Eigen::VectorXf> parameters, float lr);

  // `correction` was just added to the parameters from outside (a gossip
  // round's consensus pull), after steps() steps. The momentum mode decides
  // what the state makes of it (OptimizerConfig::MomentumMode); `local`
  // ignores it. Uses the learning rate of the last step; before the first
  // step, or at lr 0, the state is left alone.
  void on_correction(const Eigen::Ref<const Eigen::VectorXf>& correction);

  const OptimizerConfig& config() const { return config_; }
  std::int64_t steps() const { return steps_; }
  // Flat state buffers (SGD: velocity; Adam: first and second moments), for checkpoints.
  // Quasi-global momentum adds its buffer.
  std::vector<Eigen::VectorXf*> state() {
    if (second_.size() == 0) return {&first_};
    return {&first_, &second_};
  }
  void set_steps(std::int64_t steps) { steps_ = steps; }

 private:
  bool quasi_global() const;
  void update_quasi_global_buffer();

  OptimizerConfig config_;
  Eigen::VectorXf first_;   // SGD velocity or Adam m
  Eigen::VectorXf second_;  // Adam v; SGD with quasi-global momentum: its buffer m (else empty)
  std::int64_t steps_ = 0;
  float last_lr_ = 0.0f;                   // lr of the last step (on_correction divides by it)
  std::int64_t corrected_at_step_ = 0;     // steps_ at the last on_correction
};

}  // namespace starling::ml
