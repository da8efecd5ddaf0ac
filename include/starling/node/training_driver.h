// Runs the per-link CHOCO delta gossip (node/link.h) over a Transport, next to
// the MembershipDriver on the same transport and the same (loop) thread; the
// ConnectionRouter gives it the connections whose first frame is a LinkHello.
// The code is split by job: training_neighbours.cpp, training_link_setup.cpp,
// training_download.cpp, training_rounds.cpp (src/node).
// See docs/learning.md ("The swarm") for the protocol and the defaults.
//
// What it does, each on a timer of the transport:
// - neighbours: dials a small random sample of live members (re-sampled
//   slowly by membership), accepts links from others up to a cap, drops links
//   to members that died or left;
// - links: LinkHello (model hash and size must match), then bf16 snapshots
//   each way, then per round a compressed delta per link, a digest every few
//   deltas; a gap, a duplicate, a bad payload or a digest mismatch resets the
//   link with a snapshot of a new epoch;
// - consensus: after each round's deltas, the sum over ready links of
//   γ·w·clip(x̂(j→i) − x̂(i→j)) goes to the model host as a correction;
// - joining: before training, the model is downloaded from a neighbour in
//   chunks (ModelRequest/ModelChunk), resumable across a lost connection.
//
// The model itself lives with a ModelHost (the training thread in `starling
// peer`, a plain vector in tests): the driver asks it for the parameters once
// per round and hands it corrections. Nothing here blocks on training.
#pragma once

#include <string_view>
#include <Eigen/Core>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "starling/compress/layout.h"
#include "starling/compress/spec.h"
#include "starling/node/clipped_gossip.h"
#include "starling/node/connection_router.h"
#include "starling/node/consensus_control.h"
#include "starling/node/download_pace.h"
#include "starling/node/link.h"
#include "starling/node/membership_driver.h"
#include "starling/node/message_traffic.h"
#include "starling/node/pair_window.h"
#include "starling/node/round_pacing.h"
#include "starling/node/transport.h"
#include "starling/node/upload_budget.h"
#include "starling/wire/messages.h"

