// The rules that decide which belief about a member wins. An update wins over
// the current record when its incarnation is higher, or when it is equal and
// the state is "worse" (alive < suspect < dead/left); only the member itself
// raises its incarnation, which is how it refutes. The rules follow memberlist's
// aliveNode/suspectNode/deadNode, hardened against lying members
// (docs/membership.md, "Lying members"):
//   - alive and left count only with the member's own signature, so nobody
//     can move a member, raise its incarnation or make it leave;
//   - suspect and dead need the accuser's signature, checked with the key of
//     the accuser's verified record, at an incarnation the member signed;
//   - another member's `dead` is only a suspicion to us: we declare a member
//     dead when our own suspicion timer runs out unrefuted;
//   - accusers whose accusations keep being refuted are ignored for a while,
//     and each accuser's new accusations pass a token bucket.
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
  RosterEntry& entry = roster_entry(member.record.node_id);
  entry.state = state;
  entry.state_since_ms = member.state_since_ms;
}

Membership::RosterEntry& Membership::roster_entry(const NodeId& id) {
  const auto it = std::lower_bound(roster_.begin(), roster_.end(), id,
                                   [](const RosterEntry& entry, const NodeId& key) { return entry.id < key; });
  STARLING_ASSERT(it != roster_.end() && it->id == id);
  return *it;
}

void Membership::sign_self() { self_.signature = authority_->sign_record(self_); }

const PublicKey* Membership::key_of(const NodeId& node_id) const {
  if (node_id == self_.node_id) return &self_.public_key;
  const auto it = members_.find(node_id);
  return it == members_.end() ? nullptr : &it->second.record.public_key;
}

Update Membership::accuse(const MemberRecord& record, MemberState state) const {
  Update update;
  update.member = record;
  update.member.state = state;
  update.source = self_.node_id;
  update.accusation = authority_->sign_accusation(record.node_id, record.incarnation, state);
  return update;
}

void Membership::apply_update(const Update& update, const NodeId& told_by, std::int64_t now_ms) {
  switch (update.member.state) {
    case MemberState::alive:
    case MemberState::left: apply_signed(update.member, told_by, false, now_ms); break;
    case MemberState::suspect:
    case MemberState::dead: apply_accusation(update, told_by, now_ms); break;
  }
}

void Membership::merge_state(const std::vector<MemberRecord>& records, const NodeId& told_by, bool exempt,
                             std::int64_t now_ms) {
  bool hinted = false;
  for (const MemberRecord& record : records) {
    switch (record.state) {
      case MemberState::alive:
      case MemberState::left: apply_signed(record, told_by, exempt, now_ms); break;
      case MemberState::suspect:
      case MemberState::dead:
        // A full-state record carries no accuser's signature, so it is no
        // evidence against anyone else. About ourselves it is worth a
        // refutation: that is what heals a partition (each side learns it
        // was declared dead and refutes). An incarnation above ours counts
        // only when we signed it (a dead record keeps the member's last
        // alive signature): a previous life of ours that lost its
        // incarnation file (before, the others held us dead at its
        // incarnation for the hour of dead retention, and we never
        // refuted). One we never signed is ignored.
        if (record.node_id == self_.node_id &&
            (record.incarnation <= self_.incarnation || authority_->verify_record(record))) {
          if (record.state == MemberState::dead) declared_dead_self(told_by);
          accused_self(record.incarnation, true, now_ms);
        } else {
          hinted = probe_soon(record) || hinted;
          if (record.state == MemberState::dead) ask_to_confirm(record);
        }
        break;
    }
  }
  if (hinted) probe_hinted_soon(now_ms);
}

// And we probe soon, not only next: a member just back from a cut has a
// raised health score (its probes failed while cut off), which spaces its
// probes up to eight intervals apart (seed 40132 again: 8 s each). Never
// sooner than one unscaled interval after our last probe, so a hint, true or
// lying, gets us no more than a healthy member's rate.
void Membership::probe_hinted_soon(std::int64_t now_ms) {
  next_probe_ms_ = std::min(next_probe_ms_, std::max(now_ms, last_probe_ms_ + config_.probe_interval_ms));
}

