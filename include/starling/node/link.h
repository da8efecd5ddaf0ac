// One CHOCO delta-gossip link between this peer i and one neighbour j
// (DESIGN.md, "Learning"). Sans-I/O: plain structs in, plain structs out; no
// sockets, clocks, threads or global randomness. The runtime moves the messages
// and decides when to send deltas, digests and resets. See docs/learning.md.
//
// Two public copies per link, both known bit for bit to both ends:
//   x̂(i→j) = out_copy(): what j believes i's model is; i adds every q it sends.
//   x̂(j→i) = in_copy():  what i believes j's model is; i adds every q it gets.
// A link (re)starts with a snapshot each way: the sender's model rounded to
// bf16 (round to nearest even, integer arithmetic), which both ends take as the
// copy. Every delta carries the link epoch and a sequence number; an epoch
// mismatch, a gap, a duplicate, a corrupt payload or a digest mismatch breaks
// the link, which then refuses deltas until it is restarted with snapshots.
// Nothing is ever patched silently.
//
// Memory: the two copies are the link's only model-sized buffers, and they
// exist only while they mean something: x̂(i→j) from start() until the link
// breaks or is reset, x̂(j→i) from the neighbour's snapshot until then. A
// link that is not ready (handshake, broken, waiting for a snapshot) holds
// what it needs and no more; the compressor keeps no model-sized scratch.
#pragma once

#include <Eigen/Core>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "starling/compress/compressor.h"
#include "starling/compress/layout.h"
#include "starling/compress/spec.h"
#include "starling/crypto/hash.h"
#include "starling/status.h"

namespace starling::node {

// Round a float to bfloat16 precision (round to nearest, ties to even) and
// return it widened back to float: the low 16 bits of the result are zero.
// NaN stays NaN (quiet); values that round past the largest bf16 become ±inf.
float bf16_round(float value);
// A bf16-rounded float's bit pattern (its high 16 bits), and back.
inline std::uint16_t bf16_bits(float rounded) {
  return static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(rounded) >> 16);
}
inline float from_bf16_bits(std::uint16_t bits) { return std::bit_cast<float>(std::uint32_t(bits) << 16); }

// BLAKE2b-256 over the floats' little-endian bytes (the length is implied:
// both ends know the dimension). An integrity check against bugs and silent
// divergence of the two copies; tampering is the wire AEAD's job.
crypto::Hash256 copy_digest(const Eigen::VectorXf& values);

// Start of an epoch in one direction: the sender's model rounded to bf16. Both
// ends set the copy to exactly `values` (whose low 16 bits are zero each).
struct LinkSnapshot {
  std::uint64_t epoch = 0;
  std::vector<float> values;
};

// One compressed step of the sender's copy: x̂ += decode(delta) on both ends.
// seq counts the sender's deltas in this epoch, from 0.
struct LinkDelta {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  compress::CompressedDelta delta;
};

// The sender's hash of its out copy after `seq` deltas of this epoch (seq is
// the number of deltas sent so far, i.e. the next delta's seq).
struct LinkDigest {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  crypto::Hash256 hash{};
};

// The sender broke the link (or wants a restart): the receiver drops both
// copies and expects a snapshot of an epoch above `epoch`.
struct LinkReset {
  std::uint64_t epoch = 0;
  std::string reason;
};

// Result of one consensus step on a link.
struct ConsensusStep {
  double correction_norm = 0.0;  // ‖x̂(j→i) − x̂(i→j)‖ before clipping
  double applied_norm = 0.0;     // ‖change of x_i‖ = γ·w·‖clipped correction‖
  bool clipped = false;
};

// The factor a consensus step multiplies the correction by: γ·w, shrunk when
// `correction_norm` exceeds `clip_radius` so the clipped correction has norm
// (just under) the radius. applied_norm = |factor|·correction_norm.
struct PullFactor {
  float factor = 0.0f;
  bool clipped = false;
  double applied_norm = 0.0;
};
PullFactor pull_factor(float gamma, float weight, double correction_norm, double clip_radius);

// Adaptive clipping radius (ClippedGossip-style, He et al. 2022): τ is
// `multiplier` times the median of the last `window` observed correction
// norms. Norms are recorded after clipping, so a garbage neighbour can raise τ
// by at most a factor of `multiplier` per half window, not in one step. Until
// `min_samples` norms are seen τ is `initial_radius` (infinity: no clipping
// while the history fills; pick a finite value to clip from the first round).
class AdaptiveClip {
 public:
  struct Config {
    double multiplier = 3.0;
    std::size_t window = 16;
    std::size_t min_samples = 4;
    double initial_radius = std::numeric_limits<double>::infinity();
  };
  AdaptiveClip() : AdaptiveClip(Config{}) {}
  explicit AdaptiveClip(Config config);

