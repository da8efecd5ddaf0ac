// Updates waiting to be piggybacked. Each update goes out a limited number of
// times (retransmit_mult * ceil(log10(n + 1)), memberlist's budget, about
// λ·log N), least-sent first so fresh news overtakes old. A newer update about
// a member replaces the queued one: only the latest belief is worth sending.
// Bounded twice: at most `entries_max` pending updates (a full queue drops the
// most-sent entry), and each message takes updates up to a byte budget, by
// an estimate of their encoded size, so a datagram never outgrows one MTU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

#include "starling/gossip/messages.h"

namespace starling::gossip {

class BroadcastQueue {
 public:
  BroadcastQueue(int retransmit_mult, std::size_t entries_max)
      : retransmit_mult_(retransmit_mult), entries_max_(entries_max) {}

  // Queues `update`, dropping any queued update about the same member.
  void push(Update update);

  // Takes updates whose estimated encoded sizes add up to at most `bytes_max`
  // for one outgoing message and counts the transmission; updates that
  // reached the budget for `cluster_size` leave.
  std::vector<Update> take(std::size_t bytes_max, std::size_t cluster_size);
  // The same updates take() would give, without counting a transmission:
  // for a message to an address where no member we believe alive listens
  // (Membership::send_datagram), which spreads nothing.
  std::vector<Update> peek(std::size_t bytes_max) const;

  // An upper estimate of one update's Cap'n Proto encoding (src/wire's
  // membership.capnp): fixed struct and Data sizes plus the address text.
  static std::size_t estimated_bytes(const Update& update);
  // The least estimated_bytes can return (an alive update, empty address).
  static std::size_t min_estimated_bytes();
  std::uint64_t dropped() const { return dropped_; }

  // True while an update about `node_id` is still queued.
  bool contains(const NodeId& node_id) const;
  std::size_t size() const { return queue_.size(); }
  bool empty() const { return queue_.empty(); }

  // retransmit_mult * ceil(log10(cluster_size + 1)).
  static int transmit_limit(int retransmit_mult, std::size_t cluster_size);

 private:
  // An update's place in the send order: least transmitted first; among
  // equals, newest first (orders are unique, so the order is total).
  struct Rank {
    int transmits = 0;
    std::uint64_t order = 0;  // newer entries have larger order
  };
  struct SentFirst {
    bool operator()(const Rank& a, const Rank& b) const {
      if (a.transmits != b.transmits) return a.transmits < b.transmits;
      return a.order > b.order;
    }
  };
  struct NodeIdHash {
    std::size_t operator()(const NodeId& id) const noexcept;
  };
  // The queued updates in send order (so the most sent, oldest among equals,
  // is last), and the rank of each queued member's one update: push and take
  // cost O(log n) per update touched, not a scan or a heap of the queue.
  using Queue = std::map<Rank, Update, SentFirst>;
  // The updates one message carries, in send order, within `bytes_max`.
  std::vector<Queue::const_iterator> pick(std::size_t bytes_max) const;
  Queue queue_;
  std::unordered_map<NodeId, Rank, NodeIdHash> rank_of_;
  std::uint64_t next_order_ = 0;
  int retransmit_mult_;
  std::size_t entries_max_;
  std::uint64_t dropped_ = 0;
};

}  // namespace starling::gossip
