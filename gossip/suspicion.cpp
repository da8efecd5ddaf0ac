#include "starling/gossip/suspicion.h"

#include <algorithm>
#include <cmath>

#include "starling/assert.h"

namespace starling::gossip {

Suspicion::Suspicion(NodeId accuser, int expected_confirmations, std::int64_t min_timeout_ms,
                     std::int64_t max_timeout_ms, std::int64_t start_ms)
    : expected_confirmations_(expected_confirmations),
      min_timeout_ms_(min_timeout_ms),
      max_timeout_ms_(max_timeout_ms),
      start_ms_(start_ms) {
  STARLING_ASSERT(min_timeout_ms >= 0 && max_timeout_ms >= min_timeout_ms);
  sources_.insert(accuser);
}

bool Suspicion::confirm(const NodeId& source) {
  if (confirmations_ >= expected_confirmations_) return false;  // already at the floor
  if (!sources_.insert(source).second) return false;
  ++confirmations_;
  return true;
}

std::int64_t Suspicion::deadline_ms() const {
  return start_ms_ + timeout_ms(confirmations_, expected_confirmations_, min_timeout_ms_, max_timeout_ms_);
}

std::int64_t Suspicion::timeout_ms(int confirmations, int expected_confirmations, std::int64_t min_timeout_ms,
                                   std::int64_t max_timeout_ms) {
  if (expected_confirmations < 1) return min_timeout_ms;
  const double fraction = std::log(confirmations + 1.0) / std::log(expected_confirmations + 1.0);
  const double raw = static_cast<double>(max_timeout_ms) - fraction * static_cast<double>(max_timeout_ms - min_timeout_ms);
  return std::max(min_timeout_ms, static_cast<std::int64_t>(std::floor(raw)));
}

std::int64_t Suspicion::min_timeout_ms(int suspicion_mult, std::size_t cluster_size, std::int64_t probe_interval_ms) {
  const double node_scale = std::max(1.0, std::log10(std::max(1.0, static_cast<double>(cluster_size))));
  return static_cast<std::int64_t>(suspicion_mult * node_scale * static_cast<double>(probe_interval_ms));
}

}  // namespace starling::gossip
