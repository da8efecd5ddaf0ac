#include "starling/gossip/broadcast_queue.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iterator>
#include <string_view>

namespace starling::gossip {

std::size_t BroadcastQueue::NodeIdHash::operator()(const NodeId& id) const noexcept {
  // Real ids are uniform hashes, but tests use small made-up ones: hash all 32 bytes.
  return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

void BroadcastQueue::push(Update update) {
  if (const auto queued = rank_of_.find(update.member.node_id); queued != rank_of_.end()) {
    queue_.erase(queued->second);
    rank_of_.erase(queued);
  }
  if (queue_.size() >= entries_max_ && !queue_.empty()) {
    // Full: the entry sent most often has done most of its work already
    // (among equals, the oldest): the last in send order.
    const auto most_sent = std::prev(queue_.end());
    rank_of_.erase(most_sent->second.member.node_id);
    queue_.erase(most_sent);
    ++dropped_;
  }
  const Rank rank{0, next_order_++};
  rank_of_.emplace(update.member.node_id, rank);
  queue_.emplace(rank, std::move(update));
}

std::size_t BroadcastQueue::estimated_bytes(const Update& update) {
  // Words of Cap'n Proto: Update = list element of 3 pointers (24) + source
  // (32) + accusation (64 when set); MemberRecord = 2 data words + 4 pointers
  // (48) + node id (32) + public key (32) + signature (64) + address text
  // (its bytes plus NUL, padded to a word).
  const bool accusation = update.member.state == MemberState::suspect || update.member.state == MemberState::dead;
  const std::size_t address = (update.member.address.size() + 1 + 7) / 8 * 8;
  return 24 + 32 + (accusation ? 64 : 0) + 48 + 32 + 32 + 64 + address;
}

std::vector<BroadcastQueue::Queue::const_iterator> BroadcastQueue::pick(std::size_t bytes_max) const {
  std::vector<Queue::const_iterator> picked;
  if (queue_.empty() || bytes_max == 0) return picked;
  // In send order until no update can fit any more; one that does not fit is
  // skipped (a smaller one further on may still fit). The queue is already in
  // that order, so this touches only the updates it looks at.
  const std::size_t smallest = min_estimated_bytes();
  std::size_t bytes = 0;
  for (auto it = queue_.begin(); it != queue_.end() && bytes_max - bytes >= smallest; ++it) {
    const std::size_t size = estimated_bytes(it->second);
    if (bytes + size > bytes_max) continue;
    bytes += size;
    picked.push_back(it);
  }
  return picked;
}

std::vector<Update> BroadcastQueue::peek(std::size_t bytes_max) const {
  std::vector<Update> out;
  for (const auto it : pick(bytes_max)) out.push_back(it->second);
  return out;
}

std::vector<Update> BroadcastQueue::take(std::size_t bytes_max, std::size_t cluster_size) {
  std::vector<Update> out;
  const int limit = transmit_limit(retransmit_mult_, cluster_size);
  std::vector<Queue::iterator> sent;
  for (const auto picked : pick(bytes_max)) {
    out.push_back(picked->second);
    sent.push_back(queue_.erase(picked, picked));  // the same element, mutable
  }
  // Count the transmissions (a new rank, so a new place in the order) after
  // the walk, which they would otherwise reorder under it.
  for (const auto it : sent) {
    auto node = queue_.extract(it);
    ++node.key().transmits;
    if (node.key().transmits >= limit) {
      rank_of_.erase(node.mapped().member.node_id);
      continue;
    }
    rank_of_.find(node.mapped().member.node_id)->second = node.key();
    queue_.insert(std::move(node));
  }
  // Updates that reached the budget leave, also those not sent now (a smaller
  // cluster lowers it): the most sent are last.
  while (!queue_.empty() && std::prev(queue_.end())->first.transmits >= limit) {
    const auto last = std::prev(queue_.end());
    rank_of_.erase(last->second.member.node_id);
    queue_.erase(last);
  }
  return out;
}

std::size_t BroadcastQueue::min_estimated_bytes() {
  // estimated_bytes of an alive update with an empty address.
  return 24 + 32 + 48 + 32 + 32 + 64 + 8;
}

bool BroadcastQueue::contains(const NodeId& node_id) const {
  return rank_of_.contains(node_id);
}

int BroadcastQueue::transmit_limit(int retransmit_mult, std::size_t cluster_size) {
  const double scale = std::ceil(std::log10(static_cast<double>(cluster_size) + 1.0));
  return retransmit_mult * static_cast<int>(std::max(1.0, scale));
}

}  // namespace starling::gossip
