// A scenario: a swarm to run on one machine, a timeline of faults, and what
// must hold. Read from TOML (parse.h); the format is docs/scenarios.md. Plain
// values only: the runner (apps/) turns them into processes and signals.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "starling/node/defaults.h"

namespace starling::scenario {

// The smallest scenario eval_every: smaller values were seconds in old files.
inline constexpr std::int64_t kMinEvalEverySteps = 10;

// Everything every peer of the swarm is started with. A key the file leaves
// out is `starling peer`'s default (node/defaults.h), in both backends: a
// scenario that says nothing runs the swarm a user runs.
struct SwarmSpec {
  int peers = 4;              // started at t = 0 (join events add more)
  bool train = true;          // false: membership only (`starling peer --no-train`)
  std::string data{node::defaults::kData};
  std::string model{node::defaults::kModel};
  std::string compress{node::defaults::kCompress};
  double lr = node::defaults::kLearningRate;
  int batch = node::defaults::kBatch;
  std::string partition = "iid";     // iid | dirichlet:ALPHA
  // Test-set evaluation every this many training steps (peer --eval-every);
  // 500: 5 virtual s of a simulated peer at 10 ms a step, about 1 s of a
  // peer process sharing 2 cores with three others.
  std::int64_t eval_every_steps = 500;
  std::string clip = "auto";         // off | auto | RADIUS
  std::optional<double> gamma;       // consensus step size; unset: the peer's default
  std::optional<std::uint64_t> max_upload;  // peer --max-upload (bytes/s, 0: none); unset: the peer's default
  std::optional<int> neighbours;     // delta-gossip fanout; unset: the peer's default
  std::optional<std::string> mixing; // "neighbourhood" | "pairwise" | "on-delta"; unset: the peer's default
  std::optional<int> round_steps;    // SGD steps between delta rounds; unset: the compressor's default
  std::optional<int> round_floor_ms; // peer --round-floor: least ms between rounds; unset: the peer's 50
  bool consensus_control = false;    // peer --consensus-control
  std::optional<double> consensus_target;  // peer --consensus-target; unset: the peer's default
  std::optional<std::string> momentum_mode;  // peer --momentum-mode: local | absorb | quasi-global; unset: the peer's default
  std::optional<double> absorb_share;        // peer --absorb-share: absorb's cap, 0 < S <= 1; unset: 1 - momentum
  std::string profile = "lan";       // membership timing profile
  std::vector<std::string> extra_args;  // appended to every `starling peer` command line
};

// Which peers an event or expectation is about. Peer indices are 0-based in
// order of start: 0..peers-1 at t = 0, then each join adds the next ones.
struct PeerSelector {
  // honest (expectations only): every peer ever started that no byzantine
  // event targeted.
  enum class Kind : std::uint8_t { list, all, fraction, honest };
  Kind kind = Kind::all;
  std::vector<int> peers;   // Kind::list
  double fraction = 0.0;    // Kind::fraction: this share of the live peers, at least one, drawn with the seed
};

enum class EventKind : std::uint8_t {
  kill,          // SIGKILL
  stop,          // SIGTERM: graceful leave
  restart,       // start again a peer that is not running (same data dir, or a new identity)
  join,          // start `count` new peers
  partition,     // split into groups (symmetric) or block from -> to (one-way)
  heal,          // end every partition
  loss,          // drop this percentage of what the peers send
  delay,         // delay what the peers send (ms, plus uniform jitter)
  duplicate,     // duplicate this percentage of what the peers send
  bandwidth,     // cap what each peer sends (bytes per second)
  clear_faults,  // every network fault of these peers off (partitions too)
  pause,         // SIGSTOP, then SIGCONT after `duration`
  straggler,     // training steps take `factor` times as long
  byzantine,     // sends random deltas, scaled deltas or garbage frames; or lies or floods in membership
  seed_down,     // SIGKILL peer 0, the seed everybody joined through
};

const char* to_string(EventKind kind);

enum class ByzantineMode : std::uint8_t {
  none,
  random_deltas,
  scaled_deltas,
  garbage_frames,
  membership_lies,   // trains normally; accuses every member of being dead, forges their records
  membership_flood,  // trains normally; announces thousands of made-up members
  drift_deltas,      // each link's neighbour moved against the attacker's progress, inside the clipping radius
};
// As a scenario file spells it ("random", "scaled", ...; "none").
const char* to_string(ByzantineMode mode);
// Whether the mode reads `scale` (random, scaled, drift).
bool takes_scale(ByzantineMode mode);

struct Event {
  double at_seconds = 0.0;
  EventKind kind = EventKind::kill;
  PeerSelector targets;            // unused by join, partition, heal, seed_down
  double duration_seconds = 0.0;   // > 0: undone after that long (pause must have one)
  int count = 0;                   // join
  std::vector<std::vector<int>> groups;  // partition: symmetric groups, or {from, to} when one_way
  bool one_way = false;
  double percent = 0.0;            // loss, duplicate
  double delay_ms = 0.0;           // delay
  double jitter_ms = 0.0;          // delay
  std::uint64_t bytes_per_second = 0;  // bandwidth
  bool new_identity = false;       // restart
  double factor = 1.0;             // straggler
  ByzantineMode mode = ByzantineMode::none;  // byzantine
  double scale = 1.0;              // byzantine
  int line = 0;                    // where it is in the file, for messages
};

enum class ExpectKind : std::uint8_t {
  min_accuracy,            // lowest test accuracy of the live peers at the end >= value
  mean_accuracy,           // mean test accuracy of the live peers at the end >= value
  max_accuracy_spread,     // highest minus lowest accuracy of the live peers at the end <= value
  peer_accuracy,           // each selected peer's accuracy at `at` >= value
  keeps_improving,         // each peer live at `after` and at the end gains >= value mean accuracy (over `window`)
  catch_up,                // `peer` reaches the others' mean accuracy minus value within `within` s of starting
  max_consensus_distance,  // mean consensus distance of the live peers at the end <= value
  membership_converged,    // live peers see each other alive and the dead dead, within `within` s of the last event
  never_dead,              // no honest live peer lists a selected peer (default: never faulted ones) as dead (for longer than max_seconds)
  addresses_stable,        // no honest live peer lists a selected peer at an address other than its real one
  true_alive_count,        // no selected live peer lists more members alive than run; at the end exactly those that run
  no_crash,                // no peer process exited that the runner did not stop
  max_bytes_per_peer,      // bytes each peer sent over the run <= value
};

const char* to_string(ExpectKind kind);

struct Expectation {
  ExpectKind kind = ExpectKind::no_crash;
  double value = 0.0;
  std::optional<double> at_seconds;     // peer_accuracy: when (default: the end)
  double after_seconds = 0.0;           // keeps_improving
  double window_seconds = 10.0;         // keeps_improving: accuracies averaged over this long
  double within_seconds = 0.0;          // catch_up, membership_converged
  double max_seconds = 0.0;             // never_dead: longest a peer may be listed dead at a stretch (0: never)
  int peer = -1;                        // catch_up
  std::optional<PeerSelector> peers;    // peer_accuracy, never_dead, addresses_stable, true_alive_count
  // min/mean_accuracy, max_accuracy_spread: judge the model each peer serves
  // (its local average, what it exports) instead of its own model.
  bool served = false;
  int line = 0;
};

struct Scenario {
  std::string name;
  std::string description;
  std::string source;  // the file it was read from
  double duration_seconds = 60.0;
  std::uint64_t seed = 1;
  double poll_interval_seconds = 1.0;
  SwarmSpec swarm;
  std::vector<Event> events;  // in time order (validated)
  std::vector<Expectation> expectations;
  // What the file says that is legal but likely not what was meant, each
  // "FILE:LINE:COLUMN: ..." (e.g. `percent = 0.3`, which is 0.3%, not 30%);
  // the CLI prints them before running.
  std::vector<std::string> warnings;

  // Peers that exist by `t` (inclusive of joins at t that come earlier in the file).
  int peers_started_by(double t, std::size_t before_event) const;
  // Every peer index that is ever started.
  int total_peers() const;
};

// Every time in the scenario divided by `speed` (> 0): --speed 2 runs it twice as fast.
Scenario scaled(Scenario scenario, double speed);

}  // namespace starling::scenario
