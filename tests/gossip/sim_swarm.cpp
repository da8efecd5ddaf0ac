#include "sim_swarm.h"

#include <algorithm>

#include "starling/assert.h"

namespace starling::gossip::testing {

namespace {
bool later(const auto& a, const auto& b) {
  if (a.time_ms != b.time_ms) return a.time_ms > b.time_ms;
  return a.order > b.order;
}
}  // namespace

Config test_config() { return lan_config(); }

SimSwarm::SimSwarm(std::uint64_t seed, Config config, NetworkFaults faults)
    : config_(std::move(config)),
      random_(seed),
      datagram_faults_(std::mt19937_64(seed ^ 0x6461746167726d73ull)),
      stream_faults_(std::mt19937_64(seed ^ 0x73747265616d7373ull)) {
  set_faults(faults);
}

void SimSwarm::set_faults(NetworkFaults faults) {
  STARLING_ASSERT(faults.delay_min_ms >= 0 && faults.delay_max_ms >= faults.delay_min_ms);
  node::LinkFaults link;
  link.delay_us = static_cast<std::uint64_t>(faults.delay_min_ms) * 1000;
  link.jitter_us = static_cast<std::uint64_t>(faults.delay_max_ms - faults.delay_min_ms) * 1000;
  stream_faults_.set_default(link);
  link.drop_probability = faults.loss;
  datagram_faults_.set_default(link);
}

void SimSwarm::partition(const std::vector<int>& group_of_peer) {
  STARLING_ASSERT(group_of_peer.size() == peers_.size());
  std::map<int, std::vector<node::PeerKey>> members;
  for (std::size_t i = 0; i < group_of_peer.size(); ++i) members[group_of_peer[i]].push_back(peers_[i].address);
  std::vector<std::vector<node::PeerKey>> groups;
  for (auto& [group, addresses] : members) groups.push_back(std::move(addresses));
  datagram_faults_.partition(groups);
  stream_faults_.partition(groups);
}

void SimSwarm::heal() {
  datagram_faults_.heal();
  stream_faults_.heal();
}

std::size_t SimSwarm::add_nodes(std::size_t count) {
  const std::size_t first = peers_.size();
  for (std::size_t i = 0; i < count; ++i) {
    Peer peer;
    peer.authority = fake_authority(random_.next());
    peer.id = peer.authority->node_id();
    const std::size_t index = peers_.size();
    peer.address = "10.0." + std::to_string(index / 250) + "." + std::to_string(index % 250 + 1) + ":7946";
    index_of_address_[peer.address] = index;
    peers_.push_back(std::move(peer));
  }
  return first;
}

void SimSwarm::start(std::size_t index, const std::vector<std::size_t>& seeds, std::uint64_t initial_incarnation) {
  Peer& peer = peers_.at(index);
  STARLING_ASSERT(peer.machine == nullptr);
  ++peer.generation;
  peer.armed_ms = std::numeric_limits<std::int64_t>::max();
  peer.machine = std::make_unique<Membership>(config_, Identity{peer.id, peer.address, initial_incarnation, peer.authority},
                                              random_.next(), now_ms_);
  std::vector<std::string> seed_addresses;
  for (std::size_t seed : seeds) seed_addresses.push_back(peers_.at(seed).address);
  apply(index, peer.machine->join(seed_addresses, now_ms_));
}

void SimSwarm::start_all(std::optional<std::size_t> seed) {
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (running(i)) continue;
    if (seed && *seed != i) {
      start(i, {*seed});
    } else {
      start(i, {});
    }
  }
}

void SimSwarm::crash(std::size_t index) { peers_.at(index).machine.reset(); }

void SimSwarm::renew_identity(std::size_t index) {
  Peer& peer = peers_.at(index);
  STARLING_ASSERT(peer.machine == nullptr);
  peer.authority = fake_authority(random_.next());
  peer.id = peer.authority->node_id();
}

void SimSwarm::adopt_identity(std::size_t index, std::size_t from) {
  Peer& peer = peers_.at(index);
  STARLING_ASSERT(peer.machine == nullptr);
  peer.authority = peers_.at(from).authority;
  peer.id = peer.authority->node_id();
}

void SimSwarm::leave(std::size_t index) { apply(index, node(index).leave(now_ms_)); }

Membership& SimSwarm::node(std::size_t index) {
  STARLING_ASSERT(running(index));
  return *peers_.at(index).machine;
}

void SimSwarm::push(Pending pending) {
  pending.order = next_order_++;
  queue_.push_back(std::move(pending));
  std::push_heap(queue_.begin(), queue_.end(), [](const Pending& a, const Pending& b) { return later(a, b); });
}

std::optional<std::size_t> SimSwarm::index_of(const std::string& address) const {
  const auto it = index_of_address_.find(address);
  if (it == index_of_address_.end()) return std::nullopt;
  return it->second;
}

