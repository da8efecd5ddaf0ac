// Who can reach whom when some members accept no inbound traffic
// (outbound-only members, docs/membership.md "Outbound-only members"). The
// owner says which members it holds a two-way connection with (set_linked);
// everything else follows from the members' signed outbound_only flags:
//   - a message to a member reaches it when we are linked with it, or when it
//     is not outbound-only (datagrams and dials go to its address);
//   - an answer reaches us when we are linked with the member, or when we are
//     not outbound-only ourselves;
//   - so a member is probed only when both hold. An outbound-only member we
//     are not linked with is left to the members it is linked with, except
//     right after its link with us broke: we probe it until it refutes (it
//     redialled elsewhere) or our suspicion declares it dead (it crashed).
#include <algorithm>

#include "starling/gossip/membership.h"

namespace starling::gossip {

void Membership::set_linked(const NodeId& node_id, bool is_linked) {
  if (is_linked) {
    linked_.insert(node_id);
    lost_links_.erase(node_id);
    return;
  }
  if (linked_.erase(node_id) == 0) return;
  const auto it = members_.find(node_id);
  if (it != members_.end() && it->second.record.outbound_only) lost_links_[node_id] = it->second.record.incarnation;
}

bool Membership::can_send(const MemberRecord& record) const {
  return !record.outbound_only || linked(record.node_id);
}

bool Membership::can_probe(const MemberRecord& record) const {
  if (linked(record.node_id)) return true;
  if (self_.outbound_only) return false;  // the answer would not reach us
  if (!record.outbound_only) return true;
  // Its link with us broke: probe it (the ping goes out anyway; an indirect
  // probe through a member it is linked with may answer) until it refutes
  // at a higher incarnation, or dies.
  const auto lost = lost_links_.find(record.node_id);
  return lost != lost_links_.end() && lost->second == record.incarnation;
}

std::vector<NodeId> Membership::neighbour_ids() const { return live_dialable_ids(false); }

std::vector<NodeId> Membership::training_neighbour_ids() const { return live_dialable_ids(true); }

std::vector<NodeId> Membership::live_dialable_ids(bool training_only) const {
  std::vector<NodeId> ids;
  ids.reserve(live_count_);
  for (const RosterEntry& member : roster_) {
    const bool live = member.state == MemberState::alive || member.state == MemberState::suspect;
    const MemberRecord& record = member.member->record;
    if (live && !record.outbound_only && !(training_only && record.membership_only)) ids.push_back(member.id);
  }
  return ids;
}

std::vector<MemberRecord> Membership::dialable_members() const {
  std::vector<MemberRecord> out;
  for (const NodeId& id : neighbour_ids()) out.push_back(members_.at(id).record);
  return out;
}

void Membership::ping_candidate_via_link(const MemberRecord& candidate, std::int64_t now_ms) {
  std::erase_if(candidate_pings_, [&](const auto& entry) { return entry.second.expires_ms <= now_ms; });
  std::vector<NodeId> helpers;
  for (const NodeId& id : linked_) {
    const auto it = members_.find(id);
    if (it != members_.end() && it->second.record.state == MemberState::alive) helpers.push_back(id);
  }
  if (helpers.empty()) return;  // no link yet: the candidate's next attempt may find one
  const NodeId helper = helpers[random_.below(helpers.size())];
  const std::uint64_t sequence = next_sequence_++;
  send_datagram(members_.at(helper).record.address, IndirectPing{sequence, candidate.node_id, candidate.address});
  // Bounded like the candidates themselves: at most candidate_pings_per_round
  // per gossip interval, each forgotten after two probe intervals.
  candidate_pings_[sequence] = CandidatePing{candidate.node_id, now_ms + 2 * config_.probe_interval_ms};
}

}  // namespace starling::gossip
