// One replica's training as a pure, single-threaded loop: the piece a peer's
// training thread (runtime::TrainingWorker) and a stepped simulator clock both
// run. Sans-I/O: no threads, no clock, no files, no global randomness. Time
// comes in as an argument (seconds on any monotonic clock of the caller's
// choosing; virtual time in the simulator), batch order from a seed, so the
// same options and the same calls give bit-identical parameters.
//
// What it holds (model-sized vectors, P = parameter count):
//   - the parameters (inside the model),
//   - the optimizer state: SGD with momentum 1 (velocity), Adam 2 (m, v),
//     plain SGD without momentum 0,
//   - the gradient scratch: none for SGD with momentum and no Nesterov (the
//     backward pass accumulates into the velocity), else 1.
// So the default (SGD, momentum 0.9) holds 2 x P floats, Adam 4 x P. There is
// no pending-correction buffer: add_correction() adds at once, and a caller
// on another thread keeps its own mailbox (the worker does). checkpoint()
// copies the parameters and optimizer state into the value it returns.
//
// Call order is the caller's: step(), add_correction(), evaluate() and
// checkpoint() each see the effect of all earlier calls. Evaluations are
// scheduled by steps (every eval_every_steps, at step boundaries), so they
// fall on the same steps on any clock, virtual or not. The first call that
// passes a time fixes the origin of the steps_per_second window. The calling
// thread should have run ml::enable_flush_to_zero() (subnormal momentum slows
// steps 3-5x).
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "starling/ml/checkpoint.h"
#include "starling/ml/dataset.h"
#include "starling/ml/model.h"
#include "starling/ml/optimizer.h"
#include "starling/ml/trainer.h"
#include "starling/status.h"

namespace starling::node {

// Steps between test-set evaluations unless told otherwise (`starling peer
// --eval-every`, TrainingWorkerOptions, the simulator's trainer). One
// evaluation of the default MLP (784-256-128-10) on the 10,000 test samples
// costs about 65 training steps of batch 64 (docs/learning.md, "Evaluation
// schedule"): every 2000 steps the own model costs 3% of a peer's time, and
// 6% with its local average evaluated on the same schedule.
inline constexpr std::int64_t kDefaultEvalEverySteps = 2000;

// A consistent snapshot of a replica's training. The loop fills the training
// fields; the fields marked "worker" are the runtime::TrainingWorker's (its
// thread, mailbox, sleeps and files) and stay at their defaults in
// TrainingLoop::progress(). Field names are those of `starling status --json`.
struct TrainingProgress {
  std::int64_t step = 0, samples = 0;  // restored from a checkpoint on resume
  double epoch = 0;
  double train_loss = std::numeric_limits<double>::quiet_NaN();  // mean loss over the last 50 steps
  bool evaluated = false;
  double test_accuracy = std::numeric_limits<double>::quiet_NaN();
  double test_loss = std::numeric_limits<double>::quiet_NaN();
  std::int64_t evaluated_at_step = 0;
  // The local average (node::TrainingDriver::local_average: the model
  // averaged with the neighbours' copies this peer holds), evaluated on the
  // same schedule as the own model when the host asks for it.
  bool local_average_evaluated = false;
  double local_average_accuracy = std::numeric_limits<double>::quiet_NaN();
  double local_average_loss = std::numeric_limits<double>::quiet_NaN();
  std::int64_t local_average_at_step = 0;       // the step of the own model in it
  std::int64_t local_average_neighbours = 0;    // neighbour copies in it (0: it was the own model)
  // Steps per second of the caller's clock (the `now` passed to step()), over
  // windows of 0.5 s of it; the worker's clock includes its slowdown sleeps.
  double steps_per_second = 0;
  // Loop: add_correction() calls. Worker: callers' corrections (several
  // summed in its mailbox count one each).
  std::int64_t corrections_applied = 0;
  std::string state = "idle";  // loop: "idle", "training", "failed"; worker adds "stopped"
  std::string error;           // why failed

