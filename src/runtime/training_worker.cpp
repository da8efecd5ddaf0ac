#include "starling/runtime/training_worker.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <utility>

#include "starling/assert.h"
#include "starling/ml/fpu.h"
#include "starling/ml/trainer.h"

namespace starling::runtime {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kLossWindow = 50;                // steps in the train_loss mean
constexpr int kMaxConsecutiveNan = 100;        // then "failed"
constexpr double kNanLogInterval = 5.0;        // seconds between NaN warnings
constexpr double kRateWindow = 0.5;            // seconds per steps_per_second window
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

// Worker-thread state: touched only by the worker thread once it runs (and by
// the constructor before). The model itself lives in options_.model.
struct TrainingWorker::Engine {
  ml::Mlp& model;
  ml::Optimizer optimizer;
  ml::Batcher batcher;
  ml::Trainer trainer;

  std::array<double, kLossWindow> loss_sum{};
  std::array<int, kLossWindow> loss_count{};
  int loss_next = 0;
  int loss_filled = 0;

  int consecutive_nan = 0;
  std::int64_t nan_total = 0;
  std::int64_t nan_at_last_log = 0;
  std::optional<Clock::time_point> last_nan_log;

  Clock::time_point last_eval, last_checkpoint, rate_mark;
  std::int64_t rate_mark_steps = 0;
  double steps_per_second = 0.0;
  double slowdown_debt = 0.0;  // seconds still to sleep

  std::int64_t steps_this_run = 0;
  double step_seconds = 0.0;
  double slowdown_seconds = 0.0;

  explicit Engine(const TrainingWorkerOptions& o)
      : model(*o.model),
        optimizer(o.optimizer, o.model->parameter_count()),
        batcher(o.data->train, o.shard, o.batch, o.seed),
        trainer(model, optimizer, batcher, o.schedule) {}

