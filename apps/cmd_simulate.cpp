// `starling simulate FILE`: the scenario in the deterministic simulator
// (docs/simulator.md): the same file, expectations and report as `starling
// scenario`, in virtual time from one seed, plus the invariants and a hash of
// the event trace. `--random --seeds N` draws fault mixes and runs them.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <new>
#include <optional>
#include <string>

#include "commands.h"
#include "error_output.h"
#include "json_text.h"
#include "path_option.h"
#include "report_folder.h"
#include "starling/ml/blas_kernels.h"
#include "starling/scenario/expectations.h"
#include "starling/scenario/parse.h"
#include "starling/scenario/report.h"
#include "starling/scenario/summary.h"
#include "starling/sim/random_scenario.h"
#include "starling/sim/simulate.h"

namespace starling::apps {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kExitFailed = 1;
constexpr int kExitBadInput = 2;

struct SimulateCliOptions {
  std::string file;
  std::string out_dir;
  std::optional<std::uint64_t> seed;
  std::optional<int> peers;
  bool json_summary = false;
  bool random = false;
  int seeds = 10;
  double step_ms = 10.0;
  std::uint64_t handoff_ms = 0;
  double eval_ms = 0.0;
  double heterogeneity = 0.0;
  std::optional<double> stop_at_accuracy;
  int stop_window = 1;
  std::string peer_log;                  // --peer-log FILE
  std::shared_ptr<std::FILE> peer_log_file;  // open while the runs go
};

const char* level_name(node::DriverLogLevel level) {
  switch (level) {
    case node::DriverLogLevel::debug: return "debug";
    case node::DriverLogLevel::info: return "info";
    case node::DriverLogLevel::warning: return "warning";
    case node::DriverLogLevel::error: return "error";
  }
  return "?";
}


std::string replay_command(const SimulateCliOptions& o, const std::string& file, std::uint64_t seed) {
  // An MLP's products run in OpenBLAS, whose kernels (picked per CPU) round
  // differently: the same seed on another machine's kernels is another run.
  const std::string kernels = ml::blas_kernels();
  std::string command = (kernels.empty() ? "" : "OPENBLAS_CORETYPE=" + kernels + " ") + "starling simulate " + file +
                        " --seed " + std::to_string(seed);
  if (o.peers) command += " --peers " + std::to_string(*o.peers);
  if (o.step_ms != 10.0) command += " --step-ms " + std::to_string(o.step_ms);
  if (o.handoff_ms != 0) command += " --handoff-ms " + std::to_string(o.handoff_ms);
  if (o.eval_ms != 0.0) command += " --eval-ms " + std::to_string(o.eval_ms);
  if (o.heterogeneity != 0.0) command += " --heterogeneity " + std::to_string(o.heterogeneity);
  if (o.stop_at_accuracy) {
    command += " --stop-at-accuracy " + std::to_string(*o.stop_at_accuracy) + " --stop-window " +
               std::to_string(o.stop_window);
  }
  return command;
}

struct RunOutcome {
  bool passed = false;
  bool out_of_memory = false;  // ended early; said on stderr, no report
  std::string summary;  // scenario::summary_json, shared with `starling scenario --json`
};

// One simulated run of `scenario`: report, text, and the summary object.
RunOutcome run_one(const SimulateCliOptions& o, const scenario::Scenario& scenario, const std::string& file,
                   sim::SimulateOptions sim_options, const fs::path& out, bool quiet) {
  const std::uint64_t seed = sim_options.seed;
  if (!quiet) {
    std::fprintf(stderr, "simulate %s (%s): %d peers, %g virtual s, seed %llu, report in %s\n",
                 scenario.name.c_str(), file.c_str(), scenario.swarm.peers, scenario.duration_seconds,
                 static_cast<unsigned long long>(seed), out.string().c_str());
    sim_options.progress = [](const std::string& line) { std::fprintf(stderr, "  %s\n", line.c_str()); };
  }
  // The training records go to disk as the run makes them (a run stopped
  // early keeps every poll round it finished); the report comes at the end.
  std::error_code made;
  fs::create_directories(out, made);
  auto records = sim::TrainingRecordFiles::open(out.string());
  if (records) {
    sim_options.on_evaluation = [&records](const sim::EvaluationRecord& r) { records->add(r); };
    sim_options.on_spread = [&records](const sim::SpreadRecord& r) { records->add(r); };
  }
  const auto started = std::chrono::steady_clock::now();
  sim::SimulateResult result;
  // Out of memory in a peer's handler ends the run (result.out_of_memory);
  // elsewhere (creating a peer, a poll round) it unwinds to here. Either
  // way too many peers for this machine, said so, never a hang.
  bool unwound = false;
  try {
    result = sim::simulate(scenario, sim_options);
  } catch (const std::bad_alloc& error) {
    result.out_of_memory = error.what();
    unwound = true;  // the run's own records went with it: no virtual time to say
  }
  if (result.out_of_memory) {
    const std::string when = unwound ? std::string("during the run")
                                     : "at " + fmt::format("{:.3g}", result.observations.end_seconds) + " virtual s";
    std::fprintf(stderr,
                 "starling simulate: error: out of memory with %d peers over %.0f s polled every %.3g s (an "
                 "allocation failed: %s) %s; the run was stopped there, without a report: try fewer peers, a "
                 "shorter duration or a larger poll_interval\n",
                 scenario.total_peers(), scenario.duration_seconds, scenario.poll_interval_seconds,
                 result.out_of_memory->c_str(), when.c_str());
    RunOutcome failed;
    failed.out_of_memory = true;
    return failed;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::vector<scenario::Outcome> outcomes = scenario::evaluate(scenario, result.observations);
  for (const std::string& problem : result.problems)
    outcomes.push_back(scenario::Outcome{"runner", "the simulator does everything the file says", problem, false, 0});
  std::map<std::string, std::vector<const sim::Violation*>> by_invariant;
  for (const auto& violation : result.violations) by_invariant[violation.invariant].push_back(&violation);
  for (const auto& [invariant, list] : by_invariant) {
    char first[64];
    std::snprintf(first, sizeof first, " (first at %.2f s)", list.front()->t);
    outcomes.push_back(scenario::Outcome{"invariant", "invariant " + invariant + " holds",
                                         std::to_string(list.size()) + " violation(s)" + first + ": " +
                                             list.front()->what,
                                         false, 0});
  }
  bool passed = true;
  for (const auto& outcome : outcomes) passed = passed && outcome.passed;

  const std::string command = replay_command(o, file, seed);
  scenario::RunSummary summary{seed, 1.0, command, passed};
  if (auto written = scenario::write_report(out, scenario, result.observations, outcomes, summary); !written) {
    print_error("starling simulate", written.error().message);
    passed = false;
  } else if (auto finished = records ? records->finish() : Status(records.error()); !finished) {
    print_error("starling simulate", finished.error().message);
    passed = false;
  }

  int failed = 0;
  for (const auto& outcome : outcomes) failed += !outcome.passed;
  std::printf("\nsimulate %s: %s in %.1f s wall for %.1f virtual s (%d peers, %zu expectations, %d failed)\n",
              scenario.name.c_str(), passed ? "PASSED" : "FAILED", wall, result.virtual_seconds, result.peers,
              scenario.expectations.size(), failed);
  for (const auto& outcome : outcomes) {
    std::printf("  %s  %s: %s\n        measured: %s\n", outcome.passed ? "ok  " : "FAIL", outcome.name.c_str(),
                outcome.requirement.c_str(), outcome.measured.c_str());
  }
  if (result.stopped_early)
    std::printf("stopped early at %.1f virtual s: every training peer reached accuracy %.4g (moving average of %d)\n",
                result.virtual_seconds, *sim_options.stop_at_accuracy, sim_options.stop_window);
  std::printf("trace: %s (%llu messages, %llu bytes, %llu peer events; OpenBLAS kernels %s)\n",
              result.trace_hash.c_str(), static_cast<unsigned long long>(result.messages),
              static_cast<unsigned long long>(result.message_bytes),
              static_cast<unsigned long long>(result.trace_events), ml::blas_kernels().c_str());
  std::printf("report: %s\n", (out / "report.html").string().c_str());
  if (!passed) std::printf("seed: %llu\nreplay: %s\n", static_cast<unsigned long long>(seed), command.c_str());
  std::fflush(stdout);

  RunOutcome run;
  run.passed = passed;
  scenario::RunFigures figures;
  figures.seed = seed;
  figures.peers = result.peers;
  figures.virtual_seconds = result.virtual_seconds;
  figures.wall_seconds = wall;
  figures.passed = passed;
  figures.trace_hash = result.trace_hash;
  run.summary = scenario::summary_json(figures, outcomes);
  return run;
}

sim::SimulateOptions base_options(const SimulateCliOptions& o, std::uint64_t seed) {
  sim::SimulateOptions options;
  options.seed = seed;
  options.step_seconds = o.step_ms / 1000.0;
  options.heterogeneity_sigma = o.heterogeneity;
  options.handoff_ms = o.handoff_ms;
  options.eval_ms = o.eval_ms;
  options.stop_at_accuracy = o.stop_at_accuracy;
  options.stop_window = o.stop_window;
  if (o.peer_log_file) {
    // One line per log line of a peer at info or above, as `starling peer`
    // prints them by default: virtual time, seed, peer index, level, event name.
    options.on_peer_log = [file = o.peer_log_file, seed](double t, int peer, node::DriverLogLevel level,
                                                        std::string_view event, const std::string& message) {
      if (level == node::DriverLogLevel::debug) return;
      std::fprintf(file.get(), "%.6f seed=%llu peer=%d %s event=%.*s %s\n", t,
                   static_cast<unsigned long long>(seed), peer, level_name(level), int(event.size()), event.data(),
                   message.c_str());
    };
  }
  return options;
}

// --peer-log checked before anything is read or made: never the scenario it
// reads, nor anything but a regular file (a FIFO would block the run until
// someone reads it), in a folder that exists.
bool peer_log_usable(const SimulateCliOptions& o) {
  if (o.peer_log.empty()) return true;
  std::error_code ec;
  const fs::file_status status = fs::status(o.peer_log, ec);
  std::string problem;
  if (fs::exists(status) && !fs::is_regular_file(status)) {
    problem = "--peer-log " + o.peer_log + " exists and is not a regular file";
  } else if (!o.file.empty() && fs::exists(status) && fs::equivalent(o.file, o.peer_log, ec)) {
    problem = "--peer-log " + o.peer_log + " is the scenario file itself: give another FILE";
  } else if (const fs::path folder = fs::absolute(o.peer_log, ec).parent_path(); !fs::is_directory(folder, ec)) {
    problem = "cannot write --peer-log " + o.peer_log + ": No such file or directory (no folder " +
              folder.string() + ")";
  }
  if (problem.empty()) return true;
  print_error("starling simulate", problem);
  return false;
}

// --out DIR, or a folder of our own under scenario-runs/ (made here).
std::optional<fs::path> report_dir_of(const SimulateCliOptions& o, std::string_view name) {
  if (!o.out_dir.empty()) return fs::path(o.out_dir);
  auto claimed = claim_default_report_dir(name, "-sim");
  if (!claimed) {
    print_error("starling simulate", claimed.error().message);
    return std::nullopt;
  }
  return *claimed;
}

// True when `file` is `folder` or lies anywhere under it (links resolved as
// far as they exist).
bool inside(const fs::path& file, const fs::path& folder) {
  std::error_code ec;
  const fs::path f = fs::weakly_canonical(fs::absolute(file, ec), ec);
  const fs::path d = fs::weakly_canonical(fs::absolute(folder, ec), ec);
  auto fi = f.begin();
  for (auto di = d.begin(); di != d.end(); ++di, ++fi) {
    if (di->empty()) continue;  // a trailing separator
    if (fi == f.end() || *fi != *di) return false;
  }
  return true;
}

// Opens --peer-log once the scenario and the report folder passed their
// checks, so a refused run leaves an existing file as it was. Never inside
// the report folder: it replaced events.jsonl or evaluations.csv there, and
// the run said PASSED.
bool open_peer_log(SimulateCliOptions& o, const fs::path& out) {
  if (o.peer_log.empty()) return true;
  if (inside(o.peer_log, out)) {
    print_error("starling simulate", "--peer-log " + o.peer_log + " is inside the report folder " + out.string() +
                                         ", where the run writes its own files: give a FILE outside it");
    return false;
  }
  std::FILE* log_file = std::fopen(o.peer_log.c_str(), "w");
  if (!log_file) {
    print_error("starling simulate", "cannot write --peer-log " + o.peer_log + ": " + std::strerror(errno));
    return false;
  }
  o.peer_log_file.reset(log_file, [](std::FILE* f) { std::fclose(f); });
  return true;
}

int run_file(SimulateCliOptions& o) {
  scenario::ParseOptions parse;
  parse.max_peers = scenario::kMaxSimulatedPeers;
  parse.limit_reason = "the simulator";
  parse.peers = o.peers;
  auto loaded = scenario::load_scenario(o.file, parse);
  if (!loaded) {
    print_error("starling simulate", loaded.error().message);
    return kExitBadInput;
  }
  const scenario::Scenario& s = *loaded;
  for (const std::string& warning : s.warnings) print_warning("starling simulate", warning);
  if (!s.swarm.extra_args.empty()) {
    // They are flags of a `starling peer` process, which only `starling
    // scenario` starts: said aloud, so "--lr nan" passing here surprises nobody.
    std::string args;
    for (const std::string& arg : s.swarm.extra_args) args += (args.empty() ? "" : " ") + arg;
    std::fprintf(stderr,
                 "starling simulate: warning: %s: [swarm] extra_args (%s) are ignored: they only reach the peer "
                 "processes of `starling scenario`, and the simulator runs none\n",
                 o.file.c_str(), args.c_str());
  }
  const std::uint64_t seed = o.seed.value_or(s.seed);
  const std::optional<fs::path> claimed = report_dir_of(o, s.name);
  if (!claimed) return kExitFailed;
  const fs::path& out = *claimed;
  // Before the run, not after all its work: a folder we cannot use is bad input.
  const auto is_report_entry = [](const std::string& name) {
    return std::find(std::begin(scenario::kReportFiles), std::end(scenario::kReportFiles), name) !=
               std::end(scenario::kReportFiles) ||
           name == "evaluations.csv" || name == "spread.csv";
  };
  if (auto ready = scenario::prepare_report_dir(out, is_report_entry); !ready) {
    std::fprintf(stderr, "starling simulate: error: %s\n", ready.error().message.c_str());
    return kExitBadInput;
  }
  if (!open_peer_log(o, out)) {
    std::error_code ec;
    if (o.out_dir.empty()) fs::remove(out, ec);  // the empty folder claimed for this run
    return kExitBadInput;
  }
  RunOutcome run = run_one(o, s, o.file, base_options(o, seed), out, false);
  if (run.out_of_memory) return kExitFailed;
  if (o.json_summary) std::printf("%s\n", run.summary.c_str());
  return run.passed ? 0 : kExitFailed;
}

int run_random(SimulateCliOptions& o) {
  const std::uint64_t first = o.seed.value_or(1);
  const std::optional<fs::path> claimed = report_dir_of(o, "random");
  if (!claimed) return kExitFailed;
  const fs::path& out = *claimed;
  // Each seed writes random-SEED.toml and run-SEED/ here: an earlier run's
  // would be mixed with this one's.
  const auto is_report_entry = [](const std::string& name) {
    return name.starts_with("run-") || (name.starts_with("random-") && name.ends_with(".toml"));
  };
  if (auto ready = scenario::prepare_report_dir(out, is_report_entry); !ready) {
    std::fprintf(stderr, "starling simulate: error: %s\n", ready.error().message.c_str());
    return kExitBadInput;
  }
  if (!open_peer_log(o, out)) {
    std::error_code ec;
    if (o.out_dir.empty()) fs::remove(out, ec);  // the empty folder claimed for this run
    return kExitBadInput;
  }
  std::error_code ec;
  int failures = 0;
  std::string runs;
  for (int i = 0; i < o.seeds; ++i) {
    const std::uint64_t seed = first + std::uint64_t(i);
    sim::RandomRun drawn = sim::draw_random_run(seed, o.peers);
    const fs::path file = out / ("random-" + std::to_string(seed) + ".toml");
    // Written before the run, so a crash still leaves the file to replay.
    if (auto saved = sim::save_random_run(drawn, file); !saved) {
      print_error("starling simulate", saved.error().message);
      return kExitFailed;
    }
    scenario::ParseOptions parse;
    parse.max_peers = scenario::kMaxSimulatedPeers;
    parse.limit_reason = "the simulator";
    auto loaded = scenario::load_scenario(file, parse);
    if (!loaded) {
      std::fprintf(stderr, "starling simulate: error: a drawn scenario does not parse (a bug): %s\n",
                   loaded.error().message.c_str());
      return kExitFailed;
    }
    std::fprintf(stderr, "random seed %llu: %s\n", static_cast<unsigned long long>(seed), drawn.summary.c_str());
    sim::SimulateOptions options = base_options(o, seed);
    sim::apply_network(drawn, options);
    RunOutcome run = run_one(o, *loaded, file.string(), options, out / ("run-" + std::to_string(seed)), true);
    if (run.out_of_memory) return kExitFailed;  // every later seed would run out too
    if (!run.passed) {
      ++failures;
      std::printf("FAILED seed %llu: scenario saved as %s (copy it to tests/sim/regressions/ to keep it)\n",
                  static_cast<unsigned long long>(seed), file.string().c_str());
    } else {
      fs::remove(file, ec);
    }
    runs += (runs.empty() ? "" : ",") + run.summary;
  }
  std::printf("\nrandom: %d of %d seeds failed\n", failures, o.seeds);
  if (o.json_summary) {
    const json summary{{"runs", json::parse("[" + runs + "]")}, {"failed", failures}};
    std::printf("%s\n", to_json_text(summary).c_str());
  }
  return failures == 0 ? 0 : kExitFailed;
}

}  // namespace

Command add_simulate_command(CLI::App& root) {
  auto options = std::make_shared<SimulateCliOptions>();
  CLI::App* app = root.add_subcommand(
      "simulate", "Run a scenario in the deterministic simulator (virtual time, up to 100,000 peers, one seed)");
  CLI::Option* file = app->add_option("file", options->file, "Scenario file (TOML, see docs/scenarios.md; not with --random)");
  app->add_option("--seed", options->seed, "Run with this seed (default: the file's; --random: the first seed)");
  app->add_option("--peers", options->peers, "Replace the file's [swarm] peers")
      ->check(CLI::Range(1, scenario::kMaxSimulatedPeers));
  app->add_option("--out", options->out_dir, "Report folder (default: scenario-runs/NAME-sim-TIMESTAMP)")
      ->type_name("DIR")
      ->check(non_empty_path_check("the default scenario-runs/NAME-sim-TIMESTAMP"));
  app->add_flag("--json", options->json_summary, "End with one JSON summary object on stdout");
  app->add_flag("--random", options->random, "Draw a fault mix per seed (docs/simulator.md) and run them in a row");
  CLI::Option* seeds =
      app->add_option("--seeds", options->seeds, "How many seeds --random runs")->check(CLI::Range(1, 100000));
  app->add_option("--step-ms", options->step_ms, "Modelled compute time of one training step at speed 1")
      ->check(CLI::Range(0.001, 10000.0))
      ->capture_default_str();
  app->add_option("--handoff-ms", options->handoff_ms,
                  "A round gets the parameters this many ms after the step they were asked for (a real "
                  "peer's trainer-to-loop hand-off); 0: at once")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  app->add_option("--eval-ms", options->eval_ms,
                  "Modelled time one evaluation of a peer's own model takes (a real peer evaluates on its training "
                  "thread: no step and no hand-off meanwhile); 0: free")
      ->check(CLI::Range(0.0, 100000.0))
      ->capture_default_str();
  app->add_option("--heterogeneity", options->heterogeneity,
                  "Spread of per-peer speed factors: lognormal sigma (0: all alike)")
      ->check(CLI::Range(0.0, 3.0))
      ->capture_default_str();
  app->add_option("--stop-at-accuracy", options->stop_at_accuracy,
                  "End early once every training peer's own model reached this test accuracy (see --stop-window)")
      ->check(CLI::Range(0.0, 1.0));
  app->add_option("--peer-log", options->peer_log,
                  "Write every simulated peer's log lines (info and above, as starling peer prints them) to FILE, "
                  "each with its virtual time, seed and peer index")
      ->type_name("FILE")
      ->check(non_empty_path_check("no peer log"));
  app->add_option("--stop-window", options->stop_window,
                  "--stop-at-accuracy judges the mean of each peer's last this many evaluations")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  return Command{app, [options, file, seeds] {
                   // Each of these was silently ignored: the FILE of `--random FILE`, --seeds
                   // without --random.
                   if (options->random && file->count() > 0) {
                     print_error("starling simulate", "--random draws its own scenarios and would ignore " + options->file +
                                                          ": give a scenario FILE or --random, not both");
                     return kExitBadInput;
                   }
                   if (!options->random && seeds->count() > 0) {
                     std::fprintf(stderr, "starling simulate: error: --seeds counts the runs of --random; a scenario "
                                          "FILE runs once (--seed picks its seed)\n");
                     return kExitBadInput;
                   }
                   if (!peer_log_usable(*options)) return kExitBadInput;
                   if (options->random) return run_random(*options);
                   if (options->file.empty()) {
                     std::fprintf(stderr, "starling simulate: error: give a scenario FILE, or --random\n");
                     return kExitBadInput;
                   }
                   return run_file(*options);
                 }};
}

}  // namespace starling::apps
