// A single replica's training step and evaluation: the piece both `starling
// train` and a swarm peer's training thread drive.
#pragma once

#include <cstdint>

#include "starling/ml/dataset.h"
#include "starling/ml/model.h"
#include "starling/ml/optimizer.h"
#include "starling/status.h"

namespace starling::ml {

struct Evaluation {
  double accuracy = 0.0;  // fraction in [0, 1]
  double loss = 0.0;      // mean cross-entropy
  std::size_t samples = 0;
};

// Accuracy and mean loss of `model` on all of `data`, in batches of `batch`.
Evaluation evaluate(Mlp& model, const Dataset& data, int batch = 1000);

class Trainer {
 public:
  Trainer(Mlp& model, Optimizer& optimizer, Batcher& batcher, LrSchedule schedule);

  // One minibatch: forward, backward, optimizer step. Error(numerical) when the
  // loss is NaN/Inf (the parameters are then left as they were before the step).
  Result<BatchStats> step();

  std::int64_t steps() const { return steps_; }
  std::int64_t samples() const { return samples_; }
  // Fractional epochs over this trainer's data.
  double epoch() const;
  double current_lr() const { return schedule_.at(steps_); }
  void restore_counters(std::int64_t steps, std::int64_t samples) {
    steps_ = steps;
    samples_ = samples;
  }

 private:
  Mlp& model_;
  Optimizer& optimizer_;
  Batcher& batcher_;
  LrSchedule schedule_;
  Eigen::VectorXf gradient_;
  std::int64_t steps_ = 0;
  std::int64_t samples_ = 0;
};

}  // namespace starling::ml
