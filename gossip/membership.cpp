// Construction, the public entry points, message dispatch and sending. Beliefs
// (alive/suspect/dead rules) live in membership_beliefs.cpp, timers in
// membership_timers.cpp.
#include "starling/gossip/membership.h"

#include <algorithm>

#include "starling/assert.h"

namespace starling::gossip {

const char* to_string(EventKind kind) {
  switch (kind) {
    case EventKind::joined_swarm: return "joined swarm";
    case EventKind::join_retry: return "join retry";
    case EventKind::member_joined: return "member joined";
    case EventKind::member_suspected: return "member suspected";
    case EventKind::member_recovered: return "member recovered";
    case EventKind::member_dead: return "member dead";
    case EventKind::member_left: return "member left";
    case EventKind::member_reaped: return "member reaped";
    case EventKind::self_refuted: return "refuted suspicion of self";
    case EventKind::identity_in_use: return "identity in use elsewhere";
  }
  return "unknown";
}

Membership::Membership(Config config, Identity identity, std::uint64_t random_seed, std::int64_t now_ms)
    : config_(std::move(config)),
      authority_(std::move(identity.authority)),
      start_ms_(now_ms),
      random_(random_seed),
      awareness_(config_.awareness_max_multiplier),
      broadcasts_(config_.retransmit_mult, static_cast<std::size_t>(config_.broadcast_queue_max)),
      accusers_(config_),
      candidates_(config_) {
  STARLING_ASSERT_MSG(config_.validate().ok(), "gossip config must be validated before use");
  STARLING_ASSERT_MSG(!identity.address.empty(), "a member needs an address");
  STARLING_ASSERT_MSG(authority_ != nullptr, "a member needs a RecordAuthority");
  STARLING_ASSERT_MSG(authority_->node_id() == identity.node_id, "the identity's node id is not the authority's");
  self_ = MemberRecord{identity.node_id, std::move(identity.address), identity.initial_incarnation,
                       MemberState::alive};
  self_.public_key = authority_->public_key();
  self_.outbound_only = identity.outbound_only;
  self_.membership_only = identity.membership_only;
  sign_self();
  // Stagger periodic timers so members started together do not act in lockstep.
  next_probe_ms_ = now_ms + random_.between(0, config_.probe_interval_ms - 1);
  next_gossip_ms_ = now_ms + random_.between(0, config_.gossip_interval_ms - 1);
  next_push_pull_ms_ = now_ms + random_.between(config_.push_pull_interval_ms / 2, config_.push_pull_interval_ms);
  next_join_ms_ = now_ms;
  // The first neighbour rotation falls at a random phase within the second
  // period, so the rotations of members started together spread evenly over a
  // whole period (they keep that phase: one rotation per period after it).
  // In lockstep, a 1000-peer simulated swarm rewired all at once at 30 s and
  // its spread rose 3.7x (docs/learning.md, "Low-bit gossip: scaled sign").
  next_rotation_ms_ = first_rotation_ms(now_ms, config_.neighbour_rotation_ms, random_);
  // Our own alive record waits in the queue until we know someone to tell.
  broadcasts_.push(Update{self_, self_.node_id, {}});
}

Actions Membership::join(std::vector<std::string> seeds, std::int64_t now_ms) {
  seeds_.clear();
  for (std::string& seed : seeds) {
    if (seed != self_.address && std::find(seeds_.begin(), seeds_.end(), seed) == seeds_.end()) {
      seeds_.push_back(std::move(seed));
    }
  }
  if (seeds_.empty()) {
    if (!joined_) {
      joined_ = true;
      emit(EventKind::joined_swarm, self_, self_.node_id);
    }
    return take_actions();
  }
  join_backoff_ms_ = config_.join_retry_ms;
  next_join_ms_ = now_ms;
  run_join(now_ms);
  return take_actions();
}

Actions Membership::forget_seed(const std::string& address) {
  const auto found = std::find(seeds_.begin(), seeds_.end(), address);
  if (found == seeds_.end()) return take_actions();
  seeds_.erase(found);
  if (seeds_.empty() && !joined_) {
    joined_ = true;
    emit(EventKind::joined_swarm, self_, self_.node_id);
  }
  return take_actions();
}

Actions Membership::leave(std::int64_t now_ms) {
  if (leaving_) return take_actions();
  leaving_ = true;
  leave_deadline_ms_ = now_ms + config_.leave_timeout_ms;
  probe_.active = false;
  self_.state = MemberState::left;
  sign_self();
  broadcasts_.push(Update{self_, self_.node_id, {}});
  // Tell every live member directly: a leave happens once per peer lifetime,
  // and the piggyback budget alone (retransmit_mult * ceil(log10(n + 1)), only
  // 4 below 10 members) missed one member in about one 8-peer run in ten.
  // The queued update still covers members whose notice is lost.
  // Each Leave carries our signed `left` record itself, whatever the
  // piggyback budget has left: it is what the receiver lists and passes on.
  for (const NodeId& id : live_ids()) {
    const MemberRecord& record = members_.at(id).record;
    if (!can_send(record)) continue;
    send_datagram(record.address, Leave{self_.incarnation}, &id);
    attach(out_.sends.back().message, Update{self_, self_.node_id, {}});
  }
  return take_actions();
}

bool Membership::leave_complete(std::int64_t now_ms) const {
  return leaving_ && (live_count_ == 0 || now_ms >= leave_deadline_ms_ || !broadcasts_.contains(self_.node_id));
}

Actions Membership::on_message(const std::string& from_address, const GossipMessage& message, std::int64_t now_ms) {
  // The runtime delivers only messages whose sender is authenticated, so
  // message.sender is who really sent it.
  if (message.sender == self_.node_id) return take_actions();  // our own echo
  // A candidate speaking for itself has proved it runs.
  if (std::optional<MemberRecord> proven = candidates_.confirm(message.sender, now_ms)) apply_alive(*proven, now_ms);
  for (const Update& update : message.updates) apply_update(update, message.sender, now_ms);
  if (const auto sender = members_.find(message.sender); sender == members_.end()) {
    if (!std::holds_alternative<Join>(message.body)) ask_unknown(message, now_ms);
  } else if (sender->second.record.state == MemberState::dead) {
    tell_dead(sender->second, now_ms);
  }

  std::visit(
      [&](const auto& body) {
        using Body = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<Body, Ping>) {
          handle_ping(from_address, body);
        } else if constexpr (std::is_same_v<Body, IndirectPing>) {
          handle_indirect_ping(from_address, body, now_ms);
        } else if constexpr (std::is_same_v<Body, Ack>) {
          handle_ack(body, now_ms);
        } else if constexpr (std::is_same_v<Body, Nack>) {
          handle_nack(body);
        } else if constexpr (std::is_same_v<Body, Gossip>) {
          // The piggybacked updates were the whole point.
        } else if constexpr (std::is_same_v<Body, Leave>) {
          // The signed `left` record attached to it, applied with the
          // updates above, is the leave. A bare Leave changes nothing: we
          // would list the sender as left under a record signed `alive`,
          // which every member rejects in our full views, so one that
          // missed the leave could never learn it from us (`starling
          // simulate --random` seed 10043). Such a sender is probed and
          // declared dead like any silent member.
        } else if constexpr (std::is_same_v<Body, Join>) {
          handle_join(message, body, now_ms);
        } else if constexpr (std::is_same_v<Body, PushPull>) {
          handle_push_pull(message, body, now_ms);
        }
      },
      message.body);
  return take_actions();
}

