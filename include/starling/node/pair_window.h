// Pairwise mixing (docs/learning.md, "Pairwise mixing"): how long our own
// open pair request keeps us from opening another.
//
// The requester's pull is computed by the neighbour from our copy as it was
// when we asked, and lands a round trip later on a model that has moved on.
// One such pull at a time is one step of sequential pairwise averaging with a
// stale target. Several open at once (one per link, every round, while the
// first replies are still on their way) all measure the same old gap and
// land together: on a 150 ms path, 8 peers pulled up to six times γ/2 of it
// and diverged within 12 s. So a peer keeps at most one request open. One
// that is not answered within the pair timeout (a smoothed round trip plus
// four deviations, as TCP's retransmission timer; a paused or hostile
// neighbour) stops blocking, and we pair with another.
//
// Pure logic, no clock of its own: callers pass times in ms.
#pragma once

#include <cstdint>
#include <optional>

namespace starling::node {

class PairWindow {
 public:
  // Bounds of the pair timeout: the shortest keeps a LAN peer pairing every
  // round; the longest is how long an unanswered request can hold us (also
  // before the first round trip is known).
  static constexpr std::uint64_t kMinTimeoutMs = 20;
  static constexpr std::uint64_t kMaxTimeoutMs = 2000;

  // A reply to our request came `rtt_ms` after we sent it.
  void on_reply(std::uint64_t rtt_ms);
  // How long an open request blocks the next one.
  std::uint64_t timeout_ms() const;
  // Whether a request sent at `sent_ms` still blocks a new one at `now_ms`.
  bool blocks(std::uint64_t sent_ms, std::uint64_t now_ms) const;
  // The smoothed round trip (nullopt before the first reply).
  std::optional<double> smoothed_rtt_ms() const { return srtt_ms_; }

 private:
  std::optional<double> srtt_ms_;
  double rttvar_ms_ = 0.0;
};

}  // namespace starling::node
