#include "scenario_runner.h"

#include <chrono>
#include <cstdio>

#include "process_backend.h"
#include "starling/scenario/timeline_runner.h"

namespace starling::apps {

RunResult run_scenario(const scenario::Scenario& scenario, const RunnerOptions& options) {
  ProcessBackend backend(scenario, ProcessBackendOptions{options.executable, options.out_dir, options.seed,
                                                         options.interrupted});
  const bool tty = options.live_progress_tty;
  // Off a terminal, one progress line every 5 s of wall time is enough for a log.
  auto last_progress = std::chrono::steady_clock::time_point{};

  scenario::TimelineOptions timeline;
  timeline.seed = options.seed;
  timeline.stop_requested = [&] { return options.interrupted != nullptr && options.interrupted->load(); };
  timeline.on_ready = [&](double startup_seconds) {
    std::fprintf(stderr, "scenario %s: %d peers up in %.1f s; running for %g s\n", scenario.name.c_str(),
                 scenario.swarm.peers, startup_seconds, scenario.duration_seconds);
  };
  timeline.on_action = [&](double t, const std::string& label, int line) {
    std::fprintf(stderr, "%s[%6.1f s] %s (line %d)\n", tty ? "\r\033[K" : "", t, label.c_str(), line);
  };
  timeline.on_problem = [](const std::string& text) { std::fprintf(stderr, "scenario: %s\n", text.c_str()); };
  timeline.on_progress = [&](const scenario::Progress& progress) {
    const auto now = std::chrono::steady_clock::now();
    if (!tty && !progress.final_round && now - last_progress < std::chrono::seconds(5)) return;
    last_progress = now;
    const std::string line = scenario::progress_line(scenario, progress);
    if (tty) {
      std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), progress.final_round ? "\n" : "");
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
  };

  scenario::TimelineResult result = scenario::run_timeline(scenario, backend, timeline);
  if (result.observations.interrupted) std::fprintf(stderr, "\nscenario: interrupted; every peer stopped\n");
  return RunResult{std::move(result.observations), std::move(result.problems)};
}

}  // namespace starling::apps