// Someone's full view lists as suspect or dead a member we hold alive at
// that incarnation. No evidence (nobody signed it), but a hint: we probe
// that member next instead of when its turn comes. A member cut off while
// another died otherwise reaches the dead one only in its own round-robin,
// up to a whole round of probes (20 s and more at 20 members, longer at a
// raised health score) after the cut heals (`starling simulate --random`,
// seed 40132). It puts a member at most once in the rest of the round, and
// the others keep their order. True when the member is now next.
bool Membership::probe_soon(const MemberRecord& record) {
  const auto it = members_.find(record.node_id);
  if (it == members_.end() || it->second.record.state != MemberState::alive ||
      it->second.record.incarnation != record.incarnation) {
    return false;
  }
  probe_next(record.node_id);
  return true;
}

void Membership::probe_next(const NodeId& id) {
  const auto next = probe_order_.begin() + static_cast<std::ptrdiff_t>(std::min(probe_index_, probe_order_.size()));
  const auto found = std::find(next, probe_order_.end(), id);
  if (found != probe_order_.end()) {
    std::rotate(next, found, found + 1);
  } else {
    probe_order_.insert(next, id);
  }
}

// A full view lists `record` dead while we only suspect it: our suspicion
// may be one we formed behind a cut, whose retransmits are spent, so nobody
// holding the death hears it and tells us (tell_still_suspecting), and it
// runs out alone (about 30 s). Gossip it again; each holder of the death
// that hears it answers with its signed dead claim. (Random seed 40132 after
// repair pulls: the cut-off side suspected a restarted member's old identity
// for 27 s after the last event, while the rest held it dead.) At most one
// queued update per member, and only about a suspicion we hold anyway.
void Membership::ask_to_confirm(const MemberRecord& record) {
  const auto it = members_.find(record.node_id);
  if (it == members_.end() || it->second.record.state != MemberState::suspect ||
      it->second.record.incarnation != record.incarnation || broadcasts_.contains(record.node_id)) {
    return;
  }
  broadcasts_.push(accuse(it->second.record, MemberState::suspect));
}

void Membership::apply_signed(const MemberRecord& record, const NodeId& told_by, bool exempt, std::int64_t now_ms) {
  if (record.node_id == self_.node_id) {
    // Our own record with a higher incarnation than ours comes from a previous
    // life (we restarted): supersede it. So does our `left` at our own
    // incarnation (a restart that lost its incarnation file): the others
    // hold it over our `alive` of the same number, and they kept us out
    // until they forgot it, 10 minutes later. Only if it really is ours.
    const bool newer = record.incarnation > self_.incarnation;
    const bool left_now = record.incarnation == self_.incarnation && record.state == MemberState::left;
    // Our record at our incarnation or above naming another address: only
    // our key signs it, so another process holds that key (IdentityClash),
    // or it is a previous life that listened elsewhere and lost its
    // incarnation file. Either way we refute, so our address wins: a
    // previous life signs nothing newer and is not seen again (before, its
    // record at our own incarnation went on circulating beside ours, and
    // counting it reported a restart as a clone), while a live clone
    // refutes in turn and is seen again, above the incarnation we took.
    const bool elsewhere = record.incarnation >= self_.incarnation && record.address != self_.address;
    if (leaving_ || !(newer || left_now || elsewhere)) return;
    if (!authority_->verify_record(record)) {
      ++rejected_records_;
      return;
    }
    if (elsewhere && identity_clash_.sighted(record.address, now_ms))
      emit(EventKind::identity_in_use, record, told_by);
    refute(record.incarnation, false, now_ms);
    return;
  }
  // Cheap checks first: most updates repeat what we know, and verifying a
  // signature is the expensive step.
  const auto it = members_.find(record.node_id);
  const bool known = it != members_.end();
  if (known) {
    const MemberRecord& current = it->second.record;
    if (record.incarnation < current.incarnation) return;
    if (record.incarnation == current.incarnation &&
        (record.state == MemberState::alive || current.state == MemberState::left)) {
      return;
    }
  } else if (record.state == MemberState::left && !candidates_.contains(record.node_id)) {
    return;  // never listed: nothing to forget
  }
  // Second-hand news of a member we do not list: probation until it answers
  // us itself (flood defence, candidates.h). The source's quota is charged
  // before the signature is checked, so a flood costs it, not our CPU.
  const bool second_hand = !known && record.state == MemberState::alive && told_by != record.node_id;
  if (second_hand && !candidates_.wants(record, told_by, exempt, now_ms)) return;
  if (record.address.empty() || !authority_->verify_record(record)) {
    ++rejected_records_;
    return;
  }
  if (record.state == MemberState::left) {
    candidates_.drop(record.node_id);
    if (known) apply_left(record, now_ms);
  } else if (second_hand) {
    candidates_.add(record, told_by, now_ms);
  } else {
    candidates_.drop(record.node_id);
    apply_alive(record, now_ms);
  }
}

