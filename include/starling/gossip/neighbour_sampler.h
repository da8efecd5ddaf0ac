// A small random set of live members for delta gossip. The set is kept stable
// (training links carry state that a new link must rebuild with a snapshot),
// members that die or leave are replaced at once, and one member is rotated
// every period so that, over time, the overlay is a fresh random graph that
// mixes well instead of a frozen one.
#pragma once

#include <cstddef>
#include <vector>

#include "starling/gossip/messages.h"
#include "starling/gossip/random.h"

namespace starling::gossip {

class NeighbourSampler {
 public:
  // Drops members not in `live`, then tops up (or trims) to `fanout` with
  // random picks from `live`. Returns the current set.
  const std::vector<NodeId>& refresh(const std::vector<NodeId>& live, std::size_t fanout, Random& random);

  // Replaces one random neighbour with a random live member outside the set.
  // Returns false when there is nobody to swap in.
  bool rotate(const std::vector<NodeId>& live, Random& random);

  // Replaces `id` (a neighbour that refused us, e.g. it is full) with a random
  // live member outside the set. Returns false when `id` is not in the set or
  // nobody is left to swap in (the set stays as it is).
  bool replace(const NodeId& id, const std::vector<NodeId>& live, Random& random);

  const std::vector<NodeId>& current() const { return neighbours_; }
  std::size_t fanout() const { return fanout_; }

 private:
  std::vector<NodeId> outside(const std::vector<NodeId>& live) const;

  std::vector<NodeId> neighbours_;
  std::size_t fanout_ = 0;
};

}  // namespace starling::gossip
