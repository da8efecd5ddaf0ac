// A swarm peer's training thread and its hand-off with the gossip loop thread:
// a thin thread around a node::TrainingLoop (the pure, single-threaded
// training engine: model, optimizer, batcher, NaN skips, evaluation). The
// worker adds what needs a thread, a clock or a disk: the pending-correction
// mailbox, publish requests, parameter copies for other threads, slowdown
// sleeps, the MathTurn, and checkpoint files. It passes its steady clock into
// the loop, so steps_per_second follows wall time here and virtual time in
// the simulator; evaluations fall every eval_every_steps steps on both.
//
// Memory: the loop's model-sized vectors (parameters, optimizer state, a
// gradient unless SGD with momentum fuses it; node/training_loop.h) plus two
// here: the pending correction sum and its zeroed spare. Default SGD: 4 x P.
// With on_local_average_wanted, one more while a local average is out (from
// an evaluation until the boundary that evaluates the answer), none between.
//
// Threading contract
// ------------------
// The worker thread owns the loop: only it writes the parameter vector (and
// the optimizer state, batcher and counters). Every other thread talks to it
// through four cheap doors, served once per step at the step boundary
// (between two optimizer steps). The first two are a runtime::StepHandoff
// (step_handoff.h), the one implementation of the hand-off that the
// embedding API's after_step() serves as well; `starling peer` hands node::Peer
// that same object as its ModelHost (options.handoff):
//
//   add_correction(c)   any thread. c is added under a mutex to a pending
//                       accumulator (a finiteness check and one add; no
//                       allocation) and an atomic flag is raised. At the next
//                       step boundary the worker hands the accumulated sum to
//                       TrainingLoop::add_correction and clears it (it swaps
//                       buffers, so a caller never waits for that).
//                       Corrections are never lost or applied twice; their sum
//                       is what lands (a sum that overflows to Inf is refused
//                       by the loop and logged). Those pending at stop() land
//                       before the final checkpoint.
//   request_publish(s)  any thread; an atomic step target. At the first step
//                       boundary with s steps taken (0: the next) the worker
//                       copies its parameters (after applying the pending
//                       corrections) and calls on_publish(copy, step) ON THE
//                       WORKER THREAD. A newer request replaces an older
//                       one; several before one boundary give one publish.
//                       Nothing is copied per step unless asked.
//   progress()          any thread; a consistent snapshot under a small mutex.
//   parameters_copy()   any thread; may wait for the step under way. The
//                       worker holds a mutex only while it writes the
//                       parameters (a step, applying corrections), so the copy
//                       is always of a step boundary. The worker steps aside at
//                       its next boundary when a reader waits, so readers
//                       cannot starve.
//
//   evaluate_local_average(v, step, n)
//                       any thread; the answer to on_local_average_wanted.
//                       v is moved into a one-slot mailbox under a mutex (no
//                       copy) and an atomic flag is raised; at the next step
//                       boundary the worker evaluates it
//                       (TrainingLoop::evaluate_local_average, holding the
//                       parameter mutex: the model computes with v for that
//                       long) and frees it.
//
// Evaluation (TrainingLoop::evaluate, every eval_every_steps steps) and
// checkpoints (TrainingLoop::checkpoint written by atomic
// ml::save_checkpoint) run on the worker thread between steps. Callbacks
// (on_publish, on_log) run on the worker thread with no lock of ours held, so
// they may call add_correction(), request_publish(), progress() and
// parameters_copy() — but not stop(), which joins the worker thread. Keep them
// short and non-throwing: the loop thread should be posted to, not waited on,
// from a callback.
//
// Lifecycle: "idle" after construction (options invalid: "failed" at once),
// "training" after start(), "stopped" after stop(). A step whose loss is
// NaN/Inf leaves the parameters as they were and is skipped (the loop's
// warning is logged, rate limited); 100 in a row and the loop fails, the
// worker enters "failed" and its thread ends (no more steps, publishes or
// checkpoints). An exception on the thread (out of memory, or a bug) is
// caught at its boundary and ends it the same way, for good (on_fatal).
// stop() asks, wakes the thread from any slowdown sleep, joins it
// (it finishes at most the step or evaluation under way), and the thread's last
// act is the final checkpoint when a path is set and the state is not
// "failed". stop() is idempotent and callable from any thread but the worker's;
// the destructor calls it. Nothing is detached.
//
// Several workers in one process (a local swarm): builds with STARLING_OPENBLAS
// route GEMMs to Debian 12's serial OpenBLAS 0.3.21, which is not safe to call
// from two threads at once: small products (e.g. mlp:32 on 4 inputs) then come
// out wrong now and then, silently (tests/runtime/training_worker_test.cpp,
// "math turn"). So each worker runs its steps and evaluations inside a
// MathTurn: a process-wide, first-come-first-served turn. One worker per
// process never waits; N workers in one process share one core's worth of
// math. Any other thread of the process that runs ml math (ml::evaluate of a
// swarm average, say) must take a MathTurn as well.
#pragma once