void Membership::refute(std::uint64_t accused_incarnation, bool health_hint, std::int64_t now_ms) {
  self_.incarnation = std::max(self_.incarnation, accused_incarnation) + 1;
  sign_self();
  last_refute_ms_ = now_ms;
  broadcasts_.push(Update{self_, self_.node_id, {}});
  if (health_hint) awareness_.apply(1);  // being suspected hints that we are the slow one
  emit(EventKind::self_refuted, self_, self_.node_id);
}

// Others declared us dead: we were cut off (a partition, a pause) long
// enough for a whole suspicion to run out, so we likely missed what happened
// on their side meanwhile (members that left or died there: the claims'
// retransmits are spent by now). Pull a full state soon rather than at the
// next regular pull (repair_pull_ms), and from the member that told us: it
// heard the claim, so it is on the other side, where a random pick from our
// own list may be on ours or gone (random seed 1200040: a member of a
// partition's small side, paused too, listed two members that had left on
// the other side as alive 26 s and 43 s after the heal; with a random
// partner two others pulled from their own side and from a leaver).
void Membership::declared_dead_self(const NodeId& told_by) { pull_from_ = told_by; }

void Membership::accused_self(std::uint64_t accused_incarnation, bool health_hint, std::int64_t now_ms) {
  if (leaving_) return;  // we are going anyway
  if (accused_incarnation >= self_.incarnation) {
    refute(accused_incarnation, health_hint, now_ms);
  } else if (!broadcasts_.contains(self_.node_id)) {
    // An accusation older than our last refutation is still circulating, so
    // that refutation did not reach everyone (it may have spent its budget
    // while our datagrams were being lost). Spread it again.
    broadcasts_.push(Update{self_, self_.node_id, {}});
  }
}

// `record` is verified, alive, and newer than what we hold.
void Membership::apply_alive(const MemberRecord& record, std::int64_t now_ms) {
  // Malformed: nobody could reach it. The wire codec already refuses such
  // records; this keeps gossip/ safe when it is fed some other way.
  if (!is_host_port(record.address)) return;
  auto it = members_.find(record.node_id);
  if (it == members_.end()) {
    Member member{record, now_ms};
    it = members_.emplace(record.node_id, std::move(member)).first;
    roster_.insert(std::lower_bound(roster_.begin(), roster_.end(), record.node_id,
                                    [](const RosterEntry& entry, const NodeId& key) { return entry.id < key; }),
                   RosterEntry{record.node_id, it->second.record.state, now_ms, &it->second});
    index_address(record.node_id, {}, record.address);
    ++live_count_;
    // New members join the probe round at a random place so they are probed soon.
    const std::size_t remaining = probe_order_.size() - std::min(probe_index_, probe_order_.size());
    probe_order_.insert(probe_order_.begin() + static_cast<std::ptrdiff_t>(probe_index_ + random_.below(remaining + 1)),
                        record.node_id);
    broadcasts_.push(Update{record, record.node_id, {}});
    emit(EventKind::member_joined, record, record.node_id);
    address_taken_over(record, now_ms);
    return;
  }
  Member& member = it->second;
  const MemberState before = member.record.state;
  const std::string old_address = member.record.address;
  member.record = record;
  member.record.state = before;
  set_state(member, MemberState::alive, now_ms);
  index_address(record.node_id, old_address, record.address);
  if (old_address != record.address) address_taken_over(record, now_ms);
  const auto suspicion = suspicions_.find(record.node_id);
  if (suspicion != suspicions_.end()) {
    // Refuted while pending: a strike for everyone who made this accusation.
    for (const NodeId& accuser : suspicion->second.sources()) {
      if (accuser != self_.node_id) accusers_.strike(accuser, now_ms);
    }
    suspicions_.erase(suspicion);
  }
  accusations_.erase(record.node_id);
  broadcasts_.push(Update{member.record, record.node_id, {}});
  if (before == MemberState::suspect) {
    emit(EventKind::member_recovered, member.record, record.node_id);
  } else if (before == MemberState::dead || before == MemberState::left) {
    if (std::find(probe_order_.begin(), probe_order_.end(), record.node_id) == probe_order_.end()) {
      probe_order_.push_back(record.node_id);
    }
    emit(EventKind::member_joined, member.record, record.node_id);
  }
}