namespace starling::node {

// The model side of a peer, as the driver sees it. Calls come on the loop thread.
class ModelHost {
 public:
  virtual ~ModelHost() = default;
  // Start training from `initial` (a downloaded model) or, when null, from
  // the host's own parameters. Called once.
  virtual void start_training(const Eigen::VectorXf* initial) = 0;
  // Ask for the parameters once the host has taken `at_step` SGD steps in
  // all (at its next step boundary, or at once, if it already has; 0: now).
  // The answer comes later (or at once) as TrainingDriver::on_parameters on
  // the loop thread, with the step count. A newer request replaces an older
  // one. A host that is not stepping may hold a future request: the driver's
  // round timer asks again with 0.
  virtual void request_parameters(std::int64_t at_step) = 0;
  // Add `correction` to the parameters (at the next step boundary).
  virtual void add_correction(const Eigen::VectorXf& correction) = 0;
  // add_correction, where the host may take the buffer instead of copying it
  // and leave one of the same size in its place (values meaningless; the
  // driver overwrites it). `finite`: the caller checked every entry. The
  // default copies (add_correction) and leaves `correction` as it was.
  virtual void hand_over_correction(Eigen::VectorXf& correction, bool finite) {
    (void)finite;
    add_correction(correction);
  }
  // Bytes the host holds that grow with the model (parameters, optimizer
  // state, correction buffers), for the peer's memory accounting
  // (TrainingDriverStatus::host_model_bytes_held; docs/learning.md, "Memory
  // per peer"). 0: not reported.
  virtual std::size_t model_bytes_held() const { return 0; }
};

enum class ClipMode : std::uint8_t { off, fixed, adaptive };

// `--clip` and a scenario file's `clip`: "auto" (adaptive), "off", or a
// fixed radius, a finite number > 0.
struct ClipSetting {
  ClipMode mode = ClipMode::adaptive;
  double radius = 0.0;  // ClipMode::fixed
};
Result<ClipSetting> parse_clip(std::string_view text);

// The ranges `starling peer` accepts for the gossip's settings, which a
// scenario file's [swarm] keys must meet too (--gamma, --neighbours,
// --round-steps; 0 is "the default" for gamma and round steps).
inline constexpr double kMaxGamma = 1.0;
inline constexpr int kMaxNeighbours = 64;
inline constexpr int kMaxRoundSteps = 100'000;

// How a round mixes (docs/learning.md, "Mixing"). neighbourhood: a delta to
// every link and a pull towards all of them with Metropolis-Hastings weights.
// pairwise (AD-PSGD style): a delta to ONE random ready neighbour and a pull
// of weight 1/2 towards it, which that neighbour mirrors on receipt, so a
// pair's sum is kept exactly and a round costs one delta whatever the degree.
// on_delta: the deltas of neighbourhood mixing, but each link's pull is taken
// when the neighbour's delta arrives, from the two copies as fresh as they
// get (CHOCO-SGD's order: after the round's copies are updated), instead of
// at our next round from copies a round old (docs/learning.md, "Pulling on
// each delta").
enum class Mixing : std::uint8_t { neighbourhood, pairwise, on_delta };
// The driver's own default (TrainingDriverOptions); `starling peer`, its
// scenarios and the simulator mix pairwise (node/defaults.h). On-delta
// learned in fewer steps with every compressor measured, but its two ends'
// pulls cancel only while deltas and rounds stay in step: a delivery delay
// or an upload budget breaks that (docs/learning.md, "Pulling on each
// delta"), so it stays an option.
inline constexpr Mixing kDefaultMixing = Mixing::neighbourhood;

// "neighbourhood", "pairwise", "on-delta" (the CLI's and scenarios' names).
inline const char* to_string(Mixing mixing) {
  switch (mixing) {
    case Mixing::pairwise: return "pairwise";
    case Mixing::on_delta: return "on-delta";
    case Mixing::neighbourhood: break;
  }
  return "neighbourhood";
}
inline std::optional<Mixing> parse_mixing(std::string_view name) {
  for (Mixing m : {Mixing::neighbourhood, Mixing::pairwise, Mixing::on_delta})
    if (name == to_string(m)) return m;
  return std::nullopt;
}

// How TrainingDriver::local_average weighs the copies (training_average.cpp).
enum class AverageWeights : std::uint8_t {
  uniform,  // plain mean of x_i and the neighbours' copies: 1/(1 + n) each
  mixing,   // the consensus weights: w per copy, 1 − n·w for x_i
};

// Misbehaviour on purpose, for fault-injection scenarios (wire::TrainingControl).
// drift_deltas: on each link, the neighbour's own copy moved against the
// direction our model took since the last round, by `scale` times the median
// gap of our links (inside the clipping radius of 3 medians at scale < 3): an
// inner-product-manipulation attack that stays within the honest spread.
enum class ByzantineMode : std::uint8_t { none, random_deltas, scaled_deltas, garbage_frames, drift_deltas };

struct TrainingDriverOptions {
  compress::Layout layout = compress::Layout::whole(0);
  compress::CompressorSpec compressor;
  compress::SparsityWarmup warmup;
  // Hash of the model description; links to peers with another model are refused.
  wire::Hash32 model_hash{};
  // The model for people ("mlp:16 over 784 inputs and 10 classes"; empty:
  // not said), sent in LinkHello so that both ends of a refused link can
  // name both shapes.
  std::string model_shape;
  // Consensus step γ; 0 picks the compressor's default (docs/learning.md).
  float gamma = 0.0f;
  // Links dialled to sampled members; more come in from others.
  std::size_t neighbours = 3;
  // Links kept at most (dialled + accepted). Mixing weights are
  // Metropolis-Hastings: w(i,j) = 1/(1 + max(d_i, d_j)) with d the ready links
  // of each end (each delta carries its sender's), so both ends of a link
  // agree on it and the weights of a peer sum to at most d_i/(d_i + 1) < 1.
  std::size_t max_links = 8;
  // When rounds happen (docs/learning.md, "When a peer gossips"). A host
  // that counts steps (on_parameters with a step) gossips after every
  // `round_every_steps` of its SGD steps (0: the compressor's default,
  // default_round_steps), once the pacing rules (node/round_pacing.h) allow:
  // the rounds' own CPU stays under round_cpu_share of wall time, the upload
  // budget holds the round's deltas, and round_min_interval_ms (an explicit
  // floor; 0: none) has passed since the last round; and at least every
  // round_max_interval_ms (a stalled or idle host still mixes). A host that
  // does not count steps gossips every round_interval_ms.
  std::uint64_t round_every_steps = 0;
  // Consensus control (node/consensus_control.h): k adapts between
  // consensus_control.min_steps and max_steps to keep the peer's disagreement
  // with its neighbours under a target; round_every_steps is then the start.
  bool consensus_control = false;
  ConsensusControlConfig consensus_control_config;
  Mixing mixing = kDefaultMixing;
  std::uint64_t round_min_interval_ms = 0;
  double round_cpu_share = 0.25;  // 0: no CPU rule
  // The CPU time (µs, any origin) of the thread that runs this driver, read
  // at the start and the end of each round for the CPU rule; unset: rounds
  // are free (the simulator, tests). The runtime reads the loop thread's
  // CPU clock (runtime/thread_clock.h).
  std::function<std::uint64_t()> round_cpu_clock_us;
  std::uint64_t round_max_interval_ms = 1000;
  std::uint64_t round_interval_ms = 50;
  std::uint64_t digest_every = 16;  // deltas between digests on a link
  // adaptive: ClippedGossip with a radius from the honest majority of this
  // round's links, capped by our own displacement, and links that keep being
  // clipped down-weighted (node/clipped_gossip.h, docs/learning.md).
  ClipMode clip = ClipMode::adaptive;
  double clip_radius = 0.0;         // ClipMode::fixed
  node::ClippedGossipConfig clipped_gossip;
  // Neighbour upkeep (dial, drop, re-sample) at this interval.
  std::uint64_t neighbour_check_ms = 500;
  // Join by downloading a neighbour's model first; false: train at once from
  // the host's own parameters (the first peer of a swarm, or --resume).
  bool download_model = true;
  // No neighbour served model bytes (or said it has a model but is busy)
  // for this long: train from our own parameters. A download that keeps
  // progressing goes on, up to kDownloadTimeoutsMax times this from its
  // start (training_internal.h; docs/learning.md, "Joining over a slow,
  // lossy path").
  std::uint64_t download_timeout_ms = 20'000;
  // Members whose model failed here: asked for the model only when no other
  // neighbour could serve it for refused_server_grace_ms (Peer fills it after a
  // training failure; docs/security.md, "A poisoned download").
  std::vector<gossip::NodeId> refused_servers;
  std::uint64_t refused_server_grace_ms = 3'000;
  // bf16 values per SnapshotChunk: 64 kB, so that a link's stall timer
  // (5 s, reset by each chunk) holds on paths down to about 13 kB/s (256 kB
  // chunks needed 51 kB/s: a 40 kB/s path reset every link it started).
  std::size_t snapshot_chunk_values = 1u << 15;
  std::uint32_t model_chunk_bytes = 1u << 20;    // bytes per ModelChunk
  // Ask for the model in bf16: half the bytes, and the joiner starts from
  // the server's model rounded to bf16 (within 2^-9 of each weight). The
  // built-in models use it (`starling peer`, the simulator); an embedded
  // peer's buffer may hold values rounding would change (a counter kept as
  // a float), so it downloads f32, bit for bit.
  bool download_bf16 = false;
  // A link whose outbound queue holds more than this skips the round (its
  // delta waits: error feedback keeps what was not sent).
  // Model requests are ignored on such a link too, so a member asking for
  // chunks without reading them makes us queue at most this plus one chunk.
  std::size_t max_link_backlog_bytes = 4u << 20;
  // Upload budget for the training traffic (`--max-upload`; 0: none) and the
  // per-link queue rule: node/upload_budget.h, docs/learning.md "Bandwidth".
  UploadBudgetConfig upload_budget;
  // Joiners served a model at once; others are told "none" and ask elsewhere.
  std::size_t max_downloads_served = 2;
  std::uint64_t random_seed = 0;
  DriverLogSink on_log;
};

struct NeighbourStatus {
  gossip::NodeId node_id{};
  std::string address;
  bool outbound = false;
  bool connected = false;  // the connection is up (else: still dialling)
  bool ready = false;      // snapshots exchanged both ways: deltas flow
  std::uint64_t link_epoch = 0;
  double tracking_error = 0.0;  // ‖x_i − x̂(i→j)‖² / ‖x_i‖²
  std::uint64_t deltas_sent = 0;
  std::uint64_t deltas_received = 0;
  std::uint64_t resets = 0;
  // Robust aggregation (ClipMode::adaptive; the share is also kept otherwise):
  double correction_norm = 0.0;   // ‖x̂(j→i) − x̂(i→j)‖ in the last round
  std::uint16_t degree = 0;       // its ready links, as its last delta said (0: not yet)
  float mixing_weight = 0.0f;     // 1/(1 + max(our degree, its degree)) at the last round
  std::uint64_t trust_rounds = 0;         // rounds this node's correction was judged (kept per node id)
  std::uint64_t corrections_clipped = 0;  // of those, rounds it was past the trust radius
  double clipped_share = 0.0;     // recent share of rounds clipped (EWMA)
  double trust = 1.0;             // factor on this link's mixing weight, in [0, 1]
};

struct TrainingDriverStatus {
  std::string state;  // "downloading", "training", "failed" (withdraw()), "stopped"
  std::uint64_t rounds = 0;
  std::uint64_t deltas_sent = 0;
  std::uint64_t deltas_received = 0;
  std::uint64_t delta_bytes_sent = 0;  // encoded training messages (before framing and sealing)
  // Training-link messages by kind (wire::message_name: "delta", "snapshot_chunk", ...).
  TrafficByKind traffic_by_kind;
  // Bandwidth (docs/learning.md, "Bandwidth"): the budget (0: none), the
  // training bytes sent per second over the last 10 s, the budget's tokens,
  // and the link-rounds skipped because the link's queue held more than one
  // delta or the budget had no room, and the deltas shrunk to fit it.
  std::uint64_t upload_budget_bytes_per_second = 0;
  double upload_bytes_per_second = 0.0;
  std::int64_t upload_tokens = 0;
  std::uint64_t deltas_skipped_queue = 0;
  std::uint64_t deltas_skipped_budget = 0;
  std::uint64_t deltas_shrunk = 0;
  std::uint64_t link_resets = 0;
  // Digests that did not match our copy: the two ends of a link disagreed.
  // Only corrupt or hostile input explains one (the simulator's invariant).
  std::uint64_t digest_mismatches = 0;
  std::uint64_t corrections_clipped = 0;
  std::uint64_t pair_mirrors = 0;  // pairwise: pairings a neighbour asked of us, answered (reply, then our pull)
  std::uint64_t pair_crossings = 0;  // pairwise: pairings that crossed ours (each end pulls once, no reply)
  // Pairwise: rounds that opened no pairing because ours was still open
  // (node/pair_window.h), and the smoothed round trip of our requests
  // (nullopt before the first reply).
  std::uint64_t rounds_pair_open = 0;
  std::optional<double> pair_rtt_ms;
  // Pairwise: pair requests we declined (a reply would have broken the
  // upload budget or the link's queue rule) and declines of ours we got.
  std::uint64_t pairs_declined = 0;
  std::uint64_t pair_declines_received = 0;
  std::uint64_t delta_pulls = 0;  // on-delta mixing: pulls taken as a neighbour's delta arrived
  // ... and not taken: a second delta on a link before our next delta on it
  // (Link::pulled_at_sent in training_internal.h).
  std::uint64_t delta_pulls_skipped = 0;
  // Pair requests from a neighbour that cannot take a decline (an old peer)
  // left unanswered because the reply did not fit the upload budget.
  std::uint64_t pairs_unanswered = 0;
  // Pair requests that came sooner than an honest neighbour's could
  // (Link::pair_answer_after_ms): no reply, no pull.
  std::uint64_t pairs_too_soon = 0;
  // Deltas our compressor could not make (x - x̂ overflowing float: a model
  // of finite but extreme values). Three in a row on a link reset it, so
  // its copies start again from the model as it is (it logged a warning
  // twice a round for as long as it ran, and never mixed).
  std::uint64_t deltas_unmade = 0;
  // Last round's clipping radius (infinity: none) and our own displacement
  // per round (the radius's cap; 0 while unknown).
  double clip_radius = std::numeric_limits<double>::infinity();
  double own_displacement = 0.0;
  // Links weighed at less than full trust right now.
  std::uint64_t links_distrusted = 0;
  std::uint64_t model_bytes_downloaded = 0;
  std::uint64_t model_bytes_served = 0;
  std::uint64_t model_requests_refused = 0;  // busy (max_downloads_served) or backlog full
  // Link epochs whose copies started from a downloaded model both ends hold
  // (a based snapshot, sent or answered) instead of bf16 snapshots.
  std::uint64_t links_started_from_download = 0;
  // Links refused (either way) because the two ends train different models,
  // and the last such refusal as we see it ("the neighbour's model is
  // mlp:8 over ... (58 parameters), ours mlp:16 over ... (114 parameters)").
  std::uint64_t links_refused_model = 0;
  std::string model_mismatch;
  // Estimate of ‖x_i − x̄‖²/‖x̄‖², x̄ the mean of x_i and the neighbours'
  // copies; nullopt without a ready link.
  std::optional<double> consensus_distance;
  // Memory that grows with the model (docs/learning.md, "Memory per peer"):
  // the model values the driver holds now (link copies, the published
  // parameters, the round's correction, snapshot reassembly, served and
  // downloaded models) and what the model host reports; divide by 4 x the
  // parameter count for "vectors of the model's size". The compressors'
  // scratch (histograms, top-k candidates) is counted apart.
  std::uint64_t model_bytes_held = 0;
  std::uint64_t host_model_bytes_held = 0;
  std::uint64_t compressor_scratch_bytes = 0;
  float gamma = 0.0f;
  // The sum of the last round's neighbour weights (the self weight is 1 minus it).
  float mixing_weight = 0.0f;
  std::uint64_t round_every_steps = 0;  // k now (consensus control moves it)
  // Consensus control: the last disagreement with the neighbours' mean, in
  // local SGD steps (0 when off or before the first round).
  double consensus_ratio = 0.0;
  // Pacing (docs/learning.md, "When a peer gossips"): what holds the next
  // round back now ("steps": only k; "floor", "cpu", "upload": that rule),
  // the rules' settings (cpu share 0: no CPU rule), the smoothed CPU cost of
  // a round (µs), its share of wall time, the time and the SGD steps between
  // rounds, and how many rounds each rule held back.
  std::string round_wait = "steps";
  std::uint64_t round_floor_ms = 0;
  double round_cpu_share_budget = 0.0;
  double round_cpu_us = 0.0;
  double round_cpu_share = 0.0;
  double round_interval_ms = 0.0;
  double steps_per_round = 0.0;
  std::uint64_t rounds_held_floor = 0;
  std::uint64_t rounds_held_cpu = 0;
  std::uint64_t rounds_held_upload = 0;
  std::vector<NeighbourStatus> neighbours;
};

// Adds the counters of the drivers that came before (a peer that recovered
// from a training failure replaced its driver: Peer::restart_training) to
// `now`'s, so status and metrics count over the whole run and never go
// back; gauges (state, rates, tokens, radius, links, memory) stay `now`'s.
void add_earlier_counters(TrainingDriverStatus& now, const TrainingDriverStatus& earlier);

class TrainingDriver {
 public:
  // Serves the router's training route (inbound LinkHello connections) and
  // dials its links through it. node::Peer assembles it with membership.
  TrainingDriver(ConnectionRouter& router, MembershipDriver& membership, ModelHost& host, TrainingDriverOptions options);
  ~TrainingDriver();
  TrainingDriver(const TrainingDriver&) = delete;
  TrainingDriver& operator=(const TrainingDriver&) = delete;

