// ClippedGossip radius and link trust. See include/starling/node/clipped_gossip.h.
#include "starling/node/clipped_gossip.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace starling::node {

double clipped_gossip_radius(std::span<const double> norms, double own_displacement,
                             const ClippedGossipConfig& config) {
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  if (norms.empty()) return kInfinity;
  std::vector<double> sorted(norms.begin(), norms.end());
  for (double& n : sorted) {
    if (std::isnan(n)) n = kInfinity;
  }
  // The lower median: with L links, the element at (L-1)/2. Up to L/2 links
  // with huge norms leave it at or below the largest honest norm.
  const std::size_t middle = (sorted.size() - 1) / 2;
  std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(middle), sorted.end());
  double radius = config.multiplier * sorted[middle];
  if (own_displacement > 0.0 && config.own_multiplier > 0.0 && std::isfinite(own_displacement))
    radius = std::min(radius, config.own_multiplier * own_displacement);
  return radius;
}

void LinkTrust::observe(bool clipped, const ClippedGossipConfig& config) {
  clipped_share_ += config.share_rate * ((clipped ? 1.0 : 0.0) - clipped_share_);
  ++rounds_;
  if (clipped) ++clipped_rounds_;
}

double LinkTrust::weight(const ClippedGossipConfig& config) const {
  if (clipped_share_ <= config.share_full) return 1.0;
  if (clipped_share_ >= config.share_zero || config.share_zero <= config.share_full) return 0.0;
  return (config.share_zero - clipped_share_) / (config.share_zero - config.share_full);
}

ClippedGossipRound clipped_gossip_round(std::span<const double> norms, std::span<LinkTrust* const> trust,
                                        double own_displacement, const ClippedGossipConfig& config) {
  ClippedGossipRound round;
  round.majority_radius = clipped_gossip_radius(norms, 0.0, config);
  round.radius = clipped_gossip_radius(norms, own_displacement, config);
  round.weights.reserve(norms.size());
  for (std::size_t k = 0; k < norms.size(); ++k) {
    round.weights.push_back(trust[k]->weight(config));
    const bool past_majority = !(norms[k] <= round.majority_radius);  // NaN counts as past
    trust[k]->observe(past_majority, config);
    if (!(norms[k] <= round.radius)) ++round.clipped;
  }
  return round;
}

void OwnDisplacement::observe(double displacement) {
  if (!std::isfinite(displacement) || displacement < 0.0) return;
  history_[next_] = displacement;
  next_ = (next_ + 1) % kWindow;
  count_ = std::min(count_ + 1, kWindow);
}

double OwnDisplacement::value() const {
  if (count_ == 0) return 0.0;
  double sorted[kWindow];
  std::copy(history_, history_ + count_, sorted);
  std::sort(sorted, sorted + count_);
  return sorted[(count_ - 1) / 2];
}

}  // namespace starling::node