#include <Eigen/Core>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "starling/ml/checkpoint.h"
#include "starling/ml/dataset.h"
#include "starling/ml/model.h"
#include "starling/ml/optimizer.h"
#include "starling/node/training_loop.h"
#include "starling/runtime/step_handoff.h"
#include "starling/status.h"

namespace starling::runtime {

// True when ml math (Eigen GEMMs) goes to a BLAS that is not thread-safe, so
// MathTurn serialises it; false in -DSTARLING_OPENBLAS=OFF builds (pure Eigen,
// one thread per product), where a MathTurn costs two atomic operations.
bool math_turns_needed();

// A process-wide, FIFO-fair turn for ml math (RAII). Not reentrant.
class MathTurn {
 public:
  MathTurn();
  ~MathTurn();
  MathTurn(const MathTurn&) = delete;
  MathTurn& operator=(const MathTurn&) = delete;

 private:
  bool held_ = false;
};

struct TrainingWorkerOptions {
  std::unique_ptr<ml::Mlp> model;            // initial parameters inside; the worker owns it
  ml::OptimizerConfig optimizer;
  ml::LrSchedule schedule;                   // used as given (set steps_per_epoch/total_steps for decay)
  std::shared_ptr<const ml::TrainTest> data; // train + test split (already standardised)
  std::vector<std::size_t> shard;            // training sample indices of this peer
  int batch = 64;
  std::uint64_t seed = 1;                    // batch order
  std::int64_t eval_every_steps = node::kDefaultEvalEverySteps;  // test-split evaluation on the worker thread; 0: never
  std::string checkpoint_path;               // empty: no checkpoints
  double checkpoint_every_seconds = 0.0;     // 0: only the final one at stop() (if a path is set)
  std::map<std::string, std::string> checkpoint_metadata;
  float data_mean = 0, data_std = 1;         // stored in checkpoints
  // Restores parameters, optimizer state and steps, and the step/sample
  // counters (as `starling train --resume`), in the constructor: progress()
  // and parameters_copy() show the resumed state before start(). A checkpoint
  // of another model or optimizer makes the worker "failed". Handed to the
  // loop, which drops it once copied in.
  std::optional<ml::Checkpoint> resume;
  // Called ON THE WORKER THREAD with a copy of the parameters, after a request_publish().
  std::function<void(Eigen::VectorXf parameters, std::int64_t step)> on_publish;
  std::function<void(const std::string& message)> on_log;  // worker thread; warnings (checkpoint failed, NaN...)
  // Called ON THE WORKER THREAD once, as its thread ends because training
  // failed (progress().error says the same): a peer withdraws from gossip
  // (node::TrainingDriver::withdraw) so that its last model pulls on nobody.
  std::function<void(const std::string& why)> on_failed;
  // Called ON THE WORKER THREAD once, when its thread ends on an exception:
  // std::bad_alloc says "out of memory while training: ...", anything else
  // "training worker: internal error: ..." (a bug). progress() is then
  // "failed" with the same error, no final checkpoint is written (the
  // parameters may hold half a step; the last periodic one stays) and
  // restart() refuses: training again in this process would meet the same
  // end. `starling peer` stops with exit 1. Unset: on_failed is called.
  std::function<void(const std::string& why)> on_fatal;
  // Called ON THE WORKER THREAD right after each scheduled evaluation of the
  // own model, with a copy of the parameters just evaluated and their step:
  // the caller averages them with the neighbours' copies (on its loop thread:
  // node::TrainingDriver::local_average, in place) and hands the result back
  // with evaluate_local_average(). One request is out at a time: a due
  // evaluation while one is out asks for none. Unset: no local average.
  std::function<void(Eigen::VectorXf parameters, std::int64_t step)> on_local_average_wanted;
  // The local average is asked for after every Nth evaluation: those at
  // steps that are multiples of N x eval_every_steps (1: after each; 0:
  // never). Each one costs a second evaluation (docs/learning.md, "Where a
  // real peer's CPU goes").
  std::int64_t local_average_every = 1;
  // The hand-off to serve at each step boundary. Null: the worker makes its
  // own, which publishes through on_publish. Given: its publish sink is the
  // caller's and on_publish is not used (`starling peer`: node::Peer's
  // ModelHost is this object, shared with the worker).
  std::shared_ptr<StepHandoff> handoff;
  // false: stop() writes no final checkpoint (the caller writes its own from
  // checkpoint(), e.g. the local average); periodic ones are still written.
  bool final_checkpoint = true;
};

// The snapshot type lives with the loop; the worker fills its "worker" fields.
using TrainingProgress = node::TrainingProgress;

class TrainingWorker {
 public:
  explicit TrainingWorker(TrainingWorkerOptions options);
  ~TrainingWorker();  // stop()s
  TrainingWorker(const TrainingWorker&) = delete;
  TrainingWorker& operator=(const TrainingWorker&) = delete;

