#include "starling/gossip/neighbour_sampler.h"

#include <algorithm>

namespace starling::gossip {

std::vector<NodeId> NeighbourSampler::outside(const std::vector<NodeId>& live) const {
  std::vector<NodeId> candidates;
  for (const NodeId& id : live) {
    if (std::find(neighbours_.begin(), neighbours_.end(), id) == neighbours_.end()) candidates.push_back(id);
  }
  return candidates;
}

const std::vector<NodeId>& NeighbourSampler::refresh(const std::vector<NodeId>& live, std::size_t fanout,
                                                     Random& random) {
  fanout_ = fanout;
  std::erase_if(neighbours_, [&](const NodeId& id) { return std::find(live.begin(), live.end(), id) == live.end(); });
  while (neighbours_.size() > fanout_) {
    neighbours_.erase(neighbours_.begin() + static_cast<std::ptrdiff_t>(random.below(neighbours_.size())));
  }
  if (neighbours_.size() < fanout_) {
    std::vector<NodeId> candidates = outside(live);
    random.shuffle(candidates);
    for (const NodeId& id : candidates) {
      if (neighbours_.size() >= fanout_) break;
      neighbours_.push_back(id);
    }
  }
  return neighbours_;
}

bool NeighbourSampler::rotate(const std::vector<NodeId>& live, Random& random) {
  if (neighbours_.empty()) return false;
  const std::vector<NodeId> candidates = outside(live);
  if (candidates.empty()) return false;
  neighbours_[random.below(neighbours_.size())] = candidates[random.below(candidates.size())];
  return true;
}

bool NeighbourSampler::replace(const NodeId& id, const std::vector<NodeId>& live, Random& random) {
  const auto it = std::find(neighbours_.begin(), neighbours_.end(), id);
  if (it == neighbours_.end()) return false;
  std::vector<NodeId> candidates = outside(live);
  if (candidates.empty()) return false;
  *it = candidates[random.below(candidates.size())];
  return true;
}

}  // namespace starling::gossip
