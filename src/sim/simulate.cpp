// The scenario executor of the simulator: the timeline of a scenario file
// applied to a World in virtual time, poll rounds read straight from the
// peers' state (what `starling status` would answer), invariants checked as
// the run goes. Mirrors apps/scenario_runner.cpp event for event.
#include "starling/sim/simulate.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "setup.h"
#include "starling/gossip/messages.h"
#include "starling/scenario/expectations.h"
#include "starling/scenario/timeline.h"
#include "starling/sim/world.h"

namespace starling::sim {
namespace {

using nlohmann::json;
using scenario::EventKind;

constexpr std::uint64_t kSecondUs = 1'000'000;

std::uint64_t to_us(double seconds) { return std::uint64_t(std::llround(std::max(0.0, seconds) * 1e6)); }

std::string list_text(const std::vector<int>& peers) {
  std::string out;
  for (int p : peers) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

// Network faults of one peer, on what it sends (as the runtime's FaultControl).
struct PeerFaults {
  node::LinkFaults outbound;
  std::set<int> blocked;  // peers it must not send to
  double slowdown = 1.0;
  scenario::ByzantineMode byzantine = scenario::ByzantineMode::none;
  double byzantine_scale = 1.0;

  bool network_faulted() const { return !outbound.is_perfect() || !blocked.empty(); }
};

class Executor {
 public:
  Executor(const scenario::Scenario& s, const SimulateOptions& o, WorldOptions world_options)
      : s_(s), o_(o), checker_(o.invariants), timeline_(scenario::make_timeline(s)) {
    world_options.on_member_event = [this](int peer, const gossip::Event& event) { on_member_event(peer, event); };
    world_options.on_incarnation = [this](int peer, std::uint64_t incarnation) {
      checker_.persisted_incarnation(now(), peer, world_->peer(peer).identity_generation, incarnation);
    };
    world_ = std::make_unique<World>(std::move(world_options));
    rng_.seed(world_->generator()());
    for (const auto& e : s_.events) byzantine_run_ = byzantine_run_ || e.kind == EventKind::byzantine;
  }

  SimulateResult run() {
    const int total = s_.total_peers();
    world_->reserve_peers(total);
    faults_.resize(std::size_t(total));
    auto& obs = result_.observations;
    obs.started_at.assign(std::size_t(total), -1.0);
    obs.faulted.assign(std::size_t(total), false);
    obs.byzantine.assign(std::size_t(total), false);
    if (!o_.background.is_perfect()) {
      world_->faults().set_default(o_.background);
      if (o_.background.drop_probability > 0.0 || o_.background.duplicate_probability > 0.0)
        checker_.disturb_all(0.0);  // lossy everywhere: nobody's links deliver reliably
    }
    start_swarm();
    log_event("swarm_ready", "", json{{"peers", s_.swarm.peers}}, false);

    std::size_t next_action = 0;
    std::size_t next_clog = 0;
    std::vector<std::pair<double, int>> unclogs;
    double next_poll = 0.0;
    double next_progress = s_.duration_seconds / 10.0;
    while (true) {
      double next = s_.duration_seconds;
      if (next_action < timeline_.size()) next = std::min(next, timeline_[next_action].at_seconds);
      if (next_clog < o_.clogs.size()) next = std::min(next, o_.clogs[next_clog].at_seconds);
      for (const auto& [at, peer] : unclogs) next = std::min(next, at);
      next = std::min(next, next_poll);
      if (o_.breakage == Breakage::unrecorded_block && !broken_) next = std::min(next, kBreakAtSeconds);
      world_->run_until(to_us(next));
      const double t = now();
      // Due means due to the microsecond: times in the file are decimal
      // seconds, the clock counts whole microseconds.
      auto due = [this](double at_seconds) { return to_us(at_seconds) <= world_->now_us(); };
      if (o_.breakage == Breakage::unrecorded_block && !broken_ && due(kBreakAtSeconds)) {
        // Once the swarm formed, peer 1 goes silent, and nobody is told.
        broken_ = true;
        apply_network_faults({}, t);
      }
      while (next_action < timeline_.size() && due(timeline_[next_action].at_seconds)) {
        execute(timeline_[next_action]);
        obs.last_event_seconds = t;
        ++next_action;
      }
      while (next_clog < o_.clogs.size() && due(o_.clogs[next_clog].at_seconds)) {
        const Clog& clog = o_.clogs[next_clog++];
        world_->faults().clog(world_->peer(clog.peer).address, to_us(clog.at_seconds + clog.duration_seconds));
        world_->trace_event("clog", clog.peer);
        checker_.disturb(clog.peer, t);
        unclogs.emplace_back(clog.at_seconds + clog.duration_seconds, clog.peer);
      }
      for (auto it = unclogs.begin(); it != unclogs.end();) {
        if (due(it->first)) {
          checker_.calm(it->second, t);
          it = unclogs.erase(it);
        } else {
          ++it;
        }
      }
      if (due(s_.duration_seconds)) break;
      if (due(next_poll)) {
        poll(t, false);
        next_poll += s_.poll_interval_seconds;
      }
      if (o_.progress && t >= next_progress) {
        next_progress += s_.duration_seconds / 10.0;
        progress(t);
      }
    }
    poll(now(), true);
    obs.end_seconds = now();
    log_event("end", "", json{{"interrupted", false}, {"problems", result_.problems}}, false);
    result_.virtual_seconds = now();
    result_.violations = checker_.violations();
    result_.messages = world_->trace().messages();
    result_.message_bytes = world_->trace().message_bytes();
    result_.trace_events = world_->trace().events();
    result_.trace_hash = world_->trace().finish_hex();
    int started = 0;
    for (double at : obs.started_at) started += at >= 0.0;
    result_.peers = started;
    world_.reset();
    return std::move(result_);
  }

 private:
  double now() const { return double(world_->now_us()) / double(kSecondUs); }

  // ---- start-up ------------------------------------------------------------

  // Peer 0 first (the seed), then the others through it, as the process
  // runner does. Big swarms join through up to three random earlier peers,
  // spread over up to two seconds, so no one peer answers every join.
  void start_swarm() {
    const int peers = s_.swarm.peers;
    start_peer(0, {}, false);
    const std::uint64_t spacing_us = peers <= 64 ? 0 : std::min<std::uint64_t>(1000, 2 * kSecondUs / std::uint64_t(peers));
    for (int i = 1; i < peers; ++i) {
      if (spacing_us > 0) world_->run_until(std::uint64_t(i) * spacing_us);
      std::vector<int> seeds = {0};
      if (peers > 64) {
        seeds.clear();
        for (int k = 0; k < 3; ++k) seeds.push_back(int(rng_() % std::uint64_t(i)));
      }
      start_peer(i, seeds, true);
    }
    for (double& at : result_.observations.started_at)
      if (at >= 0.0) at = 0.0;
  }

  void start_peer(int index, const std::vector<int>& seeds, bool joining) {
    if (world_->peer(index).up()) return;
    world_->start(index, seeds, joining);
    node_ids_[world_->peer(index).node_id] = index;
    apply_training_faults(index);
    auto& started = result_.observations.started_at[std::size_t(index)];
    if (started < 0.0) started = now();
    log_event("start", "", json{{"peer", index}, {"life", world_->peer(index).life},
                                {"address", world_->peer(index).address}, {"seeds", seeds}},
              false);
  }

  // Up to three running peers other than `self`, lowest index first.
  std::vector<int> seeds_for(int self) const {
    std::vector<int> seeds;
    for (int i = 0; i < world_->peer_count() && seeds.size() < 3; ++i) {
      if (i != self && world_->peer(i).phase == PeerPhase::running) seeds.push_back(i);
    }
    return seeds;
  }

  std::vector<int> live_indices() const {
    std::vector<int> live;
    for (int i = 0; i < world_->peer_count(); ++i) {
      if (world_->peer(i).phase == PeerPhase::running) live.push_back(i);
    }
    return live;
  }

  // ---- events --------------------------------------------------------------

  void execute(const scenario::Action& action) {
    const scenario::Event& e = s_.events[action.event];
    std::vector<int> targets;
    if (action.undo) {
      targets = resolved_[action.event];
    } else if (e.kind == EventKind::seed_down) {
      targets = {0};
    } else if (e.kind == EventKind::partition) {
      for (const auto& group : e.groups) targets.insert(targets.end(), group.begin(), group.end());
    } else if (e.kind == EventKind::join) {
      for (int i = 0; i < e.count; ++i) targets.push_back(next_join_ + i);
    } else if (e.kind != EventKind::heal) {
      targets = scenario::resolve(e.targets, live_indices(), rng_);
    }
    if (!action.undo) resolved_[action.event] = targets;
    auto& obs = result_.observations;
    for (int p : targets) {
      if (e.kind != EventKind::join && e.kind != EventKind::restart && p < int(obs.faulted.size())) {
        obs.faulted[std::size_t(p)] = true;
        if (e.kind == EventKind::byzantine) obs.byzantine[std::size_t(p)] = true;
      }
    }
    const std::string name = action.undo ? undo_name(e.kind) : std::string(scenario::to_string(e.kind));
    const std::string label = name + (targets.empty() ? "" : " " + list_text(targets));
    world_->trace_event("timeline " + label, -1);
    json record{{"peers", targets}, {"line", e.line}};
    std::vector<int> network_changed;
    const double t = now();

    switch (e.kind) {
      case EventKind::kill:
      case EventKind::seed_down:
        for (int p : targets) crash(p);
        break;
      case EventKind::stop:
        for (int p : targets) {
          if (!world_->peer(p).up()) continue;
          world_->leave(p);
          depart(p);
        }
        break;
      case EventKind::restart:
        for (int p : targets) {
          if (world_->peer(p).up()) crash(p);
          if (e.new_identity) {
            depart(p);
            world_->renew_identity(p);
          } else if (o_.breakage == Breakage::lost_incarnation_store) {
            world_->forget_incarnation(p);
          }
          start_peer(p, seeds_for(p), true);
          departed_.erase(gossip::to_hex(world_->peer(p).node_id));
        }
        break;
      case EventKind::join:
        for (int p : targets) start_peer(p, seeds_for(p), true);
        next_join_ += e.count;
        break;
      case EventKind::pause:
        for (int p : targets) {
          if (!action.undo) {
            world_->pause(p);
            checker_.disturb(p, t);
          } else {
            world_->resume(p);
            checker_.calm(p, t);
          }
        }
        break;
      case EventKind::partition:
        if (action.undo) {
          for (int p : targets) faults(p).blocked.clear();
        } else if (e.one_way) {
          for (int p : e.groups[0]) faults(p).blocked.insert(e.groups[1].begin(), e.groups[1].end());
        } else {
          for (std::size_t g = 0; g < e.groups.size(); ++g) {
            for (int p : e.groups[g]) {
              for (std::size_t h = 0; h < e.groups.size(); ++h) {
                if (h != g) faults(p).blocked.insert(e.groups[h].begin(), e.groups[h].end());
              }
            }
          }
        }
        record["groups"] = e.groups;
        record["one_way"] = e.one_way;
        network_changed = targets;
        break;
      case EventKind::heal:
        for (int p = 0; p < int(faults_.size()); ++p) {
          if (faults(p).blocked.empty()) continue;
          faults(p).blocked.clear();
          network_changed.push_back(p);
        }
        record["peers"] = network_changed;
        break;
      case EventKind::loss:
        for (int p : targets) faults(p).outbound.drop_probability = action.undo ? 0.0 : e.percent / 100.0;
        record["percent"] = e.percent;
        network_changed = targets;
        break;
      case EventKind::duplicate:
        for (int p : targets) faults(p).outbound.duplicate_probability = action.undo ? 0.0 : e.percent / 100.0;
        record["percent"] = e.percent;
        network_changed = targets;
        break;
      case EventKind::delay:
        for (int p : targets) {
          faults(p).outbound.delay_us = action.undo ? 0 : to_us(e.delay_ms / 1000.0);
          faults(p).outbound.jitter_us = action.undo ? 0 : to_us(e.jitter_ms / 1000.0);
        }
        record["ms"] = e.delay_ms;
        record["jitter_ms"] = e.jitter_ms;
        network_changed = targets;
        break;
      case EventKind::bandwidth:
        for (int p : targets) faults(p).outbound.bandwidth_bytes_per_second = action.undo ? 0 : e.bytes_per_second;
        record["bytes_per_second"] = e.bytes_per_second;
        network_changed = targets;
        break;
      case EventKind::clear_faults:
        for (int p : targets) {
          faults(p).outbound = {};
          faults(p).blocked.clear();
        }
        network_changed = targets;
        break;
      case EventKind::straggler:
        for (int p : targets) {
          faults(p).slowdown = action.undo ? 1.0 : e.factor;
          apply_training_faults(p);
        }
        record["factor"] = e.factor;
        break;
      case EventKind::byzantine:
        for (int p : targets) {
          faults(p).byzantine = action.undo ? scenario::ByzantineMode::none : e.mode;
          faults(p).byzantine_scale = e.scale;
          apply_training_faults(p);
        }
        // A misbehaving member can make honest ones look dead to others.
        if (action.undo) checker_.calm_all(t);
        else checker_.disturb_all(t);
        record["scale"] = e.scale;
        break;
    }
    if (!network_changed.empty()) apply_network_faults(network_changed, t);
    record["event"] = name;
    log_event(name, label, std::move(record), true);
  }

  static std::string undo_name(EventKind kind) {
    switch (kind) {
      case EventKind::pause: return "resume";
      case EventKind::partition: return "heal";
      default: return std::string("end_") + scenario::to_string(kind);
    }
  }

  PeerFaults& faults(int p) { return faults_.at(std::size_t(p)); }

  void crash(int p) {
    if (!world_->peer(p).up()) return;
    world_->crash(p);
    depart(p);
  }

  void depart(int p) { departed_.insert(gossip::to_hex(world_->peer(p).node_id)); }

  // The shared fault layer: each peer's outbound faults, and every block
  // rebuilt from the peers' blocked sets (a heal clears them all first).
  void apply_network_faults(const std::vector<int>& changed, double t) {
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
    // Invariant bookkeeping: a peer is disturbed while it has any network
    // fault, or any peer may not send to it.
    for (int p = 0; p < int(faults_.size()); ++p) {
      const bool disturbed = faults(p).network_faulted() || blocked_either.count(p) != 0;
      if (disturbed) checker_.disturb(p, t);
      else checker_.calm(p, t);
    }
  }

  void apply_training_faults(int p) {
    SimPeer& peer = world_->peer(p);
    if (!peer.up()) return;
    const PeerFaults& f = faults(p);
    if (peer.trainer) peer.trainer->set_slowdown(f.slowdown);
    using M = scenario::ByzantineMode;
    const node::HostileMembershipMode hostile = f.byzantine == M::membership_lies    ? node::HostileMembershipMode::lies
                                                : f.byzantine == M::membership_flood ? node::HostileMembershipMode::flood
                                                                                     : node::HostileMembershipMode::none;
    peer.hostile->set_mode(hostile);
    if (peer.training) {
      node::ByzantineMode mode = node::ByzantineMode::none;
      if (f.byzantine == M::random_deltas) mode = node::ByzantineMode::random_deltas;
      if (f.byzantine == M::scaled_deltas) mode = node::ByzantineMode::scaled_deltas;
      if (f.byzantine == M::garbage_frames) mode = node::ByzantineMode::garbage_frames;
      peer.training->set_byzantine(mode, f.byzantine_scale);
    }
  }

  // ---- invariants fed by events -------------------------------------------

  void on_member_event(int observer, const gossip::Event& event) {
    const double t = now();
    const SimPeer& viewer = world_->peer(observer);
    const bool reaped = event.kind == gossip::EventKind::member_reaped;
    if (event.kind != gossip::EventKind::joined_swarm && event.kind != gossip::EventKind::join_retry &&
        event.kind != gossip::EventKind::self_refuted) {
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

  // ---- polling ---------------------------------------------------------------

  void poll(double t, bool final_round) {
    const bool members = final_round || o_.members_every_round_max == 0 ||
                         world_->peer_count() <= o_.members_every_round_max;
    scenario::Round round;
    round.t = t;
    std::set<std::string> running_ids;
    std::vector<std::pair<std::pair<int, int>, const Eigen::VectorXf*>> replicas;
    // Fault-free since the previous round: every peer quiet now and then.
    bool quiet_now = true;
    for (int i = 0; i < world_->peer_count() && quiet_now; ++i) quiet_now = checker_.quiet(i, t);
    fault_free_ = quiet_now && previous_round_quiet_;
    previous_round_quiet_ = quiet_now;
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
      if (p.up()) running_ids.insert(sample.node_id);
      if (sample.answered) read_peer(p, sample, members, t);
      if (p.up() && p.trainer && p.trainer->training() && p.training && p.training->status().state == "training")
        replicas.push_back({{i, p.life}, &p.trainer->parameters()});
      round.samples.push_back(std::move(sample));
    }
    for (const std::string& id : departed_) {
      if (!running_ids.count(id)) round.departed_ids.push_back(id);
    }
    result_.observations.rounds.push_back(std::move(round));
    if (s_.swarm.train && s_.swarm.lr == 0.0 && s_.swarm.clip == "off" && !byzantine_run_)
      checker_.swarm_average(t, replicas);
  }

  void read_peer(const SimPeer& p, scenario::Sample& sample, bool members, double t) {
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
      if (p.trainer->failed() && !crash_reported_.count({p.index, p.life})) {
        // The process would have exited: a crash the runner did not cause.
        crash_reported_.insert({p.index, p.life});
        result_.observations.crashes.push_back(scenario::Crash{p.index, t, "training failed: " + p.trainer->error()});
      }
      sample.accuracy = p.trainer->accuracy();
      sample.loss = p.trainer->loss();
      sample.step = std::uint64_t(p.trainer->steps());
    }
    if (p.training) {
      const node::TrainingDriverStatus status = p.training->status();
      sample.training_state = status.state;
      sample.consensus_distance = status.consensus_distance;
      if (!byzantine_run_) checker_.digest_mismatches(t, p.index, p.life, status.digest_mismatches, fault_free_);
    }
  }

  void progress(double t) {
    const auto& rounds = result_.observations.rounds;
    std::string line = "t " + std::to_string(int(t)) + "/" + std::to_string(int(s_.duration_seconds)) + " s";
    if (!rounds.empty()) {
      const auto accuracy = scenario::summarize_accuracy(rounds.back());
      line += " | peers " + std::to_string(accuracy.live) + " up";
      if (accuracy.reporting > 0) {
        char text[64];
        std::snprintf(text, sizeof text, " | acc min %.3f mean %.3f", accuracy.min, accuracy.mean);
        line += text;
      }
    }
    line += " | " + std::to_string(world_->trace().messages()) + " messages";
    if (!checker_.violations().empty()) line += " | " + std::to_string(checker_.violations().size()) + " violations";
    o_.progress(line);
  }

  void log_event(const std::string& kind, const std::string& label, json record, bool marker) {
    const double t = now();
    record["t"] = std::round(t * 1000.0) / 1000.0;
    if (!record.contains("event")) record["event"] = kind;
    result_.observations.events.push_back(scenario::LoggedEvent{
        t, kind, label, record.dump(-1, ' ', false, json::error_handler_t::replace), marker});
  }

  const scenario::Scenario& s_;
  const SimulateOptions& o_;
  InvariantChecker checker_;
  std::unique_ptr<World> world_;
  std::mt19937_64 rng_;
  std::vector<scenario::Action> timeline_;
  std::vector<PeerFaults> faults_;
  std::map<std::size_t, std::vector<int>> resolved_;
  std::map<gossip::NodeId, int> node_ids_;
  std::set<std::string> departed_;
  std::set<std::pair<int, int>> crash_reported_;
  bool byzantine_run_ = false;
  static constexpr double kBreakAtSeconds = 3.0;
  bool broken_ = false;  // Breakage::unrecorded_block applied
  bool fault_free_ = true;
  bool previous_round_quiet_ = true;
  int next_join_ = 0;
  SimulateResult result_;

 public:
  void set_first_join(int index) { next_join_ = index; }
};

}  // namespace

Result<std::shared_ptr<const ml::TrainTest>> load_scenario_data(const scenario::Scenario& scenario) {
  auto data = ml::load_dataset(scenario.swarm.data, scenario.seed);
  if (!data) return data.error();
  if (data->train.size() == 0) return make_error(ErrorKind::invalid_argument, "the training set is empty");
  ml::standardize(*data);
  return std::shared_ptr<const ml::TrainTest>(std::make_shared<ml::TrainTest>(std::move(*data)));
}

SimulateResult simulate(const scenario::Scenario& scenario, const SimulateOptions& options) {
  std::shared_ptr<const ml::TrainTest> data = options.data;
  if (scenario.swarm.train && !detail::is_synthetic(scenario.swarm) && !data) {
    auto loaded = load_scenario_data(scenario);
    if (!loaded) {
      SimulateResult failed;
      failed.problems.push_back("cannot load data '" + scenario.swarm.data + "': " + loaded.error().message);
      return failed;
    }
    data = *loaded;
  }
  WorldOptions world;
  if (Status configured = detail::configure_world(scenario, options, data, world); !configured) {
    SimulateResult failed;
    failed.problems.push_back(configured.error().message);
    return failed;
  }
  // A disturbance counts until suspicions raised during it could have been
  // refuted: twice the profile's minimum suspicion timeout at this swarm size.
  SimulateOptions effective = options;
  const double members = std::max(1.0, std::log10(double(std::max(1, scenario.total_peers()))));
  const double suspicion_seconds =
      double(world.membership.suspicion_mult) * members * double(world.membership.probe_interval_ms) / 1000.0;
  effective.invariants.grace_seconds = std::max(options.invariants.grace_seconds, 2.0 * suspicion_seconds + 2.0);
  Executor executor(scenario, effective, std::move(world));
  executor.set_first_join(scenario.swarm.peers);
  return executor.run();
}

}  // namespace starling::sim