// A member we do not list speaks to us: it lists us, so it joined while we
// could not hear of it (its record's gossip spent behind a partition), and
// its pings and gossip carry no record of its own, so we would only learn it
// at the next push-pull (60 s at 48 members; `starling simulate --random
// --peers 48` seed 500074: a joiner that ran 44 s was never listed by one
// member). We send it a Join: its reply, a full view, carries its own record
// first-hand. At most once per probe interval in all (an attacker can mint
// identities, so no per-sender pace), and only a small Join goes out: the
// view comes back to us.
void Membership::ask_unknown(const GossipMessage& message, std::int64_t now_ms) {
  if (leaving_ || message.sender_address.empty() || candidates_.contains(message.sender) ||
      now_ms < last_asked_unknown_ms_ + config_.probe_interval_ms) {
    return;
  }
  last_asked_unknown_ms_ = now_ms;
  send_stream(message.sender_address, Join{self_});
}

void Membership::handle_ping(const std::string& from_address, const Ping& ping) {
  // A ping meant for a previous owner of our address stays unanswered. So
  // does one with nowhere to answer: a stream message whose sender gave no
  // address (the codec allows an empty one; no honest member sends it).
  if (ping.target != self_.node_id || from_address.empty()) return;
  send_datagram(from_address, Ack{ping.sequence});
}

