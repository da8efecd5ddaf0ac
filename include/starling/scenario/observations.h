// What the runner saw during a scenario, as plain values: every poll round of
// every peer, the events it executed, the processes that died on their own.
// Expectations (expectations.h) and the report (report.h) read only this, so
// both are tested without processes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace starling::scenario {

enum class PeerPhase : std::uint8_t {
  running,  // process up, answered or not
  paused,   // SIGSTOP
  down,     // not started yet, killed, stopped or crashed
};

const char* to_string(PeerPhase phase);

// One member as a peer lists it in `starling status --json`.
struct MemberSeen {
  std::string node_id;
  std::string state;    // alive, suspect, dead, left
  std::string address;  // where the viewer believes it listens ("host:port")
  std::optional<double> state_age_seconds;  // how long the viewer has listed it in this state
};

// One peer in one poll round.
struct Sample {
  int peer = 0;
  int life = 0;  // 0 for the first process of this peer index, +1 per restart
  PeerPhase phase = PeerPhase::down;
  bool answered = false;  // its status came back this round
  std::string node_id;    // hex; the last one known, also while down
  std::string address;    // where it really listens ("host:port", the runner's --listen)
  std::optional<double> accuracy;            // test accuracy 0..1 of the peer's own model
  std::optional<double> local_average_accuracy;  // of its local average (own model and neighbours' copies)
  std::optional<double> loss;                // training loss
  std::optional<double> consensus_distance;  // as the peer reports it
  std::optional<std::uint64_t> step;
  std::string training_state;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  // Its trust in each training neighbour (status `training.neighbours`:
  // node id, factor in [0, 1] on the link's weight; below 1 when that
  // neighbour's corrections keep being clipped, docs/learning.md).
  std::vector<std::pair<std::string, double>> neighbour_trust;
  std::vector<MemberSeen> members;  // its view of the others
  // False when this round did not read the view (the simulator reads views
  // every round only up to a swarm size): `members` is then empty, not an
  // empty view, and the membership expectations skip the round.
  bool members_listed = true;
};

struct Round {
  double t = 0.0;  // seconds since the scenario started
  std::vector<Sample> samples;  // one per peer index started so far
  // Node ids of processes that ended (killed, stopped, crashed, or restarted
  // under a new identity) and are not the id of any running peer.
  std::vector<std::string> departed_ids;
};

// Something the runner did or saw, for events.jsonl and the plots' markers.
struct LoggedEvent {
  double t = 0.0;
  std::string kind;    // "kill", "pause", "resume", "peer_exited", "start", ...
  std::string label;   // short text for a plot marker ("kill 1")
  std::string json;    // the whole record, one JSON object
  bool marker = true;  // drawn on the plots
};

struct Crash {
  int peer = 0;
  double t = 0.0;
  std::string detail;  // "exit status 1", "signal 11"
};

struct Observations {
  std::vector<Round> rounds;
  std::vector<LoggedEvent> events;
  std::vector<Crash> crashes;
  std::vector<double> started_at;   // per peer index: when its first process started (or -1)
  std::vector<bool> faulted;        // per peer index: some event targeted it
  std::vector<bool> byzantine;      // per peer index: a byzantine event targeted it (not honest)
  double last_event_seconds = 0.0;  // when the runner executed the last timeline action
  double end_seconds = 0.0;
  bool interrupted = false;         // Ctrl-C or a runner failure cut the run short
};

}  // namespace starling::scenario
