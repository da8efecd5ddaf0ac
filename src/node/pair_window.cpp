#include "starling/node/pair_window.h"

#include <algorithm>
#include <cmath>

namespace starling::node {

void PairWindow::on_reply(std::uint64_t rtt_ms) {
  const double rtt = double(rtt_ms);
  if (!srtt_ms_) {
    srtt_ms_ = rtt;
    rttvar_ms_ = rtt / 2.0;
    return;
  }
  // RFC 6298's gains: the deviation first, from the old mean.
  rttvar_ms_ = 0.75 * rttvar_ms_ + 0.25 * std::abs(*srtt_ms_ - rtt);
  srtt_ms_ = 0.875 * *srtt_ms_ + 0.125 * rtt;
}

std::uint64_t PairWindow::timeout_ms() const {
  if (!srtt_ms_) return kMaxTimeoutMs;
  const double timeout = std::ceil(*srtt_ms_ + 4.0 * rttvar_ms_);
  return std::clamp<std::uint64_t>(std::uint64_t(timeout), kMinTimeoutMs, kMaxTimeoutMs);
}

bool PairWindow::blocks(std::uint64_t sent_ms, std::uint64_t now_ms) const {
  return now_ms < sent_ms + timeout_ms();
}

}  // namespace starling::node
