// How much a peer's delta gossip may send, per link and per round: the link's
// own queue (a capped or slow uplink) and an optional upload budget
// (`starling peer --max-upload`). Sans-I/O: time and queue sizes come in as
// arguments. See docs/learning.md, "Bandwidth".
//
// Two rules, both only ever *skip or shrink a delta* (never a snapshot, a
// reset or a model chunk, which a link cannot do without), and a skipped link
// skips its whole round: no delta and no consensus term. CHOCO's step
// x_i += γ·w·(x̂(j→i) − x̂(i→j)) is stable only paired with the compression
// step that moves x̂(i→j) towards x_i; applied every round from copies that
// no delta moves, it adds the same vector again and again and the pair drifts
// apart (the edge-uplink failure of issue 13). Error feedback keeps what a
// skipped or shrunk delta did not carry in x_i − x̂(i→j), so skipping is a
// lower round rate on that link, not lost information.
//
// 1. The link's queue: a delta goes only while the bytes still queued on the
//    link are at most one delta's worth, i.e. while the link drains a delta
//    per round. A slower link skips rounds until its queue is short again, so
//    copies stay fresh (seconds, not a 4 MB backlog = 40 s at 100 kB/s) and
//    whatever else shares the uplink does not wait behind our backlog.
// 2. The budget: a token bucket over transport time filled at
//    bytes_per_second up to burst_bytes. Every training byte the driver sends
//    (deltas, digests, snapshots, resets, model chunks) is charged, so tokens
//    may go negative after a snapshot; deltas wait until they are positive.
//    A round shares the tokens equally among the links still to serve; a
//    top-k or random-k delta that does not fit is shrunk (a smaller fraction)
//    down to kMinFractionScale of its size, below that the link skips. A
//    dense delta over its share goes whole if the tokens cover it, and one
//    larger than the whole bucket once the bucket is full (a debt the next
//    rounds wait out): else a budget below one delta would never send one.
//    Membership (SWIM datagrams) and status answers are not counted and never
//    wait for the budget: they are small and keep the swarm alive.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace starling::node {

struct UploadBudgetConfig {
  std::uint64_t bytes_per_second = 0;  // 0: no budget
  std::uint64_t burst_bytes = 0;       // bucket size; 0: one second's worth
};

class UploadBudget {
 public:
  UploadBudget() : UploadBudget(UploadBudgetConfig{}) {}
  explicit UploadBudget(UploadBudgetConfig config);

  bool limited() const { return config_.bytes_per_second > 0; }
  std::uint64_t bytes_per_second() const { return config_.bytes_per_second; }
  std::uint64_t burst_bytes() const { return burst_bytes_; }
  // Tokens now (bytes; negative: a debt from a snapshot or model chunk).
  std::int64_t tokens() const { return tokens_; }

  // Refills to now_ms (time never goes back; an earlier now_ms is ignored).
  void advance(std::uint64_t now_ms);
  // Bytes sent at now_ms: taken from the tokens and counted for the rate.
  void charge(std::uint64_t bytes, std::uint64_t now_ms);
  // What one of `links_left` links may send now: an equal share of the
  // tokens (0 while in debt); unlimited without a budget.
  std::uint64_t allowance(std::size_t links_left) const;

  // Bytes charged per second over the last kWindowSeconds whole seconds
  // before now_ms (fewer at the start), 0 before the first second ends.
  double measured_bytes_per_second(std::uint64_t now_ms) const;
  std::uint64_t bytes_charged() const { return bytes_charged_; }

  static constexpr std::size_t kWindowSeconds = 10;

 private:
  UploadBudgetConfig config_;
  std::uint64_t burst_bytes_ = 0;
  std::int64_t tokens_ = 0;
  std::uint64_t last_ms_ = 0;
  std::uint64_t remainder_byte_ms_ = 0;  // refill below one byte, in byte x ms / 1000
  bool started_ = false;
  std::uint64_t first_ms_ = 0;
  std::uint64_t bytes_charged_ = 0;
  // Bytes per whole second of transport time, second s in slot s % kSlots:
  // the window's seconds and the current one, each in a slot of its own (with
  // only kWindowSeconds slots the current second overwrote the window's
  // oldest, and the rate read 10% low).
  static constexpr std::size_t kSlots = kWindowSeconds + 1;
  std::array<std::uint64_t, kSlots> bucket_bytes_{};
  std::array<std::uint64_t, kSlots> bucket_second_{};
};

// The decision for one link's delta this round.
struct DeltaPlan {
  bool send = false;
  double fraction_scale = 1.0;  // top-k/random-k: multiply the spec's fraction by this
};

// A sparse delta is shrunk at most to this share of its full size; a smaller
// one would spend a round's framing and digest cadence on almost nothing.
inline constexpr double kMinFractionScale = 0.125;

// pending_bytes: what the transport still holds for the link; delta_bytes: the
// size of a full delta on this link (the last one sent; 0 while unknown);
// sparse: the compressor can send a smaller fraction.
DeltaPlan plan_delta(const UploadBudget& budget, std::size_t links_left, std::size_t pending_bytes,
                     std::size_t delta_bytes, bool sparse);

// Pairwise: whether a reply of delta_bytes to a neighbour's pair request
// goes now (else the request is declined). The link's queue rule as for a
// round's delta; the budget may go into debt for a reply down to one bucket
// below zero, never further: the initiator has already paid for the
// pairing, so a reply is worth more than a round of our own (which waits
// for positive tokens), and over any window the bytes sent stay within the
// rate times the window plus two buckets and a delta.
bool reply_fits(const UploadBudget& budget, std::size_t pending_bytes, std::size_t delta_bytes);

}  // namespace starling::node
