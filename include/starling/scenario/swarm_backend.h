// How a scenario's swarm runs: the timeline executor (timeline_runner.h)
// walks the events and asks a SwarmBackend to carry each one out. Two
// backends implement it: real peer processes on loopback (apps/, `starling
// scenario`) and the deterministic simulator (`starling simulate`).
//
// The executor owns everything backend-independent: which peers an event
// targets (selectors resolved with the run's seed), the order and time of
// actions, the sampling cadence, events.jsonl records, faulted/byzantine
// flags, departed node ids, problems. A backend owns its peers and its clock.
//
// Conventions for every method:
// - Peer indices are 0-based in order of start (scenario.h). The executor only
//   passes indices < Scenario::total_peers(), and only ones that were started
//   (start_swarm, join) except for join itself.
// - Event methods are called at the action's time (now_seconds() >= its
//   at_seconds) and return promptly; they return the problems they met (a
//   peer that would not start, a control that was not confirmed): the run goes
//   on and fails at the end with these reasons. An empty vector: all done.
// - Fault setters carry the peer's whole new value for that fault, never a
//   difference: the executor calls them again with the neutral value (0, 1,
//   none) to end a timed fault. A peer that is not running (down or paused)
//   keeps the value and must carry it when it runs again (restart, resume).
// - Faults apply to what the peer SENDS (loss, delay, duplication, bandwidth,
//   partition), as the runtime's FaultPolicy does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "starling/scenario/observations.h"
#include "starling/scenario/scenario.h"

namespace starling::scenario {

// Something a backend call could not do.
struct Problem {
  int peer = -1;    // the peer concerned, or -1
  std::string why;  // "did not confirm after 4 attempts: timeout"
};
using Problems = std::vector<Problem>;

// Where a backend reports what happens between the executor's calls (a peer
// that exits on its own, a process started) and what it wants in
// events.jsonl. The executor stamps each record with the time and keeps it.
class SwarmLog {
 public:
  virtual ~SwarmLog() = default;
  // A record for events.jsonl. `fields_json`: one JSON object ("{}" for
  // none) to which the executor adds "t" and "event" (= kind). `marker`:
  // drawn on the report's plots, with `label` as its text.
  virtual void note(const std::string& kind, const std::string& label, const std::string& fields_json,
                    bool marker) = 0;
  // A peer ended that no kill/stop/restart asked to end: a crash
  // (Observations::crashes, the no_crash expectation). `detail`: "signal 11".
  virtual void crashed(int peer, const std::string& detail) = 0;
  // An operating failure outside an event method (the run fails with it).
  virtual void problem(const std::string& what, const std::string& why) = 0;
};

// What the executor asks for when it samples.
struct SampleRequest {
  // The last round of the run: what expectations "at the end" read. A
  // backend that can lose answers (lossy processes) should try harder.
  bool final_round = false;
  // When the next timeline action is due (a very large number if none): a
  // backend that waits for answers should not wait past it.
  double next_action_seconds = 1e300;
};

class SwarmBackend {
 public:
  virtual ~SwarmBackend() = default;

  // ---- time ---------------------------------------------------------------
  // The backend's own clock in seconds, from its creation; never goes
  // backwards. Every time the executor passes in (advance_to,
  // SampleRequest) is on this clock: the executor takes the value when
  // start_swarm returns as the scenario's t = 0 and converts, so start-up
  // may take any time and a backend never resets its clock.
  virtual double now_seconds() const = 0;
  // Lets time pass until now_seconds() >= seconds, running the swarm
  // meanwhile (processes: sleep and reap exits; simulation: run virtual time
  // up to that instant, inclusive of events scheduled at it). May return
  // earlier (e.g. an interrupt): the executor checks and calls again.
  // Peers that end on their own meanwhile are reported through the log.
  virtual void advance_to(double seconds) = 0;