  // After membership started. `joining`: download a model before training
  // (when options.download_model is set); else train at once.
  void start(bool joining);
  // Tells every neighbour we leave (Reset shutdown), closes the links, stops timers.
  void stop();
  // The model host failed (training diverged): our model must no longer
  // pull on anyone's. Closes every link as stop() does (the neighbours drop
  // them and sample another member), then refuses links, model requests and
  // rounds; membership goes on. State "failed"; no way back but stop().
  // Found on real peers: a failed replica's rounds went on every
  // round_max_interval_ms with its last published model, and each pairwise
  // neighbour pulled half way towards it (docs/learning.md, "A replica that
  // fails").
  void withdraw(const std::string& why);
  bool withdrawn() const { return state_ == "failed"; }
  // The member (and its address) whose downloaded model our training started
  // from; nullopt: it started from the host's own parameters.
  struct ModelSource {
    gossip::NodeId node_id{};
    std::string address;
  };
  const std::optional<ModelSource>& started_from() const { return started_from_; }
  const std::vector<gossip::NodeId>& refused_servers() const { return options_.refused_servers; }

  // The host's answer to request_parameters(): its parameters after `step`
  // SGD steps in all (kNoStep: a host that does not count steps).
  static constexpr std::int64_t kNoStep = -1;
  void on_parameters(Eigen::VectorXf parameters, std::int64_t step = kNoStep);

