// Overlapping timed faults on one peer. A scenario may put a 30% loss on
// every peer for 40 s and, inside it, 80% on one peer for 10 s, or pause a
// peer for 20 s and again for 5 s within that. Each event's end must fall
// back to what is still in force, not to no fault at all: the end of the
// inner one used to clear the outer one too (the peer resumed 10 s early,
// the loss dropped to 0 for the rest of the outer event).
//
// FaultLayers keeps, per (kind, peer), the events in force in the order
// they were applied; the latest one still in force sets the value.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <vector>

#include "starling/scenario/scenario.h"

namespace starling::scenario::detail {

class FaultLayers {
 public:
  // Event `event` (of kind `kind`) now applies to `peers`.
  void push(EventKind kind, std::size_t event, const std::vector<int>& peers);

  // Event `event` ends on `peers`: the event now on top for each of them
  // (nullopt: none left, the neutral value), peers grouped by it.
  std::map<std::optional<std::size_t>, std::vector<int>> pop(EventKind kind, std::size_t event,
                                                             const std::vector<int>& peers);

  // Whether event `event` of `kind` still applies to `peer`.
  bool holds(EventKind kind, std::size_t event, int peer) const;

  // The events of `kind` still in force on any peer, oldest first.
  std::vector<std::size_t> in_force(EventKind kind) const;

  // Forgets every layer of the given kinds on `peers` (clear_faults, a
  // heal, a process that ended).
  void clear(const std::vector<EventKind>& kinds, const std::vector<int>& peers);
  // Forgets every layer of `kind` on every peer.
  void clear(EventKind kind);

 private:
  std::map<std::pair<EventKind, int>, std::vector<std::size_t>> layers_;
};

}  // namespace starling::scenario::detail
