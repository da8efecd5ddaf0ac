// The rules that decide which belief about a member wins. An update wins over
// the current record when its incarnation is higher, or when it is equal and
// the state is "worse" (alive < suspect < dead/left); only the member itself
// raises its incarnation, which is how it refutes. The rules follow memberlist's
// aliveNode/suspectNode/deadNode.
#include <algorithm>

#include "starling/assert.h"
#include "starling/gossip/membership.h"
#include "starling/text.h"

namespace starling::gossip {

namespace {
bool is_live(MemberState state) { return state == MemberState::alive || state == MemberState::suspect; }
}  // namespace

void Membership::set_state(Member& member, MemberState state, std::int64_t now_ms) {
  const bool was_live = is_live(member.record.state);
  const bool now_live = is_live(state);
  if (was_live && !now_live) {
    STARLING_ASSERT(live_count_ > 0);
    --live_count_;
  } else if (!was_live && now_live) {
    ++live_count_;
  }
  if (member.record.state != state) member.state_since_ms = now_ms;
  member.record.state = state;
}

void Membership::apply_update(const Update& update, std::int64_t now_ms) {
  switch (update.member.state) {
    case MemberState::alive: apply_alive(update.member, now_ms); break;
    case MemberState::suspect: apply_suspect(update.member, update.source, now_ms); break;
    case MemberState::dead:
    case MemberState::left: apply_dead(update.member, update.source, now_ms); break;
  }
}

void Membership::merge_state(const std::vector<MemberRecord>& records, const NodeId& source, std::int64_t now_ms) {
  for (const MemberRecord& record : records) {
    switch (record.state) {
      case MemberState::alive: apply_alive(record, now_ms); break;
      // Someone else's "dead" is only a suspicion to us: we give the member
      // the chance to refute rather than trusting a possibly stale view. This
      // is also what heals a partition: each side learns it was declared dead
      // and refutes.
      case MemberState::suspect:
      case MemberState::dead: apply_suspect(record, source, now_ms); break;
      case MemberState::left: apply_dead(record, record.node_id, now_ms); break;
    }
  }
}

void Membership::refute(std::uint64_t accused_incarnation) {
  self_.incarnation = std::max(self_.incarnation, accused_incarnation) + 1;
  broadcasts_.push(Update{self_, self_.node_id});
  awareness_.apply(1);  // being suspected hints that we are the slow one
  emit(EventKind::self_refuted, self_, self_.node_id);
}

void Membership::accused_self(std::uint64_t accused_incarnation) {
  if (leaving_) return;  // we are going anyway
  if (accused_incarnation >= self_.incarnation) {
    refute(accused_incarnation);
  } else if (!broadcasts_.contains(self_.node_id)) {
    // An accusation older than our last refutation is still circulating, so
    // that refutation did not reach everyone (it may have spent its budget
    // while our datagrams were being lost). Spread it again.
    broadcasts_.push(Update{self_, self_.node_id});
  }
}

void Membership::apply_alive(const MemberRecord& record, std::int64_t now_ms) {
  if (record.node_id == self_.node_id) {
    // Our own record with a higher incarnation than ours comes from a previous
    // life (we restarted): supersede it.
    if (!leaving_ && record.incarnation > self_.incarnation) refute(record.incarnation);
    return;
  }
  // Malformed: nobody could reach it. The wire codec already refuses such
  // records; this keeps gossip/ safe when it is fed some other way.
  if (!is_host_port(record.address)) return;
  auto it = members_.find(record.node_id);
  if (it == members_.end()) {
    Member member{record, now_ms};
    member.record.state = MemberState::alive;
    it = members_.emplace(record.node_id, std::move(member)).first;
    ++live_count_;
    // New members join the probe round at a random place so they are probed soon.
    const std::size_t remaining = probe_order_.size() - std::min(probe_index_, probe_order_.size());
    probe_order_.insert(probe_order_.begin() + static_cast<std::ptrdiff_t>(probe_index_ + random_.below(remaining + 1)),
                        record.node_id);
    broadcasts_.push(Update{it->second.record, record.node_id});
    emit(EventKind::member_joined, it->second.record, record.node_id);
    return;
  }
  Member& member = it->second;
  if (record.incarnation <= member.record.incarnation) return;  // stale or already known
  const MemberState before = member.record.state;
  member.record.incarnation = record.incarnation;
  member.record.address = record.address;
  set_state(member, MemberState::alive, now_ms);
  suspicions_.erase(record.node_id);
  broadcasts_.push(Update{member.record, record.node_id});
  if (before == MemberState::suspect) {
    emit(EventKind::member_recovered, member.record, record.node_id);
  } else if (before == MemberState::dead || before == MemberState::left) {
    if (std::find(probe_order_.begin(), probe_order_.end(), record.node_id) == probe_order_.end()) {
      probe_order_.push_back(record.node_id);
    }
    emit(EventKind::member_joined, member.record, record.node_id);
  }
}

void Membership::apply_suspect(const MemberRecord& record, const NodeId& source, std::int64_t now_ms) {
  if (record.node_id == self_.node_id) {
    accused_self(record.incarnation);
    return;
  }
  const auto it = members_.find(record.node_id);
  if (it == members_.end()) return;
  Member& member = it->second;
  if (record.incarnation < member.record.incarnation) return;

  const auto suspicion = suspicions_.find(record.node_id);
  if (suspicion != suspicions_.end() && record.incarnation == member.record.incarnation) {
    // Another member suspects it too: an independent confirmation shortens
    // the timeout; pass it on so others count it as well.
    if (suspicion->second.confirm(source)) broadcasts_.push(Update{member.record, source});
    return;
  }
  if (member.record.state == MemberState::dead || member.record.state == MemberState::left) return;

  member.record.incarnation = record.incarnation;
  set_state(member, MemberState::suspect, now_ms);
  const std::size_t n = cluster_size();
  int expected = config_.suspicion_mult - 2;
  if (static_cast<int>(n) - 2 < expected) expected = 0;  // too few members to ever confirm
  const std::int64_t min_ms = Suspicion::min_timeout_ms(config_.suspicion_mult, n, config_.probe_interval_ms);
  const std::int64_t max_ms = min_ms * config_.suspicion_max_timeout_mult;
  suspicions_.erase(record.node_id);
  suspicions_.emplace(record.node_id, Suspicion(source, expected, min_ms, max_ms, now_ms));
  broadcasts_.push(Update{member.record, source});
  emit(EventKind::member_suspected, member.record, source);
}

void Membership::apply_dead(const MemberRecord& record, const NodeId& source, std::int64_t now_ms) {
  const bool left = record.state == MemberState::left || source == record.node_id;
  if (record.node_id == self_.node_id) {
    accused_self(record.incarnation);
    return;
  }
  const auto it = members_.find(record.node_id);
  if (it == members_.end()) return;
  Member& member = it->second;
  if (record.incarnation < member.record.incarnation) return;
  if (member.record.state == MemberState::left) return;
  // A graceful leave heard after we declared the member dead still upgrades
  // it to `left`: that is the more precise news.
  if (member.record.state == MemberState::dead && !left) return;

  member.record.incarnation = record.incarnation;
  set_state(member, left ? MemberState::left : MemberState::dead, now_ms);
  suspicions_.erase(record.node_id);
  broadcasts_.push(Update{member.record, source});
  emit(left ? EventKind::member_left : EventKind::member_dead, member.record, source);
}

}  // namespace starling::gossip