  // Counters since construction (exact, for tests and status):
  std::int64_t steps_this_run = 0;        // steps taken (not restored from a checkpoint)
  std::int64_t publishes = 0;             // worker: on_publish calls
  std::int64_t evaluations = 0;
  std::int64_t local_average_evaluations = 0;
  std::int64_t checkpoints_written = 0;   // worker: periodic and final
  std::int64_t checkpoint_failures = 0;   // worker
  std::int64_t nan_steps_skipped = 0;
  std::int64_t recoveries = 0;            // failures recovered from (TrainingLoop::recover)
  double slowdown_factor = 1.0;           // worker
  double step_seconds = 0;      // worker: time spent in steps (and applying corrections)
  double slowdown_seconds = 0;  // worker: time slept for set_slowdown() (clock-measured)
  // Worker: sleep owed and not slept yet (below 2 ms it waits for more;
  // negative after oversleeping). slowdown_seconds + slowdown_debt_seconds
  // grows by exactly (factor-1) x each step's time while the factor is above 1.
  double slowdown_debt_seconds = 0;
};

struct TrainingLoopOptions {
  std::unique_ptr<ml::Mlp> model;            // initial parameters inside; the loop owns it
  ml::OptimizerConfig optimizer;
  ml::LrSchedule schedule;                   // used as given (set steps_per_epoch/total_steps for decay)
  std::shared_ptr<const ml::TrainTest> data; // train + test split (already standardised)
  std::vector<std::size_t> shard;            // training sample indices of this replica
  int batch = 64;
  std::uint64_t seed = 1;                    // batch order
  std::int64_t eval_every_steps = kDefaultEvalEverySteps;  // 0: never
  // Copied into checkpoint():
  std::map<std::string, std::string> checkpoint_metadata;
  float data_mean = 0, data_std = 1;
  // Restores parameters, optimizer state and steps, and the step/sample
  // counters (as `starling train --resume`) in the constructor. A checkpoint
  // of another model or optimizer makes the loop failed ("cannot resume: ...").
  std::optional<ml::Checkpoint> resume;
};

struct StepResult {
  enum class Kind {
    stepped,  // one optimizer step
    skipped,  // the loss was NaN/Inf: parameters unchanged, step not counted
    failed,   // the 100th skip in a row: the loop is failed, error() says why
  };
  Kind kind = Kind::stepped;
  ml::BatchStats stats;  // stepped: the batch's loss and accuracy
  // Non-empty: a warning worth logging. Skips are summarised at most once per
  // 5 s of the caller's clock; the failure is always reported.
  std::string warning;
};

class TrainingLoop {
 public:
  // Invalid options (an index outside the training set, a model that does not
  // fit the data, non-finite initial parameters, an unusable checkpoint) give
  // a failed loop: failed() is true and error() says why; step() must not be
  // called then, parameters() still shows the model.
  explicit TrainingLoop(TrainingLoopOptions options);
  ~TrainingLoop();
  TrainingLoop(const TrainingLoop&) = delete;  // the trainer holds references into it
  TrainingLoop& operator=(const TrainingLoop&) = delete;

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

  // One minibatch: forward, backward, optimizer step, taken at `now_seconds`.
  // A NaN/Inf loss leaves the parameters as they were (a momentum buffer that
  // took the NaN is reset) and is skipped; 100 in a row fail the loop.
  // A bug to call on a failed loop.
  StepResult step(double now_seconds);

  // Adds `correction` to the parameters now, and tells the optimizer
  // (ml::Optimizer::on_correction: the momentum mode decides whether the
  // velocity takes the pull too). Refuses a wrong size (invalid_argument) or
  // a NaN/Inf entry (numerical), leaving them unchanged.
  Status add_correction(const Eigen::VectorXf& correction);
  // The same for a correction the caller already checked finite (the
  // hand-off's sum: runtime::StepHandoff hands only finite sums over), so
  // the model is not read one more time per round.
  Status add_finite_correction(const Eigen::VectorXf& correction);

