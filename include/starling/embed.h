// The embedding API: a training loop that is not starling's (your own model,
// optimizer and data, in C++ or, through the Python module, PyTorch) joins a
// starling swarm. The peer runs membership, links, compression, security and
// the join download on its own libuv loop thread; your thread trains and
// calls after_step() between optimizer steps (docs/embedding.md).
//
//   auto peer = starling::embed::Peer::create({{"listen", "127.0.0.1:7946"}, {"seed", "10.0.0.2:7946"}});
//   peer->attach(params.data(), params.size(), {"my-model", {{784, 128}, {128}, {128, 10}, {10}}});
//   peer->join(60'000);           // downloads the swarm's model INTO params
//   for (...) { my_step(params); peer->after_step(); }
//   peer->leave();
//
// Errors are Result/Status values (starling/status.h); nothing throws and no
// call crashes on bad input. This header includes no third-party library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "starling/status.h"

namespace starling::embed {

// The peer's settings: the keys of `starling peer`'s flags without the
// dashes (listen, seed, swarm-key, identity, data-dir, profile, compress,
// gamma, clip, neighbours, max-links, round-steps, mixing, gossip-interval,
// max-upload); '_' may stand for '-'. A key may repeat (seed). Flags of the
// built-in trainer (data, model, lr, ...) are refused: your loop trains.
// Extra keys of the embedding only: join-timeout (ms, default 60000),
// download (true/false: copy the swarm's model in when joining; default true).
// config: a TOML file with the same keys, as `starling peer --config` reads
// (FILE:LINE errors); the other settings win over it, and a trainer key in
// it is refused.
using Settings = std::vector<std::pair<std::string, std::string>>;

// What the parameters are: a name and the tensor shapes, in the order they
// lie in the flat buffer. Peers refuse each other's links unless name and
// shapes match exactly (the model hash in the link hello); tensors of fewer
// than 1024 values travel uncompressed, as the built-in models' biases do.
struct ModelLayout {
  std::string name;
  std::vector<std::vector<std::int64_t>> shapes;
  // The number of floats the shapes describe (0 for a bad shape: a size
  // below 1, or more values than a size_t counts).
  std::size_t parameter_count() const;
  // The hash peers compare (hex), from name and shapes.
  std::string model_id() const;
};

struct NeighbourStatus {
  std::string node_id;  // hex
  std::string address;
  bool ready = false;
  bool outbound = false;
  std::uint64_t deltas_sent = 0, deltas_received = 0, resets = 0;
};

struct PeerStatus {
  // "created", "joining", "downloading", "training", "left", "failed";
  // "withdrawn" while the node is out of gossip after the buffer kept
  // holding NaN/Inf (it rejoins and copies a neighbour's model in).
  std::string state;
  std::string error;    // why "failed"
  std::string address;  // what others reach us at (the bound port if listen had port 0)
  std::string node_id;  // hex
  bool joined = false;  // membership reached a seed (or started a swarm)
  std::size_t members = 0;  // others alive (or suspected) in the membership view; not those that left or died
  std::uint64_t bytes_sent = 0, bytes_received = 0;  // everything the transport moved
  // A buffer is attached: the training fields below mean something. A
  // membership-only peer (no attach()) has state "member" once joined and
  // only the fields above; the rest stay zero/empty.
  bool trains = false;
  bool downloaded = false;  // the swarm's model was copied into the buffer at join
  std::int64_t steps = 0;   // after_step() calls
  std::uint64_t corrections_applied = 0;
  std::uint64_t publishes = 0;
  // Copies after_step() withheld: NaN/Inf, or a move far beyond the usual
  // step (training diverging; docs/embedding.md).
  std::uint64_t publishes_withheld = 0;
  // Withdrawals after the buffer held NaN/Inf at 3 due publishes in a row,
  // each followed by a rejoin that copies a neighbour's model into the
  // buffer (at most 3; then after_step() fails with disconnected).
  std::uint64_t recoveries = 0;
  // Whole models copied into the buffer: buffer_replacements() below.
  std::uint64_t buffer_replacements = 0;
  std::uint64_t rounds = 0, deltas_sent = 0, deltas_received = 0, link_resets = 0;
  std::uint64_t gossip_bytes_sent = 0;
  std::uint64_t model_bytes_downloaded = 0, model_bytes_served = 0;
  std::optional<double> consensus_distance;  // ‖x − x̄‖²/‖x̄‖² over the neighbourhood
  std::vector<NeighbourStatus> neighbours;
  // The last refusal of a link for a model mismatch (either side), if any.
  std::string model_mismatch;
};

class Peer {
 public:
  // Checks the settings, loads (or makes) the identity and the swarm key.
  // Nothing listens yet. Errors: invalid_argument (bad key or value), io, ...
  static Result<std::unique_ptr<Peer>> create(const Settings& settings);
  ~Peer();  // leave()s
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // The user's flat parameters: `count` floats at `data`, which must stay
  // valid (and not move) until leave(). Once, before join(). count must equal
  // layout.parameter_count(). Without attach() the peer keeps membership only.
  Status attach(float* data, std::size_t count, ModelLayout layout);