void Membership::handle_indirect_ping(const std::string& from_address, const IndirectPing& request,
                                      std::int64_t now_ms) {
  if (request.target == self_.node_id || request.target_address.empty() || from_address.empty()) return;
  if (const MemberRecord* target = find(request.target); target != nullptr && !can_send(*target)) {
    // An outbound-only member we hold no link with: our ping would only hit
    // its firewall. Say so at once; a helper that holds a link answers.
    send_datagram(from_address, Nack{request.sequence});
    return;
  }
  const std::uint64_t sequence = next_sequence_++;
  send_datagram(request.target_address, Ping{sequence, request.target});
  // Lifeguard: nack at 80% of the probe timeout, so the nack reaches the
  // requester while it still waits for indirect answers.
  relays_[sequence] = Relay{from_address, request.sequence, now_ms + config_.probe_timeout_ms * 4 / 5};
}

void Membership::handle_ack(const Ack& ack, std::int64_t now_ms) {
  if (probe_.active && ack.sequence == probe_.sequence) {
    probe_.active = false;
    awareness_.apply(-1);
    return;
  }
  if (const auto pinged = candidate_pings_.find(ack.sequence); pinged != candidate_pings_.end()) {
    // Outbound-only: a linked member pinged this candidate for us and
    // forwarded its answer. The helper is a member vouching for a probe
    // result, as in any indirect probe; the candidate's record is signed.
    const NodeId candidate = pinged->second.candidate;
    candidate_pings_.erase(pinged);
    if (std::optional<MemberRecord> proven = candidates_.confirm(candidate, now_ms)) apply_alive(*proven, now_ms);
    return;
  }
  const auto relay = relays_.find(ack.sequence);
  if (relay != relays_.end()) {
    send_datagram(relay->second.requester_address, Ack{relay->second.requester_sequence});
    relays_.erase(relay);
  }
}

void Membership::handle_nack(const Nack& nack) {
  if (probe_.active && nack.sequence == probe_.sequence) ++probe_.nacks_received;
}

void Membership::handle_join(const GossipMessage& message, const Join& join, std::int64_t now_ms) {
  if (leaving_) return;  // let the joiner try another seed
  // A record without an address is refused (apply_signed) and has nowhere
  // for the view to go.
  if (join.self.node_id != message.sender || join.self.state != MemberState::alive || join.self.address.empty())
    return;
  // A joiner new to us lists nobody: the dead and left records of a full
  // view teach it nothing (it drops news of members it never listed), and
  // under churn they were most of a seed's join replies (a soak review: 467
  // of 520 records, the seed's stream traffic 27 -> 60 kB/s). It gets the
  // live members; its early push-pull brings the rest. A member we list (a
  // restart, or one asking because we were unknown to it) gets the whole
  // view: its own dead record makes it refute, others' may be news to it.
  const bool known = members_.count(join.self.node_id) != 0;
  apply_signed(join.self, message.sender, false, now_ms);
  PushPull reply;
  reply.is_reply = true;
  reply.is_join_reply = true;
  reply.members = known ? snapshot() : live_snapshot();
  send_stream(join.self.address, std::move(reply));
}

