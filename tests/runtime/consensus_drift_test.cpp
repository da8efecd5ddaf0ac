// Pure consensus at 20 peers (issue 12's "20-peer drift"): MembershipDriver +
// TrainingDriver pairs on the memory network with plain sessions, models that
// change only by the drivers' corrections (learning rate 0), random initial
// parameters, the default compressor `topk:0.01`. Gossip alone must pull the
// replicas together (the spread shrinks) and must not move the swarm average
// beyond float rounding and in-flight lag.
#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <array>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "starling/compress/layout.h"
#include "starling/compress/spec.h"
#include "starling/crypto/keys.h"
#include "starling/gossip/config.h"
#include "starling/node/peer.h"
#include "starling/node/record_authority.h"
#include "starling/node/training_driver.h"
#include "starling/runtime/memory_network.h"

using namespace starling;
using namespace starling::node;

namespace {

constexpr std::uint64_t kSecondUs = 1'000'000;
constexpr std::size_t kPeers = 20;
constexpr std::size_t kDimension = 10'000;

// lr 0: the parameters move only by corrections. Answers parameter requests
// 1 ms later on the transport's clock, as the training thread would.
struct ConsensusHost : ModelHost {
  Transport* transport = nullptr;
  node::Peer** driver = nullptr;
  Eigen::VectorXf x;
  void start_training(const Eigen::VectorXf* initial) override {
    if (initial) x = *initial;
  }
  void request_parameters(std::int64_t) override {
    transport->start_timer(1, [this] {
      if (*driver) (*driver)->on_parameters(x);
    });
  }
  void add_correction(const Eigen::VectorXf& correction) override { x += correction; }
};

struct SwarmPeer {
  std::unique_ptr<Transport> transport;
  MemoryIncarnationStore incarnations;
  ConsensusHost host;
  std::unique_ptr<node::Peer> node;
  node::Peer* slot = nullptr;
  TrainingDriver* training = nullptr;
  ~SwarmPeer() {
    slot = nullptr;
    if (node) node->stop();
    node.reset();
    transport.reset();
  }
};

struct Spread {
  double spread = 0.0;  // mean over peers of ‖x_k − x̄‖²
  Eigen::VectorXf mean;
};

class ConsensusSwarm {
 public:
  ConsensusSwarm(std::uint64_t seed, float gamma, ClipMode clip, const std::string& compressor)
      : network_(seed), random_(seed) {
    network_.set_latency_us(1000);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (std::size_t i = 0; i < kPeers; ++i) {
      auto peer = std::make_unique<SwarmPeer>();
      const std::string host = "n" + std::to_string(i);
      peer->transport = network_.create_transport(host);  // plain sessions
      peer->host.transport = peer->transport.get();
      peer->host.driver = &peer->slot;
      peer->host.x.resize(kDimension);
      for (auto& v : peer->host.x) v = 1.0f + normal(random_);

      TrainingDriverOptions options;  // defaults: compressor, clipping, rounds, neighbours
      options.layout = compress::Layout::whole(kDimension);
      options.compressor = *compress::CompressorSpec::parse(compressor);
      options.gamma = gamma;  // 0: the compressor's default
      options.clip = clip;
      options.model_hash = model_hash("drift-test");

      std::array<std::uint8_t, 32> key_seed{};
      key_seed[0] = std::uint8_t(i);
      key_seed[1] = std::uint8_t(seed);
      crypto::Identity identity = crypto::Identity::from_seed(key_seed);
      PeerOptions peer_options;
      peer_options.membership = gossip::lan_config();
      peer_options.training = options;
      peer_options.random_seed = seed * 1000 + i;
      peer_options.node_id = identity.node_id().bytes();
      peer_options.authority = make_record_authority(std::move(identity));
      peer->node = std::make_unique<node::Peer>(*peer->transport, &peer->host, peer->incarnations, std::move(peer_options));
      peer->slot = peer->node.get();
      peer->training = peer->node->training();
      auto bound = peer->node->listen(Address{host, 7000});
      REQUIRE(bound.ok());
      std::vector<std::string> seeds;
      if (i > 0) seeds.push_back(to_string(Address{"n0", 7000}));
      peer->node->start(seeds, false);  // every peer keeps its own random start
      peers_.push_back(std::move(peer));
    }
  }
  ~ConsensusSwarm() { peers_.clear(); }

  bool every_peer_linked() const {
    for (const auto& peer : peers_) {
      std::size_t ready = 0;
      for (const auto& n : peer->training->status().neighbours) ready += n.ready ? 1 : 0;
      if (ready == 0) return false;
    }
    return true;
  }
  bool run_until_linked(std::uint64_t seconds) {
    return network_.run_until([&] { return every_peer_linked(); }, seconds * kSecondUs, 100'000'000);
  }
  void run_for(std::uint64_t seconds) { network_.run_for(seconds * kSecondUs, 100'000'000); }

  Spread spread() const {
    Spread s;
    s.mean = Eigen::VectorXf::Zero(kDimension);
    for (const auto& peer : peers_) s.mean += peer->host.x;
    s.mean /= float(kPeers);
    for (const auto& peer : peers_) s.spread += double((peer->host.x - s.mean).squaredNorm());
    s.spread /= double(kPeers);
    return s;
  }
  std::uint64_t link_resets() const {
    std::uint64_t resets = 0;
    for (const auto& peer : peers_) resets += peer->training->status().link_resets;
    return resets;
  }

