// Everything that happens because time passed: probing (SWIM with Lifeguard's
// nacks and local health), suspicion expiry, gossip rounds, push-pull, join
// retries, neighbour rotation and reaping of old dead members.
#include <algorithm>
#include <cmath>
#include <limits>

#include "starling/assert.h"
#include "starling/gossip/membership.h"

namespace starling::gossip {

namespace {
constexpr std::int64_t kRepairPullGapProbes = 5;  // probe intervals between repair pulls
}  // namespace

Actions Membership::tick(std::int64_t now_ms) {
  run_relays(now_ms);
  if (!leaving_) {
    run_candidates(now_ms);
    run_probe(now_ms);
    run_suspicions(now_ms);
    remind_accused(now_ms);
    run_push_pull(now_ms);
    run_join(now_ms);
    run_rotation(now_ms);
  }
  run_gossip(now_ms);
  return take_actions();
}

std::int64_t Membership::next_deadline_ms() const {
  std::int64_t next = next_gossip_ms_;
  for (const auto& [sequence, relay] : relays_) next = std::min(next, relay.nack_deadline_ms);
  if (leaving_) return next;
  if (probe_.active) {
    next = std::min(next, probe_.indirect_sent ? probe_.end_ms : probe_.ack_deadline_ms);
  } else {
    next = std::min(next, next_probe_ms_);
  }
  for (const auto& [id, suspicion] : suspicions_) next = std::min(next, suspicion.deadline_ms());
  for (const auto& [id, remind_ms] : reminders_) next = std::min(next, remind_ms);
  if (const std::optional<std::int64_t> ping_ms = candidates_.next_ping_ms()) {
    next = std::min(next, std::max(*ping_ms, next_candidate_round_ms_));
  }
  next = std::min(next, next_push_pull_ms_);
  if (const std::optional<std::int64_t> repair_ms = repair_pull_ms()) next = std::min(next, *repair_ms);
  if (wants_join()) next = std::min(next, next_join_ms_);
  if (neighbours_.fanout() > 0) next = std::min(next, next_rotation_ms_);
  return next;
}

void Membership::run_relays(std::int64_t now_ms) {
  for (auto it = relays_.begin(); it != relays_.end();) {
    if (it->second.nack_deadline_ms <= now_ms) {
      send_datagram(it->second.requester_address, Nack{it->second.requester_sequence});
      it = relays_.erase(it);
    } else {
      ++it;
    }
  }
}

void Membership::run_candidates(std::int64_t now_ms) {
  if (now_ms < next_candidate_round_ms_) return;
  const std::vector<MemberRecord> due =
      candidates_.due(now_ms, static_cast<std::size_t>(config_.candidate_pings_per_round));
  if (due.empty()) return;
  next_candidate_round_ms_ = now_ms + config_.gossip_interval_ms;
  // Its ack (or any message from it) confirms it, in on_message. The ping
  // carries our own signed record: we heard of the candidate second-hand, so
  // it may not know us either (a newcomer pinging the members its seed
  // listed), and a message from a sender it does not list, without that
  // sender's record, teaches it nothing. Our own alive update may have spent
  // its retransmit budget long ago (a newcomer's is sized for a cluster of
  // one: it lists nobody until its candidates answer), so the gossip queue
  // cannot be relied on to carry it.
  for (const MemberRecord& candidate : due) {
    if (self_.outbound_only && !linked(candidate.node_id)) {
      ping_candidate_via_link(candidate, now_ms);
      continue;
    }
    if (!can_send(candidate)) continue;  // outbound-only: it confirms itself when it speaks to us
    send_datagram(candidate.address, Ping{next_sequence_++, candidate.node_id});
    attach(out_.sends.back().message, Update{self_, self_.node_id, {}});
  }
}

void Membership::run_probe(std::int64_t now_ms) {
  if (probe_.active) {
    const auto target = members_.find(probe_.target);
    if (target == members_.end() || target->second.record.state == MemberState::dead ||
        target->second.record.state == MemberState::left) {
      probe_.active = false;  // it died or left meanwhile: nothing to conclude
    } else {
      if (!probe_.indirect_sent && now_ms >= probe_.ack_deadline_ms) send_indirect_probes();
      if (now_ms >= probe_.end_ms) finish_failed_probe(now_ms);
    }
  }
  if (!probe_.active && now_ms >= next_probe_ms_) start_probe(now_ms);
}

std::optional<NodeId> Membership::next_probe_target() {
  for (std::size_t attempts = 0; attempts <= probe_order_.size() + 1; ++attempts) {
    if (probe_index_ >= probe_order_.size()) {
      // A round is over: reshuffle the live members for the next one.
      probe_order_ = live_ids();
      random_.shuffle(probe_order_);
      probe_index_ = 0;
      if (probe_order_.empty()) return std::nullopt;
    }
    const NodeId id = probe_order_[probe_index_++];
    const auto it = members_.find(id);
    if (it != members_.end() &&
        (it->second.record.state == MemberState::alive || it->second.record.state == MemberState::suspect)) {
      return id;
    }
  }
  return std::nullopt;
}

void Membership::start_probe(std::int64_t now_ms) {
  const std::int64_t interval_ms = awareness_.scale(config_.probe_interval_ms);
  next_probe_ms_ = now_ms + interval_ms;
  last_probe_ms_ = now_ms;
  std::optional<NodeId> target;
  // Members whose answer cannot reach us are not probed (membership_reach.cpp);
  // an outbound-only member announces itself to them instead, once per
  // round, so each lists it first-hand (its datagrams do go out).
  for (std::size_t attempts = 0; attempts <= roster_.size(); ++attempts) {
    target = next_probe_target();
    if (!target) return;
    const MemberRecord& record = members_.at(*target).record;
    if (can_probe(record)) break;
    if (self_.outbound_only && can_send(record)) {
      send_datagram(record.address, Gossip{});
      attach(out_.sends.back().message, Update{self_, self_.node_id, {}});
      return;
    }
    target.reset();
  }
  if (!target) return;
  probe_ = Probe{};
  probe_.active = true;
  probe_.sequence = next_sequence_++;
  probe_.target = *target;
  probe_.ack_deadline_ms = now_ms + awareness_.scale(config_.probe_timeout_ms);
  probe_.end_ms = now_ms + interval_ms;
  const MemberRecord& record = members_.at(*target).record;
  if (!can_send(record)) {
    // An outbound-only member whose link with us broke: only members it is
    // linked with can reach it, so ask them at once.
    send_indirect_probes();
    return;
  }
  send_datagram(record.address, Ping{probe_.sequence, *target}, &*target);
  if (record.state == MemberState::suspect) {
    // Hand the accusation to the accused with every probe: its refutation may
    // have been lost (or spent its retransmit budget while its own datagrams
    // were dropped), and the suspect update itself may be gone from every
    // queue. Hearing it again makes it announce its refutation once more.
    const std::vector<Update>& updates = out_.sends.back().message.updates;
    const auto accusation = accusations_.find(*target);
    if (accusation != accusations_.end() &&
        std::none_of(updates.begin(), updates.end(), [&](const Update& u) { return u.member.node_id == *target; })) {
      attach(out_.sends.back().message, accusation->second);
    }
  }
}

void Membership::send_indirect_probes() {
  probe_.indirect_sent = true;
  std::vector<NodeId> helpers;
  for (const RosterEntry& member : roster_) {
    if (member.id != probe_.target && member.state == MemberState::alive && can_probe(member.member->record))
      helpers.push_back(member.id);
  }
  helpers = pick_random(std::move(helpers), static_cast<std::size_t>(config_.indirect_checks));
  const std::string& target_address = members_.at(probe_.target).record.address;
  for (const NodeId& helper : helpers) {
    send_datagram(members_.at(helper).record.address, IndirectPing{probe_.sequence, probe_.target, target_address});
  }
  probe_.nacks_expected = static_cast<int>(helpers.size());
}

void Membership::finish_failed_probe(std::int64_t now_ms) {
  probe_.active = false;
  // Lifeguard: helpers that did not even nack suggest the trouble is ours.
  // Without helpers, any failed probe counts against our health.
  if (probe_.nacks_expected > 0) {
    awareness_.apply(std::max(0, probe_.nacks_expected - probe_.nacks_received));
  } else {
    awareness_.apply(1);
  }
  const Member& target = members_.at(probe_.target);
  apply_accusation(accuse(target.record, MemberState::suspect), self_.node_id, now_ms, true);
}

void Membership::run_suspicions(std::int64_t now_ms) {
  std::vector<NodeId> expired;
  for (const auto& [id, suspicion] : suspicions_) {
    if (suspicion.deadline_ms() <= now_ms) expired.push_back(id);
  }
  for (const NodeId& id : expired) {
    suspicions_.erase(id);
    Member& member = members_.at(id);
    if (member.record.state != MemberState::suspect) continue;
    declare_dead(member, now_ms);
  }
}

void Membership::remind_accused(std::int64_t now_ms) {
  for (auto it = reminders_.begin(); it != reminders_.end();) {
    const auto member = members_.find(it->first);
    const auto accusation = accusations_.find(it->first);
    if (member == members_.end() || member->second.record.state != MemberState::suspect ||
        suspicions_.count(it->first) == 0 || accusation == accusations_.end()) {
      it = reminders_.erase(it);  // refuted, dead or gone
      continue;
    }
    if (it->second <= now_ms) {
      // The signed accusation we hold, straight to the accused, once per
      // (scaled) probe interval: its refutation then spreads like any news,
      // and it answers us directly (tell_stale) if it refuted already.
      const MemberRecord& record = member->second.record;
      if (can_send(record)) {  // else its links carry the news to it
        send_datagram(record.address, Gossip{}, &it->first);
        attach(out_.sends.back().message, accusation->second);
      }
      it->second = now_ms + awareness_.scale(config_.probe_interval_ms);
    }
    ++it;
  }
}

void Membership::run_gossip(std::int64_t now_ms) {
  if (now_ms < next_gossip_ms_) return;
  next_gossip_ms_ = std::max(next_gossip_ms_ + config_.gossip_interval_ms, now_ms + 1);
  if (broadcasts_.empty()) return;
  // Recently dead members get gossip too, so a member wrongly declared dead
  // hears about it and refutes.
  std::vector<NodeId> candidates;
  candidates.reserve(roster_.size());
  for (const RosterEntry& member : roster_) {
    const MemberState state = member.state;
    if ((state == MemberState::alive || state == MemberState::suspect ||
         (state == MemberState::dead && now_ms - member.state_since_ms < config_.gossip_to_the_dead_ms)) &&
        can_send(member.member->record)) {
      candidates.push_back(member.id);
    }
  }
  for (const NodeId& id : pick_random(std::move(candidates), static_cast<std::size_t>(config_.gossip_nodes))) {
    if (broadcasts_.empty()) break;
    send_datagram(members_.at(id).record.address, Gossip{}, &id);
  }
}

std::int64_t Membership::push_pull_interval_ms() const {
  // memberlist's pushPullScale: beyond 32 members, stretch the interval by
  // the extra doublings so the cluster-wide rate of full exchanges stays flat.
  const std::size_t n = cluster_size();
  if (n <= 32) return config_.push_pull_interval_ms;
  const double multiplier = std::ceil(std::log2(static_cast<double>(n)) - std::log2(32.0)) + 1.0;
  return static_cast<std::int64_t>(multiplier * static_cast<double>(config_.push_pull_interval_ms));
}

// News refused by the candidate quotas (a burst of joins: the table or a
// source's share was full) is lost: by the time there is room again its
// piggybacked copies have spent their retransmits, and the next regular pull
// may be minutes away (the interval grows with the swarm: 180 s at 1,024
// members). So once the backlog has drained to what one candidate round
// pings, pull a full state early (also after others declared us dead:
// declared_dead_self); and again while pulls still teach us
// members (the partner's view may miss some too). The gap between such
// pulls starts at kRepairPullGapProbes probe intervals and doubles after
// each one that taught nothing, up to the regular interval: a flooder whose
// made-up members keep being refused makes us pull often only while the
// pulls pay. (A 1,024-member swarm started at once: every view was complete
// only after 80-160 s without repair pulls, after 17 s with them.)
std::optional<std::int64_t> Membership::repair_pull_ms() const {
  if (!joined_ || (candidates_.refused() == refused_at_pull_ && !pull_taught_ && !pull_from_) ||
      candidates_.size() >= static_cast<std::size_t>(config_.candidate_pings_per_round))
    return std::nullopt;
  return last_push_pull_ms_ + repair_gap_ms_;
}

void Membership::run_push_pull(std::int64_t now_ms) {
  const std::optional<std::int64_t> repair_ms = repair_pull_ms();
  if (now_ms < next_push_pull_ms_ && !(repair_ms && now_ms >= *repair_ms)) return;
  const std::int64_t shortest_gap = kRepairPullGapProbes * config_.probe_interval_ms;
  repair_gap_ms_ = pull_taught_ || repair_gap_ms_ == 0
                       ? shortest_gap
                       : std::min(2 * repair_gap_ms_, std::max(shortest_gap, push_pull_interval_ms()));
  next_push_pull_ms_ = now_ms + push_pull_interval_ms();
  last_push_pull_ms_ = now_ms;
  refused_at_pull_ = candidates_.refused();
  pull_taught_ = false;
  reap(now_ms);
  std::vector<NodeId> alive;
  std::vector<NodeId> dead;
  for (const RosterEntry& member : roster_) {
    // An outbound-only member pulls from us instead; while we are
    // outbound-only, we pull only from members we are linked with (a new
    // connection just for the exchange would end a link at the other side,
    // which takes that for our crash and probes us).
    if (!can_send(member.member->record) || (self_.outbound_only && !linked(member.id))) continue;
    if (member.state == MemberState::alive) alive.push_back(member.id);
    if (member.state == MemberState::dead) dead.push_back(member.id);
  }
  PushPull request;
  request.members = snapshot();
  // After we were declared dead, also the member that told us (it is on the
  // other side of the cut; declared_dead_self). Besides the random partner,
  // not instead: a liar's claim then costs one more exchange, and cannot
  // steer our only pull to itself.
  const auto teller = pull_from_ ? members_.find(*pull_from_) : members_.end();
  pull_from_.reset();
  std::optional<NodeId> partner;
  if (!alive.empty()) partner = alive[random_.below(alive.size())];
  if (teller != members_.end() && teller->first != partner && can_send(teller->second.record) &&
      (!self_.outbound_only || linked(teller->first))) {
    send_stream(teller->second.record.address, request);
  }
  if (partner) send_stream(members_.at(*partner).record.address, request);
  // Also try one member we believe dead: if it is only behind a partition
  // that healed, the exchange makes both sides refute and merge again.
  if (!dead.empty()) {
    send_stream(members_.at(dead[random_.below(dead.size())]).record.address, std::move(request));
  }
}

bool Membership::wants_join() const {
  // Not in yet, or alone: every other member is dead or gone.
  return !leaving_ && !seeds_.empty() && (!joined_ || live_count_ == 0);
}

void Membership::run_join(std::int64_t now_ms) {
  if (!wants_join() || now_ms < next_join_ms_) return;
  for (const std::string& seed : seeds_) send_stream(seed, Join{self_});
  // Jitter in [0.5, 1.5) x backoff so a restarted swarm does not retry in step.
  const std::int64_t delay_ms =
      join_backoff_ms_ / 2 + static_cast<std::int64_t>(random_.fraction() * static_cast<double>(join_backoff_ms_));
  next_join_ms_ = now_ms + std::max<std::int64_t>(1, delay_ms);
  if (!joined_ && now_ms > start_ms_) {
    out_.events.push_back(Event{EventKind::join_retry, self_, self_.node_id, delay_ms});
  }
  join_backoff_ms_ = std::min(join_backoff_ms_ * 2, config_.join_retry_max_ms);
}

std::int64_t first_rotation_ms(std::int64_t start_ms, std::int64_t period_ms, Random& random) {
  STARLING_ASSERT(period_ms > 0);
  return start_ms + period_ms + random.between(0, period_ms - 1);
}

void Membership::run_rotation(std::int64_t now_ms) {
  if (now_ms < next_rotation_ms_) return;
  next_rotation_ms_ = now_ms + config_.neighbour_rotation_ms;
  if (neighbours_.fanout() == 0) return;
  const std::vector<NodeId> ids = training_neighbour_ids();
  neighbours_.refresh(ids, neighbours_.fanout(), random_);
  neighbours_.rotate(ids, random_);
}

void Membership::reap(std::int64_t now_ms) {
  std::erase_if(told_ms_, [&](const auto& entry) { return now_ms >= entry.second + config_.probe_interval_ms; });
  for (auto it = members_.begin(); it != members_.end();) {
    const Member& member = it->second;
    const std::int64_t age_ms = now_ms - member.state_since_ms;
    const bool expired = (member.record.state == MemberState::dead && age_ms > config_.dead_retention_ms) ||
                         (member.record.state == MemberState::left && age_ms > config_.left_retention_ms);
    if (expired) {
      emit(EventKind::member_reaped, member.record, self_.node_id);
      suspicions_.erase(it->first);
      accusations_.erase(it->first);
      accusers_.forget(it->first);
      lost_links_.erase(it->first);
      index_address(it->first, member.record.address, {});
      roster_.erase(std::lower_bound(roster_.begin(), roster_.end(), it->first,
                                     [](const RosterEntry& entry, const NodeId& key) { return entry.id < key; }));
      it = members_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace starling::gossip