  void set_byzantine(ByzantineMode mode, double scale);

  TrainingDriverStatus status() const;
  // Addresses with a dial back-off or refusal count on record (tests: they
  // are forgotten, not kept for every address ever dialled).
  std::size_t dial_records_for_test() const { return dial_backoff_until_.size() + dial_refusals_.size(); }
  const std::optional<Eigen::VectorXf>& last_parameters() const { return parameters_; }

  // The model this peer can serve besides its own: x_i averaged with the
  // neighbours' copies x̂(j→i) it holds (ready links; in adaptive clipping,
  // links trusted less than fully are left out). In place and on the loop
  // thread: `model` holds x_i on entry (e.g. the host's parameters at an
  // evaluation step) and the average on return; nothing model-sized is
  // allocated. Returns how many neighbour copies went in (0: `model` is
  // unchanged), or invalid_argument for a wrong size. training_average.cpp.
  Result<std::size_t> local_average(Eigen::VectorXf& model, AverageWeights weights = AverageWeights::uniform) const;

 private:
  struct Link;
  struct ServedModel {
    Eigen::VectorXf values;  // bf16-rounded when served in bf16: the base both ends hold
    std::uint64_t expires_ms = 0;
    wire::Precision precision = wire::Precision::f32;
    bool done = false;  // its last chunk went out: kept as a link's base
    ConnectionId link = 0;  // the joiner's link it is served on
    std::uint64_t frozen_ms = 0;  // when it was made (training_download.cpp: kRefreezeMs)
  };
  struct Download {
    std::uint64_t snapshot_id = 0;
    std::uint64_t total_bytes = 0;
    wire::Precision precision = wire::Precision::f32;  // of the snapshot being downloaded
    std::vector<std::uint8_t> bytes;
    ConnectionId from = 0;  // link the current request went to (0: none in flight)
    std::uint64_t requested_ms = 0;
    std::uint32_t asked_bytes = 0;  // what the current request asked for
    std::uint64_t request_id = 0;   // the current request's (ModelRequest::request_id)
    // The server of the snapshot being downloaded: asked first (another
    // server means another snapshot, from byte 0), and its late answers to
    // earlier requests still count.
    ConnectionId source_link = 0;
    gossip::NodeId source_node{};
    DownloadPace pace{1u << 20};  // replaced with TrainingDriverOptions::model_chunk_bytes at start
    std::uint64_t started_ms = 0;  // when the download began (refused servers wait out a grace from it)
    // When bytes last arrived, or a neighbour said it has a model but is busy
    // (0: never): the download timeout runs from it.
    std::uint64_t heard_ms = 0;
    std::uint64_t logged_ms = 0;    // last progress line
    bool mismatch_reported = false;  // the joiner said the swarm's model has another shape
  };