  void start();  // launches the thread; once (later calls, and calls after stop(), do nothing)
  // Asks, joins, writes the final checkpoint if configured; idempotent; any thread but the worker's.
  void stop();
  // A worker whose training failed trains again (TrainingLoop::recover):
  // joins the ended thread, starts from `parameters` (a neighbour's model;
  // null: the last finite parameters) with a fresh optimizer state, drops
  // the corrections still pending in the hand-off (they were for the
  // failed run), and launches a new thread; on_failed fires again if it
  // fails again. Any thread but the worker's; refused (invalid_argument)
  // unless started, not stopped and failed, or as recover() refuses.
  Status restart(const Eigen::VectorXf* parameters);
  // Any thread; the worker copies its parameters at the first step boundary
  // where it has taken `at_step` steps in all (0: the next) and calls
  // on_publish. A newer request replaces an older one.
  void request_publish(std::int64_t at_step = 0);
  // Any thread; accumulated; added to the parameters before the next step.
  // Refuses a wrong size (invalid_argument) or a non-finite entry (numerical).
  Status add_correction(const Eigen::VectorXf& correction);
  // Any thread; >= 1 (smaller or non-finite values are taken as 1); the worker
  // sleeps (factor-1) x its step time after each step (straggler simulation).
  void set_slowdown(double factor);
  // Any thread; the answer to on_local_average_wanted: `average` (the
  // parameters of `step` averaged with `neighbours` copies) is evaluated at
  // the next step boundary. An empty vector answers "none this time" (so the
  // next evaluation asks again). Refuses a wrong size (invalid_argument).
  Status evaluate_local_average(Eigen::VectorXf average, std::int64_t step, std::size_t neighbours);
  // After stop() only (the thread has ended): the final state as a
  // checkpoint (metadata model = own); nullopt when training failed.
  std::optional<ml::Checkpoint> checkpoint_after_stop() const;
  // After stop() only: why the final checkpoint was not written (nullopt:
  // it was, or none was due).
  const std::optional<std::string>& final_checkpoint_error() const { return final_checkpoint_error_; }
  TrainingProgress progress() const;        // any thread
  Eigen::VectorXf parameters_copy() const;  // any thread; the parameters at a step boundary
  std::size_t parameter_count() const { return parameter_count_; }

 private:
  // The thread's body: run() with every exception caught at the thread's
  // boundary (one escaping a std::thread would terminate the process).
  void run_guarded() noexcept;
  void run();
  void end_on_exception(const char* what, bool out_of_memory) noexcept;
  // Step boundary: applies pending corrections, serves publish requests and
  // waiting parameter readers. Worker thread only.
  void serve_boundary();
  Status add_to_parameters(const Eigen::VectorXf& sum);
  void count_served(const BoundaryServed& served);
  void step_aside_for_readers();
  void sleep_for_slowdown(double seconds);
  void maybe_evaluate();
  void evaluate_offered_average();
  Status save_checkpoint(const char* why);
  void log(const std::string& message);
  void set_state(const char* state, const std::string& error = {});

  // What the loop does not take: periods, checkpoint path, callbacks.
  TrainingWorkerOptions options_;
  std::size_t parameter_count_ = 0;
  // Built in the constructor, then touched by the worker thread only, except
  // parameters() which readers copy under params_mutex_.
  std::unique_ptr<node::TrainingLoop> loop_;

  // Lifecycle (start/stop) and the worker's interruptible sleeps.
  std::mutex lifecycle_mutex_;
  std::thread thread_;
  bool started_ = false;
  std::atomic<bool> stop_requested_{false};
  mutable std::mutex wake_mutex_;
  mutable std::condition_variable wake_;

  // Parameters: written by the worker under params_mutex_, read by others under it.
  mutable std::mutex params_mutex_;
  mutable std::atomic<int> params_readers_{0};          // waiting or copying
  mutable std::atomic<std::uint64_t> params_copies_{0};  // copies done, so the worker steps aside once

  // Corrections in, parameters out: the pending sum and the publish target.
  std::shared_ptr<StepHandoff> handoff_;

  // The local average: asked for by the worker (in flight until answered),
  // answered into a one-slot mailbox under average_mutex_, flagged by an atomic.
  struct OfferedAverage {
    Eigen::VectorXf values;
    std::int64_t step = 0;
    std::size_t neighbours = 0;
  };
  bool average_in_flight_ = false;  // worker thread
  std::mutex average_mutex_;
  std::optional<OfferedAverage> offered_average_;
  std::atomic<bool> average_offered_{false};

  // Worker thread: slowdown bookkeeping and the periodic checkpoint's clock.
  double slowdown_debt_seconds_ = 0;
  double last_checkpoint_seconds_ = 0;
  std::optional<std::string> final_checkpoint_error_;  // set by the thread before it ends

  mutable std::mutex progress_mutex_;
  bool ended_on_exception_ = false;  // under progress_mutex_; restart() refuses
  TrainingProgress progress_;  // the loop's fields copied after each step; holds the slowdown factor the worker reads
};

}  // namespace starling::runtime