// `record` is verified and in state left: the member itself said it leaves.
void Membership::apply_left(const MemberRecord& record, std::int64_t now_ms) {
  const auto it = members_.find(record.node_id);
  if (it == members_.end()) return;  // never knew it: nothing to forget
  Member& member = it->second;
  const MemberState before = member.record.state;
  index_address(record.node_id, member.record.address, record.address);
  member.record = record;
  member.record.state = before;
  set_state(member, MemberState::left, now_ms);
  suspicions_.erase(record.node_id);
  accusations_.erase(record.node_id);
  broadcasts_.push(Update{member.record, record.node_id, {}});
  emit(EventKind::member_left, member.record, record.node_id);
}

void Membership::apply_accusation(const Update& accusation, const NodeId& told_by, std::int64_t now_ms, bool ours) {
  const MemberRecord& record = accusation.member;
  const NodeId& accuser = accusation.source;
  if (accuser == record.node_id) return;  // a member does not accuse itself; it leaves
  const PublicKey* key = key_of(accuser);
  if (record.node_id == self_.node_id) {
    // About us: a genuine accusation of our current incarnation is refuted.
    // An unsigned or unknown one is dropped (we would refute anyone's
    // forgery otherwise), and so is one of an incarnation above ours that
    // we never signed (one we did sign is a previous life's: refuted).
    if (key == nullptr || (record.incarnation > self_.incarnation && !authority_->verify_record(record)) ||
        !authority_->verify_accusation(*key, record.node_id, record.incarnation, record.state,
                                       accusation.accusation)) {
      ++rejected_accusations_;
      return;
    }
    if (accusers_.ignored(accuser, now_ms)) {
      // A member we ignore for accusing falsely: others may not ignore it
      // yet, so still refute, but at most once per probe interval, and it
      // is no hint that we are the slow one (Lifeguard's +1 would let a liar
      // slow every honest member's probing, and so its failure detection).
      // An old one we refuted already is still answered to whoever handed
      // it: that member adopted the suspicion and holds it (seed 400029
      // with `--peers 48`: a member cut off one way held an ignored
      // accuser's suspicion of us for 40 s, reminding us every second).
      if (record.incarnation < self_.incarnation) {
        tell_stale(told_by, now_ms);
        return;
      }
      if (now_ms < last_refute_ms_ + config_.probe_interval_ms) return;
      accused_self(record.incarnation, false, now_ms);
      return;
    }
    if (record.incarnation == self_.incarnation && !leaving_) accusers_.strike(accuser, now_ms);
    if (record.incarnation < self_.incarnation) tell_stale(told_by, now_ms);
    if (record.state == MemberState::dead) declared_dead_self(told_by);
    accused_self(record.incarnation, true, now_ms);
    return;
  }
  const auto it = members_.find(record.node_id);
  if (it == members_.end()) return;
  Member& member = it->second;
  if (record.incarnation < member.record.incarnation) {  // stale: it refuted already
    if (!ours) tell_newer(told_by, member, now_ms);
    return;
  }
  if (!is_live(member.record.state)) {
    if (!ours) tell_still_suspecting(member, accusation, now_ms);
    return;  // already dead or gone
  }
  if (record.incarnation > member.record.incarnation) {
    // Newer than the highest incarnation we know the member signed. The
    // accused record carries the member's own signature at that incarnation:
    // with it we learn that record first (as if its alive had reached us);
    // without it the member never had that incarnation.
    if (ours || !authority_->verify_record(record)) {
      ++rejected_accusations_;
      return;
    }
    MemberRecord signed_alive = record;
    signed_alive.state = MemberState::alive;
    apply_alive(signed_alive, now_ms);
  }
  const auto suspicion = suspicions_.find(record.node_id);
  if (suspicion != suspicions_.end() && suspicion->second.has_source(accuser)) return;  // heard it already
  // Our own fresh accusation needs no check; anything that arrived does,
  // even in our name (an echo verifies, a forgery does not).
  if (!ours) {
    if (key == nullptr || !authority_->verify_accusation(*key, record.node_id, record.incarnation, record.state,
                                                          accusation.accusation)) {
      ++rejected_accusations_;
      return;
    }
    if (accuser != self_.node_id && !accusers_.admit(accuser, now_ms)) return;
  }
  suspect(member, accusation, now_ms);
}