  // The router's training route.
  bool on_inbound(const ConnectionInfo& info, ByteSpan first_frame);
  bool claim(const ConnectionInfo& info, const wire::Message& first);
  // Not stopped and not withdrawn: links, rounds and downloads go on.
  bool active() const { return state_ != "stopped" && state_ != "failed"; }
  // stop()'s and withdraw()'s common part: timers off, every link told
  // (Reset shutdown with `detail`) and closed.
  void close_all(const std::string& detail);
  void on_connected(const ConnectionInfo& info);
  void on_frame(ConnectionId id, ByteSpan frame);
  void on_disconnected(ConnectionId id, const Error& reason);

  // The round timer: a round is overdue (round_max_interval_ms, or
  // round_interval_ms for a host without steps): ask for parameters now.
  void on_round_timer();
  void arm_round_timer(std::uint64_t delay_ms);
  // Asks the host for its parameters at `at_step` (0: now).
  void request_parameters(std::int64_t at_step);
  // One round on fresh parameters x: consensus correction, then deltas of
  // the corrected model (CHOCO order), then the correction to the host.
  // cpu_start_us: the CPU clock when the round's work began.
  void run_round(std::int64_t step, std::uint64_t cpu_start_us);
  // After a round (or a pause): asks the host for the next round's
  // parameters (at step next_round_step_) once the pacing rules allow, else
  // arms pace_timer_ to ask again then, and meanwhile keeps parameters_ as
  // fresh as rounds would (pair replies and pulls read them).
  void ask_for_round();
  // Whether a held round still takes the host's parameters (ask_for_round):
  // pairwise, whose replies read them between rounds.
  bool refreshes_while_held() const;
  // The pacing rules' verdict now (advances the upload budget).
  RoundPause round_pause();
  // Bytes of the next round's deltas (the last full delta per sending link; 0: unknown).
  std::uint64_t round_bytes() const;
  std::uint64_t cpu_clock_us() const;
  std::uint64_t round_steps() const;
  // Consensus control: adapt k from this round's distance to the
  // neighbours' weighted mean (< 0: not measured this round; no-op when off).
  void control_round(double distance, std::int64_t step, const Eigen::VectorXf& x);
  // Hands one link's pull (correction_) to the host; with consensus control
  // under on-delta or pairwise mixing, adds it to the pulls since the round.
  void hand_over_pull();
  std::size_t ready_link_count() const;
  // Our ready links as a delta carries them (Delta.degree).
  std::uint16_t wire_degree() const;
  float mixing_weight(const Link& link) const;
  // Σ mixing weight x trust over the ready links (on-delta's status).
  double ready_links_weight() const;
  void on_neighbour_check();
  void dial(const gossip::MemberRecord& member);
  void handle(Link& link, wire::Message message);
  void on_hello(Link& link, const wire::LinkHello& hello);
  void on_snapshot_chunk(Link& link, const wire::SnapshotChunk& chunk);
  void on_delta(Link& link, wire::Delta& delta);  // moves the payload out of delta
  void on_digest(Link& link, const wire::Digest& digest);
  void on_reset(Link& link, const wire::Reset& reset);
  // The two ends train different models (`problem` says so from our side):
  // counted, kept for status, and a joiner says once that it cannot
  // download the swarm's model.
  void on_model_mismatch(const Link& link, const std::string& problem);
  // A member refused the link we dialled (closed it before its hello, or
  // with a model mismatch): it is dialled again only after a back-off that
  // doubles with each refusal in a row (3, 6, 12 ... 384 s, then 600 s).
  void back_off_refused_dial(const Link& link);
  // Forgets back-offs (and their refusal counts) that ended
  // kForgetDialRecordMs ago.
  void forget_old_dial_records(std::uint64_t now_ms);
  // Counts a reset of the link (ours or the neighbour's); true when it was
  // one too many: the link is closed (gone) and its neighbour banned.
  bool count_reset(Link& link);
  bool reset_banned(const gossip::NodeId& node) const;
  // A dialled link failed before its hello: another member takes the
  // neighbour's place in the sample.
  void resample_neighbour(const Link& link);
  void on_model_request(Link& link, const wire::ModelRequest& request);
  // The requests held while we had no parameters yet, answered now that we have them.
  void answer_waiting_model_requests();
  void on_model_chunk(Link& link, const wire::ModelChunk& chunk);
  void request_model();
  // Before a new served copy: evicts past the cap (finished ones first).
  void make_room_for_served_model();
  // The download timer: gives up when no bytes arrived for the download
  // timeout, or the download ran over kDownloadTimeoutsMax of them.
  void on_download_timer();
  void finish_download(const Eigen::VectorXf* model, const std::string& why);
  void maybe_start(Link& link);
  // The model both ends hold under snapshot id `base` (nullptr: we hold none).
  const Eigen::VectorXf* base_model(std::uint64_t base, ConnectionId link) const;
  // The base `link`'s next epoch can start from (0: send a bf16 snapshot).
  std::uint64_t start_base(const Link& link) const;
  bool start_from_base(Link& link, std::uint64_t base, std::uint64_t epoch);
  void on_based_snapshot(Link& link, const wire::SnapshotChunk& chunk);
  // The neighbour sent something we refuse (a malformed or out-of-order
  // chunk, a snapshot or delta that does not apply, a digest that differs).
  // Once it has sent a whole snapshot since our last reset, the link is reset
  // with ours (reset_link); before that the link is closed: a snapshot back
  // (470 kB) for each bad 20-byte chunk was the cheapest amplification a
  // member had, and a new identity per handshake got round the reset ban.
  void break_link(Link& link, wire::ResetReason reason, const std::string& detail, std::uint64_t void_epoch = 0);
  // Resets the link and sends our snapshot of a new epoch (unless the resets
  // came too often: count_reset closes it).
  void reset_link(Link& link, wire::ResetReason reason, const std::string& detail, std::uint64_t void_epoch = 0);
  // Closes the link with a `shutdown` reset that says why (an honest
  // neighbour closes its end instead of waiting for our snapshot).
  void close_link(Link& link, const std::string& why);
  bool send(Link& link, const wire::Message& message);
  void send_hello(Link& link);
  void drop_link(ConnectionId id, const std::string& why);
  // Fault injection: random_deltas and scaled_deltas send a poisoned model
  // wherever ours would go: deltas, pair replies, link snapshots and served
  // downloads.
  bool poisoning() const {
    return byzantine_ == ByzantineMode::random_deltas || byzantine_ == ByzantineMode::scaled_deltas;
  }
  Eigen::VectorXf poisoned(const Eigen::VectorXf& x);
  // drift_deltas: the offset every link's neighbour copy is moved by this
  // round (empty: none yet); remembers x for the next round's direction.
  Eigen::VectorXf drift_offset(const Eigen::VectorXf& x);
  // What a pair reply on `link` is made from: `x`, or under a byzantine
  // mode what that mode sends in its rounds (drift: the last round's
  // offset). Null for garbage_frames, which sends no delta. `storage` holds
  // a made-up model.
  const Eigen::VectorXf* reply_source(const Link& link, const Eigen::VectorXf& x, Eigen::VectorXf& storage);
  Bytes garbage_frame();  // garbage_frames: 256 random bytes, no message
  // The consensus step of one round (pair null: every link that sent this
  // round, Metropolis-Hastings weights) or of one pairing (pair: that link
  // only, weight 1/2): fills correction_ with what the host gets; false when
  // there is nothing to hand over (no ready link). `own_norm`: ‖x‖ if known
  // (< 0: measured here).
  // `pair`: pull towards that link only (pairwise at weight 1/2; on-delta,
  // `one_link`, at the link's mixing weight).
  bool consensus(const Eigen::VectorXf& x, Link* pair, double own_norm = -1.0, bool one_link = false);
  void pull_on_delta(Link& link);
  // Pairwise: the ready link a round pairs with (null: none ready, or our
  // own request still open: node/pair_window.h).
  Link* pick_partner();
  // Pairwise (docs/learning.md, "Pairwise mixing"): a neighbour asked to
  // pair; reply with a delta of our model as it is now, then pull.
  void answer_pair(Link& link);
  // Pairwise: the budget or the queue has no room for a reply: tell the
  // neighbour (neither end pulls) and when to ask again.
  void decline_pair(Link& link);
  // Pairwise: the neighbour will not answer our request now; neither end pulls.
  void on_pair_decline(Link& link, const wire::PairDecline& decline);
  // The shortest and longest a decline keeps a neighbour from asking us again.
  static constexpr std::uint64_t kMinPairRetryMs = 20;
  static constexpr std::uint64_t kMaxPairRetryMs = 5000;
  // Pairwise: the pairing's pull, from the link's copies once both ends'
  // fresh deltas are in them (identical at both ends, so the sum is kept).
  void pair_pull(Link& link);
  bool send_digest(Link& link);
  // Whether (and how big) this round's delta on `link` goes, one of
  // `links_left` still to serve (training_bandwidth.cpp).
  DeltaPlan plan_link_delta(Link& link, std::size_t links_left, const UploadBudget& budget);
  // Forgets served models whose download window has passed.
  void expire_served_models(std::uint64_t now_ms);
  // A frozen copy of our parameters to serve, in bf16 if `asked` allows it.
  ServedModel frozen_model(wire::Precision asked, std::uint64_t now_ms);
  node::LinkTrust& trust_of(const gossip::NodeId& node);
  // Tells the operator when a neighbour's trust weight leaves 1 (its
  // corrections keep being clipped: faulty or hostile), and when it is back.
  void say_trust(const Link& link, double weight);
  // The trust weight in [0, 1] the adaptive clip gives `node` now (1 for a
  // node never judged; the record is not created).
  double trust_weight(const gossip::NodeId& node) const;
  std::size_t live_link_count() const;
  void log(DriverLogLevel level, const std::string& message, std::string_view event = {},
           const LogFields& fields = {}) const;

