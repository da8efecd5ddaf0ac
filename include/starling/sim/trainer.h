// The simulator's stepped trainer: the ModelHost a simulated peer gives its
// TrainingDriver. The math of every step is real (node::TrainingLoop on a
// real model and data set, or a synthetic quadratic objective for scale);
// only its duration is modelled: each step is scheduled on the peer's
// transport timer `step_seconds x speed x slowdown` after the previous one,
// so a paused peer stops stepping and a straggler falls behind in virtual
// time exactly as a slow CPU would. Everything runs on the world's thread.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "starling/ml/dataset.h"
#include "starling/ml/model.h"
#include "starling/ml/optimizer.h"
#include "starling/node/training_driver.h"

namespace starling::node {
class Peer;
}
#include "starling/node/training_loop.h"
#include "starling/node/transport.h"

namespace starling::sim {

// A synthetic objective for swarms too big for a real model: f_i(x) =
// ½‖x − target_i‖², each peer its own target (a heterogeneous data split in
// miniature), SGD with Gaussian gradient noise. The swarm optimum is the mean
// target; "accuracy" is 1 / (1 + ‖x − mean target‖² / ‖mean target‖²).
struct SyntheticObjective {
  std::size_t dimension = 1000;
  float target_spread = 1.0f;  // std-dev of the per-peer targets around the swarm's mean target
  float gradient_noise = 0.1f;
  float initial_spread = 0.0f;  // >0: each peer starts at its own random point (lr 0 checks need it)
};

struct TrainerOptions {
  double step_seconds = 0.01;   // one step's compute time at speed 1
  double speed_factor = 1.0;    // this peer's hardware: >1 is slower (multiplies step_seconds)
  // Every this many steps (at the step boundary, so on the same steps in
  // every replay) the own model is evaluated, and then the local average
  // (TrainingDriver::local_average) when evaluate_local_average; 0: never.
  std::int64_t eval_every_steps = node::kDefaultEvalEverySteps;
  bool evaluate_local_average = true;
  double lr = 0.05;
  std::uint64_t seed = 1;       // batches, noise, initial point
  // Exactly one of the two: a real model on real data, or the synthetic objective.
  std::optional<node::TrainingLoopOptions> loop;
  std::optional<SyntheticObjective> synthetic;
  // Synthetic only: the swarm's mean target and this peer's offset from it.
  std::shared_ptr<const Eigen::VectorXf> mean_target;
  // 1 in every honest run. Other values break the consensus step on purpose
  // (the simulator's invariant tests: the swarm average must then move).
  float correction_scale = 1.0f;
  // The hand-off of a real peer (docs/learning.md, "Stale rounds"): the
  // parameters asked for at step s reach the driver this many ms after that
  // step, a copy taken then, so the round (and the correction it adds at
  // once) runs while the trainer goes on stepping. 0: on the same tick.
  std::uint64_t handoff_ms = 0;
  // Virtual time one evaluation of the own model takes on the trainer (a real
  // peer evaluates on its training thread: no step, and no hand-off, until it
  // is done). 0: evaluations are free, as before.
  double eval_seconds = 0.0;
  // Called after every evaluation with the step count and the accuracy
  // (the simulator's evaluation records, simulate.h).
  std::function<void(std::int64_t step, double accuracy)> on_evaluation;
};

class SteppedTrainer final : public node::ModelHost {
 public:
  // `driver` is the slot the peer's TrainingDriver lives in (answers go there).
  SteppedTrainer(node::Transport& transport, node::Peer** driver, TrainerOptions options);
  ~SteppedTrainer() override;
  SteppedTrainer(const SteppedTrainer&) = delete;
  SteppedTrainer& operator=(const SteppedTrainer&) = delete;

  void start_training(const Eigen::VectorXf* initial) override;
  void request_parameters(std::int64_t at_step) override;
  void add_correction(const Eigen::VectorXf& correction) override;

  // Straggler faults: steps take `factor` times as long from now on.
  void set_slowdown(double factor) { slowdown_ = factor; }

  // The model's parameters. Corrections handed over since the last step
  // boundary are held, as a real peer's hand-off holds them, until the next
  // step or answer, or settle().
  const Eigen::VectorXf& parameters() const;
  // Applies the held corrections now (a reader of parameters() that needs
  // every correction in them: the swarm-average invariant, the spread).
  void settle();
  std::size_t parameter_count() const;
  bool training() const { return started_; }
  bool failed() const;
  std::string error() const;
  int failures() const { return failures_; }  // training failures so far (each one withdraws, then recovers)
  std::int64_t steps() const { return steps_; }
  std::optional<double> accuracy() const { return accuracy_; }
  std::optional<double> loss() const { return loss_; }
  // The last evaluation of the local average (own model and the neighbours'
  // copies, TrainingDriver::local_average), on the own model's schedule.
  std::optional<double> local_average_accuracy() const { return local_average_accuracy_; }

 private:
  void resume(const Eigen::VectorXf* initial);
  void schedule_next();
  void answer();
  void hold(const Eigen::VectorXf& correction);
  void on_step_timer();
  void step_once(double now_seconds);
  void evaluate_now();
  double synthetic_accuracy(const Eigen::VectorXf& x) const;
  double now_seconds() const { return double(transport_.now_ms()) / 1000.0; }

  node::Transport& transport_;
  node::Peer** driver_;
  TrainerOptions options_;
  std::unique_ptr<node::TrainingLoop> loop_;
  // Synthetic objective state.
  Eigen::VectorXf x_;
  Eigen::VectorXf target_;
  std::mt19937_64 random_;
  bool started_ = false;
  int failures_ = 0;
  double slowdown_ = 1.0;
  double next_step_seconds_ = 0.0;
  std::optional<node::TimerId> step_timer_;
  std::vector<node::TimerId> answer_timers_;
  std::int64_t steps_ = 0;
  std::optional<std::int64_t> publish_at_step_;
  std::optional<double> accuracy_;
  std::optional<double> local_average_accuracy_;
  std::optional<double> loss_;
  // The corrections handed over since the last step boundary, summed: the
  // trainer applies them as one, as runtime::StepHandoff does, so absorb
  // momentum sees a boundary's pulls (several under on-delta mixing) as
  // one correction, not the first of them alone.
  Eigen::VectorXf held_correction_;
  bool holding_ = false;
};

// The synthetic objective's swarm-wide mean target, drawn from `seed`.
std::shared_ptr<const Eigen::VectorXf> synthetic_mean_target(const SyntheticObjective& objective, std::uint64_t seed);

}  // namespace starling::sim