// A member still hands us an accusation of an incarnation we have refuted:
// our refutation missed it (it could not hear us while it was spread, and
// the re-spreads go to random members that mostly know it already). It
// holds that suspicion, whether it made it or adopted it, and the suspicion
// runs out unless the refutation reaches it, so we send it straight back to
// whoever told us, once per probe interval per member at most. Found by `starling
// simulate --random`: seed 60004 (three members cut off one way for 4 s; the
// accuser declared a running member dead 11 s after the cut healed) and seed
// 20109 (answered only to the accuser, the members that had adopted its
// suspicion behind a partition were left with it). The pace is per member:
// one pace for all answered about one a second, and after a one-way cut of
// 48 members (seed 400044) two dozen held us dead or suspect at once.
void Membership::tell_stale(const NodeId& teller, std::int64_t now_ms) {
  if (leaving_) return;
  const auto it = members_.find(teller);
  if (it == members_.end() || !is_live(it->second.record.state) || !can_send(it->second.record)) return;
  if (!may_tell(teller, now_ms)) return;
  send_datagram(it->second.record.address, Gossip{});
  attach(out_.sends.back().message, Update{self_, self_.node_id, {}});
}

// A member hands us an accusation of an incarnation the accused has since
// refuted: it missed the refutation, holds the suspicion (or its result,
// the death) and passes it on. Those who know better dropped it silently,
// and only the accused answered; a member that declared a refuted member
// dead just after a one-way cut healed then held it dead to the end, as the
// accused never happened to speak to it (seed 400029 with `--peers 48`, its
// flooder removed). So whoever holds the newer signed record sends it
// straight back (paced per member, as the accused's own answer).
void Membership::tell_newer(const NodeId& teller, const Member& member, std::int64_t now_ms) {
  MemberRecord record = member.record;
  if (record.state == MemberState::suspect) record.state = MemberState::alive;  // what it signed
  if (leaving_ || record.state == MemberState::dead || teller == record.node_id) return;
  const auto it = members_.find(teller);
  if (it == members_.end() || !is_live(it->second.record.state) || !can_send(it->second.record)) return;
  if (!may_tell(teller, now_ms)) return;
  send_datagram(it->second.record.address, Gossip{});
  attach(out_.sends.back().message, Update{record, record.node_id, {}});
}

// Whether we may send `member` a direct answer now (tell_stale, tell_dead,
// tell_newer):
// once per probe interval per member. The map holds only members we list,
// and reap() forgets entries older than an interval.
bool Membership::may_tell(const NodeId& member, std::int64_t now_ms) {
  const auto [it, fresh] = told_ms_.try_emplace(member, now_ms);
  if (fresh) return true;
  if (now_ms < it->second + config_.probe_interval_ms) return false;
  it->second = now_ms;
  return true;
}

// A member we hold dead speaks to us, so it runs and has not heard that it
// was declared dead: the claims were spent while a partition hid it. When
// each side of a cut declared the other dead, neither tells the other
// anything afterwards but a push-pull (every 30 s, to one random dead member
// among all the really dead ones), so the two could list each other dead
// for a minute (`starling simulate --random` seed 120059). We send it our
// signed dead claim straight back, once per probe interval per member at
// most: it refutes, and the refutation spreads.
void Membership::tell_dead(const Member& member, std::int64_t now_ms) {
  if (leaving_ || !can_send(member.record) || !may_tell(member.record.node_id, now_ms)) return;
  send_datagram(member.record.address, Gossip{}, &member.record.node_id);
  attach(out_.sends.back().message, accuse(member.record, MemberState::dead));
}