  // Listens, joins through the seeds and, when joining with a model, waits
  // until the swarm's model has been copied into the buffer (or no neighbour
  // served one within the download timeout: you train from your own values;
  // status().downloaded says which). Errors: io (cannot listen), timeout
  // (no seed answered, or nothing within timeout_ms; 0: join-timeout),
  // invalid_argument (timeout_ms over 24 h, the setting's bound too),
  // invalid_argument (the swarm trains another model: links refused).
  // Call once; after_step() calls it if you did not.
  Status join(std::uint64_t timeout_ms = 0);

  // From the training loop, after each optimizer step, on the thread that
  // owns the buffer: adds the consensus corrections that arrived since the
  // last call into the buffer and, when the node asked for it at this step
  // count, hands a copy of the parameters to the gossip: the step boundary
  // of runtime::StepHandoff, as `starling peer`'s training thread serves it.
  // Costs a few atomic operations when there is nothing to do. A copy that
  // moved far more than the usual step since the last one (training
  // diverging) is withheld with a warning on stderr, counted in
  // status().publishes_withheld. Errors: numerical (a correction sum
  // overflowed: dropped; or the parameters hold NaN/Inf when due to be
  // published: not published, so a diverged replica does not reach the
  // neighbours), disconnected (the peer has failed or left). At 3 such
  // refusals in a row the node withdraws from gossip, rejoins 1 s later and
  // a later after_step() copies a neighbour's model into the buffer (your
  // optimizer's state is yours to reset: buffer_replacements() tells you
  // when); see status().recoveries.
  Status after_step();

  // How many times a whole model was copied into the buffer: the swarm's
  // model at join (when one was downloaded) and a neighbour's at each
  // recovery. Your optimizer's state (momentum, Adam's moments) belongs to
  // the values that were there before: when this number changes across
  // an after_step(), reset it. A counter, cheap enough to read every step,
  // from any thread.
  std::uint64_t buffer_replacements() const;

  // A snapshot, taken on the loop thread (waits up to 2 s for it).
  Result<PeerStatus> status() const;

  // The model to export or evaluate: your parameters averaged with the
  // copies of your neighbours' models that the links hold (the local average
  // `starling peer` evaluates and writes to its final checkpoint; plain mean,
  // ready links only). From the thread that owns the buffer (it is read),
  // into `out` (`count` floats, the attached size; may be the buffer itself).
  // Returns how many neighbour copies went in (0: `out` holds your own
  // parameters). Errors: invalid_argument (no buffer attached, wrong size),
  // disconnected (not joined, failed or left), timeout (2 s).
  Result<std::size_t> local_average(float* out, std::size_t count) const;

  // Stops the gossip (tells the neighbours), announces the leave, waits for
  // it to spread (bounded by the profile's leave timeout + 2 s) and stops
  // the loop thread. Idempotent. The buffer is not touched afterwards.
  Status leave();

  struct Impl;

 private:
  explicit Peer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace starling::embed
