// The simulated world: a single-threaded discrete-event run in virtual time
// over runtime::MemoryNetwork (one event queue; every peer's timers are its
// transport's timers), with plain security and ONE seeded generator from
// which everything random derives (fault decisions, identities, membership
// and gossip seeds, speed factors). Same seed, same calls: the same run, bit
// for bit, and the same trace hash (trace.h).
//
// Peers are the production peer core, node::Peer (membership, delta gossip,
// the connection router, the hostile-membership injector), assembled as
// `starling peer` assembles it (apps/runtime_peer.cpp), over a memory
// transport instead of libuv; the model host is the stepped trainer
// (trainer.h) instead of the training thread. A peer can crash
// (transport gone, state lost), restart (same identity and incarnation store,
// or a new identity), leave gracefully, pause and resume (nothing delivered,
// no timer fired while paused: all held, in order), and join later.
// docs/simulator.md describes the model.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "starling/gossip/config.h"
#include "starling/node/faults.h"
#include "starling/node/membership_driver.h"
#include "starling/node/peer.h"
#include "starling/node/verified_statements.h"
#include "starling/node/training_driver.h"
#include "starling/runtime/memory_network.h"
#include "starling/sim/trace.h"
#include "starling/sim/trainer.h"

namespace starling::sim {

enum class PeerPhase : std::uint8_t { down, running, paused };

// A peer's incarnation store (its data dir): the value lives in the SimPeer,
// so it survives a crash; the world is told of every save.
class SimIncarnationStore final : public node::IncarnationStore {
 public:
  SimIncarnationStore(std::optional<std::uint64_t>& value, std::function<void(std::uint64_t)> on_save)
      : value_(value), on_save_(std::move(on_save)) {}
  std::optional<std::uint64_t> load() override { return value_; }
  Status save(std::uint64_t incarnation) override {
    value_ = incarnation;
    if (on_save_) on_save_(incarnation);
    return Ok{};
  }

 private:
  std::optional<std::uint64_t>& value_;
  std::function<void(std::uint64_t)> on_save_;
};

struct SimPeer {
  int index = 0;
  int life = -1;  // -1: never started; +1 per start
  PeerPhase phase = PeerPhase::down;
  int identity_generation = 0;  // +1 per restart under a new identity
  std::string host;             // "p7"
  std::string address;          // "p7:7000", also its fault-layer name
  gossip::NodeId node_id{};
  // The incarnation store (a peer's data dir): survives a crash, not a new identity.
  std::optional<std::uint64_t> stored_incarnation;
  std::uint64_t life_first_incarnation = 0;  // the incarnation this life started with
  double speed_factor = 1.0;  // its hardware (heterogeneity)
  double slowdown = 1.0;      // straggler fault
  bool leaving = false;

  std::unique_ptr<node::Transport> transport;
  std::unique_ptr<SimIncarnationStore> incarnations;
  std::unique_ptr<SteppedTrainer> trainer;
  std::unique_ptr<node::Peer> node;
  node::Peer* slot = nullptr;  // where the trainer's answers go (null once torn down)
  // Parts of `node`, for observers (null while down; training null without a model).
  node::MembershipDriver* membership = nullptr;
  // Asked of the node each time: a recovering peer replaces its driver
  // (node::Peer::restart_training).
  node::TrainingDriver* training() const { return node ? node->training() : nullptr; }

  bool up() const { return phase != PeerPhase::down; }
};

struct WorldOptions {
  std::uint64_t seed = 1;
  std::uint64_t latency_us = 500;  // one-way delay of a perfect link (the minimum)
  gossip::Config membership = gossip::lan_config();
  double heterogeneity_sigma = 0.0;  // speed factors ~ lognormal(0, sigma), drawn per peer
  bool train = false;
  node::TrainingDriverOptions driver;  // template; seeds are set per peer
  // Builds a peer's trainer options (train only); `seed` comes from the world's generator.
  std::function<TrainerOptions(int index, std::uint64_t seed)> trainer;
  // Observers (optional): every membership event a peer has, every
  // incarnation it persists, every peer lifecycle event.
  std::function<void(int peer, const gossip::Event& event)> on_member_event;
  std::function<void(int peer, std::uint64_t incarnation)> on_incarnation;
  // Every evaluation of a training peer's own model (step count, accuracy).
  std::function<void(int peer, std::int64_t step, double accuracy)> on_evaluation;
  // Every log line a peer writes (what `starling peer` would print).
  std::function<void(int peer, node::DriverLogLevel level, std::string_view event, const std::string& message)>
      on_peer_log;
};

class World {
 public:
  explicit World(WorldOptions options);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // Makes room for peers 0..count-1 (not started); speed factors are drawn here.
  void reserve_peers(int count);
  int peer_count() const { return int(peers_.size()); }
  SimPeer& peer(int index) { return *peers_.at(std::size_t(index)); }
  const SimPeer& peer(int index) const { return *peers_.at(std::size_t(index)); }

  // Starts a peer that is down (first start or restart), joining through
  // `seeds` (peer indices; none: the first member). `joining`: download the
  // swarm's model before training.
  void start(int index, const std::vector<int>& seeds, bool joining);
  // Restart under a new identity: the next start() uses a fresh key and an
  // empty incarnation store.
  void renew_identity(int index);
  // Loses the incarnation store but keeps the identity: a broken set-up (a
  // restart then rejoins below its old incarnation), for invariant tests.
  void forget_incarnation(int index) { peer(index).stored_incarnation.reset(); }
  // SIGKILL: the transport vanishes with everything in it.
  void crash(int index);
  // SIGTERM: training links told, membership leave announced; the peer is
  // gone (as crash) once the leave drained.
  void leave(int index);
  void pause(int index);
  void resume(int index);

  // Runs every event up to virtual time `until_us` (the clock ends there).
  void run_until(std::uint64_t until_us);
  std::uint64_t now_us() const { return network_.now_us(); }

  node::FaultPolicy& faults() { return network_.faults(); }
  std::mt19937_64& generator() { return generator_; }
  TraceHash& trace() { return trace_; }
  runtime::MemoryNetwork& network() { return network_; }

  // Records a peer event in the trace (also used by the scenario executor).
  void trace_event(const std::string& what, int peer);

 private:
  void tear_down(SimPeer& peer);

  WorldOptions options_;
  std::mt19937_64 generator_;
  runtime::MemoryNetwork network_;
  // Signatures verified once for every peer of the world (node/verified_statements.h).
  std::shared_ptr<node::VerifiedStatements> verified_ = std::make_shared<node::VerifiedStatements>();
  TraceHash trace_;
  std::vector<std::unique_ptr<SimPeer>> peers_;
  std::vector<int> finished_leaves_;  // left gracefully; torn down between events
};

}  // namespace starling::sim