  ConnectionRouter& router_;
  Transport& transport_;
  MembershipDriver& membership_;
  ModelHost& host_;
  TrainingDriverOptions options_;
  float gamma_ = 0.0f;
  std::int64_t next_round_step_ = 0;   // the step the next round waits for
  std::uint64_t last_round_ms_ = 0;
  bool round_forced_ = false;          // the round timer fired: the next answer makes a round
  bool host_counts_steps_ = false;
  std::mt19937_64 random_;
  // Per node id (not per connection), so reconnecting does not clear a record.
  std::map<gossip::NodeId, node::LinkTrust> trust_;
  // Neighbours we said lost our trust (said again only after they earned it
  // back); a subset of trust_'s keys.
  std::set<gossip::NodeId> distrust_said_;
  // Our own training's displacement per round: x now minus the last round's
  // corrected x (parameters_ holds x + correction after a round), so no
  // third vector is needed for "where the host should be now".
  node::OwnDisplacement own_displacement_;
  // Consensus control (options_.consensus_control): this round's training
  // displacement and the step of the last round, which it is measured over.
  std::optional<node::ConsensusControl> control_;
  double round_displacement_ = -1.0;  // < 0: not measured this round
  std::uint64_t displacement_steps_ = 0;  // the steps it spans (0: unknown)
  double round_own_norm_ = -1.0;      // ‖x_i‖ of this round's parameters (< 0: not measured)
  // ‖x_i‖ for on-delta pulls' clipping bound: the last round's, or the first
  // pull's after it (< 0: not measured since). The pulls between two rounds
  // move x by much less than the bound's slack.
  double pull_own_norm_ = -1.0;
  std::int64_t last_round_step_ = -1;
  // Consensus control under on-delta and pairwise mixing, whose rounds pull
  // nothing: the sum of the per-link pulls since the last round and of their
  // mixing weights stand in for a round's correction and Σw.
  Eigen::VectorXf pulls_since_round_;
  double pull_weight_since_round_ = 0.0;
  double pull_weight_ = 0.0;  // Σ mixing weight x trust of the last consensus() pull
  // The round's correction, then the round's scratch for the deltas'
  // differences: the one scratch vector of a round (docs/learning.md).
  Eigen::VectorXf correction_;
  // parameters_ is the last round's corrected x (the base of the displacement).
  bool round_base_ = false;
  std::map<ConnectionId, std::unique_ptr<Link>> links_;
  std::map<std::string, std::uint64_t> dial_backoff_until_;  // address -> time
  // Refusals in a row per address (closed before its hello came back: at
  // --max-links, or withdrawn after its training failed); each one doubles
  // the back-off, up to kMaxRefusalBackoffMs. Cleared when a link comes up,
  // or with the back-off kForgetDialRecordMs after it ended.
  std::map<std::string, unsigned> dial_refusals_;
  // Neighbours whose links broke too often (training_internal.h,
  // kMaxLinkResets): no link with them until `until_ms`; each ban doubles
  // the next one. A record is forgotten kMaxResetBanMs after its ban ends;
  // at most kMaxResetBans, the one whose ban ends first makes room.
  struct ResetBan {
    std::uint64_t until_ms = 0;
    unsigned bans = 0;
  };
  std::map<gossip::NodeId, ResetBan> reset_bans_;
  // When on_parameters last logged a model that is not finite (once per 10 s).
  std::optional<std::uint64_t> nonfinite_logged_ms_;
  std::optional<Eigen::VectorXf> parameters_;                // last published x_i
  std::int64_t parameters_step_ = kNoStep;                    // the host's step count at parameters_
  std::uint64_t parameters_ms_ = 0;                           // when parameters_ came
  std::string state_ = "stopped";
  std::optional<TimerId> round_timer_;
  std::optional<TimerId> pace_timer_;  // a paced round asks for parameters when it fires
  RoundPacer pacer_;
  PairWindow pair_window_;  // pairwise: one open request of ours at a time
  bool round_held_ = false;  // the next round has been held back by a pacing rule (counted once)
  std::optional<TimerId> neighbour_timer_;
  std::optional<TimerId> download_timer_;
  // Links refused for a model mismatch are closed a little later (so the
  // Reset can go out); each such timer captures `this`, so stop() cancels them.
  std::map<ConnectionId, TimerId> closing_timers_;
  std::optional<Download> download_;
  std::map<std::uint64_t, ServedModel> served_;
  // The model this joiner downloaded, kept until its link to the peer that
  // served it has started from it both ways (or kDownloadBaseMs passed).
  struct DownloadedBase {
    std::uint64_t id = 0;  // the server's snapshot id
    Eigen::VectorXf values;
    ConnectionId link = 0;
    std::uint64_t expires_ms = 0;
    bool offered = false;  // our based snapshot went out: never offered twice
  };
  std::optional<DownloadedBase> downloaded_base_;
  std::optional<ModelSource> started_from_;
  std::map<ConnectionId, std::uint64_t> serving_;  // link -> time of its last model request
  ByzantineMode byzantine_ = ByzantineMode::none;
  double byzantine_scale_ = 1.0;
  Eigen::VectorXf drift_from_;  // drift_deltas: our model at the last round
  Eigen::VectorXf drift_;       // drift_deltas: the last round's offset (pair replies carry it too)
  TrainingDriverStatus counters_;
  UploadBudget budget_;
};

// The hash both ends of a link compare: of a model description such as
// "mlp:256,128 784->10 layout:..." (any text that pins the parameter meaning).
wire::Hash32 model_hash(const std::string& description);

}  // namespace starling::node