void SimSwarm::apply(std::size_t index, Actions actions) {
  for (Event& event : actions.events) events_.push_back(LoggedEvent{now_ms_, index, std::move(event)});
  for (Outgoing& out : actions.sends) {
    const std::optional<std::size_t> to = index_of(out.to_address);
    if (out.transport == Transport::datagram) ++datagrams_sent_;
    if (!to && out.transport == Transport::datagram) ++datagrams_unroutable_;
    if (to && tamper) tamper(index, *to, out.message);
    const bool datagram = out.transport == Transport::datagram;
    node::FaultDecision fate;
    fate.copies = 0;
    if (to && !(drop_rule && drop_rule(index, *to, out.message))) {
      node::FaultPolicy& faults = datagram ? datagram_faults_ : stream_faults_;
      // Sizes do not matter here (no bandwidth caps): the codec is skipped.
      // Say which traffic it is: a stream's loss costs retransmission time,
      // a datagram's loses it (decide's default is a stream, under which
      // no datagram was lost here since 15a9d2a).
      fate = faults.decide(peers_[index].address, peers_[*to].address, 0, static_cast<std::uint64_t>(now_ms_) * 1000,
                           datagram ? node::FaultPolicy::Traffic::datagram : node::FaultPolicy::Traffic::stream);
    }
    if (fate.dropped()) {
      if (datagram) ++datagrams_dropped_;
      continue;
    }
    for (std::size_t copy = 0; copy < fate.copies; ++copy) {
      Pending pending;
      // Whole milliseconds, rounded up: the harness's clock is in ms.
      pending.time_ms = now_ms_ + static_cast<std::int64_t>((fate.delay_us[copy] + 999) / 1000);
      pending.to = *to;
      pending.from_address = peers_[index].address;
      pending.message = copy + 1 < fate.copies ? out.message : std::move(out.message);
      push(std::move(pending));
    }
  }
  rearm(index);
}

void SimSwarm::rearm(std::size_t index) {
  Peer& peer = peers_.at(index);
  if (!peer.machine) return;
  const std::int64_t deadline = std::max(now_ms_, peer.machine->next_deadline_ms());
  if (deadline >= peer.armed_ms) return;
  peer.armed_ms = deadline;
  Pending timer;
  timer.time_ms = deadline;
  timer.is_timer = true;
  timer.to = index;
  timer.generation = peer.generation;
  push(std::move(timer));
}

void SimSwarm::run_until(std::int64_t time_ms) {
  const auto cmp = [](const Pending& a, const Pending& b) { return later(a, b); };
  while (!queue_.empty() && queue_.front().time_ms <= time_ms) {
    std::pop_heap(queue_.begin(), queue_.end(), cmp);
    Pending pending = std::move(queue_.back());
    queue_.pop_back();
    now_ms_ = pending.time_ms;
    Peer& peer = peers_.at(pending.to);
    if (!peer.machine) continue;  // crashed: timers die, messages are lost
    if (pending.is_timer) {
      if (pending.generation != peer.generation || pending.time_ms != peer.armed_ms) continue;  // superseded
      peer.armed_ms = std::numeric_limits<std::int64_t>::max();
      apply(pending.to, peer.machine->tick(now_ms_));
    } else {
      apply(pending.to, peer.machine->on_message(pending.from_address, pending.message, now_ms_));
    }
  }
  now_ms_ = std::max(now_ms_, time_ms);
}

std::optional<std::int64_t> SimSwarm::run_until_true(const std::function<bool()>& done, std::int64_t limit_ms,
                                                     std::int64_t step_ms) {
  const std::int64_t start = now_ms_;
  while (!done()) {
    if (now_ms_ - start >= limit_ms) return std::nullopt;
    run_for(step_ms);
  }
  return now_ms_ - start;
}

std::optional<MemberRecord> SimSwarm::belief(std::size_t observer, std::size_t subject) const {
  const Peer& peer = peers_.at(observer);
  if (!peer.machine) return std::nullopt;
  const MemberRecord* record = peer.machine->find(peers_.at(subject).id);
  if (!record) return std::nullopt;
  return *record;
}

bool SimSwarm::all_see(std::size_t subject, MemberState state) const {
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (i == subject || !running(i)) continue;
    const std::optional<MemberRecord> record = belief(i, subject);
    if (!record || record->state != state) return false;
  }
  return true;
}

bool SimSwarm::converged() const {
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (running(i) && !all_see(i, MemberState::alive)) return false;
  }
  return true;
}

std::size_t SimSwarm::count_events(EventKind kind, std::optional<std::size_t> about) const {
  return static_cast<std::size_t>(std::count_if(events_.begin(), events_.end(), [&](const LoggedEvent& logged) {
    return logged.event.kind == kind && (!about || logged.event.member.node_id == peers_.at(*about).id);
  }));
}

}  // namespace starling::gossip::testing