void Membership::handle_push_pull(const GossipMessage& message, const PushPull& push_pull, std::int64_t now_ms) {
  // The join reply we wait for comes from a seed we chose: its view is not
  // held to the per-source quota (only to the total bound on candidates).
  const bool exempt = push_pull.is_join_reply && !joined_;
  const std::size_t candidates_before = candidates_.size();
  merge_state(push_pull.members, message.sender, exempt, now_ms);
  // A pull that still taught us members may not have taught us all: the
  // partner's view can miss some too (repair_pull_ms).
  if (push_pull.is_reply && joined_ && candidates_.size() > candidates_before) pull_taught_ = true;
  if (!push_pull.is_reply && !leaving_ && !message.sender_address.empty()) {
    PushPull reply;
    reply.is_reply = true;
    reply.members = snapshot();
    send_stream(message.sender_address, std::move(reply));
  }
  if (!joined_ && push_pull.is_reply) {
    joined_ = true;
    // One early full exchange a few probe periods after joining: news about
    // members that joined at the same time may have spent its piggyback
    // budget before it reached us (candidates wait for proof before passing
    // news on), and this repairs that without waiting a whole period.
    next_push_pull_ms_ = std::min(next_push_pull_ms_, now_ms + random_.between(2 * config_.probe_interval_ms,
                                                                                 5 * config_.probe_interval_ms));
    emit(EventKind::joined_swarm, self_, message.sender);
  }
  if (push_pull.is_reply) join_backoff_ms_ = config_.join_retry_ms;
}

std::vector<MemberRecord> Membership::sample_neighbours(std::size_t fanout) {
  const std::vector<NodeId>& ids = neighbours_.refresh(training_neighbour_ids(), fanout, random_);
  std::vector<MemberRecord> out;
  out.reserve(ids.size());
  for (const NodeId& id : ids) out.push_back(members_.at(id).record);
  return out;
}

bool Membership::replace_neighbour(const NodeId& node_id) {
  return neighbours_.replace(node_id, training_neighbour_ids(), random_);
}

MembershipView Membership::view(std::int64_t now_ms) const {
  MembershipView view;
  view.self = self_;
  view.uptime_ms = now_ms - start_ms_;
  view.health_score = awareness_.score();
  view.ignored_accusers = accusers_.ignored_count(now_ms);
  view.rejected_records = rejected_records_;
  view.rejected_accusations = rejected_accusations_;
  view.dropped_accusations = accusers_.dropped_total();
  view.candidates = candidates_.size();
  view.candidates_refused = candidates_.refused();
  view.candidates_expired = candidates_.expired();
  view.members.reserve(members_.size());
  for (const auto& [id, member] : members_) view.members.push_back(MemberView{member.record, member.state_since_ms});
  return view;
}

const MemberRecord* Membership::find(const NodeId& node_id) const {
  if (node_id == self_.node_id) return &self_;
  const auto it = members_.find(node_id);
  return it == members_.end() ? nullptr : &it->second.record;
}

GossipMessage Membership::envelope(MessageBody body) const {
  GossipMessage message;
  message.sender = self_.node_id;
  message.sender_address = self_.address;
  message.body = std::move(body);
  return message;
}

