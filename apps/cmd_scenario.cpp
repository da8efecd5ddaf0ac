// `starling scenario FILE`: runs a whole swarm on this machine, breaks it as
// the file says, checks what must hold and writes a report (docs/scenarios.md).
#include <CLI/CLI.hpp>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.h"
#include "error_output.h"
#include "path_option.h"
#include "report_folder.h"
#include "scenario_runner.h"
#include "starling/scenario/expectations.h"
#include "starling/scenario/parse.h"
#include "starling/scenario/report.h"
#include "starling/scenario/summary.h"

namespace starling::apps {
namespace {

namespace fs = std::filesystem;

// Exit codes: 0 every expectation held; 1 one failed (or the runner could not
// do what the file says); 2 bad input; 130 interrupted.
constexpr int kExitFailed = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitInterrupted = 130;

struct ScenarioOptions {
  std::string file;
  std::string out_dir;
  std::optional<std::uint64_t> seed;
  double speed = 1.0;
  std::optional<int> peers;  // replaces the file's [swarm] peers
  bool json = false;         // end stdout with one summary object
};

// Set from the signal handler; the runner polls it. A process-wide flag is
// the one thing a signal handler may touch.
std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted.store(true); }

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal_number, &action, nullptr);
}

std::string replay_command(const ScenarioOptions& options, std::uint64_t seed) {
  std::string command = "starling scenario " + options.file + " --seed " + std::to_string(seed);
  if (options.speed != 1.0) {
    char speed[32];
    std::snprintf(speed, sizeof speed, " --speed %g", options.speed);
    command += speed;
  }
  if (options.peers) command += " --peers " + std::to_string(*options.peers);
  return command;
}

int run(const ScenarioOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  scenario::ParseOptions parse_options;  // the process backend's limit
  parse_options.peers = options.peers;
  auto loaded = scenario::load_scenario(options.file, parse_options);
  if (!loaded) {
    print_error("starling scenario", loaded.error().message);
    return kExitBadInput;
  }
  for (const std::string& warning : loaded->warnings) print_warning("starling scenario", warning);
  const scenario::Scenario file_scenario = std::move(*loaded);
  const scenario::Scenario run_scenario_spec = scenario::scaled(file_scenario, options.speed);
  const std::uint64_t seed = options.seed.value_or(file_scenario.seed);
  fs::path out(options.out_dir);
  if (out.empty()) {
    auto claimed = claim_default_report_dir(file_scenario.name, "");
    if (!claimed) {
      print_error("starling scenario", claimed.error().message);
      return kExitFailed;
    }
    out = *claimed;
  }
  // Before any peer starts: a folder we cannot use is bad input, not a failed run.
  const auto is_report_entry = [](const std::string& name) {
    return std::find(std::begin(scenario::kReportFiles), std::end(scenario::kReportFiles), name) !=
               std::end(scenario::kReportFiles) ||
           name == "logs" || name == "peers" || name == "swarm.key";
  };
  if (auto ready = scenario::prepare_report_dir(out, is_report_entry); !ready) {
    std::fprintf(stderr, "starling scenario: error: %s\n", ready.error().message.c_str());
    return kExitBadInput;
  }

  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) {
    std::fprintf(stderr, "starling scenario: error: cannot find our own binary (/proc/self/exe): %s\n",
                 ec.message().c_str());
    return kExitFailed;
  }

  std::fprintf(stderr, "scenario %s (%s): %d peers, %g s, seed %llu, speed %g, report in %s\n",
               file_scenario.name.c_str(), options.file.c_str(), file_scenario.swarm.peers,
               run_scenario_spec.duration_seconds, static_cast<unsigned long long>(seed), options.speed,
               out.string().c_str());
  install_interrupt_handlers();
  RunnerOptions runner_options;
  runner_options.executable = self;
  runner_options.out_dir = out;
  runner_options.seed = seed;
  runner_options.live_progress_tty = ::isatty(STDERR_FILENO) == 1;
  runner_options.interrupted = &g_interrupted;
  RunResult result = run_scenario(run_scenario_spec, runner_options);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::vector<scenario::Outcome> outcomes = scenario::evaluate(run_scenario_spec, result.observations);
  for (const std::string& problem : result.problems) {
    outcomes.push_back(scenario::Outcome{"runner", "the runner does everything the file says", problem, false, 0});
  }
  bool passed = !result.observations.interrupted;
  for (const auto& outcome : outcomes) passed = passed && outcome.passed;

  scenario::RunSummary summary{seed, options.speed, replay_command(options, seed), passed};
  if (auto written = scenario::write_report(out, run_scenario_spec, result.observations, outcomes, summary);
      !written) {
    print_error("starling scenario", written.error().message);
    passed = false;
  }

  int failed = 0;
  for (const auto& outcome : outcomes) failed += !outcome.passed;
  std::printf("\nscenario %s: %s in %.0f s (%zu expectations, %d failed; seed %llu)\n", file_scenario.name.c_str(),
              result.observations.interrupted ? "INTERRUPTED" : passed ? "PASSED" : "FAILED", wall,
              run_scenario_spec.expectations.size(), failed, static_cast<unsigned long long>(seed));
  for (const auto& outcome : outcomes) {
    std::printf("  %s  %s: %s\n        measured: %s\n", outcome.passed ? "ok  " : "FAIL", outcome.name.c_str(),
                outcome.requirement.c_str(), outcome.measured.c_str());
  }
  std::printf("report: %s\n", (out / "report.html").string().c_str());
  if (!passed) std::printf("replay: %s\n", summary.command.c_str());
  if (options.json) {
    scenario::RunFigures figures;
    figures.seed = seed;
    figures.peers = run_scenario_spec.swarm.peers;
    figures.virtual_seconds = result.observations.end_seconds;
    figures.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    figures.passed = passed;
    figures.interrupted = result.observations.interrupted;
    std::printf("%s\n", scenario::summary_json(figures, outcomes).c_str());
  }
  std::fflush(stdout);
  if (result.observations.interrupted) return kExitInterrupted;
  return passed ? 0 : kExitFailed;
}

}  // namespace

Command add_scenario_command(CLI::App& root) {
  auto options = std::make_shared<ScenarioOptions>();
  CLI::App* app = root.add_subcommand(
      "scenario", "Run a whole swarm on this machine with injected faults, check expectations, write a report");
  app->add_option("file", options->file, "Scenario file (TOML, see docs/scenarios.md)")
      ->required()
      ->check(non_empty_path_check());
  app->add_option("--out", options->out_dir, "Report folder (default: scenario-runs/NAME-TIMESTAMP)")
      ->type_name("DIR")
      ->check(non_empty_path_check("the default scenario-runs/NAME-TIMESTAMP"));
  app->add_option("--seed", options->seed, "Replay with this seed (default: the file's)");
  app->add_option("--speed", options->speed, "Run every time in the file FACTOR times faster")
      ->type_name("FACTOR")
      ->check(CLI::Range(0.01, 100.0))
      ->default_str("1");
  app->add_option("--peers", options->peers, "Run N peers at t = 0 instead of the file's [swarm] peers (checked as if written there)")
      ->type_name("N:INT");
  app->add_flag("--json", options->json, "End stdout with one JSON summary object (seed, times, peers, expectations)");
  return Command{app, [options] { return run(*options); }};
}

}  // namespace starling::apps
