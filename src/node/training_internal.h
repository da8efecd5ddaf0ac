// Private to the TrainingDriver's files (src/node/training_*.cpp): the
// per-link record and the helpers they share. Not a public header.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "starling/crypto/hash.h"
#include "starling/node/delta_wire.h"
#include "starling/node/training_driver.h"

namespace starling::node {
namespace training_detail {


inline constexpr std::uint64_t kDialBackoffMs = 3'000;
// Rounds in a row whose delta for a link could not be made before the link is reset.
inline constexpr int kDeltasUnmadeBeforeReset = 3;
// A member that keeps refusing (a membership-only peer, another model) is
// dialled again after at most this; under 3 minutes of refusals in a row the
// back-off stays at 60 s or less, so a peer that refused while it loaded its
// data is soon dialled again. At 60 s every training peer redialled each
// membership-only member once a minute for ever (a soak review: 24-26 links
// and handshakes per such member in 22 minutes).
inline constexpr std::uint64_t kMaxRefusalBackoffMs = 600'000;
// A dial back-off record whose time passed this long ago is forgotten, its
// refusal count with it: addresses of members long gone piled up for ever.
inline constexpr std::uint64_t kForgetDialRecordMs = 600'000;
// Each reset of a link costs a model-sized snapshot each way, sent at once.
// A neighbour that keeps breaking a link (a replica whose model went to NaN,
// a hostile member sending a malformed chunk for each of our snapshots)
// made that a loop bounded only by the network: 455 MB from one simulated
// peer within a second. A link reset kMaxLinkResets times within
// kResetWindowMs is closed, and no link with that neighbour (dialled or
// accepted) for kResetBanMs, doubling per repeat up to kMaxResetBanMs.
inline constexpr unsigned kMaxLinkResets = 4;
inline constexpr std::uint64_t kResetWindowMs = 30'000;
inline constexpr std::uint64_t kResetBanMs = 10'000;
inline constexpr std::uint64_t kMaxResetBanMs = 300'000;
inline constexpr std::size_t kMaxResetBans = 256;
// How often a joiner with no link yet runs the neighbour check
// (on_neighbour_check), instead of TrainingDriverOptions::neighbour_check_ms.
inline constexpr std::uint64_t kJoinerNeighbourCheckMs = 20;
inline constexpr std::uint64_t kServedModelLifetimeMs = 60'000;
inline constexpr std::uint64_t kModelRefusedRetryMs = 1'000;
// Frames can vanish (the fault layer drops them; a real network only delays
// them): a link whose hello or snapshot does not complete in this time is
// redone. (A model chunk not answered in time is asked for again after a
// wait that follows the path: node/download_pace.h.)
inline constexpr std::uint64_t kHandshakeStallMs = 5'000;
// A link we sent nothing on for this long carries a keepalive (a Digest for
// epoch 0, which every peer ignores: epochs start at 1). Links wait that
// long while a joiner downloads, and transports drop a connection silent
// for their idle timeout (30 s for `starling peer`).
inline constexpr std::uint64_t kLinkKeepaliveMs = 10'000;
// How long a neighbour that said it is joining (LinkHello::joining) may take
// to answer our snapshot: it does once it trains, after its download.
inline constexpr std::uint64_t kJoinerAnswerMs = 300'000;
// A joiner holds one of a server's max_downloads_served slots while it asked
// within this time (longer than a joiner's longest wait for an answer,
// DownloadPace::kMaxWaitMs), or until its last chunk went out: a slow joiner
// must not lose its slot, and with it its download's progress, between asks.
inline constexpr std::uint64_t kServingSlotMs = 35'000;
// A link that asks for a new snapshot of the model again within this time
// gets the one it is being served (on_model_request): a freeze copies the
// whole model.
inline constexpr std::uint64_t kRefreezeMs = 2'000;

// Whether we are serving a model download on this link (TrainingDriver's
// serving_: link -> time of its last request). Its deltas wait meanwhile
// (skipped: error feedback keeps them): on a slow link a delta queued in
// front of every chunk held a joiner's download up for as long as the
// delta took to drain (two dense deltas, 47 s at 40 kB/s).
inline bool serving_download(const std::map<ConnectionId, std::uint64_t>& serving, ConnectionId id,
                             std::uint64_t now_ms) {
  const auto found = serving.find(id);
  return found != serving.end() && found->second + kServingSlotMs >= now_ms;
}

// A download that keeps bringing bytes is not given up at the download
// timeout (it runs from the last bytes), but it is at this many timeouts
// from its start: a server dribbling bytes cannot hold a joiner for ever.
inline constexpr std::uint64_t kDownloadTimeoutsMax = 10;
// A progress line while a download takes long.
inline constexpr std::uint64_t kDownloadLogMs = 5'000;
// A served model copy is kept this long after its last chunk went out (in
// case that chunk is lost and asked for again), not the whole lifetime: a
// full copy of the model per joiner must not outlive the download.
inline constexpr std::uint64_t kServedModelTailMs = 6'000;
// How long a finished download's model is kept at both ends so that the
// joiner's link to the peer that served it can start from it (a based
// snapshot, docs/learning.md "A joiner's first link starts from the download").
inline constexpr std::uint64_t kDownloadBaseMs = 30'000;

// γ defaults (docs/learning.md, "Mixing" and "Low-bit gossip"), a stability
// rule after CHOCO-SGD (Koloskova et al. 2019: γ of the order of the
// compression quality δ, where E‖C(v) − v‖² <= (1 − δ)‖v‖²). Copies that
// track the model closely (none: δ = 1; int8: δ ≈ 1) take γ = 1, plain gossip
// averaging with Metropolis-Hastings weights. Random-k keeps a fraction f of
// the coordinates (δ = f): γ = f, so a sparse link never pulls faster than its
// copies can follow. Top-k keeps the f largest (δ >= f, well above f on
// uneven residuals): γ = 2f (at most 1). Pure consensus (lr 0) converged at
// 2f with 2, 20, 200 and 1000 peers for f = 0.01 and 0.1, and stalled at 4f
// with 2 peers for f = 0.1 (top-k 1% at γ = 0.1, 10f, drifted apart with 20
// peers); at γ = f, top-k 10% left heterogeneous peers far apart (docs/
// learning.md, "Mixing"). Scaled sign: δ = 2/π ≈ 0.64 on Gaussian-like residuals
// (tests/compress), but measured, larger γ learns faster up to 1.0 (8 peers:
// 2,150 / 1,788 / 1,625 steps to 88% at γ 0.6 / 0.8 / 1.0, seed 1), while pure
// consensus (bench/consensus_scale.sh) converges at γ 1.0 and diverges at
// 1.25 with 2 peers (at 1.5 with 4-20; 20 peers blew up for a while at
// 1.25): γ = 0.8 takes most of the gain and keeps a factor 1.5 from the edge
// (docs/learning.md, "Low-bit gossip"). Two-bit sign (δ ≈ 0.88 on Gaussian
// residuals): pure consensus converged at γ 1.0, 1.25 and 1.5 with 2 and 20
// peers (spread to 1e-13 or less in 30 virtual s), so γ = 1.0 keeps at least
// a factor 1.5 from its edge (docs/learning.md, "Two-bit sign").
inline float default_gamma(const compress::CompressorSpec& spec) {
  switch (spec.kind) {
    case compress::CompressorKind::none:
    case compress::CompressorKind::int8: return 1.0f;
    case compress::CompressorKind::topk: return float(std::clamp(2.0 * spec.fraction, 2e-4, 1.0));
    case compress::CompressorKind::randk: return float(std::clamp(spec.fraction, 1e-4, 1.0));
    case compress::CompressorKind::sign: return 0.8f;
    case compress::CompressorKind::sign2: return 1.0f;
  }
  return 0.1f;
}

// SGD steps between rounds per compressor (docs/learning.md, "When a peer
// gossips"): dense deltas cost the model's size per link and round. Sign
// costs 1/32 of it (plus a scale per 256 values): a round every 2 steps
// keeps a 4-peer swarm under 1/20 of ring all-reduce's bytes per step;
// two-bit sign costs twice sign, so every 4 steps keeps the same bytes.
inline std::uint64_t default_round_steps(compress::CompressorKind kind) {
  switch (kind) {
    case compress::CompressorKind::none: return 4;
    case compress::CompressorKind::int8: return 4;
    case compress::CompressorKind::sign: return 2;
    case compress::CompressorKind::sign2: return 4;
    case compress::CompressorKind::topk:
    case compress::CompressorKind::randk: return 1;
  }
  return 1;
}

using node::from_wire;  // starling/node/delta_wire.h
using node::to_wire;

inline gossip::NodeId identity_of(const ConnectionInfo& info) {
  gossip::NodeId id{};
  if (info.remote_identity.size() == id.size()) {
    std::copy(info.remote_identity.begin(), info.remote_identity.end(), id.begin());
  } else {
    // Plain mode (tests): no proven identity; name the link by its address.
    id = crypto::hash256(to_string(info.remote));
  }
  return id;
}

// A model for people, in link refusals: "mlp:16 over 784 inputs and 10
// classes (12730 parameters)", or "a model of 12730 parameters" when the
// peer did not say its shape (an older peer, a test host).
inline std::string describe_model(const std::string& shape, std::uint64_t parameters) {
  const std::string count = std::to_string(parameters) + " parameters";
  return shape.empty() ? "a model of " + count : shape + " (" + count + ")";
}

inline bool is_live(gossip::MemberState state) {
  return state == gossip::MemberState::alive || state == gossip::MemberState::suspect;
}


}  // namespace training_detail

struct TrainingDriver::Link {
  Link(ConnectionId id_, bool outbound_, gossip::NodeId node, std::string address_, const TrainingDriverOptions& o,
       std::uint64_t seed)
      : id(id_),
        outbound(outbound_),
        node_id(node),
        address(std::move(address_)),
        state(o.layout, o.compressor, seed, o.warmup) {}

