// Updates waiting to be piggybacked. Each update goes out a limited number of
// times (retransmit_mult * ceil(log10(n + 1)), memberlist's budget, about
// λ·log N), least-sent first so fresh news overtakes old. A newer update about
// a member replaces the queued one: only the latest belief is worth sending.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "starling/gossip/messages.h"

namespace starling::gossip {

class BroadcastQueue {
 public:
  explicit BroadcastQueue(int retransmit_mult) : retransmit_mult_(retransmit_mult) {}

  // Queues `update`, dropping any queued update about the same member.
  void push(Update update);

  // Takes up to `count_max` updates for one outgoing message and counts the
  // transmission; updates that reached the budget for `cluster_size` leave.
  std::vector<Update> take(std::size_t count_max, std::size_t cluster_size);

  // True while an update about `node_id` is still queued.
  bool contains(const NodeId& node_id) const;
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  // retransmit_mult * ceil(log10(cluster_size + 1)).
  static int transmit_limit(int retransmit_mult, std::size_t cluster_size);

 private:
  struct Entry {
    Update update;
    int transmits = 0;
    std::uint64_t order = 0;  // newer entries have larger order
  };
  std::vector<Entry> entries_;
  std::uint64_t next_order_ = 0;
  int retransmit_mult_;
};

}  // namespace starling::gossip
