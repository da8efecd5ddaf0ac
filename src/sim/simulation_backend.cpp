#include "starling/sim/simulation_backend.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "starling/gossip/messages.h"

namespace starling::sim {
namespace {

constexpr double kSecondUs = 1e6;

// Rounded up, so advance_to(t) always ends at or after t: times in a file
// are decimal seconds, the clock counts whole microseconds.
std::uint64_t ceil_us(double seconds) {
  seconds = std::max(0.0, seconds);
  auto us = std::uint64_t(std::ceil(seconds * kSecondUs));
  while (double(us) / kSecondUs < seconds) ++us;  // now_seconds() is us / 1e6: it must reach `seconds`
  return us;
}

}  // namespace

SimulationBackend::SimulationBackend(const scenario::Scenario& s, const SimulateOptions& o, WorldOptions world)
    : s_(s), o_(o), checker_(o.invariants) {
  world.on_member_event = [this](int peer, const gossip::Event& event) { on_member_event(peer, event); };
  world.on_incarnation = [this](int peer, std::uint64_t incarnation) {
    checker_.persisted_incarnation(now(), peer, world_->peer(peer).identity_generation, incarnation);
  };
  world.on_evaluation = [this](int peer, std::int64_t step, double accuracy) { on_evaluation(peer, step, accuracy); };
  if (o.on_peer_log) {
    world.on_peer_log = [this](int peer, node::DriverLogLevel level, std::string_view event, const std::string& message) {
      o_.on_peer_log(now(), peer, level, event, message);
    };
  }
  world_ = std::make_unique<World>(std::move(world));
  seeds_random_.seed(world_->generator()());
  for (const auto& e : s_.events) byzantine_run_ = byzantine_run_ || e.kind == scenario::EventKind::byzantine;
  const int total = s_.total_peers();
  world_->reserve_peers(total);
  faults_.resize(std::size_t(total));
  recent_accuracy_.resize(std::size_t(total));
  reached_.assign(std::size_t(total), false);
  if (!o_.background.is_perfect()) {
    world_->faults().set_default(o_.background);
    if (o_.background.drop_probability > 0.0 || o_.background.duplicate_probability > 0.0)
      checker_.disturb_all(0.0);  // lossy everywhere: nobody's links deliver reliably
  }
}

SimulationBackend::~SimulationBackend() { shutdown(); }

double SimulationBackend::now_seconds() const { return double(world_->now_us()) / kSecondUs; }

int SimulationBackend::peers_started() const {
  int started = 0;
  for (int i = 0; i < world_->peer_count(); ++i) started += world_->peer(i).life >= 0;
  return started;
}

std::string SimulationBackend::finish_trace() { return world_->trace().finish_hex(); }

// ---- time -----------------------------------------------------------------

void SimulationBackend::advance_to(double seconds) {
  const std::uint64_t until_us = ceil_us(seconds);
  while (world_->now_us() < until_us) {
    // Stop at every clog start or end and at the breakage on the way.
    std::uint64_t next_us = until_us;
    if (next_clog_ < o_.clogs.size()) next_us = std::min(next_us, ceil_us(o_.clogs[next_clog_].at_seconds));
    for (const auto& [at, peer] : unclogs_) next_us = std::min(next_us, ceil_us(at));
    if (o_.breakage == Breakage::unrecorded_block && !broken_) next_us = std::min(next_us, ceil_us(kBreakAtSeconds));
    world_->run_until(std::max(next_us, world_->now_us()));
    run_side_schedule();
    if (next_us == world_->now_us() && next_us == until_us) break;
  }
  run_side_schedule();
}

void SimulationBackend::run_side_schedule() {
  const std::uint64_t now_us = world_->now_us();
  const double t = now();
  if (o_.breakage == Breakage::unrecorded_block && !broken_ && ceil_us(kBreakAtSeconds) <= now_us) {
    // Once the swarm formed, peer 1 goes silent, and nobody is told.
    broken_ = true;
    apply_network_faults({});
  }
  while (next_clog_ < o_.clogs.size() && ceil_us(o_.clogs[next_clog_].at_seconds) <= now_us) {
    const Clog& clog = o_.clogs[next_clog_++];
    if (clog.peer >= world_->peer_count()) continue;
    world_->faults().clog(world_->peer(clog.peer).address, ceil_us(clog.at_seconds + clog.duration_seconds));
    world_->trace_event("clog", clog.peer);
    checker_.disturb(clog.peer, t);
    unclogs_.emplace_back(clog.at_seconds + clog.duration_seconds, clog.peer);
  }
  for (auto it = unclogs_.begin(); it != unclogs_.end();) {
    if (ceil_us(it->first) <= now_us) {
      checker_.calm(it->second, t);
      it = unclogs_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---- the swarm --------------------------------------------------------------

// Peer 0 first (the seed), then the others through it, as the process
// backend does. Big swarms join through three random earlier peers, spread
// over up to two seconds, so no one peer answers every join.
scenario::Problems SimulationBackend::start_swarm(int peers, scenario::SwarmLog& log) {
  log_ = &log;
  start_peer(0, {}, false);
  const std::uint64_t spacing_us = peers <= 64 ? 0 : std::min<std::uint64_t>(1000, 2'000'000 / std::uint64_t(peers));
  for (int i = 1; i < peers; ++i) {
    if (spacing_us > 0) world_->run_until(std::uint64_t(i) * spacing_us);
    if (out_of_memory()) return {scenario::Problem{-1, "out of memory while starting peer " + std::to_string(i)}};
    std::vector<int> seeds = {0};
    if (peers > 64) {
      seeds.clear();
      for (int k = 0; k < 3; ++k) seeds.push_back(int(seeds_random_() % std::uint64_t(i)));
    }
    start_peer(i, seeds, true);
  }
  return {};
}

void SimulationBackend::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  for (int i = 0; i < world_->peer_count(); ++i) {
    if (world_->peer(i).up()) world_->crash(i);
  }
}

void SimulationBackend::start_peer(int index, const std::vector<int>& seeds, bool joining) {
  if (world_->peer(index).up()) return;
  recent_accuracy_.at(std::size_t(index)).clear();  // a new life is judged on its own evaluations
  reached_.at(std::size_t(index)) = false;
  world_->start(index, seeds, joining);
  node_ids_[world_->peer(index).node_id] = index;
  apply_training_faults(index);
  // Its faults survive a restart (blocks are kept by address in the policy).
  if (faults(index).network_faulted()) world_->faults().set_outbound(world_->peer(index).address, faults(index).outbound);
  if (log_ != nullptr) {
    const SimPeer& p = world_->peer(index);
    log_->note("start", "",
               nlohmann::json{{"peer", index}, {"life", p.life}, {"address", p.address}, {"seeds", seeds}}.dump(), false);
  }
}

// Up to three running peers other than `self`, lowest index first.
std::vector<int> SimulationBackend::seeds_for(int self) const {
  std::vector<int> seeds;
  for (int i = 0; i < world_->peer_count() && seeds.size() < 3; ++i) {
    if (i != self && world_->peer(i).phase == PeerPhase::running) seeds.push_back(i);
  }
  return seeds;
}

// ---- events -----------------------------------------------------------------

scenario::Problems SimulationBackend::kill(const std::vector<int>& peers) {
  for (int p : peers) world_->crash(p);
  return {};
}

scenario::Problems SimulationBackend::stop(const std::vector<int>& peers) {
  for (int p : peers) world_->leave(p);
  return {};
}

scenario::Problems SimulationBackend::restart(const std::vector<int>& peers, bool new_identity) {
  for (int p : peers) {
    world_->crash(p);
    if (new_identity) world_->renew_identity(p);
    else if (o_.breakage == Breakage::lost_incarnation_store) world_->forget_incarnation(p);
    start_peer(p, seeds_for(p), true);
  }
  return {};
}

scenario::Problems SimulationBackend::join(const std::vector<int>& peers) {
  for (int p : peers) start_peer(p, seeds_for(p), true);
  return {};
}

scenario::Problems SimulationBackend::pause(const std::vector<int>& peers) {
  for (int p : peers) {
    world_->pause(p);
    checker_.disturb(p, now());
  }
  return {};
}

scenario::Problems SimulationBackend::resume(const std::vector<int>& peers) {
  for (int p : peers) {
    world_->resume(p);
    checker_.calm(p, now());
  }
  return {};
}

scenario::Problems SimulationBackend::partition(const std::vector<std::vector<int>>& groups, bool one_way) {
  std::vector<int> changed;
  if (one_way) {
    for (int p : groups[0]) faults(p).blocked.insert(groups[1].begin(), groups[1].end());
  } else {
    for (std::size_t g = 0; g < groups.size(); ++g) {
      for (int p : groups[g]) {
        for (std::size_t h = 0; h < groups.size(); ++h) {
          if (h != g) faults(p).blocked.insert(groups[h].begin(), groups[h].end());
        }
      }
    }
  }
  for (const auto& group : groups) changed.insert(changed.end(), group.begin(), group.end());
  apply_network_faults(changed);
  return {};
}

scenario::Problems SimulationBackend::heal(const std::vector<int>& peers) {
  for (int p : peers) faults(p).blocked.clear();
  apply_network_faults(peers);
  return {};
}

scenario::Problems SimulationBackend::set_loss(const std::vector<int>& peers, double fraction) {
  for (int p : peers) faults(p).outbound.drop_probability = fraction;
  apply_network_faults(peers);
  return {};
}

scenario::Problems SimulationBackend::set_duplicate(const std::vector<int>& peers, double fraction) {
  for (int p : peers) faults(p).outbound.duplicate_probability = fraction;
  apply_network_faults(peers);
  return {};
}

scenario::Problems SimulationBackend::set_delay(const std::vector<int>& peers, double delay_ms, double jitter_ms) {
  for (int p : peers) {
    faults(p).outbound.delay_us = std::uint64_t(std::llround(std::max(0.0, delay_ms) * 1000.0));
    faults(p).outbound.jitter_us = std::uint64_t(std::llround(std::max(0.0, jitter_ms) * 1000.0));
  }
  apply_network_faults(peers);
  return {};
}

scenario::Problems SimulationBackend::set_bandwidth(const std::vector<int>& peers, std::uint64_t bytes_per_second) {
  for (int p : peers) faults(p).outbound.bandwidth_bytes_per_second = bytes_per_second;
  apply_network_faults(peers);
  return {};
}

scenario::Problems SimulationBackend::clear_faults(const std::vector<int>& peers) {
  for (int p : peers) {
    faults(p).outbound = {};
    faults(p).blocked.clear();
  }
  apply_network_faults(peers);
  return {};
}

scenario::Problems SimulationBackend::set_straggler(const std::vector<int>& peers, double factor) {
  for (int p : peers) {
    faults(p).slowdown = factor;
    apply_training_faults(p);
  }
  return {};
}

scenario::Problems SimulationBackend::set_byzantine(const std::vector<int>& peers, scenario::ByzantineMode mode,
                                                    double scale) {
  for (int p : peers) {
    faults(p).byzantine = mode;
    faults(p).byzantine_scale = scale;
    apply_training_faults(p);
  }
  // A misbehaving member can make honest ones look dead to others.
  bool any = false;
  for (const PeerFaults& f : faults_) any = any || f.byzantine != scenario::ByzantineMode::none;
  if (any) checker_.disturb_all(now());
  else checker_.calm_all(now());
  return {};
}

// The shared fault layer: each peer's outbound faults, and every block
// rebuilt from the peers' blocked sets (a heal clears them all first).
void SimulationBackend::apply_network_faults(const std::vector<int>& changed) {
  node::FaultPolicy& policy = world_->faults();
  for (int p : changed) policy.set_outbound(world_->peer(p).address, faults(p).outbound);
  policy.heal();
  if (broken_) {
    for (int to = 0; to < world_->peer_count(); ++to)
      if (to != 1) policy.block(world_->peer(1).address, world_->peer(to).address);
  }
  std::set<int> blocked_either;
  for (int p = 0; p < int(faults_.size()); ++p) {
    for (int q : faults(p).blocked) {
      policy.block(world_->peer(p).address, world_->peer(q).address);
      blocked_either.insert(p);
      blocked_either.insert(q);
    }
  }
  // Clogs in force survive the heal.
  for (const auto& [until, peer] : unclogs_) policy.clog(world_->peer(peer).address, ceil_us(until));
  // Invariant bookkeeping: a peer is disturbed while it has any network
  // fault, or any peer may not send to it.
  const double t = now();
  for (int p = 0; p < int(faults_.size()); ++p) {
    const bool disturbed = faults(p).network_faulted() || blocked_either.count(p) != 0;
    if (disturbed) checker_.disturb(p, t);
    else checker_.calm(p, t);
  }
}

void SimulationBackend::apply_training_faults(int p) {
  SimPeer& peer = world_->peer(p);
  if (!peer.up()) return;
  const PeerFaults& f = faults(p);
  if (peer.trainer) peer.trainer->set_slowdown(f.slowdown);
  using M = scenario::ByzantineMode;
  const node::HostileMembershipMode hostile = f.byzantine == M::membership_lies    ? node::HostileMembershipMode::lies
                                              : f.byzantine == M::membership_flood ? node::HostileMembershipMode::flood
                                                                                   : node::HostileMembershipMode::none;
  peer.node->set_hostile_membership(hostile);
  if (peer.training() != nullptr) {
    node::ByzantineMode mode = node::ByzantineMode::none;
    if (f.byzantine == M::random_deltas) mode = node::ByzantineMode::random_deltas;
    if (f.byzantine == M::scaled_deltas) mode = node::ByzantineMode::scaled_deltas;
    if (f.byzantine == M::garbage_frames) mode = node::ByzantineMode::garbage_frames;
    if (f.byzantine == M::drift_deltas) mode = node::ByzantineMode::drift_deltas;
    peer.node->set_byzantine(mode, f.byzantine_scale);
  }
}

// ---- invariants fed by membership events --------------------------------------

void SimulationBackend::on_member_event(int observer, const gossip::Event& event) {
  const double t = now();
  const SimPeer& viewer = world_->peer(observer);
  const bool reaped = event.kind == gossip::EventKind::member_reaped;
  if (event.kind != gossip::EventKind::joined_swarm && event.kind != gossip::EventKind::join_retry &&
      event.kind != gossip::EventKind::self_refuted && event.kind != gossip::EventKind::identity_in_use) {
    checker_.observed_incarnation(t, observer, viewer.life, event.member.node_id, event.member.incarnation, reaped);
  }
  if (event.kind != gossip::EventKind::member_dead) return;
  auto found = node_ids_.find(event.member.node_id);
  if (found == node_ids_.end()) return;
  const SimPeer& accused = world_->peer(found->second);
  // Only the accused's current identity counts (a renewed one is someone else now).
  if (accused.node_id != event.member.node_id) return;
  checker_.member_dead(t, observer, found->second, accused.up() && !accused.leaving, event.member.incarnation,
                       accused.life_first_incarnation);
}

// ---- observation -----------------------------------------------------------------

bool views_read(int peers, int max_peers, std::uint64_t poll, bool final_round) {
  if (final_round || max_peers <= 0 || peers <= max_peers) return true;
  const double ratio = double(peers) / double(max_peers);
  const auto stride = std::uint64_t(std::ceil(ratio * ratio));
  return poll % stride == 0;
}

std::vector<scenario::Sample> SimulationBackend::sample(const scenario::SampleRequest& request) {
  const double t = now();
  const bool members = views_read(world_->peer_count(), o_.members_every_round_max, polls_++, request.final_round);
  bool quiet_now = true;
  for (int i = 0; i < world_->peer_count() && quiet_now; ++i) quiet_now = checker_.quiet(i, t);
  fault_free_ = quiet_now && previous_round_quiet_;
  previous_round_quiet_ = quiet_now;

  std::vector<scenario::Sample> samples;
  std::vector<std::pair<std::pair<int, int>, const Eigen::VectorXf*>> replicas;
  for (int i = 0; i < world_->peer_count(); ++i) {
    const SimPeer& p = world_->peer(i);
    if (p.life < 0) continue;
    scenario::Sample sample;
    sample.peer = i;
    sample.life = p.life;
    sample.phase = p.phase == PeerPhase::running  ? scenario::PeerPhase::running
                   : p.phase == PeerPhase::paused ? scenario::PeerPhase::paused
                                                  : scenario::PeerPhase::down;
    sample.node_id = gossip::to_hex(p.node_id);
    sample.address = p.address;
    // A stopped process answers nobody; neither does one on its way out.
    sample.answered = p.phase == PeerPhase::running && !p.leaving;
    sample.members_listed = members;
    if (sample.answered) read_peer(p, sample, members);
    if (p.up() && p.trainer && p.trainer->training() && p.training() && p.training()->status().state == "training") {
      p.trainer->settle();
      replicas.push_back({{i, p.life}, &p.trainer->parameters()});
    }
    samples.push_back(std::move(sample));
  }
  if (s_.swarm.train && s_.swarm.lr == 0.0 && s_.swarm.clip == "off" && !byzantine_run_)
    checker_.swarm_average(t, replicas);
  if (!replicas.empty()) record_spread(t, replicas);
  return samples;
}

void SimulationBackend::record_spread(
    double t, const std::vector<std::pair<std::pair<int, int>, const Eigen::VectorXf*>>& replicas) {
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(replicas.front().second->size());
  for (const auto& [who, x] : replicas) {
    if (x->size() != mean.size()) return;
    mean += x->cast<double>();
  }
  mean /= double(replicas.size());
  double spread = 0.0;
  for (const auto& [who, x] : replicas) spread += (x->cast<double>() - mean).squaredNorm();
  std::vector<std::pair<int, int>> members;
  for (const auto& [who, x] : replicas) members.push_back(who);
  if (members != spread_members_) {
    spread_members_ = std::move(members);
    spread_reference_ = mean.cast<float>();
  }
  SpreadRecord record;
  record.t = t;
  record.replicas = int(replicas.size());
  record.spread = spread / double(replicas.size());
  record.mean_norm = mean.norm();
  record.mean_moved = (mean - spread_reference_.cast<double>()).norm();
  spread_.push_back(record);
  if (o_.on_spread) o_.on_spread(record);
}

// ---- evaluations and the early stop -------------------------------------------------

void SimulationBackend::on_evaluation(int peer, std::int64_t step, double accuracy) {
  const SimPeer& p = world_->peer(peer);
  EvaluationRecord record;
  record.peer = peer;
  record.life = p.life;
  record.t = now();
  record.step = step;
  record.accuracy = accuracy;
  if (p.transport) record.traffic = p.transport->stats();
  evaluations_.push_back(record);
  if (o_.on_evaluation) o_.on_evaluation(record);
  // The reach test (SimulateOptions::stop_at_accuracy): the mean of this
  // life's last stop_window evaluations, latched once it reached the target.
  std::vector<double>& recent = recent_accuracy_.at(std::size_t(peer));
  recent.push_back(accuracy);
  const std::size_t window = std::size_t(std::max(1, o_.stop_window));
  if (recent.size() > window) recent.erase(recent.begin());
  if (o_.stop_at_accuracy && recent.size() == window) {
    double sum = 0.0;
    for (double a : recent) sum += a;
    if (sum / double(window) >= *o_.stop_at_accuracy) reached_.at(std::size_t(peer)) = true;
  }
}

bool SimulationBackend::every_peer_reached() const {
  bool any = false;
  for (int i = 0; i < world_->peer_count(); ++i) {
    const SimPeer& p = world_->peer(i);
    if (p.phase != PeerPhase::running || !p.trainer) continue;
    if (!reached_.at(std::size_t(i))) return false;
    any = true;
  }
  return any;
}

void SimulationBackend::read_peer(const SimPeer& p, scenario::Sample& sample, bool members) {
  const double t = now();
  const node::TransportStats stats = p.transport->stats();
  sample.bytes_sent = stats.bytes_sent;
  sample.bytes_received = stats.bytes_received;
  if (members) {
    const gossip::MembershipView view = p.membership->view();
    const auto now_ms = std::int64_t(p.membership->now_ms());
    sample.members.reserve(view.members.size());
    for (const auto& member : view.members) {
      sample.members.push_back({gossip::to_hex(member.record.node_id), gossip::to_string(member.record.state),
                                member.record.address, double(now_ms - member.state_since_ms) / 1000.0});
    }
  }
  if (p.trainer) {
    // A failed replica withdraws and recovers, as `starling peer` does
    // without exiting: each failure is a record, not a crash.
    int& reported = failures_reported_[{p.index, p.life}];
    if (p.trainer->failures() > reported && log_ != nullptr) {
      reported = p.trainer->failures();
      log_->note("training_failed", "",
                 nlohmann::json{{"peer", p.index}, {"life", p.life}, {"failures", reported},
                                {"error", p.trainer->error()}}
                     .dump(),
                 false);
    }
    sample.accuracy = p.trainer->accuracy();
    sample.local_average_accuracy = p.trainer->local_average_accuracy();
    sample.loss = p.trainer->loss();
    sample.step = std::uint64_t(p.trainer->steps());
  }
  if (const auto training = p.node ? p.node->training_status() : std::nullopt) {
    const node::TrainingDriverStatus& status = *training;
    sample.training_state = status.state;
    sample.consensus_distance = status.consensus_distance;
    for (const node::NeighbourStatus& n : status.neighbours)
      sample.neighbour_trust.emplace_back(gossip::to_hex(n.node_id), n.trust);
    if (!byzantine_run_) checker_.digest_mismatches(t, p.index, p.life, status.digest_mismatches, fault_free_);
  }
}

}  // namespace starling::sim
