#include "starling/runtime/training_worker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <utility>

#include "starling/assert.h"
#include "starling/ml/fpu.h"

#if defined(__linux__)
#include <pthread.h>
#endif

namespace starling::runtime {
namespace {

using Clock = std::chrono::steady_clock;

constexpr double kSlowdownMinSleep = 0.002;    // sleep debt below this is carried to the next step
constexpr auto kSleepChunk = std::chrono::milliseconds(20);  // boundary service during long sleeps
constexpr auto kStepAsideLimit = std::chrono::milliseconds(20);
constexpr double kMaxSleep = 3600.0;           // seconds, per sleep

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// The ticket lock behind MathTurn: each taker draws a ticket and waits
// (futex, no spinning) until it is served, so turns go in arrival order and a
// worker that steps again at once cannot starve the others.
std::atomic<std::uint64_t> math_next_ticket{0};
std::atomic<std::uint64_t> math_now_serving{0};

}  // namespace

bool math_turns_needed() {
#if defined(EIGEN_USE_BLAS)
  return true;
#else
  return false;
#endif
}

MathTurn::MathTurn() {
  if (!math_turns_needed()) return;
  const std::uint64_t ticket = math_next_ticket.fetch_add(1, std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t serving = math_now_serving.load(std::memory_order_acquire);
    if (serving == ticket) break;
    math_now_serving.wait(serving, std::memory_order_acquire);
  }
  held_ = true;
}

MathTurn::~MathTurn() {
  if (!held_) return;
  math_now_serving.fetch_add(1, std::memory_order_release);
  math_now_serving.notify_all();
}

namespace {

double clock_seconds() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

node::TrainingLoopOptions loop_options(TrainingWorkerOptions& o) {
  node::TrainingLoopOptions l;
  l.model = std::move(o.model);
  l.optimizer = o.optimizer;
  l.schedule = o.schedule;
  l.data = o.data;
  l.shard = std::move(o.shard);
  l.batch = o.batch;
  l.seed = o.seed;
  l.eval_every_steps = o.eval_every_steps;
  l.checkpoint_metadata = o.checkpoint_metadata;
  l.data_mean = o.data_mean;
  l.data_std = o.data_std;
  l.resume = std::move(o.resume);
  o.resume.reset();
  return l;
}

}  // namespace

TrainingWorker::TrainingWorker(TrainingWorkerOptions options) : options_(std::move(options)) {
  STARLING_ASSERT_MSG(options_.model != nullptr, "TrainingWorkerOptions::model is required");
  STARLING_ASSERT_MSG(options_.data != nullptr, "TrainingWorkerOptions::data is required");
  loop_ = std::make_unique<node::TrainingLoop>(loop_options(options_));
  parameter_count_ = loop_->parameter_count();
  handoff_ = std::move(options_.handoff);
  if (!handoff_) {
    StepHandoffOptions h;
    h.parameter_count = parameter_count_;
    h.publish = options_.on_publish;
    handoff_ = std::make_shared<StepHandoff>(std::move(h));
  }
  STARLING_ASSERT_MSG(handoff_->parameter_count() == parameter_count_, "StepHandoff sized for another model");
  std::lock_guard lock(progress_mutex_);
  loop_->progress_into(progress_);  // a resumed step count shows before start()
  if (loop_->failed()) {
    progress_.state = "failed";
    progress_.error = "training worker: " + loop_->error();
  }
}

TrainingWorker::~TrainingWorker() { stop(); }

void TrainingWorker::start() {
  std::lock_guard lock(lifecycle_mutex_);
  if (started_ || stop_requested_.load() || loop_->failed()) return;
  started_ = true;
  set_state("training");
  thread_ = std::thread([this] { run_guarded(); });
}
void TrainingWorker::stop() {
  std::lock_guard lock(lifecycle_mutex_);
  STARLING_ASSERT_MSG(!thread_.joinable() || thread_.get_id() != std::this_thread::get_id(),
                      "TrainingWorker::stop() called on the worker thread (from a callback?)");
  stop_requested_.store(true);
  {
    std::lock_guard wake_lock(wake_mutex_);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard progress_lock(progress_mutex_);
  if (progress_.state != "failed") progress_.state = "stopped";
}

Status TrainingWorker::restart(const Eigen::VectorXf* parameters) {
  std::lock_guard lock(lifecycle_mutex_);
  STARLING_ASSERT_MSG(!thread_.joinable() || thread_.get_id() != std::this_thread::get_id(),
                      "TrainingWorker::restart() called on the worker thread (from a callback?)");
  bool failed = false;
  {
    // The thread sets "failed" under this lock after its last step: the
    // loop itself is read only once the thread is joined.
    std::lock_guard progress_lock(progress_mutex_);
    failed = progress_.state == "failed";
  }
  bool ended_on_exception = false;
  {
    std::lock_guard progress_lock(progress_mutex_);
    ended_on_exception = ended_on_exception_;
  }
  if (!started_ || stop_requested_.load() || !failed)
    return make_error(ErrorKind::invalid_argument, "restart: the worker is not a failed, running one");
  if (ended_on_exception)
    return make_error(ErrorKind::invalid_argument, "restart: the worker ended on an error training again would meet");
  if (thread_.joinable()) thread_.join();  // it ends once the loop failed
  const Eigen::VectorXf last = loop_->parameters();
  if (Status recovered = loop_->recover(parameters ? *parameters : last); !recovered) return recovered;
  handoff_->drop_pending_corrections();
  {
    std::lock_guard progress_lock(progress_mutex_);
    loop_->progress_into(progress_);
    progress_.state = "training";
    progress_.error.clear();
  }
  thread_ = std::thread([this] { run_guarded(); });
  return ok_status();
}

void TrainingWorker::request_publish(std::int64_t at_step) { handoff_->request_publish(at_step); }

Status TrainingWorker::add_correction(const Eigen::VectorXf& correction) {
  return handoff_->offer_correction(correction);
}

void TrainingWorker::set_slowdown(double factor) {
  if (!(factor >= 1.0) || !std::isfinite(factor)) factor = 1.0;
  std::lock_guard lock(progress_mutex_);
  progress_.slowdown_factor = factor;
}

Status TrainingWorker::evaluate_local_average(Eigen::VectorXf average, std::int64_t step, std::size_t neighbours) {
  if (average.size() != 0 && std::size_t(average.size()) != parameter_count_) {
    return make_error(ErrorKind::invalid_argument, "local average has " + std::to_string(average.size()) +
                                                       " entries, the model " + std::to_string(parameter_count_));
  }
  std::lock_guard lock(average_mutex_);
  offered_average_ = OfferedAverage{std::move(average), step, neighbours};
  average_offered_.store(true, std::memory_order_release);
  return ok_status();
}

std::optional<ml::Checkpoint> TrainingWorker::checkpoint_after_stop() const {
  // The worker thread has ended (stop() joined it) or never started: nobody writes the loop now.
  STARLING_ASSERT_MSG(!thread_.joinable(), "TrainingWorker::checkpoint_after_stop() before stop()");
  if (loop_->failed()) return std::nullopt;
  {
    std::lock_guard lock(progress_mutex_);
    if (progress_.state == "failed") return std::nullopt;
  }
  return loop_->checkpoint();
}

TrainingProgress TrainingWorker::progress() const {
  std::lock_guard lock(progress_mutex_);
  return progress_;
}

Eigen::VectorXf TrainingWorker::parameters_copy() const {
  params_readers_.fetch_add(1);
  Eigen::VectorXf copy;
  {
    std::lock_guard lock(params_mutex_);
    copy = loop_->parameters();
  }
  params_copies_.fetch_add(1);
  params_readers_.fetch_sub(1);
  {
    std::lock_guard wake_lock(wake_mutex_);
  }
  wake_.notify_all();  // a worker stepping aside for us may go on
  return copy;
}

void TrainingWorker::set_state(const char* state, const std::string& error) {
  std::lock_guard lock(progress_mutex_);
  progress_.state = state;
  if (!error.empty()) progress_.error = error;
}

void TrainingWorker::log(const std::string& message) {
  if (options_.on_log) options_.on_log(message);
}

Status TrainingWorker::add_to_parameters(const Eigen::VectorXf& sum) {
  std::lock_guard lock(params_mutex_);
  return loop_->add_finite_correction(sum);  // StepHandoff::serve hands over finite sums only
}

void TrainingWorker::count_served(const BoundaryServed& served) {
  if (!served.status) log("training worker: " + served.status.error().message);
  if (!served.warning.empty()) log("training worker: " + served.warning);
  if (served.corrections == 0 && !served.published) return;
  std::lock_guard lock(progress_mutex_);
  progress_.corrections_applied += served.corrections;
  if (served.published) ++progress_.publishes;
}

void TrainingWorker::step_aside_for_readers() {
  // A reader waits for params_mutex_, which we do not hold here. Let at least
  // one copy finish (bounded), so readers cannot starve a busy worker and a
  // stream of readers cannot stall it.
  const std::uint64_t copies = params_copies_.load();
  std::unique_lock lock(wake_mutex_);
  wake_.wait_for(lock, kStepAsideLimit, [&] {
    return params_readers_.load() == 0 || params_copies_.load() != copies || stop_requested_.load();
  });
}

void TrainingWorker::serve_boundary() {
  // Corrections in, then the parameters out when asked (StepHandoff::serve).
  // Only this thread writes the parameters: no lock needed to read them.
  count_served(handoff_->serve(
      loop_->steps(), [this](const Eigen::VectorXf& sum) { return add_to_parameters(sum); }, loop_->parameters()));
  if (average_offered_.load(std::memory_order_acquire)) evaluate_offered_average();
  if (params_readers_.load() > 0) step_aside_for_readers();
}

void TrainingWorker::evaluate_offered_average() {
  std::optional<OfferedAverage> offered;
  {
    std::lock_guard lock(average_mutex_);
    offered.swap(offered_average_);
    average_offered_.store(false, std::memory_order_relaxed);
  }
  average_in_flight_ = false;
  if (!offered || offered->values.size() == 0) return;
  Result<ml::Evaluation> evaluated = make_error(ErrorKind::invalid_argument, "not evaluated");
  {
    MathTurn turn;
    // The model computes with the average during the call: readers wait.
    std::lock_guard lock(params_mutex_);
    evaluated = loop_->evaluate_local_average(offered->values, offered->step, offered->neighbours);
  }
  if (!evaluated) {
    log("training worker: local average not evaluated: " + evaluated.error().message);
    return;
  }
  std::lock_guard lock(progress_mutex_);
  loop_->progress_into(progress_);
}

void TrainingWorker::sleep_for_slowdown(double seconds) {
  seconds = std::min(seconds, kMaxSleep);  // a huge factor must not overflow the clock
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (!stop_requested_.load()) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    {
      std::unique_lock lock(wake_mutex_);
      wake_.wait_until(lock, std::min(deadline, now + kSleepChunk), [&] { return stop_requested_.load(); });
    }
    serve_boundary();  // a long sleep still answers publish requests and readers
  }
  const double slept = seconds_between(start, Clock::now());
  std::lock_guard lock(progress_mutex_);
  slowdown_debt_seconds_ -= slept;
  progress_.slowdown_seconds += slept;
  progress_.slowdown_debt_seconds = slowdown_debt_seconds_;
}

void TrainingWorker::maybe_evaluate() {
  if (!loop_->evaluation_due()) return;
  {
    MathTurn turn;
    loop_->evaluate();
  }
  {
    std::lock_guard lock(progress_mutex_);
    loop_->progress_into(progress_);
  }
  const std::int64_t every = options_.local_average_every;
  const bool average_due = every > 0 && options_.eval_every_steps > 0 &&
                           (loop_->steps() / options_.eval_every_steps) % every == 0;
  if (options_.on_local_average_wanted && average_due && !average_in_flight_) {
    average_in_flight_ = true;
    // Only this thread writes the parameters: no lock needed to read them.
    Eigen::VectorXf copy = loop_->parameters();
    options_.on_local_average_wanted(std::move(copy), loop_->steps());
  }
}

Status TrainingWorker::save_checkpoint(const char* why) {
  const Status saved = ml::save_checkpoint(options_.checkpoint_path, loop_->checkpoint());
  last_checkpoint_seconds_ = clock_seconds();
  {
    std::lock_guard lock(progress_mutex_);
    ++(saved ? progress_.checkpoints_written : progress_.checkpoint_failures);
  }
  if (!saved) {
    log(std::string("training worker: ") + why + " checkpoint to " + options_.checkpoint_path + " failed" +
        (std::string_view(why) == "final" ? "" : " (training goes on)") + ": " + saved.error().message);
  }
  return saved;
}

void TrainingWorker::run_guarded() noexcept {
  try {
    run();
  } catch (const std::bad_alloc& e) {
    end_on_exception(e.what(), true);
  } catch (const std::exception& e) {
    end_on_exception(e.what(), false);
  } catch (...) {
    end_on_exception("an exception that is not a std::exception", false);
  }
}

void TrainingWorker::end_on_exception(const char* what, bool out_of_memory) noexcept {
  // Whatever threw has unwound: its memory is back, so these few strings
  // normally fit. If even they do not, the state still says "failed" (a
  // short literal, no allocation) and stderr says why.
  try {
    const std::string why = std::string(out_of_memory ? "out of memory while training: " :
                                                        "training worker: internal error: ") + what;
    {
      std::lock_guard lock(progress_mutex_);
      ended_on_exception_ = true;
      progress_.state = "failed";
      progress_.error = why;
    }
    if (options_.on_fatal) {
      options_.on_fatal(why);
    } else if (options_.on_failed) {
      options_.on_failed(why);
    }
  } catch (...) {
    {
      std::lock_guard lock(progress_mutex_);
      ended_on_exception_ = true;
      progress_.state = "failed";
    }
    std::fputs("starling: error: the training thread ended on an error and could not report it "
               "(out of memory?)\n", stderr);
  }
}

void TrainingWorker::run() {
#if defined(__linux__)
  // A name for top -H, perf and bench/peer_cpu.py (at most 15 characters).
  ::pthread_setname_np(::pthread_self(), "starling-train");
#endif
  ml::enable_flush_to_zero();  // per thread: subnormal momentum would slow every step
  last_checkpoint_seconds_ = clock_seconds();
  bool failed = false;

  while (!stop_requested_.load(std::memory_order_acquire)) {
    serve_boundary();
    const double boundary_seconds = clock_seconds();
    maybe_evaluate();
    if (!options_.checkpoint_path.empty() && options_.checkpoint_every_seconds > 0.0 &&
        boundary_seconds - last_checkpoint_seconds_ >= options_.checkpoint_every_seconds) {
      (void)save_checkpoint("periodic");  // logged and counted; training goes on
    }
    if (stop_requested_.load(std::memory_order_acquire)) break;

    // The turn first (a reader may copy the parameters while we wait for it);
    // the step time is the step's own, without the wait.
    double t0 = 0, t1 = 0;
    const node::StepResult result = [&] {
      MathTurn turn;
      t0 = clock_seconds();
      std::lock_guard lock(params_mutex_);
      node::StepResult r = loop_->step(t0);
      t1 = clock_seconds();
      return r;
    }();
    const double step_time = t1 - t0;
    if (!result.warning.empty()) log("training worker: " + result.warning);
    failed = result.kind == node::StepResult::Kind::failed;

    {
      std::lock_guard lock(progress_mutex_);
      // The factor is read in the same critical section that publishes the
      // step, so a snapshot taken after set_slowdown() returned sees every
      // later step charged at the new factor: slept + debt moves by exactly
      // (factor-1) x the step time the snapshot shows.
      const double factor = progress_.slowdown_factor;
      if (factor > 1.0) {
        slowdown_debt_seconds_ += (factor - 1.0) * step_time;
      } else {
        slowdown_debt_seconds_ = 0.0;
      }
      loop_->progress_into(progress_);
      progress_.step_seconds += step_time;
      progress_.slowdown_debt_seconds = slowdown_debt_seconds_;
      if (failed) {
        progress_.state = "failed";
        progress_.error = loop_->error();
      }
    }
    if (failed) break;

    if (slowdown_debt_seconds_ >= kSlowdownMinSleep) sleep_for_slowdown(slowdown_debt_seconds_);
  }

  if (failed) {
    if (!options_.checkpoint_path.empty()) {
      log("training worker: no final checkpoint: training failed (" + options_.checkpoint_path + " keeps the last good one)");
    }
    if (options_.on_failed) options_.on_failed(loop_->error());
    return;
  }
  // Corrections that arrived after the last step still land: none is lost.
  count_served(handoff_->apply_corrections([this](const Eigen::VectorXf& sum) { return add_to_parameters(sum); }));
  if (!options_.checkpoint_path.empty() && options_.final_checkpoint) {
    if (const Status saved = save_checkpoint("final"); !saved) final_checkpoint_error_ = saved.error().message;
  }
}

}  // namespace starling::runtime