  double radius() const;
  // Record the norm a step saw (the clipped value is kept: min(norm, radius())).
  void observe(double correction_norm);

 private:
  Config config_;
  std::vector<double> history_;  // ring buffer
  std::size_t next_ = 0;
};

class LinkState {
 public:
  // `layout` must match the neighbour's (same model, same policy); `seed`
  // drives this direction's compressor (random-k seeds, int8 rounding).
  LinkState(compress::Layout layout, compress::CompressorSpec spec, std::uint64_t seed,
            compress::SparsityWarmup warmup = {});

  std::size_t dimension() const { return layout_.dimension(); }
  std::uint64_t epoch() const { return epoch_; }
  std::uint64_t next_send_seq() const { return next_send_seq_; }
  std::uint64_t next_receive_seq() const { return next_receive_seq_; }
  // The out direction has been started for the current epoch (deltas may go).
  bool sending() const { return sending_; }
  // The neighbour's snapshot for the current epoch has arrived (deltas accepted).
  bool receiving() const { return receiving_; }
  bool ready() const { return sending_ && receiving_; }
  // Set when the neighbour's snapshot carried a newer epoch than ours: reply
  // with start(x_i, epoch()).
  bool needs_start() const { return !sending_; }
  // Why the link last broke (empty if it never did).
  const std::string& last_error() const { return last_error_; }

  // x̂(i→j): empty until start(), and again once the link broke or was reset.
  const Eigen::VectorXf& out_copy() const { return out_copy_; }
  // x̂(j→i): empty until the neighbour's snapshot, and again once the link
  // broke or was reset.
  const Eigen::VectorXf& in_copy() const { return in_copy_; }
  // Bytes of the copies this link holds now, for the peer's memory accounting.
  std::size_t model_bytes_held() const;
  // Bytes of the compressor's scratch (small: a histogram and the top-k
  // candidates or random-k coordinates; no model-sized buffer).
  std::size_t scratch_bytes() const { return compressor_.scratch_bytes(); }
  // For tests of the integrity checks only.
  Eigen::VectorXf& mutable_out_copy_for_test() { return out_copy_; }
  Eigen::VectorXf& mutable_in_copy_for_test() { return in_copy_; }

  // Begin epoch `new_epoch` (must be >= epoch(); the usual choice is
  // epoch() + 1, or the neighbour's epoch when answering its snapshot):
  // x̂(i→j) = bf16(x_i), send seq restarts at 0. If the epoch grows, the in
  // direction waits for the neighbour's snapshot of the new epoch.
  Result<LinkSnapshot> start(const Eigen::VectorXf& x_i, std::uint64_t new_epoch);

  // Begin epoch `new_epoch` from a model both ends hold exactly (the model a
  // joiner downloaded from this neighbour): x̂(i→j) = base and no snapshot
  // goes out. The epoch's first two deltas are int8: they carry the steps
  // made since the download (a second of them at the server) to about
  // 1/10^4, where one int8 delta settles a snapshot's much smaller bf16
  // rounding (a single int8 delta, or a sign one, cost steps at 1 MB/s:
  // docs/learning.md, "A joiner's first link starts from the download").
  // Same epoch rules as start().
  Status start_from_base(const Eigen::VectorXf& base, std::uint64_t new_epoch);

  // x̂(j→i) = snapshot values. An older epoch is rejected (invalid_argument,
  // the link is unchanged: a late message); a newer one is adopted and the out
  // direction must be restarted (needs_start()). Values must be finite,
  // bf16-rounded and of the right count, else corrupt and the link breaks.
  Status on_snapshot(const LinkSnapshot& snapshot);
  // x̂(j→i) = base, for a neighbour that began its epoch with
  // start_from_base() on a model we hold too. Same epoch rules as
  // on_snapshot(); values must be finite and of the right count.
  Status on_based_snapshot(std::uint64_t epoch, const Eigen::VectorXf& base);

  // q = C(x_i − x̂(i→j)); x̂(i→j) += q. The first delta of an epoch settles
  // the snapshot's bf16 rounding: a low-bit or sparse link (sign, sign2,
  // top-k, random-k) sends it as int8, which leaves about 1/100 of the
  // rounding error; its own compressor would leave most of it for many rounds,
  // and every correction pulls towards that error (docs/learning.md,
  // "Settling a new link's copies"). Fails (disconnected) if the out
  // direction is not started, numerical on NaN/Inf in x_i. `scratch`: empty,
  // or dimension() floats of the caller's for the difference (faster; one
  // buffer can serve all of a peer's links); the delta is the same either way.
  // fraction_scale (top-k/random-k): send that share of the usual fraction
  // this once (an upload budget's shrunk delta); error feedback keeps the rest.
  Result<LinkDelta> make_delta(const Eigen::VectorXf& x_i, std::span<float> scratch = {}, double fraction_scale = 1.0);

