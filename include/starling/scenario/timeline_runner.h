// The timeline executor: runs a scenario on any SwarmBackend. It starts the
// swarm, executes each action of the timeline (timeline.h) when the
// backend's clock reaches it, samples every peer every poll_interval, and
// returns the observations the expectations and the report read. It reads no
// clock and starts no thread: time is the backend's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "starling/scenario/observations.h"
#include "starling/scenario/scenario.h"
#include "starling/scenario/swarm_backend.h"

namespace starling::scenario {

// What a live progress line shows (progress_line below formats it).
struct Progress {
  const Round* round = nullptr;  // the round just sampled
  std::string next_action;       // "kill at 12 s"; empty when none is left
  int running = 0;               // peers in phase running
  int paused = 0;
  bool final_round = false;
};

struct TimelineOptions {
  std::uint64_t seed = 1;  // draws `fraction` selectors
  // Asked between steps; true ends the run early (Observations::interrupted).
  std::function<bool()> stop_requested;
  // Asked after every sampled round; true ends the run there as if its
  // duration were over (the final round is taken, nothing is interrupted):
  // a goal was met (the simulator's --stop-at-accuracy).
  std::function<bool()> end_early;
  // Once the swarm is up (t = 0), with how long start-up took on the backend's clock.
  std::function<void(double startup_seconds)> on_ready;
  // After every sampled round (the caller throttles what it prints).
  std::function<void(const Progress&)> on_progress;
  // Before each action: its time, "kill 1,2" / "resume 3", and its line.
  std::function<void(double t, const std::string& label, int line)> on_action;
  // Every problem as it is recorded ("kill 1 at 12.0 s: peer 1 ...").
  std::function<void(const std::string& text)> on_problem;
  // Member entries (one peer's view of one other) kept in all. Past it
  // every other round still holding views, oldest first, lets go of them
  // (Sample::members_listed false: the membership expectations skip it),
  // so a long run keeps a coarser record instead of growing without end
  // (64 peers polled every 0.1 s for 300 s took 2.4 GB); but at least 8
  // rounds keep theirs (besides the newest) when rounds that large were
  // read, so the membership expectations can still be judged. 0: no limit.
  std::size_t max_member_entries = 2'000'000;
};

struct TimelineResult {
  Observations observations;
  // Operating failures of the run (a peer that would not start, a control
  // not confirmed): the run counts as failed, with these reasons.
  std::vector<std::string> problems;
};

// Runs the scenario to its end (or until stop_requested), then shuts the
// backend down. `scenario` is the one to run (already scaled by --speed).
TimelineResult run_timeline(const Scenario& scenario, SwarmBackend& backend, const TimelineOptions& options);

// The name an action is logged under: the event kind, or for the end of a
// timed event "resume" (pause), "heal" (partition), "end_KIND" otherwise.
std::string action_name(EventKind kind, bool undo);

// "t   12.0/60 s | next: kill at 20 s | peers 4 answering, 4 running | acc ..."
std::string progress_line(const Scenario& scenario, const Progress& progress);

}  // namespace starling::scenario
