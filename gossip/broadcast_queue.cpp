#include "starling/gossip/broadcast_queue.h"

#include <algorithm>
#include <cmath>

namespace starling::gossip {

void BroadcastQueue::push(Update update) {
  std::erase_if(entries_, [&](const Entry& entry) { return entry.update.member.node_id == update.member.node_id; });
  if (entries_.size() >= entries_max_ && !entries_.empty()) {
    // Full: the entry sent most often has done most of its work already.
    const auto most_sent = std::max_element(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
      if (a.transmits != b.transmits) return a.transmits < b.transmits;
      return a.order > b.order;  // among equals, drop the oldest
    });
    entries_.erase(most_sent);
    ++dropped_;
  }
  entries_.push_back(Entry{std::move(update), 0, next_order_++});
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

std::vector<Update> BroadcastQueue::take(std::size_t bytes_max, std::size_t cluster_size) {
  std::vector<Update> out;
  if (entries_.empty() || bytes_max == 0) return out;
  // Least transmitted first; among equals, newest first. Orders small keys,
  // not the entries (an Update is ~300 bytes with its strings): this runs for
  // every outgoing datagram, over up to broadcast_queue_max entries. A heap
  // and an early stop once no update can fit any more keep it linear; the
  // order (and so the choice) is the same total order as a full sort.
  struct Key {
    int transmits;
    std::uint64_t order;
    std::size_t index;
  };
  std::vector<Key> keys;
  keys.reserve(entries_.size());
  for (std::size_t i = 0; i < entries_.size(); ++i) keys.push_back(Key{entries_[i].transmits, entries_[i].order, i});
  // std::*_heap keeps the largest first: "larger" here means "sent first".
  const auto sent_later = [](const Key& a, const Key& b) {
    if (a.transmits != b.transmits) return a.transmits > b.transmits;
    return a.order < b.order;
  };
  std::make_heap(keys.begin(), keys.end(), sent_later);
  const int limit = transmit_limit(retransmit_mult_, cluster_size);
  const std::size_t smallest = min_estimated_bytes();
  std::size_t bytes = 0;
  for (auto end = keys.end(); end != keys.begin() && bytes_max - bytes >= smallest; --end) {
    std::pop_heap(keys.begin(), end, sent_later);
    Entry& entry = entries_[(end - 1)->index];
    const std::size_t size = estimated_bytes(entry.update);
    if (bytes + size > bytes_max) continue;  // a smaller one further on may still fit
    bytes += size;
    out.push_back(entry.update);
    ++entry.transmits;
  }
  std::erase_if(entries_, [&](const Entry& entry) { return entry.transmits >= limit; });
  return out;
}

std::size_t BroadcastQueue::min_estimated_bytes() {
  // estimated_bytes of an alive update with an empty address.
  return 24 + 32 + 48 + 32 + 32 + 64 + 8;
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
