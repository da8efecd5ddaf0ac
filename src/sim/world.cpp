#include "starling/sim/world.h"

#include "claimed_identity.h"

#include <cmath>

#include "starling/assert.h"
#include "starling/crypto/hash.h"
#include "starling/crypto/keys.h"
#include "starling/node/record_authority.h"

namespace starling::sim {
namespace {

constexpr std::uint16_t kPort = 7000;

// A deterministic identity per (run, peer, generation): an Ed25519 key from a
// seed hashed out of those three, so node ids replay with the run.
crypto::Identity identity_for(std::uint64_t world_seed, int index, int generation) {
  const crypto::Hash256 seed = crypto::hash256("starling-sim identity " + std::to_string(world_seed) + " " +
                                               std::to_string(index) + " " + std::to_string(generation));
  return crypto::Identity::from_seed(std::span<const std::uint8_t, 32>(seed));
}

}  // namespace

World::World(WorldOptions options)
    : options_(std::move(options)), generator_(options_.seed), network_(generator_()) {
  network_.set_latency_us(options_.latency_us);
  network_.set_delivery_observer([this](const runtime::MemoryDelivery& delivery) {
    trace_.message(delivery.from_host, delivery.to_host, delivery.at_us, delivery.bytes, delivery.datagram);
  });
}

World::~World() {
  for (auto& peer : peers_) {
    if (peer->up()) tear_down(*peer);
  }
}

void World::reserve_peers(int count) {
  std::lognormal_distribution<double> speed(0.0, options_.heterogeneity_sigma);
  while (int(peers_.size()) < count) {
    auto peer = std::make_unique<SimPeer>();
    peer->index = int(peers_.size());
    peer->host = "p" + std::to_string(peer->index);
    peer->address = peer->host + ":" + std::to_string(kPort);
    peer->speed_factor = options_.heterogeneity_sigma > 0.0 ? speed(generator_) : 1.0;
    peers_.push_back(std::move(peer));
  }
}

void World::trace_event(const std::string& what, int peer) { trace_.peer_event(what, peer, now_us()); }

void World::start(int index, const std::vector<int>& seeds, bool joining) {
  SimPeer& p = peer(index);
  STARLING_ASSERT_MSG(!p.up(), "starting a peer that runs");
  ++p.life;
  p.leaving = false;
  p.slowdown = 1.0;
  trace_event("start life " + std::to_string(p.life), index);

  crypto::Identity identity = identity_for(options_.seed, index, p.identity_generation);
  std::copy(identity.node_id().bytes().begin(), identity.node_id().bytes().end(), p.node_id.begin());

  runtime::MemoryTransportOptions transport_options;
  // Connections know who is at the other end, as after the real handshake
  // (claimed_identity.h); datagrams and frames travel unsealed.
  transport_options.security = make_claimed_identity_security(p.node_id);
  transport_options.limits.idle_timeout_ms = 30'000;  // as `starling peer`
  p.transport = network_.create_transport(p.host, std::move(transport_options));
  node::PeerOptions peer_options;
  peer_options.node_id = p.node_id;
  peer_options.authority = node::make_record_authority(std::move(identity), verified_);
  peer_options.membership = options_.membership;
  peer_options.random_seed = generator_();
  peer_options.on_membership_event = [this, index](const gossip::Event& event) {
    trace_.peer_event(std::string(gossip::to_string(event.kind)) + " " + gossip::to_hex(event.member.node_id) + " " +
                          std::to_string(event.member.incarnation),
                      index, now_us());
    if (options_.on_member_event) options_.on_member_event(index, event);
  };
  p.incarnations = std::make_unique<SimIncarnationStore>(p.stored_incarnation, [this, index](std::uint64_t incarnation) {
    if (options_.on_incarnation) options_.on_incarnation(index, incarnation);
  });
  p.life_first_incarnation = p.stored_incarnation ? *p.stored_incarnation + 1 : 0;  // as Peer::start picks it

  if (options_.train) {
    TrainerOptions trainer = options_.trainer(index, generator_());
    trainer.speed_factor = p.speed_factor;
    if (options_.on_evaluation) {
      trainer.on_evaluation = [this, index](std::int64_t step, double accuracy) {
        options_.on_evaluation(index, step, accuracy);
      };
    }
    p.trainer = std::make_unique<SteppedTrainer>(*p.transport, &p.slot, std::move(trainer));
    peer_options.training = options_.driver;
  }
  if (options_.on_peer_log) {
    peer_options.log = [this, index](node::DriverLogLevel level, std::string_view event, const std::string& message,
                                     const node::LogFields&) { options_.on_peer_log(index, level, event, message); };
  }
  p.node = std::make_unique<node::Peer>(*p.transport, p.trainer.get(), *p.incarnations, std::move(peer_options));
  p.slot = p.node.get();
  p.membership = &p.node->membership();
  auto bound = p.node->listen(node::Address{p.host, kPort});
  STARLING_ASSERT_MSG(bound.ok(), "a simulated peer could not listen");
  std::vector<std::string> seed_addresses;
  for (int seed : seeds) {
    if (seed != index) seed_addresses.push_back(peer(seed).address);
  }
  p.node->start(std::move(seed_addresses), joining);
  p.phase = PeerPhase::running;
}

void World::renew_identity(int index) {
  SimPeer& p = peer(index);
  ++p.identity_generation;
  p.stored_incarnation.reset();
}

void World::tear_down(SimPeer& p) {
  // The transport goes first, silently (no callback after shutdown), so the
  // components below it vanish without a word to anyone: a crash.
  p.transport->shutdown();
  p.slot = nullptr;
  p.membership = nullptr;
  p.node.reset();
  p.trainer.reset();
  p.incarnations.reset();
  p.transport.reset();
  p.phase = PeerPhase::down;
  p.leaving = false;
}

void World::crash(int index) {
  SimPeer& p = peer(index);
  if (!p.up()) return;
  trace_event("crash", index);
  tear_down(p);
}

void World::leave(int index) {
  SimPeer& p = peer(index);
  if (!p.up() || p.leaving) return;
  if (p.phase == PeerPhase::paused) resume(index);  // SIGCONT before SIGTERM, as the runner does
  trace_event("leave", index);
  p.leaving = true;
  const int life = p.life;
  p.node->leave([this, index, life] {
    if (peer(index).life == life) finished_leaves_.push_back(index);
  });
}

void World::pause(int index) {
  SimPeer& p = peer(index);
  if (p.phase != PeerPhase::running) return;
  trace_event("pause", index);
  network_.pause(*p.transport);
  p.phase = PeerPhase::paused;
}

void World::resume(int index) {
  SimPeer& p = peer(index);
  if (p.phase != PeerPhase::paused) return;
  trace_event("resume", index);
  network_.resume(*p.transport);
  p.phase = PeerPhase::running;
}

void World::run_until(std::uint64_t until_us) {
  while (now_us() < until_us || !finished_leaves_.empty()) {
    // A peer that finished leaving is torn down between events, never from
    // inside its own transport's callback.
    for (int index : finished_leaves_) {
      SimPeer& p = peer(index);
      if (p.up() && p.leaving) {
        trace_event("left", index);
        tear_down(p);
      }
    }
    finished_leaves_.clear();
    if (now_us() >= until_us) break;
    network_.run_until([this] { return !finished_leaves_.empty(); }, until_us - now_us());
  }
}

}  // namespace starling::sim