  void record_loss(const ml::BatchStats& stats) {
    loss_sum[std::size_t(loss_next)] = stats.loss_sum;
    loss_count[std::size_t(loss_next)] = stats.count;
    loss_next = (loss_next + 1) % kLossWindow;
    loss_filled = std::min(loss_filled + 1, kLossWindow);
  }
  double mean_loss() const {
    double sum = 0.0;
    std::int64_t count = 0;
    for (int i = 0; i < loss_filled; ++i) {
      sum += loss_sum[std::size_t(i)];
      count += loss_count[std::size_t(i)];
    }
    return count > 0 ? sum / double(count) : std::numeric_limits<double>::quiet_NaN();
  }
};

namespace {

// Why the options cannot train, or empty.
std::string invalid_options(const TrainingWorkerOptions& o) {
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

TrainingWorker::TrainingWorker(TrainingWorkerOptions options) : options_(std::move(options)) {
  STARLING_ASSERT_MSG(options_.model != nullptr, "TrainingWorkerOptions::model is required");
  STARLING_ASSERT_MSG(options_.data != nullptr, "TrainingWorkerOptions::data is required");
  parameter_count_ = options_.model->parameter_count();
  pending_correction_ = Eigen::VectorXf::Zero(Eigen::Index(parameter_count_));
  spare_correction_ = Eigen::VectorXf::Zero(Eigen::Index(parameter_count_));

  if (std::string why = invalid_options(options_); !why.empty()) {
    set_state("failed", "training worker: " + why);
    return;
  }
  engine_ = std::make_unique<Engine>(options_);

  if (options_.resume) {
    const ml::Checkpoint& c = *options_.resume;
    ml::Mlp& model = *options_.model;
    std::string why;
    auto state = engine_->optimizer.state();
    if (c.spec.to_string() != model.spec().to_string() || c.inputs != model.inputs() ||
        c.classes != model.classes() || std::size_t(c.parameters.size()) != parameter_count_) {
      why = "checkpoint holds model " + c.spec.to_string() + " (" + std::to_string(c.inputs) + " inputs, " +
            std::to_string(c.classes) + " classes), not " + model.spec().to_string() + " (" +
            std::to_string(model.inputs()) + ", " + std::to_string(model.classes()) + ")";
    } else if (c.optimizer.kind != options_.optimizer.kind || c.optimizer_state.size() != state.size()) {
      why = "checkpoint optimizer differs from the configured one";
    } else if (!c.parameters.allFinite()) {
      why = "checkpoint parameters are not finite";
    } else {
      for (std::size_t i = 0; i < state.size(); ++i) {
        if (c.optimizer_state[i].size() != state[i]->size()) why = "checkpoint optimizer state has the wrong size";
      }
    }
    if (!why.empty()) {
      engine_.reset();
      set_state("failed", "training worker: cannot resume: " + why);
      return;
    }
    model.parameters() = c.parameters;
    for (std::size_t i = 0; i < state.size(); ++i) *state[i] = c.optimizer_state[i];
    engine_->optimizer.set_steps(c.optimizer_steps);
    engine_->trainer.restore_counters(c.step, c.samples);
    std::lock_guard lock(progress_mutex_);
    progress_.step = c.step;
    progress_.samples = c.samples;
    progress_.epoch = engine_->trainer.epoch();
  }
}

TrainingWorker::~TrainingWorker() { stop(); }

void TrainingWorker::start() {
  std::lock_guard lock(lifecycle_mutex_);
  if (started_ || stop_requested_.load() || engine_ == nullptr) return;
  started_ = true;
  set_state("training");
  thread_ = std::thread([this] { run(); });
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

void TrainingWorker::request_publish() { publish_requested_.store(true, std::memory_order_release); }

Status TrainingWorker::add_correction(const Eigen::VectorXf& correction) {
  if (std::size_t(correction.size()) != parameter_count_) {
    return make_error(ErrorKind::invalid_argument, "correction has " + std::to_string(correction.size()) +
                                                       " entries, the model " + std::to_string(parameter_count_));
  }
  if (!correction.allFinite()) return make_error(ErrorKind::numerical, "correction holds NaN or Inf");
  std::lock_guard lock(corrections_mutex_);
  pending_correction_ += correction;
  ++pending_count_;
  correction_pending_.store(true, std::memory_order_release);
  return ok_status();
}

void TrainingWorker::set_slowdown(double factor) {
  if (!(factor >= 1.0) || !std::isfinite(factor)) factor = 1.0;
  std::lock_guard lock(progress_mutex_);
  progress_.slowdown_factor = factor;
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
    copy = options_.model->parameters();
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

void TrainingWorker::apply_corrections() {
  std::int64_t count = 0;
  {
    std::lock_guard lock(corrections_mutex_);
    pending_correction_.swap(spare_correction_);  // O(1): the pending sum moves out, a zero vector in
    count = pending_count_;
    pending_count_ = 0;
    correction_pending_.store(false, std::memory_order_relaxed);
  }
  if (count == 0) return;
  {
    std::lock_guard lock(params_mutex_);
    options_.model->parameters() += spare_correction_;
  }
  spare_correction_.setZero();
  std::lock_guard lock(progress_mutex_);
  progress_.corrections_applied += count;
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
  if (correction_pending_.load(std::memory_order_acquire)) apply_corrections();
  if (publish_requested_.exchange(false, std::memory_order_acq_rel)) {
    if (options_.on_publish) {
      // Only this thread writes the parameters: no lock needed to read them.
      Eigen::VectorXf copy = options_.model->parameters();
      options_.on_publish(std::move(copy), engine_->trainer.steps());
    }
    std::lock_guard lock(progress_mutex_);
    ++progress_.publishes;
  }
  if (params_readers_.load() > 0) step_aside_for_readers();
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
  engine_->slowdown_debt -= slept;
  engine_->slowdown_seconds += slept;
}

void TrainingWorker::maybe_evaluate() {
  Engine& e = *engine_;
  if (options_.data->test.size() == 0 || options_.eval_every_seconds <= 0.0) return;
  if (seconds_between(e.last_eval, Clock::now()) < options_.eval_every_seconds) return;
  const ml::Evaluation eval = [&] {
    MathTurn turn;
    return ml::evaluate(e.model, options_.data->test);
  }();
  e.last_eval = Clock::now();
  std::lock_guard lock(progress_mutex_);
  progress_.evaluated = true;
  progress_.test_accuracy = eval.accuracy;
  progress_.test_loss = eval.loss;
  progress_.evaluated_at_step = e.trainer.steps();
  ++progress_.evaluations;
}

bool TrainingWorker::save_checkpoint(const char* why) {
  Engine& e = *engine_;
  ml::Checkpoint checkpoint;
  checkpoint.spec = e.model.spec();
  checkpoint.inputs = e.model.inputs();
  checkpoint.classes = e.model.classes();
  checkpoint.parameters = e.model.parameters();
  checkpoint.optimizer = e.optimizer.config();
  for (auto* v : e.optimizer.state()) checkpoint.optimizer_state.push_back(*v);
  checkpoint.optimizer_steps = e.optimizer.steps();
  checkpoint.step = e.trainer.steps();
  checkpoint.samples = e.trainer.samples();
  checkpoint.epoch = e.trainer.epoch();
  checkpoint.data_mean = options_.data_mean;
  checkpoint.data_std = options_.data_std;
  checkpoint.metadata = options_.checkpoint_metadata;
  const Status saved = ml::save_checkpoint(options_.checkpoint_path, checkpoint);
  e.last_checkpoint = Clock::now();
  {
    std::lock_guard lock(progress_mutex_);
    ++(saved ? progress_.checkpoints_written : progress_.checkpoint_failures);
  }
  if (!saved) {
    log(std::string("training worker: ") + why + " checkpoint to " + options_.checkpoint_path +
        " failed (training goes on): " + saved.error().message);
  }
  return saved.ok();
}

void TrainingWorker::run() {
  ml::enable_flush_to_zero();  // per thread: subnormal momentum would slow every step
  Engine& e = *engine_;
  const auto started = Clock::now();
  e.last_eval = e.last_checkpoint = e.rate_mark = started;
  bool failed = false;

  while (!stop_requested_.load(std::memory_order_acquire)) {
    serve_boundary();
    maybe_evaluate();
    if (!options_.checkpoint_path.empty() && options_.checkpoint_every_seconds > 0.0 &&
        seconds_between(e.last_checkpoint, Clock::now()) >= options_.checkpoint_every_seconds) {
      save_checkpoint("periodic");
    }
    if (stop_requested_.load(std::memory_order_acquire)) break;

    // The turn first (a reader may copy the parameters while we wait for it);
    // the step time is the step's own, without the wait.
    Clock::time_point t0, t1;
    Result<ml::BatchStats> stats = [&] {
      MathTurn turn;
      t0 = Clock::now();
      std::lock_guard lock(params_mutex_);
      Result<ml::BatchStats> result = e.trainer.step();
      t1 = Clock::now();
      return result;
    }();
    const double step_time = seconds_between(t0, t1);
    e.step_seconds += step_time;

    if (stats) {
      e.consecutive_nan = 0;
      ++e.steps_this_run;
      e.record_loss(*stats);
    } else {
      ++e.consecutive_nan;
      ++e.nan_total;
      // Trainer left the parameters alone, but fused SGD has already folded
      // the bad gradient into its velocity: drop a momentum buffer that holds
      // NaN/Inf, or the next good step would carry it into the parameters.
      bool reset = false;
      for (Eigen::VectorXf* buffer : e.optimizer.state()) {
        if (!buffer->allFinite()) {
          buffer->setZero();
          reset = true;
        }
      }
      if (e.consecutive_nan >= kMaxConsecutiveNan) {
        const std::string why = "training diverged: " + std::to_string(kMaxConsecutiveNan) +
                                " steps in a row had a NaN/Inf loss; last: " + stats.error().message;
        set_state("failed", why);
        log("training worker: " + why);
        failed = true;
      } else if (!e.last_nan_log || seconds_between(*e.last_nan_log, t1) >= kNanLogInterval) {
        log("training worker: step skipped (" + stats.error().message + "); " +
            std::to_string(e.nan_total - e.nan_at_last_log) + " skipped since the last warning, " +
            std::to_string(e.nan_total) + " in all" + (reset ? "; optimizer state reset" : ""));
        e.last_nan_log = t1;
        e.nan_at_last_log = e.nan_total;
      }
    }

    const double rate_elapsed = seconds_between(e.rate_mark, t1);
    if (rate_elapsed >= kRateWindow) {
      e.steps_per_second = double(e.steps_this_run - e.rate_mark_steps) / rate_elapsed;
      e.rate_mark = t1;
      e.rate_mark_steps = e.steps_this_run;
    } else if (e.rate_mark == started && rate_elapsed > 0.0) {
      e.steps_per_second = double(e.steps_this_run) / rate_elapsed;  // first window: since the start
    }
    {
      std::lock_guard lock(progress_mutex_);
      // The factor is read in the same critical section that publishes the
      // step, so a snapshot taken after set_slowdown() returned sees every
      // later step charged at the new factor: slept + debt moves by exactly
      // (factor-1) x the step time the snapshot shows.
      const double factor = progress_.slowdown_factor;
      if (factor > 1.0) {
        e.slowdown_debt += (factor - 1.0) * step_time;
      } else {
        e.slowdown_debt = 0.0;
      }
      progress_.step = e.trainer.steps();
      progress_.samples = e.trainer.samples();
      progress_.epoch = e.trainer.epoch();
      progress_.train_loss = e.mean_loss();
      progress_.steps_per_second = e.steps_per_second;
      progress_.steps_this_run = e.steps_this_run;
      progress_.nan_steps_skipped = e.nan_total;
      progress_.step_seconds = e.step_seconds;
      progress_.slowdown_seconds = e.slowdown_seconds;
      progress_.slowdown_debt_seconds = e.slowdown_debt;
    }
    if (failed) break;

    if (e.slowdown_debt >= kSlowdownMinSleep) {
      sleep_for_slowdown(e.slowdown_debt);
      std::lock_guard lock(progress_mutex_);
      progress_.slowdown_seconds = e.slowdown_seconds;
      progress_.slowdown_debt_seconds = e.slowdown_debt;
    }
  }

  if (failed) {
    if (!options_.checkpoint_path.empty()) {
      log("training worker: no final checkpoint: training failed (" + options_.checkpoint_path + " keeps the last good one)");
    }
    return;
  }
  // Corrections that arrived after the last step still land: none is lost.
  if (correction_pending_.load(std::memory_order_acquire)) apply_corrections();
  if (!options_.checkpoint_path.empty()) save_checkpoint("final");
}

}  // namespace starling::runtime
