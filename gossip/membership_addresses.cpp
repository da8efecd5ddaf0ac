// Addresses taken over by another node id. A peer that wipes its state and
// comes back (a volunteer machine reinstalled, a container recreated without
// its volume) has a new identity key, so a new node id, on the same address.
// Its old id is gone, but nothing said so: it is found like any crash, when
// each member's own round-robin of probes reaches it. Restarted quickly and
// often, the old ids pile up faster than that: every one of them lengthens
// the round, is picked as an indirect-probe helper (and never nacks, which
// raises our health score and slows our probing more), and everything sent
// to it (probes, reminders of our suspicion, gossip) reaches the new process
// at that address, which drops news about a member it does not list, so the
// suspicions spend their retransmissions there and rarely reach a member
// that could confirm them. (Measured: 7 peers, two restarted under new ids
// every 2 s ten times; 79% of the datagrams the five others sent went to the
// two restarted addresses, and old ids were still suspect 45 s after the
// last restart.)
//
// So a verified record of another node id at the address of a member we
// hold alive is a hint, as a full view listing it dead is (probe_soon): we
// probe that member next. It is no evidence by itself (any member can sign
// a record naming any address), so nothing else changes: the member is
// suspected only when our own probe of it fails (a ping names the node id
// it is meant for, so the new process at the address does not answer for
// the old one), and declared dead only when that suspicion runs out
// unrefuted. A member that really runs there answers and stays alive; a
// liar claiming its address buys one probe brought forward, at most a
// healthy member's probe rate (probe_hinted_soon). Every member learns the
// new id within a moment (its candidate pings carry its record), so all of
// them suspect the old one within a probe interval or two, and their
// accusations confirm each other's: Lifeguard's shortest timeout.
#include <algorithm>

#include "starling/gossip/membership.h"

namespace starling::gossip {

void Membership::index_address(const NodeId& id, const std::string& old_address, const std::string& new_address) {
  if (old_address == new_address) return;
  if (const auto it = members_at_.find(old_address); it != members_at_.end()) {
    std::erase(it->second, id);
    if (it->second.empty()) members_at_.erase(it);
  }
  if (!new_address.empty()) members_at_[new_address].push_back(id);
}

bool Membership::alive_at(const std::string& address) const {
  const auto it = members_at_.find(address);
  if (it == members_at_.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(),
                     [&](const NodeId& id) { return members_.at(id).record.state == MemberState::alive; });
}

bool Membership::reachable_member_at(const std::string& address, const NodeId& except) const {
  if (address == self_.address && except != self_.node_id && !self_.outbound_only) return true;
  const auto it = members_at_.find(address);
  if (it == members_at_.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(), [&](const NodeId& id) {
    const MemberRecord& record = members_.at(id).record;
    return id != except && !record.outbound_only &&
           (record.state == MemberState::alive || record.state == MemberState::suspect);
  });
}

// `record` was just listed at its address (a new member, or one that moved).
void Membership::address_taken_over(const MemberRecord& record, std::int64_t now_ms) {
  const auto it = members_at_.find(record.address);
  if (it == members_at_.end()) return;
  bool hinted = false;
  for (const NodeId& id : it->second) {
    if (id == record.node_id) continue;
    const MemberState state = members_.at(id).record.state;
    // A suspicion we only adopted is hinted too: our own failed probe is
    // what confirms it (Lifeguard counts distinct accusers), and without
    // the hint that probe waits for its turn in our round.
    const auto suspicion = suspicions_.find(id);
    const bool ours = suspicion != suspicions_.end() && suspicion->second.has_source(self_.node_id);
    if (state == MemberState::alive || (state == MemberState::suspect && !ours)) {
      probe_next(id);
      hinted = true;
    }
  }
  if (hinted) probe_hinted_soon(now_ms);
}

}  // namespace starling::gossip
