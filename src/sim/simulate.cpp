// simulate(): a scenario file in the simulator. The timeline executor
// (scenario/timeline_runner.h) drives a SimulationBackend exactly as it
// drives peer processes; here we only set the world up and collect what the
// backend saw besides the observations (invariants, trace hash).
#include "starling/sim/simulate.h"

#include <algorithm>
#include <cmath>

#include "setup.h"
#include "starling/scenario/timeline_runner.h"
#include "starling/sim/simulation_backend.h"

namespace starling::sim {

Result<std::shared_ptr<const ml::TrainTest>> load_scenario_data(const scenario::Scenario& scenario) {
  auto data = ml::load_dataset(scenario.swarm.data, scenario.seed);
  if (!data) return data.error();
  if (data->train.size() == 0) return make_error(ErrorKind::invalid_argument, "the training set is empty");
  ml::standardize(*data);
  return std::shared_ptr<const ml::TrainTest>(std::make_shared<ml::TrainTest>(std::move(*data)));
}

SimulateResult simulate(const scenario::Scenario& scenario, const SimulateOptions& options) {
  std::shared_ptr<const ml::TrainTest> data = options.data;
  if (scenario.swarm.train && !detail::is_synthetic(scenario.swarm) && !data) {
    auto loaded = load_scenario_data(scenario);
    if (!loaded) {
      SimulateResult failed;
      failed.problems.push_back("cannot load data '" + scenario.swarm.data + "': " + loaded.error().message);
      return failed;
    }
    data = *loaded;
  }
  WorldOptions world;
  if (Status configured = detail::configure_world(scenario, options, data, world); !configured) {
    SimulateResult failed;
    failed.problems.push_back(configured.error().message);
    return failed;
  }
  // A disturbance counts until suspicions raised during it could have been
  // refuted: twice the profile's minimum suspicion timeout at this swarm size.
  SimulateOptions effective = options;
  const double members = std::max(1.0, std::log10(double(std::max(1, scenario.total_peers()))));
  const double suspicion_seconds =
      double(world.membership.suspicion_mult) * members * double(world.membership.probe_interval_ms) / 1000.0;
  effective.invariants.grace_seconds = std::max(options.invariants.grace_seconds, 2.0 * suspicion_seconds + 2.0);
  SimulationBackend backend(scenario, effective, std::move(world));
  scenario::TimelineOptions timeline;
  timeline.seed = options.seed;
  if (options.progress) {
    auto next_progress = std::make_shared<double>(scenario.duration_seconds / 10.0);
    timeline.on_progress = [&scenario, &options, next_progress](const scenario::Progress& progress) {
      if (progress.round == nullptr || (progress.round->t < *next_progress && !progress.final_round)) return;
      *next_progress += scenario.duration_seconds / 10.0;
      options.progress(scenario::progress_line(scenario, progress));
    };
  }
  // Ends the run at once, as an interruption: nothing after it would mean anything.
  timeline.stop_requested = [&backend] { return backend.out_of_memory().has_value(); };
  bool stopped_early = false;
  if (options.stop_at_accuracy) {
    timeline.end_early = [&backend, &stopped_early] { return stopped_early = backend.every_peer_reached(); };
  }
  scenario::TimelineResult run = scenario::run_timeline(scenario, backend, timeline);
  SimulateResult result;
  result.observations = std::move(run.observations);
  result.problems = std::move(run.problems);
  result.violations = backend.violations();
  result.virtual_seconds = result.observations.end_seconds;
  result.messages = backend.messages();
  result.message_bytes = backend.message_bytes();
  result.trace_events = backend.trace_events();
  result.trace_hash = backend.finish_trace();
  result.peers = backend.peers_started();
  result.evaluations = backend.evaluations();
  result.spread = backend.spread();
  result.stopped_early = stopped_early;
  result.out_of_memory = backend.out_of_memory();
  return result;
}

}  // namespace starling::sim
