#include "starling/gossip/broadcast_queue.h"

#include <algorithm>
#include <cmath>

namespace starling::gossip {

void BroadcastQueue::push(Update update) {
  std::erase_if(entries_, [&](const Entry& entry) { return entry.update.member.node_id == update.member.node_id; });
  entries_.push_back(Entry{std::move(update), 0, next_order_++});
}

std::vector<Update> BroadcastQueue::take(std::size_t count_max, std::size_t cluster_size) {
  std::vector<Update> out;
  if (entries_.empty() || count_max == 0) return out;
  // Least transmitted first; among equals, newest first.
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    if (a.transmits != b.transmits) return a.transmits < b.transmits;
    return a.order > b.order;
  });
  const int limit = transmit_limit(retransmit_mult_, cluster_size);
  const std::size_t count = std::min(count_max, entries_.size());
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    out.push_back(entries_[i].update);
    ++entries_[i].transmits;
  }
  std::erase_if(entries_, [&](const Entry& entry) { return entry.transmits >= limit; });
  return out;
}

bool BroadcastQueue::contains(const NodeId& node_id) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const Entry& entry) { return entry.update.member.node_id == node_id; });
}

int BroadcastQueue::transmit_limit(int retransmit_mult, std::size_t cluster_size) {
  const double scale = std::ceil(std::log10(static_cast<double>(cluster_size) + 1.0));
  return retransmit_mult * static_cast<int>(std::max(1.0, scale));
}

}  // namespace starling::gossip