// Someone still suspects a member we hold dead at the same incarnation: it
// missed the dead claims (partitioned away while they were gossiped, their
// retransmissions long spent), and push-pull cannot tell it, as a full view
// carries no accuser's signature. Without help it waits out the longest
// suspicion timeout alone (about 30 s on the lan profile; found by
// `starling simulate --random`, tests/sim/regressions/). So we gossip our
// own signed dead claim again: each one that reaches it confirms its
// suspicion, and a few bring its timeout down to the shortest. Only for a
// verified accusation from an admitted accuser, and the queue holds one
// update per member, so nobody can make us gossip more than a claim per
// member. A member we hold left is the same case with better news: its own
// signed `left` record, which ends the suspicion at once (seed 10043).
void Membership::tell_still_suspecting(const Member& member, const Update& accusation, std::int64_t now_ms) {
  const MemberRecord& record = accusation.member;
  const MemberState held = member.record.state;
  if ((held != MemberState::dead && held != MemberState::left) || record.state != MemberState::suspect ||
      record.incarnation != member.record.incarnation || accusation.source == self_.node_id) {
    return;
  }
  const PublicKey* key = key_of(accusation.source);
  if (key == nullptr || !authority_->verify_accusation(*key, record.node_id, record.incarnation, record.state,
                                                        accusation.accusation)) {
    ++rejected_accusations_;
    return;
  }
  if (!accusers_.admit(accusation.source, now_ms)) return;
  broadcasts_.push(held == MemberState::left ? Update{member.record, member.record.node_id, {}}
                                             : accuse(member.record, MemberState::dead));
}

// A verified, admitted accusation of `member` at its current incarnation.
// Suspect or dead alike start (or confirm) our own suspicion.
void Membership::suspect(Member& member, const Update& accusation, std::int64_t now_ms) {
  const NodeId& id = member.record.node_id;
  // Every member holding the suspicion also hands the accusation to the
  // accused itself until it refutes. The accuser starts at once: others may
  // ignore it (see accusers.h), and then only it can tell the accused. One
  // that adopted the suspicion starts two to three probe intervals later, so
  // a refutation that spreads normally reaches it first and the accused is
  // not flooded; it reminds only when that refutation missed it, as behind a
  // partition (`starling simulate --random` seed 20109: two members that had
  // adopted a suspicion declared the refuted member dead 14 s after the cut
  // healed, as nobody told them).
  const auto reminder = reminders_.find(id);
  if (accusation.source == self_.node_id) {
    if (reminder == reminders_.end()) {
      reminders_.emplace(id, now_ms);
    } else {
      reminder->second = std::min(reminder->second, now_ms);
    }
  } else if (reminder == reminders_.end()) {
    const std::int64_t interval_ms = config_.probe_interval_ms;
    reminders_.emplace(id, now_ms + 2 * interval_ms +
                               static_cast<std::int64_t>(random_.below(static_cast<std::uint64_t>(interval_ms))));
  }
  const auto suspicion = suspicions_.find(id);
  if (suspicion != suspicions_.end()) {
    // Another member suspects it too: an independent confirmation shortens
    // the timeout; pass it on so others count it as well.
    if (suspicion->second.confirm(accusation.source)) broadcasts_.push(accusation);
    return;
  }
  set_state(member, MemberState::suspect, now_ms);
  const std::size_t n = cluster_size();
  int expected = config_.suspicion_mult - 2;
  if (static_cast<int>(n) - 2 < expected) expected = 0;  // too few members to ever confirm
  const std::int64_t min_ms = Suspicion::min_timeout_ms(config_.suspicion_mult, n, config_.probe_interval_ms);
  const std::int64_t max_ms = min_ms * config_.suspicion_max_timeout_mult;
  suspicions_.emplace(id, Suspicion(accusation.source, expected, min_ms, max_ms, now_ms));
  accusations_.insert_or_assign(id, accusation);
  broadcasts_.push(accusation);
  emit(EventKind::member_suspected, member.record, accusation.source);
}

// Our own suspicion ran out unrefuted: now we say it is dead, signed by us.
void Membership::declare_dead(Member& member, std::int64_t now_ms) {
  set_state(member, MemberState::dead, now_ms);
  suspicions_.erase(member.record.node_id);
  accusations_.erase(member.record.node_id);
  broadcasts_.push(accuse(member.record, MemberState::dead));
  emit(EventKind::member_dead, member.record, self_.node_id);
}

}  // namespace starling::gossip