  // ---- the swarm ----------------------------------------------------------
  // Starts peers 0..peers-1 (peer 0 is the seed the others join through) and
  // returns once every one of them is ready (answers, is a member); `log`
  // stays valid until shutdown() and is where the backend reports from now
  // on. Any problem aborts the run. Returning without problems while not all
  // are ready is allowed only when the run is being interrupted.
  virtual Problems start_swarm(int peers, SwarmLog& log) = 0;
  // Ends every peer (the run is over or interrupted). Idempotent; also what
  // the destructor must do. No call follows except now_seconds().
  virtual void shutdown() = 0;

  // ---- one method per event kind (scenario.h EventKind) -------------------
  // kill, seed_down: ends the peers at once, without a goodbye.
  virtual Problems kill(const std::vector<int>& peers) = 0;
  // stop: a graceful leave (announce, drain, exit), bounded in time.
  virtual Problems stop(const std::vector<int>& peers) = 0;
  // restart: ends the peer if it still runs, then starts it again, with its
  // stored identity and state, or (new_identity) as a new member with a new
  // node id. It joins through running peers and carries its current faults.
  virtual Problems restart(const std::vector<int>& peers, bool new_identity) = 0;
  // join: starts these never-started peers (the next indices) through
  // running ones. The executor records them as started at now_seconds().
  virtual Problems join(const std::vector<int>& peers) = 0;
  // pause: freezes the peers (no sending, no timers, no training; what
  // arrives queues up); resume: they continue where they were.
  virtual Problems pause(const std::vector<int>& peers) = 0;
  virtual Problems resume(const std::vector<int>& peers) = 0;
  // partition: symmetric (each group's peers stop sending to every other
  // group's) or one_way (groups = {from, to}: `from` peers stop sending to
  // `to` peers). Adds to blocks already in place.
  virtual Problems partition(const std::vector<std::vector<int>>& groups, bool one_way) = 0;
  // heal (and the end of a timed partition): these peers send to everyone
  // again; blocks that other peers hold towards them stay.
  virtual Problems heal(const std::vector<int>& peers) = 0;
  // loss, duplicate: this fraction 0..1 of what each peer sends is dropped,
  // or sent twice. 0: off.
  virtual Problems set_loss(const std::vector<int>& peers, double fraction) = 0;
  virtual Problems set_duplicate(const std::vector<int>& peers, double fraction) = 0;
  // delay: what each peer sends arrives delay_ms later, plus a uniform
  // 0..jitter_ms (reordering may follow). 0, 0: off.
  virtual Problems set_delay(const std::vector<int>& peers, double delay_ms, double jitter_ms) = 0;
  // bandwidth: each peer sends at most this many bytes per second. 0: uncapped.
  virtual Problems set_bandwidth(const std::vector<int>& peers, std::uint64_t bytes_per_second) = 0;
  // clear_faults: every network fault of these peers off (loss, duplication,
  // delay, bandwidth, their partition blocks). Training faults stay.
  virtual Problems clear_faults(const std::vector<int>& peers) = 0;
  // straggler: each training step takes `factor` times as long. 1: normal.
  virtual Problems set_straggler(const std::vector<int>& peers, double factor) = 0;
  // byzantine: the peers misbehave in `mode` (scale: for scaled_deltas);
  // ByzantineMode::none makes them honest again. The membership modes
  // (membership_lies, membership_flood) are hostile members that still train.
  virtual Problems set_byzantine(const std::vector<int>& peers, ByzantineMode mode, double scale) = 0;

  // ---- observation ----------------------------------------------------------
  // Every peer's state now, as plain structs: one Sample per peer index ever
  // started, in index order, also for the ones down (phase down, answered
  // false, node_id the last known). A peer that runs but cannot be read this
  // time has answered = false. `Sample::address` is where it really listens
  // (whatever names the backend gives its peers; members' `address` must use
  // the same names). The executor adds t and the departed ids.
  virtual std::vector<Sample> sample(const SampleRequest& request) = 0;
};

}  // namespace starling::scenario
