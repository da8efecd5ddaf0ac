// Runs a scenario file (docs/scenarios.md) in the simulated world instead of
// with processes: the same timeline, the same observations (so the same
// expectations and the same report), in virtual time, from one seed. Also
// checks the invariants (invariants.h) all along and hashes the trace.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "starling/ml/dataset.h"
#include "starling/node/membership_driver.h"
#include "starling/node/faults.h"
#include "starling/scenario/observations.h"
#include "starling/scenario/scenario.h"
#include "starling/sim/invariants.h"
#include "starling/sim/trainer.h"
#include "starling/status.h"

namespace starling::sim {

// A peer's traffic held for a span (node::FaultPolicy::clog); random mode.
struct Clog {
  double at_seconds = 0.0;
  double duration_seconds = 0.0;
  int peer = 0;
};

// Deliberately broken set-ups, so tests can show each invariant fires.
enum class Breakage : std::uint8_t {
  none,
  unrecorded_block,     // peer 1 cannot send to anyone, and the invariants are not told
  skewed_corrections,   // every peer applies 1.5x its consensus correction (moves the average)
  lost_incarnation_store,  // a restart with the same identity forgets its incarnation
};

// One evaluation of a training peer's own model, with what the peer had sent
// by then (the bench's steps-to-target and bytes per step: bench/README.md).
struct EvaluationRecord {
  int peer = 0;
  int life = 0;
  double t = 0.0;          // scenario seconds
  std::int64_t step = 0;   // the peer's SGD steps so far (this life)
  double accuracy = 0.0;
  node::TransportStats traffic;  // the peer's transport counters at that moment (this life)
};

// The training replicas at one poll round: spread = mean over replicas of
// ||x_i - mean||^2; mean_moved = ||mean - mean at the first round with the
// same replicas|| (a join or crash starts a new reference).
struct SpreadRecord {
  double t = 0.0;
  int replicas = 0;
  double spread = 0.0;
  double mean_norm = 0.0;
  double mean_moved = 0.0;
};

// Whether poll round `poll` (0-based) reads every peer's view (member list)
// in a swarm of `peers`: all rounds up to `max_peers` (0: no limit); above
// it every ceil((peers / max_peers)²)-th, so a run keeps about the memory of
// one at max_peers and membership is still judged over time; always the
// final round.
bool views_read(int peers, int max_peers, std::uint64_t poll, bool final_round);

struct SimulateOptions {
  std::uint64_t seed = 1;
  // Compute model: one step at speed 1; speeds ~ lognormal(0, sigma) per peer.
  double step_seconds = 0.01;
  double heterogeneity_sigma = 0.0;
  // The hand-off between a peer's trainer and its driver (TrainerOptions::handoff_ms).
  std::uint64_t handoff_ms = 0;
  // Virtual ms one evaluation of a peer's own model takes (TrainerOptions::eval_seconds).
  double eval_ms = 0.0;
  // Network model: every link's minimum one-way delay, plus faults on every
  // link for the whole run (random mode: delay mean, jitter, loss, ...).
  std::uint64_t latency_us = 500;
  node::LinkFaults background;
  std::vector<Clog> clogs;
  // data = "synthetic" or "synthetic:DIM": this objective instead of a data set.
  SyntheticObjective synthetic;
  // A data set already loaded (random mode runs many seeds over one).
  std::shared_ptr<const ml::TrainTest> data;
  InvariantOptions invariants;
  Breakage breakage = Breakage::none;
  // Poll rounds read every peer's view every round only up to this many
  // peers (memory: N² per round); above it every ceil((N / max)²)-th round
  // and the final one (`views_read`). 0: always.
  int members_every_round_max = 256;
  // Ends the run early (at a poll round, then the final round) once every
  // training peer's own model reached this accuracy as a moving average over
  // its last `stop_window` evaluations. Unset: the file's whole duration.
  std::optional<double> stop_at_accuracy;
  int stop_window = 1;
  // A line now and then (every tenth of the duration).
  std::function<void(const std::string& line)> progress;
  // Each record as it is made (besides SimulateResult's lists), e.g. to
  // TrainingRecordFiles so that a run stopped early leaves its records.
  std::function<void(const EvaluationRecord&)> on_evaluation;
  std::function<void(const SpreadRecord&)> on_spread;
  // Every peer's log lines, with the virtual time in seconds (`--peer-log`).
  std::function<void(double t, int peer, node::DriverLogLevel level, std::string_view event,
                     const std::string& message)>
      on_peer_log;
};

struct SimulateResult {
  scenario::Observations observations;
  std::vector<std::string> problems;  // the set-up failed (unknown data set, bad model spec, ...)
  std::vector<Violation> violations;
  std::string trace_hash;  // BLAKE2b-256 hex of the trace
  double virtual_seconds = 0.0;
  std::uint64_t messages = 0;
  std::uint64_t message_bytes = 0;
  std::uint64_t trace_events = 0;
  int peers = 0;  // peers ever started
  std::vector<EvaluationRecord> evaluations;  // in time order
  std::vector<SpreadRecord> spread;           // one per poll round with training replicas
  bool stopped_early = false;                 // stop_at_accuracy was met before the duration
  // A peer's event handler ran out of memory (std::bad_alloc's text): the
  // run ended there, and the rest of the result is not a verdict.
  std::optional<std::string> out_of_memory;
};

// evaluations.csv and spread.csv (columns as the records above) in `dir`,
// which must exist, written as the run goes: open() writes the headers, add()
// appends a row, and each spread row (one per poll round) flushes both files,
// so a run that is stopped or killed leaves every poll round it finished.
class TrainingRecordFiles {
 public:
  // Errors: io.
  static Result<TrainingRecordFiles> open(const std::string& dir);
  void add(const EvaluationRecord& record);
  void add(const SpreadRecord& record);
  // Flushes both files; io if any write failed.
  Status finish();

 private:
  std::string dir_;
  std::shared_ptr<std::FILE> evaluations_, spread_;
};

// Writes both files at once from a finished run. Errors: io.
Status write_training_records(const std::string& dir, const SimulateResult& result);

SimulateResult simulate(const scenario::Scenario& scenario, const SimulateOptions& options);

// Loads and standardises the scenario's data set (not "synthetic"), for reuse
// across runs. Errors: as ml::load_dataset.
Result<std::shared_ptr<const ml::TrainTest>> load_scenario_data(const scenario::Scenario& scenario);

}  // namespace starling::sim