  // Brings a failed loop back (the peer's recovery, docs/learning.md "A
  // replica that fails"): the parameters become `parameters` (a neighbour's
  // model, or the last finite ones), the optimizer state starts afresh (its
  // step count, so the lr schedule, goes on), the NaN streak and the error
  // clear, and step() may be called again. The counters and evaluations go
  // on; recoveries() counts the calls that succeeded. Refuses a wrong size
  // (invalid_argument), NaN/Inf (numerical), or a loop that is not failed or
  // never had an engine (invalid options): invalid_argument.
  Status recover(const Eigen::VectorXf& parameters);
  std::int64_t recoveries() const { return recoveries_; }

  // True when the test split is not empty, evaluation is on, and steps()
  // (counting those restored from a checkpoint) reached the next multiple of
  // eval_every_steps after the last evaluate() or the start: evaluations fall
  // on steps N, 2N, 3N, ... Asking does not evaluate.
  bool evaluation_due() const;
  // ml::evaluate on the test split, recorded in progress(); the next one is
  // due at the next multiple of eval_every_steps after steps().
  ml::Evaluation evaluate();
  // Evaluates another parameter vector of this model (the local average) on
  // the test split and records it in progress() as local_average_*, with the
  // step of the own model in it and how many neighbour copies it averages.
  // The model holds `parameters` only during the call: they are swapped in
  // and back (no copy), so `parameters` is unchanged afterwards and the
  // caller must keep other readers of parameters() away meanwhile. Refuses a
  // wrong size (invalid_argument) or NaN/Inf (numerical). A bug on a failed loop.
  Result<ml::Evaluation> evaluate_local_average(Eigen::VectorXf& parameters, std::int64_t at_step,
                                                std::size_t neighbours);

  const Eigen::VectorXf& parameters() const;
  std::size_t parameter_count() const { return std::size_t(parameters().size()); }
  std::int64_t steps() const;  // including those restored from a checkpoint

  // The loop's fields of a progress snapshot (see TrainingProgress).
  TrainingProgress progress() const;
  // Writes the loop's fields into `progress` and leaves the worker's ones,
  // state, error and corrections_applied alone.
  void progress_into(TrainingProgress& progress) const;

  // Model, optimizer state and counters, ready for ml::save_checkpoint;
  // metadata "model" is "own" (this replica's parameters, not an average).
  // A bug to call on a failed loop.
  ml::Checkpoint checkpoint() const;

 private:
  struct Engine;  // optimizer, batcher, trainer: absent when the options are invalid

  void fix_origin(double now_seconds);
  void schedule_next_evaluation();
  void record_loss(const ml::BatchStats& stats);
  double mean_loss() const;

  TrainingLoopOptions options_;
  std::unique_ptr<Engine> engine_;
  std::string error_;

  static constexpr int kLossWindow = 50;
  double loss_sum_[kLossWindow] = {};
  int loss_count_[kLossWindow] = {};
  int loss_next_ = 0, loss_filled_ = 0;

  std::optional<double> origin_seconds_;
  std::int64_t next_eval_step_ = 0;
  double rate_mark_seconds_ = 0;
  std::int64_t rate_mark_steps_ = 0;
  bool first_rate_window_ = true;
  double steps_per_second_ = 0;

  int consecutive_nan_ = 0;
  std::int64_t recoveries_ = 0;
  std::int64_t nan_total_ = 0, nan_at_last_warning_ = 0;
  std::optional<double> last_nan_warning_seconds_;

  std::int64_t steps_this_run_ = 0;
  std::int64_t corrections_applied_ = 0;
  std::int64_t step_at_last_correction_ = 0;  // steps() when the last one came
  std::int64_t evaluations_ = 0;
  std::optional<ml::Evaluation> last_evaluation_;
  std::int64_t evaluated_at_step_ = 0;
  std::optional<ml::Evaluation> local_average_evaluation_;
  std::int64_t local_average_at_step_ = 0, local_average_neighbours_ = 0, local_average_evaluations_ = 0;
};

}  // namespace starling::node