  ConnectionId id;
  bool outbound;
  gossip::NodeId node_id;
  std::string address;
  bool connected = false;
  bool hello_sent = false;
  bool hello_received = false;
  // What the hellos said about joining (LinkHello::joining): they decide
  // which end opens the first epoch (TrainingDriver::on_hello).
  bool sent_joining = false;
  bool peer_joining = false;
  std::uint64_t last_sent_ms = 0;  // our last message on it (keepalives, on_neighbour_check)
  node::LinkState state;
  std::optional<std::uint64_t> start_epoch;  // start(x, epoch) is due once we have parameters
  std::vector<float> snapshot;               // reassembly of the neighbour's snapshot
  std::uint64_t snapshot_epoch = 0;
  std::uint64_t snapshot_filled = 0;
  std::uint64_t deltas_since_digest = 0;
  int deltas_unmade_in_a_row = 0;  // make_delta failures since the last delta that went
  std::uint64_t deltas_sent = 0;
  std::uint64_t deltas_received = 0;
  std::uint64_t resets = 0;
  // A whole snapshot from the neighbour was taken since the link started or
  // we last reset it. Until then a break for what it sent closes the link
  // instead of answering with our snapshot (TrainingDriver::break_link).
  bool neighbour_snapshot_taken = false;
  // Resets (either end's) since reset_window_ms (kMaxLinkResets).
  std::uint64_t reset_window_ms = 0;
  unsigned resets_in_window = 0;
  std::uint64_t model_retry_at_ms = 0;  // it had no model to serve; ask again after this
  // Our model requests it left unanswered in a row (a wait each): from the
  // second, others are asked first, so a silent member cannot hold a joiner.
  unsigned model_silences = 0;
  // It asked for our model before our trainer had published one (its data
  // still loading, say): answered when the first parameters come.
  std::optional<wire::ModelRequest> model_request_waiting;
  std::uint64_t created_ms = 0;
  std::uint64_t epoch_started_ms = 0;   // when we last sent a snapshot
  double last_correction_norm = 0.0;    // ‖x̂(j→i) − x̂(i→j)‖ at the last consensus step
  std::uint16_t peer_degree = 0;        // the neighbour's ready links, from its last delta (0: unknown)
  float mixing_weight = 0.0f;           // its Metropolis-Hastings weight at the last round
  // Pairwise: we sent it a pair delta and its next delta (the reply, or its
  // own pair delta that crossed ours) has not come yet. We do not pair with
  // it again until one comes (or the link resets): a second request would
  // leave the two ends pulling from different copies.
  bool awaiting_pair_reply = false;
  std::uint64_t pair_sent_ms = 0;  // when that request went (PairWindow)
  // Pairwise: the neighbour said it understands PairDecline (its LinkHello),
  // and, once it declined one of our requests, when to ask it again.
  bool peer_declines_pairs = false;
  std::uint64_t pair_retry_at_ms = 0;
  // Before this, the neighbour's pair requests get no reply and no pull
  // (answer_pair): an honest one asks at most once a round, and after a
  // decline waits what it was told; a member asking as fast as it can send
  // had a reply and a pull for each (30 pulls a second at weight γ/2).
  std::uint64_t pair_answer_after_ms = 0;
  // The neighbour mixes by rounds (neighbourhood, on-delta; its LinkHello):
  // it sends a delta every round and never pairs. A pairwise driver treats
  // this link as on-delta would: a delta every round, a pull on each of the
  // neighbour's, no requests (its round deltas would be taken for replies).
  bool peer_round_deltas = false;
  // On-delta pulls (pull_on_delta): the link's deltas_sent at the last one.
  // The pull moves our model by γ·w·(x̂(j→i) − x̂(i→j)) and leaves both
  // copies as they were, so a second pull before our next delta on the link
  // would count the same gap again: a neighbour sending deltas faster than
  // we send ours (or a hostile one sending empty deltas by the hundred) would
  // move our model past its own, each pull within the clipping radius.
  std::optional<std::uint64_t> pulled_at_sent;
  // The neighbour understands based snapshots (its LinkHello), and the base
  // its based snapshot of the current epoch named (0: none): our answer to it
  // starts from the same model.
  bool peer_based_snapshots = false;
  std::uint64_t reply_base = 0;
  // Bandwidth (node/upload_budget.h): bytes of a full delta on this link (0:
  // none sent yet), whether this round sent one (only then does the link
  // take part in the round's consensus step), and the last sign of life
  // (a frame in, or bytes still leaving) for the stall timers.
  std::size_t full_delta_bytes = 0;
  bool sent_this_round = false;
  std::uint64_t last_activity_ms = 0;
  // Since when we wait for the neighbour to open an epoch (its hello, or its
  // reset): a link it never opens holds one of our --max-links for nothing
  // (TrainingDriver::on_neighbour_check drops it).
  std::uint64_t opening_awaited_ms = 0;

  bool hello_done() const { return hello_sent && hello_received; }
};

}  // namespace starling::node
