// The robust part of the consensus step (ClippedGossip, He, Karimireddy, Jaggi
// 2022, "Byzantine-robust decentralized learning via ClippedGossip"): which
// radius each round's per-link corrections are clipped to, and how much a link
// whose corrections keep being clipped still counts. Pure math: no I/O, no
// clock, no randomness. See docs/learning.md ("Robust aggregation") and
// docs/security.md ("Poisoned training links").
//
// Per round, with the correction norms n_1..n_L of the peer's ready links
// (those still trusted at all, if any):
//   τ = min(multiplier × lower median(n_1..n_L), model_fraction × ‖x_i‖,
//           own_multiplier × d_self)
// where ‖x_i‖ is the peer's own model norm and d_self its own typical
// displacement per round from training (quantities no neighbour controls).
// Each link's correction is scaled down to norm τ, and its mixing weight is
// multiplied by the link's trust, which falls with the share of its recent
// corrections that were past the first two bounds.
//
// Why each part:
// - The lower median of this round's norms comes from honest links as long as
//   attackers are at most half of the links (they can only push it up to the
//   largest honest norm, never past it). A median over a history of norms, as
//   before, let persistent attackers fill it.
// - A correction longer than the peer's whole model cannot come from an honest
//   neighbour (honest replicas sit ~6% of the norm from their mean), and
//   that test needs no honest majority: it finds gross attackers (scaled by a
//   factor far from 1, heavy noise) even where they hold most of a peer's
//   links.
// - Links already distrusted (weight 0) are left out of the median, so
//   attackers found while they were a minority do not count when rotation
//   later makes them the majority of a peer's links.
// - Optionally d_self caps τ even when attackers are a local majority:
//   however many neighbours lie, one round moves the peer by at most
//   γ·w·Σ trust·τ ≤ γ·w·L·own_multiplier·d_self (off by default, see below).
// - Clipping alone still lets an attacker push a clipped step in the same
//   direction every round (a bias of γ·w·τ per round, which the scaled attack
//   does: it shrinks every honest model towards 0). Trust removes that: a link
//   clipped in most rounds soon weighs nothing, and honest links, clipped
//   rarely, keep their weight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace starling::node {

struct ClippedGossipConfig {
  // τ = multiplier × lower median of this round's per-link correction norms.
  double multiplier = 3.0;
  // τ ≤ own_multiplier × d_self (0: no such cap, the default; d_self unknown
  // (0) also means no cap). Off by default, measured (docs/learning.md): with
  // top-k 1% honest corrections are 7-10 times d_self, so a cap tight enough
  // to matter clips honest links and a straggler's (small d_self) most of
  // all; and against a local majority of attackers it bounds each step but
  // not their sum (the simulation in tests/node/clipped_gossip_test.cpp).
  double own_multiplier = 0.0;
  // τ ≤ model_fraction × ‖x_i‖ (0: no such cap; ‖x_i‖ = 0 also means none).
  double model_fraction = 1.0;
  // Trust: EWMA of "this link's correction was clipped" with this rate per
  // round (1/16: about the last 16 rounds).
  double share_rate = 1.0 / 16.0;
  // Trust 1 up to this clipped share, then falling linearly to 0 at
  // `share_zero`.
  double share_full = 0.25;
  double share_zero = 0.5;
};

// What the peer knows of itself: quantities no neighbour controls. 0: unknown.
struct OwnState {
  double model_norm = 0.0;    // ‖x_i‖
  double displacement = 0.0;  // d_self, see OwnDisplacement
};

// The radius for one round. `norms`: ‖x̂(j→i) − x̂(i→j)‖ of every ready link
// this round (any order; NaN counts as +infinity). Returns +infinity when
// there is no link and no cap applies (nothing to clip).
double clipped_gossip_radius(std::span<const double> norms, const OwnState& own, const ClippedGossipConfig& config);

// What the peer remembers about one neighbour (kept per node id, so a
// neighbour cannot shed a bad record by reconnecting).
class LinkTrust {
 public:
  // Records one round: was this link's correction clipped?
  void observe(bool clipped, const ClippedGossipConfig& config);
  // Share of recent rounds clipped (EWMA, 0 at first).
  double clipped_share() const { return clipped_share_; }
  // Factor on the link's mixing weight, in [0, 1].
  double weight(const ClippedGossipConfig& config) const;
  std::uint64_t rounds() const { return rounds_; }
  std::uint64_t clipped_rounds() const { return clipped_rounds_; }

 private:
  double clipped_share_ = 0.0;
  std::uint64_t rounds_ = 0;
  std::uint64_t clipped_rounds_ = 0;
};

// One round's decision for a peer's ready links (what the runtime applies:
// link k's correction clipped to `radius` and its mixing weight multiplied by
// `weights[k]`).
struct ClippedGossipRound {
  double radius = std::numeric_limits<double>::infinity();        // applied
  double trust_radius = std::numeric_limits<double>::infinity();  // past it counts against trust (no d_self cap)
  std::vector<double> weights;  // trust of each link, before this round's record
  std::size_t clipped = 0;      // links whose norm is past `radius`
};

// Decides the round and records in each link's trust whether its correction
// was past the trust radius: the median bound (over links whose weight is
// above 0; over all links if none is) and the model-norm bound. Not the cap by
// our own displacement: it also bites when our own training stalls (a
// straggler), and must not turn the peer against every honest neighbour then.
// A norm that is not finite is always past. `trust[k]` belongs to
// `norms[k]`; both spans have the same length. `other_norms`: norms of
// trusted links not pulled this time (on-delta and pairwise mixing pull one
// link at a time: their last norms), which join the median's basis but are not
// recorded, so a lone link is still measured against its neighbours.
ClippedGossipRound clipped_gossip_round(std::span<const double> norms, std::span<LinkTrust* const> trust,
                                        const OwnState& own, const ClippedGossipConfig& config,
                                        std::span<const double> other_norms = {});

// The peer's own displacement per round, robust to a round whose measurement
// was disturbed (a late publish, a restart): the median of the last `window`
// values.
class OwnDisplacement {
 public:
  static constexpr std::size_t kWindow = 16;
  void observe(double displacement);
  // 0 until anything is observed.
  double value() const;

 private:
  double history_[kWindow] = {};
  std::size_t count_ = 0;
  std::size_t next_ = 0;
};

}  // namespace starling::node
