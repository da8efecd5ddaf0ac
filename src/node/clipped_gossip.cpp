// ClippedGossip radius and link trust. See include/starling/node/clipped_gossip.h.
#include "starling/node/clipped_gossip.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace starling::node {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// multiplier × the lower median: with L norms, the element at (L-1)/2. Up to
// L/2 huge norms leave it at or below the largest honest one.
double median_bound(std::span<const double> norms, const ClippedGossipConfig& config) {
  if (norms.empty()) return kInfinity;
  std::vector<double> sorted(norms.begin(), norms.end());
  for (double& n : sorted) {
    if (std::isnan(n)) n = kInfinity;
  }
  const std::size_t middle = (sorted.size() - 1) / 2;
  std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(middle), sorted.end());
  return config.multiplier * sorted[middle];
}

double model_bound(const OwnState& own, const ClippedGossipConfig& config) {
  if (!(own.model_norm > 0.0) || !std::isfinite(own.model_norm) || !(config.model_fraction > 0.0)) return kInfinity;
  return config.model_fraction * own.model_norm;
}

double displacement_bound(const OwnState& own, const ClippedGossipConfig& config) {
  if (!(own.displacement > 0.0) || !std::isfinite(own.displacement) || !(config.own_multiplier > 0.0)) return kInfinity;
  return config.own_multiplier * own.displacement;
}

}  // namespace

double clipped_gossip_radius(std::span<const double> norms, const OwnState& own, const ClippedGossipConfig& config) {
  return std::min({median_bound(norms, config), model_bound(own, config), displacement_bound(own, config)});
}

ClippedGossipRound clipped_gossip_round(std::span<const double> norms, std::span<LinkTrust* const> trust,
                                        const OwnState& own, const ClippedGossipConfig& config,
                                        std::span<const double> other_norms) {
  ClippedGossipRound round;
  round.weights.reserve(norms.size());
  std::vector<double> trusted;
  for (std::size_t k = 0; k < norms.size(); ++k) {
    round.weights.push_back(trust[k]->weight(config));
    if (round.weights.back() > 0.0) trusted.push_back(norms[k]);
  }
  // The median's basis: the trusted norms (all of them if none is trusted),
  // then the other links' norms.
  std::vector<double> basis = trusted.empty() ? std::vector<double>(norms.begin(), norms.end()) : std::move(trusted);
  basis.insert(basis.end(), other_norms.begin(), other_norms.end());
  round.trust_radius = std::min(median_bound(basis, config), model_bound(own, config));
  round.radius = std::min(round.trust_radius, displacement_bound(own, config));
  for (std::size_t k = 0; k < norms.size(); ++k) {
    const bool finite = std::isfinite(norms[k]);
    trust[k]->observe(!finite || norms[k] > round.trust_radius, config);
    if (!finite || norms[k] > round.radius) ++round.clipped;
  }
  return round;
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
