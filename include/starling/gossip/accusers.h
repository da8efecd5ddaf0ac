// Limits on accusers (docs/membership.md, "Lying members"). Accusations are
// signed, so each one is charged to the member that really made it:
//   - strikes: an accusation refuted by its target (a higher signed
//     incarnation while it was pending) is a strike; `strike_limit` strikes
//     within `strike_window_ms` make us ignore the accuser's accusations for
//     `ignore_ms`;
//   - a token bucket per accuser on new accusations.
// Ignoring an accuser loses only its own evidence: every live member probes
// every other one in its own round-robin, so a really dead member is still
// suspected by the others (and by us).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>

#include "starling/gossip/config.h"
#include "starling/gossip/messages.h"

namespace starling::gossip {

class AccuserLimits {
 public:
  explicit AccuserLimits(const Config& config);

  // True when `accuser` is not ignored and has a token; takes the token.
  bool admit(const NodeId& accuser, std::int64_t now_ms);
  bool ignored(const NodeId& accuser, std::int64_t now_ms) const;
  // One of `accuser`'s accusations was refuted.
  void strike(const NodeId& accuser, std::int64_t now_ms);
  // The member is gone from our view: forget its history.
  void forget(const NodeId& accuser) { entries_.erase(accuser); }

  std::size_t ignored_count(std::int64_t now_ms) const;
  std::uint64_t strikes_total() const { return strikes_total_; }
  std::uint64_t dropped_total() const { return dropped_total_; }

 private:
  struct Entry {
    std::deque<std::int64_t> strikes_ms;
    std::int64_t ignored_until_ms = -1;
    double tokens = 0;
    std::int64_t refilled_ms = 0;
  };
  Entry& entry(const NodeId& accuser, std::int64_t now_ms);

  int strike_limit_;
  std::int64_t strike_window_ms_;
  std::int64_t ignore_ms_;
  double tokens_per_ms_;
  double burst_;
  std::map<NodeId, Entry, NodeIdLess> entries_;  // only verified members reach here, so it is as bounded as the view
  std::uint64_t strikes_total_ = 0;
  std::uint64_t dropped_total_ = 0;
};

}  // namespace starling::gossip
