// `starling train`: one replica, no network. The reference the swarm is
// measured against, and the main job until a local swarm exists.
#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <new>
#include <optional>

#include "blas_startup.h"
#include "commands.h"
#include "error_output.h"
#include "json_text.h"
#include "path_option.h"
#include "train_checkpoint.h"
#include "starling/ml/checkpoint.h"
#include "starling/runtime/checkpoint_lock.h"
#include "starling/ml/dataset.h"
#include "starling/ml/fpu.h"
#include "starling/ml/trainer.h"
#include "training_options.h"

namespace starling::apps {
namespace {

using Clock = std::chrono::steady_clock;

struct TrainArgs {
  TrainingOptions training = train_defaults();
  int epochs = 5;
  std::int64_t eval_every_steps = 0;  // 0: after every epoch
  std::string checkpoint;
  bool resume = false;
  bool force = false;  // replace an existing --checkpoint
  bool json = false;
  bool quiet = false;
};

int fail(const Error& error) {
  print_error("starling train", error.message);
  return error.kind == ErrorKind::invalid_argument ? 2 : 1;
}

// Ctrl-C, SIGTERM or SIGHUP (a closed terminal): the loop stops after the step in progress, writes the
// checkpoint and exits 128 + the signal. The handler puts the default action
// back, so a second Ctrl-C ends the process at once (the checkpoint on disk
// is still whole: it is written atomically).
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int signal) {
  g_stop_signal = signal;
  std::signal(signal, SIG_DFL);
}

int train(const TrainArgs& args, TrainingSetup& s);

int run_train(const TrainArgs& args) {
  if (args.resume && args.checkpoint.empty()) {
    return fail(make_error(ErrorKind::invalid_argument,
                           "--resume needs --checkpoint FILE: the checkpoint to continue from (and to write)"));
  }
  if (args.force && args.checkpoint.empty()) {
    return fail(make_error(ErrorKind::invalid_argument, "--force needs --checkpoint FILE: the checkpoint to replace"));
  }
  if (args.force && args.resume) {
    return fail(make_error(ErrorKind::invalid_argument,
                           "--force and --resume contradict each other: --resume continues the checkpoint, "
                           "--force replaces it"));
  }
  std::optional<runtime::CheckpointLock> checkpoint_lock;  // held until the run ends
  if (!args.checkpoint.empty()) {
    // Before the data loads and an epoch trains, not when the first save fails.
    if (Status writable = ml::check_checkpoint_target(args.checkpoint); !writable) return fail(writable.error());
    // Two runs on one checkpoint wrote it in turns and one silently won.
    auto target = ml::write_target(args.checkpoint);  // a link and its file are one checkpoint
    if (!target) return fail(target.error());
    auto locked = runtime::CheckpointLock::acquire(*target);
    if (!locked) return fail(locked.error());
    checkpoint_lock.emplace(std::move(*locked));
    if (Status vacant = check_checkpoint_overwrite(args.checkpoint, args.resume, args.force); !vacant) {
      return fail(vacant.error());
    }
    // A killed run's ".NAME.tmp.PID" stayed for ever, a checkpoint's size each.
    if (const std::size_t removed = ml::remove_stale_temporaries(args.checkpoint); removed > 0 && !args.quiet)
      std::fprintf(stderr, "removed %zu temporary file(s) that killed checkpoint writes left beside %s\n", removed,
                   args.checkpoint.c_str());
  }
  auto setup = prepare_training(args.training);
  if (!setup) return fail(setup.error());
  if (!setup->label_warning.empty()) {  // even with --quiet: the run may be answering the wrong question
    print_warning("starling train", args.training.data + ": " + setup->label_warning);
  }
  try {
    return train(args, *setup);
  } catch (const std::bad_alloc&) {
    // The model itself was built; its optimizer state, gradient or a batch was not.
    const ml::Mlp& model = *setup->model;
    return fail(make_error(ErrorKind::overloaded,
                           "not enough memory to train model " +
                               ml::model_size_text(model.spec(), model.inputs(), model.classes()) +
                               " (training holds 3 to 4 copies, the data and a batch)"));
  }
}

int train(const TrainArgs& args, TrainingSetup& s) {
  ml::enable_flush_to_zero();

  // A batch larger than the samples there are takes all of them: one step per
  // epoch, as a batch of exactly that size would (docs/cli.md).
  const int batch = effective_batch(args.training.batch, s.shard.size());
  if (batch != args.training.batch) {
    const std::string where = args.training.shard == "0/1" ? "" : " of shard " + args.training.shard;
    std::fprintf(stderr, "note: --batch %d is more than the %zu training samples%s: each step takes all %d\n",
                 args.training.batch, s.shard.size(), where.c_str(), batch);
  }
  ml::Optimizer optimizer(s.optimizer_config, s.model->parameter_count());
  ml::Batcher batcher(s.data.train, s.shard, batch, args.training.seed + 17);
  ml::LrSchedule schedule = s.schedule;
  const std::int64_t steps_per_epoch = (std::int64_t(s.shard.size()) + batch - 1) / batch;
  fit_schedule_to_run(schedule, steps_per_epoch, args.epochs);
  ml::Trainer trainer(*s.model, optimizer, batcher, schedule);
  const RunLayout layout{batch, std::to_string(s.shard_spec.index) + "/" + std::to_string(s.shard_spec.count),
                         s.partition.to_string(), args.training.seed, s.shard.size()};

  std::error_code absent_ec;
  // An empty file is no checkpoint (nothing was ever written to it), as for a
  // peer's --resume: it was refused as corrupt here.
  const bool absent = !std::filesystem::exists(args.checkpoint, absent_ec) ||
                      (std::filesystem::is_regular_file(args.checkpoint, absent_ec) &&
                       std::filesystem::file_size(args.checkpoint, absent_ec) == 0);
  if (args.resume && absent) {
    // Said even with --quiet: a mistyped path must not pass for a resumed run
    // (docs/cli.md). Starting fresh is what a first run of a restart-on-failure
    // job that always passes --resume needs.
    const bool empty = std::filesystem::exists(args.checkpoint, absent_ec);
    print_warning("starling train", "--resume: no checkpoint at " + args.checkpoint +
                                        (empty ? " (an empty file)" : "") + ": starting from scratch");
  } else if (args.resume) {
    auto loaded = ml::load_checkpoint(args.checkpoint);
    if (!loaded) return fail(loaded.error());
    const auto refuse = [&](const std::pair<std::string, std::string>& differs) {
      return fail(make_error(ErrorKind::invalid_argument,
                             "--resume: checkpoint " + args.checkpoint + " holds " + differs.first +
                                 "; this run has " + differs.second +
                                 ": resume with the checkpoint's, or pass --force instead of --resume to start a new "
                                 "run over " + args.checkpoint));
    };
    if (auto differs = resume_difference(*loaded, *s.model, optimizer.config())) return refuse(*differs);
    std::vector<std::string> unrecorded;
    if (Status same = check_resume_layout(args.checkpoint, loaded->metadata, layout, unrecorded); !same) {
      return fail(same.error());
    }
    // After the layout: another --seed splits another training set, and says so there.
    if (auto differs = data_difference(*loaded, s.data_mean, s.data_std)) return refuse(*differs);
    if (!unrecorded.empty()) {
      std::string keys;
      for (const auto& key : unrecorded) keys += (keys.empty() ? "" : ", ") + key;
      print_warning("starling train", "checkpoint " + args.checkpoint + " does not record its run's " + keys +
                                          " (an older starling wrote it): taking this run's");
    }
    s.model->parameters() = loaded->parameters;
    auto state = optimizer.state();
    if (state.size() != loaded->optimizer_state.size()) {
      return fail(make_error(ErrorKind::invalid_argument, "checkpoint optimizer differs from --optimizer"));
    }
    for (std::size_t i = 0; i < state.size(); ++i) *state[i] = loaded->optimizer_state[i];
    optimizer.set_steps(loaded->optimizer_steps);
    trainer.restore_counters(loaded->step, loaded->samples);
    // The batches continue where the checkpoint's run was, mid-epoch too (a
    // Ctrl-C), as that run would have gone on. Bounded: a finished checkpoint
    // (or a forged step count) trains nothing and needs no position.
    if (loaded->step < steps_per_epoch * args.epochs) batcher.skip(loaded->step);
    std::fprintf(stderr, "resumed from %s at step %lld\n", args.checkpoint.c_str(), (long long)loaded->step);
  }

  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const std::int64_t total_steps = steps_per_epoch * args.epochs;
  const std::int64_t steps_at_start = trainer.steps();
  if (steps_at_start >= total_steps) {
    std::fprintf(stderr, "%s already holds %.2f epochs (step %lld) of the %d asked for: nothing to train; "
                 "evaluating it\n", args.checkpoint.c_str(), trainer.epoch(), (long long)steps_at_start, args.epochs);
  }
  const auto start = Clock::now();
  double train_seconds = 0.0;
  double last_accuracy = -1.0, last_loss = 0.0;
  double loss_window = 0.0;
  std::int64_t window_samples = 0;
  std::int64_t samples_at_start = trainer.samples();
  auto last_progress = Clock::now();

  auto save = [&]() -> Status {
    if (args.checkpoint.empty()) return ok_status();
    ml::Checkpoint checkpoint;
    checkpoint.spec = s.model->spec();
    checkpoint.inputs = s.model->inputs();
    checkpoint.classes = s.model->classes();
    checkpoint.parameters = s.model->parameters();
    checkpoint.optimizer = optimizer.config();
    for (auto* v : optimizer.state()) checkpoint.optimizer_state.push_back(*v);
    checkpoint.optimizer_steps = optimizer.steps();
    checkpoint.step = trainer.steps();
    checkpoint.samples = trainer.samples();
    checkpoint.epoch = trainer.epoch();
    checkpoint.data_mean = s.data_mean;
    checkpoint.data_std = s.data_std;
    checkpoint.metadata = run_metadata(layout);
    checkpoint.metadata.insert({{"data", args.training.data}, {"model", "own"}});
    return ml::save_checkpoint(args.checkpoint, checkpoint);
  };

  auto evaluate_now = [&] {
    const ml::Evaluation eval = ml::evaluate(*s.model, s.data.test);
    last_accuracy = eval.accuracy;
    last_loss = eval.loss;
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    if (args.json) {
      nlohmann::json line = {{"event", "evaluation"},
                             {"step", trainer.steps()},
                             {"epoch", trainer.epoch()},
                             {"test_accuracy", eval.accuracy},
                             {"test_loss", eval.loss},
                             {"train_loss", window_samples ? loss_window / double(window_samples) : 0.0},
                             {"train_seconds", train_seconds},
                             {"wall_seconds", wall}};
      std::printf("%s\n", to_json_text(line).c_str());
      std::fflush(stdout);
    }
    if (!args.quiet) {
      std::fprintf(stderr, "%sepoch %.2f  step %lld  test accuracy %.2f%%  test loss %.4f%s", tty ? "\r\033[K" : "",
                   trainer.epoch(), (long long)trainer.steps(), 100.0 * eval.accuracy, eval.loss, "\n");
    }
  };

  g_stop_signal = 0;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGHUP, on_stop_signal);
  while (trainer.steps() < total_steps) {
    if (const int signal = g_stop_signal; signal != 0) {
      if (!args.quiet && tty) std::fprintf(stderr, "\n");
      if (auto saved = save(); !saved) return fail(saved.error());
      std::fprintf(stderr, "starling train: stopped by signal %d at step %lld%s%s\n", signal,
                   (long long)trainer.steps(), args.checkpoint.empty() ? "" : "; checkpoint written to ",
                   args.checkpoint.c_str());
      return 128 + signal;
    }
    const auto t0 = Clock::now();
    auto stats = trainer.step();
    train_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    if (!stats) {
      if (!args.quiet && tty) std::fprintf(stderr, "\n");
      return fail(stats.error());
    }
    loss_window += stats->loss_sum;
    window_samples += stats->count;
    const bool epoch_end = trainer.steps() % steps_per_epoch == 0;
    const bool eval_due = args.eval_every_steps > 0 ? trainer.steps() % args.eval_every_steps == 0 : epoch_end;
    if (eval_due || trainer.steps() == total_steps) {
      evaluate_now();
      loss_window = 0.0;
      window_samples = 0;
      if (epoch_end) {
        if (auto saved = save(); !saved) return fail(saved.error());
      }
    } else if (!args.quiet && tty && Clock::now() - last_progress > std::chrono::milliseconds(200)) {
      last_progress = Clock::now();
      const double rate = double(trainer.samples() - samples_at_start) / std::max(train_seconds, 1e-9);
      char accuracy_text[16] = "-";
      if (last_accuracy >= 0) std::snprintf(accuracy_text, sizeof accuracy_text, "%.2f%%", 100.0 * last_accuracy);
      std::fprintf(stderr, "\r\033[Kepoch %.2f/%d  step %lld/%lld  %.1fk samples/s  loss %.4f  last test accuracy %s",
                   trainer.epoch(), args.epochs, (long long)trainer.steps(), (long long)total_steps, rate / 1000.0,
                   window_samples ? loss_window / double(window_samples) : 0.0, accuracy_text);
    }
  }
  if (last_accuracy < 0.0) evaluate_now();  // nothing trained (a finished checkpoint): its model is still reported
  if (trainer.steps() != steps_at_start) {
    if (auto saved = save(); !saved) return fail(saved.error());
  }

  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double rate = double(trainer.samples() - samples_at_start) / std::max(train_seconds, 1e-9);
  if (args.json) {
    nlohmann::json summary = {{"event", "summary"},
                              {"model", s.model->spec().to_string()},
                              {"parameters", s.model->parameter_count()},
                              {"test_accuracy", last_accuracy},
                              {"test_loss", last_loss},
                              {"epochs", trainer.epoch()},
                              {"steps", trainer.steps()},
                              {"samples_per_second", rate},
                              {"train_seconds", train_seconds},
                              {"wall_seconds", wall},
                              {"blas_kernels", blas_kernels_note()}};
    std::printf("%s\n", to_json_text(summary).c_str());
  }
  if (!args.quiet) {
    std::fprintf(stderr, "done: %s, %.2f epochs, test accuracy %.2f%%, %.1fk samples/s, %.1f s\n",
                 s.model->spec().to_string().c_str(), trainer.epoch(), 100.0 * last_accuracy, rate / 1000.0, wall);
  }
  return 0;
}

}  // namespace

Command add_train_command(CLI::App& root) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* app = root.add_subcommand("train", "Train one replica locally (no network) and report test accuracy");
  add_training_options(*app, args->training);
  app->add_option("--epochs", args->epochs, "Passes over the (shard of the) training set")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app->add_option("--eval-every", args->eval_every_steps, "Evaluate every N steps (0: after every epoch)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--checkpoint", args->checkpoint, "Write a checkpoint here after every epoch and at the end")
      ->check(non_empty_path_check("no checkpoint"));
  app->add_flag("--resume", args->resume,
                "Continue from --checkpoint; if it does not exist yet, start from scratch with a warning");
  app->add_flag("--force", args->force,
                "Replace an existing --checkpoint FILE with this run's (without it, an existing FILE is refused)");
  app->add_flag("--json", args->json, "One JSON object per evaluation and a final summary on stdout");
  app->add_flag("-q,--quiet", args->quiet, "No progress on stderr");
  return {app, [args] { return run_train(*args); }};
}

}  // namespace starling::apps