 private:
  runtime::MemoryNetwork network_;
  std::mt19937_64 random_;
  std::vector<std::unique_ptr<SwarmPeer>> peers_;
};

struct DriftRun {
  double spread_start = 0.0;
  double spread_end = 0.0;
  double mean_drift = 0.0;  // ‖x̄_end − x̄_start‖ / ‖x̄_start‖
};

// 60 virtual seconds of pure consensus from the moment every peer has a link.
DriftRun run_consensus(std::uint64_t seed, float gamma, ClipMode clip = ClipMode::adaptive,
                       const std::string& compressor = "topk:0.01") {
  ConsensusSwarm swarm(seed, gamma, clip, compressor);
  REQUIRE(swarm.run_until_linked(30));
  const Spread start = swarm.spread();
  swarm.run_for(60);
  const Spread end = swarm.spread();
  DriftRun run;
  run.spread_start = start.spread;
  run.spread_end = end.spread;
  run.mean_drift = double((end.mean - start.mean).norm()) / double(start.mean.norm());
  WARN("20 peers, " << compressor << ", gamma " << (gamma > 0.0f ? std::to_string(gamma) : std::string("default"))
                                     << ", clip " << (clip == ClipMode::off ? "off" : "adaptive") << ", seed " << seed << ": spread " << run.spread_start << " -> "
                                     << run.spread_end << ", mean drift " << run.mean_drift << ", link resets "
                                     << swarm.link_resets());
  return run;
}

}  // namespace

// Issue 12 measured the old default γ = 0.1 for top-k drifting apart here
// (spread 9.6e3 -> 1.8e5 in 60 s, the average moved 2.1x its norm). Issue 13
// set the default by the stability rule γ = fraction (0.01 for top-k 1%:
// spread 9.6e3 -> 6.4 in 60 s, seed 1), and since session 23 γ = 2 x
// fraction (src/node/training_internal.h): 0.02, spread 9.6e3 -> 5.6e-3.
// With the default adaptive clipping the average moves 1.9e-2 of its norm
// (clipping is not symmetric between the two ends of a link); only the
// spread is asserted.
TEST_CASE("consensus drift: 20 peers, topk:0.01, default gamma, lr 0: spread shrinks",
          "[runtime][training][drift]") {
  const DriftRun run = run_consensus(1, 0.0f);
  CHECK(run.spread_end < run.spread_start * 1e-3);
}

// γ = 0.02 converges (issue 12). Without clipping the average is kept too
// (measured: spread 9.6e3 -> 2.4e-3, average moved 7.0e-4 of its norm).
TEST_CASE("consensus drift: 20 peers, topk:0.01, gamma 0.02, no clipping, lr 0: spread shrinks, average kept",
          "[runtime][training][drift]") {
  const DriftRun run = run_consensus(1, 0.02f, ClipMode::off);
  CHECK(run.spread_end < run.spread_start * 1e-3);
  CHECK(run.mean_drift < 1e-3);
}

// Top-k 10% at its default γ (0.2, twice its fraction): at γ = 0.1 it kept
// heterogeneous replicas far apart in training (docs/learning.md, "Mixing"),
// at 0.4 pure consensus stalled with 2 peers in the simulator.
TEST_CASE("consensus drift: 20 peers, topk:0.1, default gamma, lr 0: spread shrinks",
          "[runtime][training][drift]") {
  const DriftRun run = run_consensus(1, 0.0f, ClipMode::adaptive, "topk:0.1");
  CHECK(run.spread_end < run.spread_start * 1e-3);
}

// Scaled sign (docs/learning.md, "Low-bit gossip"): its default γ must pull
// the replicas together at 20 peers, with clipping off (nothing but γ keeps
// it stable) and with the default adaptive clipping. The stability rule
// behind the default: sign's quality δ is about 2/π on dense residuals and
// γ must stay below the point where corrections outrun the copies: in the
// simulator (bench/consensus_scale.sh) γ 1.25 diverged at 2 peers and 1.5 at
// 4, 8 and 20, so the default is 0.8. γ = 1.5 below must make the spread grow
// (measured: to inf): that case shows this test fails with an unstable γ.
// Measured with γ 0.6, seed 1: spread 9.6e3 -> 0.11, average moved 5.7e-4 of
// its norm (clip off); 9.6e3 -> 0.039, 5.6e-3 (adaptive clipping). With the
// default 0.8: 9.6e3 -> 0.54, average moved 9.9e-4 (clip off); 9.6e3 -> 0.30,
// 4.5e-3 (adaptive). The average bound below is 5e-3: sign's corrections
// are noisier than top-k's, and the run is deterministic but 9.9e-4 sits
// too close to top-k's 1e-3 to be a useful margin.
TEST_CASE("consensus drift: 20 peers, sign, default gamma, lr 0: spread shrinks, average kept",
          "[runtime][training][drift]") {
  const DriftRun run = run_consensus(1, 0.0f, ClipMode::off, "sign");
  CHECK(run.spread_end < run.spread_start * 1e-3);
  CHECK(run.mean_drift < 5e-3);
}

TEST_CASE("consensus drift: 20 peers, sign, default gamma, adaptive clipping, lr 0: spread shrinks",
          "[runtime][training][drift]") {
  const DriftRun run = run_consensus(1, 0.0f, ClipMode::adaptive, "sign");
  CHECK(run.spread_end < run.spread_start * 1e-3);
}

TEST_CASE("consensus drift: 20 peers, sign, gamma 1.5 (unstable), lr 0: spread grows", "[runtime][training][drift]") {
  const DriftRun run = run_consensus(1, 1.5f, ClipMode::off, "sign");
  CHECK(!(run.spread_end < run.spread_start));
}