void Membership::send_datagram(const std::string& to_address, MessageBody body, const NodeId* to) {
  STARLING_ASSERT(!to_address.empty());
  GossipMessage message = envelope(std::move(body));
  // Each update goes out a bounded number of times, so a copy sent to a
  // member we do not hold alive is most likely a copy lost: one we suspect
  // or hold dead (our probes of it, reminders of our suspicion, gossip to
  // the recently dead) is most often gone, and when a new process took its
  // address over, that process drops news of members it does not list.
  // Such messages still carry the news but spend none of its budget. With
  // old identities piling up at restarted addresses, four in five of our
  // datagrams went there, and suspicions spent their copies before any
  // member that could confirm them heard them (membership_addresses.cpp).
  // An answer to an address no listed member claims (a candidate we ping, a
  // newcomer pinging us) reaches a process that runs: it spends. Counted as
  // lost, a swarm of 1,024 started at once sent a third of its datagrams
  // there without draining its join news, and the news of a crash 20 s later
  // waited behind that backlog (scenarios/sim/membership-scale.toml: the last
  // two members declared it dead 38 s after, not 21 s).
  const auto bytes_max = static_cast<std::size_t>(config_.piggyback_bytes_max);
  const auto member = to != nullptr ? members_.find(*to) : members_.end();
  const bool spends = to != nullptr ? member != members_.end() && member->second.record.state == MemberState::alive
                                    : !members_at_.contains(to_address) || alive_at(to_address);
  message.updates = spends ? broadcasts_.take(bytes_max, cluster_size()) : broadcasts_.peek(bytes_max);
  out_.sends.push_back(Outgoing{Transport::datagram, to_address, std::move(message)});
}

void Membership::attach(GossipMessage& message, Update update) const {
  // One extra update (an accusation for its target) within the byte budget:
  // piggybacked news makes room (it goes out again with later messages).
  std::erase_if(message.updates, [&](const Update& u) { return u.member.node_id == update.member.node_id; });
  std::size_t bytes = BroadcastQueue::estimated_bytes(update);
  for (const Update& u : message.updates) bytes += BroadcastQueue::estimated_bytes(u);
  while (!message.updates.empty() && bytes > static_cast<std::size_t>(config_.piggyback_bytes_max)) {
    bytes -= BroadcastQueue::estimated_bytes(message.updates.back());
    message.updates.pop_back();
  }
  message.updates.push_back(std::move(update));
}

void Membership::send_stream(const std::string& to_address, MessageBody body) {
  STARLING_ASSERT(!to_address.empty());
  out_.sends.push_back(Outgoing{Transport::stream, to_address, envelope(std::move(body))});
}

std::vector<MemberRecord> Membership::snapshot() const {
  std::vector<MemberRecord> records;
  records.reserve(members_.size() + 1);
  records.push_back(self_);
  for (const auto& [id, member] : members_) records.push_back(member.record);
  return records;
}

std::vector<MemberRecord> Membership::live_snapshot() const {
  std::vector<MemberRecord> records;
  records.reserve(live_count_ + 1);
  records.push_back(self_);
  for (const auto& [id, member] : members_) {
    if (member.record.state == MemberState::alive || member.record.state == MemberState::suspect)
      records.push_back(member.record);
  }
  return records;
}

void Membership::emit(EventKind kind, const MemberRecord& member, const NodeId& source) {
  out_.events.push_back(Event{kind, member, source, 0});
}

Actions Membership::take_actions() {
  Actions actions = std::move(out_);
  out_ = Actions{};
  return actions;
}

std::vector<NodeId> Membership::live_ids() const {
  std::vector<NodeId> ids;
  ids.reserve(live_count_);
  for (const RosterEntry& member : roster_) {
    if (member.state == MemberState::alive || member.state == MemberState::suspect) ids.push_back(member.id);
  }
  return ids;
}

std::vector<NodeId> Membership::pick_random(std::vector<NodeId> candidates, std::size_t count) {
  // Partial Fisher-Yates: the first `count` slots end up a uniform sample.
  const std::size_t take = std::min(count, candidates.size());
  for (std::size_t i = 0; i < take; ++i) {
    std::swap(candidates[i], candidates[i + random_.below(candidates.size() - i)]);
  }
  candidates.resize(take);
  return candidates;
}

}  // namespace starling::gossip
