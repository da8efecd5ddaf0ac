// Lifeguard's dynamic suspicion timeout (memberlist suspicion.go, re-derived):
// a suspicion starts with the long `max` timeout and shrinks towards `min` as
// independent members confirm it, so a truly dead member is declared quickly
// while a lone accuser (perhaps the sick one) cannot kill a healthy member fast.
//   timeout(C) = max(min, max - (max - min) * log(C + 1) / log(K + 1))
#pragma once

#include <cstdint>
#include <set>

#include "starling/gossip/messages.h"

namespace starling::gossip {

class Suspicion {
 public:
  // `expected_confirmations` is K; the first accuser never counts as a confirmation.
  Suspicion(NodeId accuser, int expected_confirmations, std::int64_t min_timeout_ms, std::int64_t max_timeout_ms,
            std::int64_t start_ms);

  // Records an independent confirmation; true when `source` had not confirmed
  // before (the caller then re-broadcasts so others learn of it too).
  bool confirm(const NodeId& source);

  // When the suspected member is declared dead unless it refutes first.
  std::int64_t deadline_ms() const;
  // Everyone who made or confirmed this accusation.
  const std::set<NodeId>& sources() const { return sources_; }
  bool has_source(const NodeId& source) const { return sources_.count(source) > 0; }
  int confirmations() const { return confirmations_; }

  // The formula above, exposed for tests and docs.
  static std::int64_t timeout_ms(int confirmations, int expected_confirmations, std::int64_t min_timeout_ms,
                                 std::int64_t max_timeout_ms);
  // memberlist's min: suspicion_mult * max(1, log10(max(1, n))) * probe_interval.
  static std::int64_t min_timeout_ms(int suspicion_mult, std::size_t cluster_size, std::int64_t probe_interval_ms);

 private:
  std::set<NodeId> sources_;
  int expected_confirmations_;
  int confirmations_ = 0;
  std::int64_t min_timeout_ms_;
  std::int64_t max_timeout_ms_;
  std::int64_t start_ms_;
};

}  // namespace starling::gossip