  // x̂(j→i) += q after checking epoch and sequence. Any mismatch (wrong epoch,
  // a gap, a duplicate, a payload that fails validation) returns corrupt and
  // breaks the link: restart it with snapshots.
  Status on_delta(const LinkDelta& delta);

  // Hash of x̂(i→j) after the deltas sent so far.
  LinkDigest make_digest() const;
  // Compares with the hash of x̂(j→i); must arrive in order with the deltas
  // (digest.seq == next_receive_seq()). Mismatch: corrupt, link broken.
  Status on_digest(const LinkDigest& digest);

  // Break the link from this side (e.g. after a failed check elsewhere) and
  // produce the message telling the neighbour.
  // `void_epoch`: an epoch the neighbour opened that we could not take up
  // (a based snapshot naming a model we do not hold): the reset covers it,
  // so the neighbour drops it too and answers our next epoch.
  LinkReset make_reset(std::string reason, std::uint64_t void_epoch = 0);
  // The neighbour broke the link: drop both directions until restarted.
  void on_reset(const LinkReset& reset);

  // x_i += γ·w·clip_τ(x̂(j→i) − x̂(i→j)), where clip_τ scales the correction
  // down to norm τ if it is longer (τ = infinity: no clipping). Requires
  // ready() (else disconnected, x_i untouched); a correction that is not
  // finite is refused (numerical, x_i untouched). Without clipping the two ends
  // apply opposite corrections, so the pair's sum (and the swarm average) is
  // preserved up to float rounding; clipping gives that up for the clipped
  // step on purpose.
  // known_norm: correction_norm() when the caller has it already (a round
  // computes it for the clipping radius first), so it is not computed twice;
  // negative: computed here.
  Result<ConsensusStep> consensus_step(Eigen::VectorXf& x_i, float gamma, float weight,
                                       double clip_radius = std::numeric_limits<double>::infinity(),
                                       double known_norm = -1.0) const;

  // Same with an adaptive radius: uses clip.radius(), then records the norm.
  Result<ConsensusStep> consensus_step(Eigen::VectorXf& x_i, float gamma, float weight, AdaptiveClip& clip) const;

  // Pairwise mixing: both copies move by one pairing's pulls, s =
  // factor·(x̂(j→i) − x̂(i→j)); x̂(i→j) += s, x̂(j→i) −= s. The neighbour's
  // call with the same factor leaves its copies bit for bit equal to ours
  // (a − b is exactly −(b − a)), so digests still match. Requires ready()
  // (else a no-op).
  void pair_shift(float factor);

  // ‖x̂(j→i) − x̂(i→j)‖ (the correction before γ·w and clipping): the
  // differences in float, as the pull applies them, their squares summed in
  // double; requires ready(), else disconnected.
  Result<double> correction_norm() const;

  // The pull and its norm in one pass over the copies, for a round that does
  // not know the clipping radius yet: correction += factor·(x̂(j→i) − x̂(i→j))
  // (with `overwrite`, correction = ..., so the caller needs no zeroing pass),
  // returning ‖x̂(j→i) − x̂(i→j)‖ (differences in float, squares summed in
  // double). A caller that then finds the norm above its radius adds
  // (clipped − factor)·(x̂(j→i) − x̂(i→j)) with a second call. correction must
  // have dimension() values. Requires ready() (else disconnected, correction
  // untouched). A norm that is not finite has left NaN/Inf in correction:
  // the caller must discard it (consensus_step refuses such a link).
  Result<double> pull(Eigen::VectorXf& correction, float factor, bool overwrite) const;

  // ‖x_i − x̂(i→j)‖² / ‖x_i‖² (0 for a zero model): how far j's view of us
  // lags; 1 while the out direction holds no copy (as against a zero copy).
  double tracking_error(const Eigen::VectorXf& x_i) const;

 private:
  Error fail(ErrorKind kind, std::string message);
  // The link stopped in both directions: free both copies.
  void drop_copies();
  Status check_epoch(std::uint64_t new_epoch, const char* what) const;
  Status check_snapshot_epoch(std::uint64_t epoch) const;  // a stale snapshot: invalid_argument
  Status adopt_in_copy(std::uint64_t epoch, const float* values);

  compress::Layout layout_;
  compress::Compressor compressor_;
  // int8, for the first delta of an epoch; absent where compressor_ is
  // already int8 or exact.
  std::optional<compress::Compressor> settle_;
  std::uint64_t settle_deltas_ = 1;  // int8 deltas that open an epoch
  Eigen::VectorXf out_copy_;
  Eigen::VectorXf in_copy_;
  std::uint64_t epoch_ = 0;
  std::uint64_t next_send_seq_ = 0;
  std::uint64_t next_receive_seq_ = 0;
  bool sending_ = false;
  bool receiving_ = false;
  std::string last_error_;
};

}  // namespace starling::node
