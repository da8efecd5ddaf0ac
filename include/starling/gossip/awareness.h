// Lifeguard's local health: a score that rises when this node itself seems
// unwell (its probes go unanswered while helpers do not even send nacks, or
// others suspect it) and falls with each successful probe. Timeouts scale by
// score + 1, so a struggling node probes more slowly and waits longer instead
// of accusing healthy members.
#pragma once

#include <algorithm>
#include <cstdint>

namespace starling::gossip {

class Awareness {
 public:
  explicit Awareness(int max_multiplier) : max_score_(std::max(0, max_multiplier - 1)) {}

  void apply(int delta) { score_ = std::clamp(score_ + delta, 0, max_score_); }
  int score() const { return score_; }
  std::int64_t scale(std::int64_t timeout_ms) const { return timeout_ms * (score_ + 1); }

 private:
  int max_score_;
  int score_ = 0;
};

}  // namespace starling::gossip
