// The robust part of the consensus step (ClippedGossip, He, Karimireddy, Jaggi
// 2022, "Byzantine-robust decentralized learning via ClippedGossip"): which
// radius each round's per-link corrections are clipped to, and how much a link
// whose corrections keep being clipped still counts. Pure math: no I/O, no
// clock, no randomness. See docs/learning.md ("Robust aggregation") and
// docs/security.md ("Poisoned training links").
//
// Per round, with the correction norms n_1..n_L of the peer's ready links:
//   τ = min(multiplier × lower median(n_1..n_L), own_multiplier × d_self)
// where d_self is the peer's own typical displacement per round from its
// training (a quantity no neighbour controls). Each link's correction is
// scaled down to norm τ, and its mixing weight is multiplied by the link's
// trust, which falls with the share of its recent corrections that were
// clipped.
//
// Why each part:
// - The lower median of this round's norms comes from honest links as long as
//   attackers are at most half of the links (they can only push it up to the
//   largest honest norm, never past it). A median over a history of norms, as
//   before, let persistent attackers fill it.
// - d_self caps τ even when attackers are a local majority: however many
//   neighbours lie, one round moves the peer by at most
//   γ·w·Σ trust·τ ≤ γ·w·L·own_multiplier·d_self.
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
  // τ ≤ own_multiplier × d_self (0 or infinity: no such cap; d_self unknown
  // (0) also means no cap).
  double own_multiplier = 8.0;
  // Trust: EWMA of "this link's correction was clipped" with this rate per
  // round (1/16: about the last 16 rounds).
  double share_rate = 1.0 / 16.0;
  // Trust 1 up to this clipped share, then falling linearly to 0 at
  // `share_zero`.
  double share_full = 0.25;
  double share_zero = 0.5;
};

// The radius for one round. `norms`: ‖x̂(j→i) − x̂(i→j)‖ of every ready link
// this round (any order; NaN counts as +infinity). `own_displacement`: the
// peer's own recent displacement per round (0: unknown, no cap). Returns
// +infinity when there is no link (nothing to clip).
double clipped_gossip_radius(std::span<const double> norms, double own_displacement,
                             const ClippedGossipConfig& config);

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
  double radius = std::numeric_limits<double>::infinity();           // applied
  double majority_radius = std::numeric_limits<double>::infinity();  // without the own cap
  std::vector<double> weights;  // trust of each link, before this round's record
  std::size_t clipped = 0;      // links whose norm is past `radius`
};

// Decides the round and records in each link's trust whether its correction
// was past the honest-majority radius. Only that radius feeds trust: the cap
// by our own displacement also bites when our own training stalls (a
// straggler), and must not turn the peer against every honest neighbour then.
// `trust[k]` belongs to `norms[k]`; both spans have the same length.
ClippedGossipRound clipped_gossip_round(std::span<const double> norms, std::span<LinkTrust* const> trust,
                                        double own_displacement, const ClippedGossipConfig& config);

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
