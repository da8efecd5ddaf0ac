// Memory per peer (issue 12, "Scale"): a peer of an MLP-sized model with 3
// ready links holds at most 10 vectors of the model's size, counting what the
// TrainingDriver reports in its status and what a host of an SGD-with-momentum
// model reports (parameters + momentum). docs/learning.md, "Memory per peer".
#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "starling/compress/mlp_layout.h"
#include "starling/crypto/keys.h"
#include "starling/gossip/config.h"
#include "starling/ml/model.h"
#include "starling/ml/optimizer.h"
#include "starling/node/peer.h"
#include "starling/node/record_authority.h"
#include "starling/node/training_driver.h"
#include "starling/runtime/crypto_security.h"
#include "starling/runtime/memory_network.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;

namespace {

constexpr std::uint64_t kSecondUs = 1'000'000;

// The MLP peer's model side as a single-threaded host (the simulator's kind):
// the parameters and an SGD momentum buffer, stepped once per parameter
// request on the loss 0.5·a·‖x‖² (a real momentum update, no data needed);
// corrections land directly in the parameters.
struct MomentumHost : ModelHost {
  Transport* transport = nullptr;
  node::Peer** driver = nullptr;
  Eigen::VectorXf x;
  std::unique_ptr<ml::Optimizer> optimizer;  // SGD, momentum 0.9 (the defaults)

  explicit MomentumHost(Eigen::VectorXf initial)
      : x(std::move(initial)), optimizer(std::make_unique<ml::Optimizer>(ml::OptimizerConfig{}, std::size_t(x.size()))) {}

  void start_training(const Eigen::VectorXf* initial) override {
    if (initial) x = *initial;
  }
  void request_parameters(std::int64_t) override {
    optimizer->velocity() = 0.9f * optimizer->velocity() + 1e-3f * x;  // v = μv + ∇(0.5·a·‖x‖²)
    optimizer->step_with_velocity(x, 0.01f);
    transport->start_timer(1, [this] {
      if (*driver) (*driver)->on_parameters(x);
    });
  }
  void add_correction(const Eigen::VectorXf& correction) override { x += correction; }
  std::size_t model_bytes_held() const override {
    std::size_t floats = std::size_t(x.size());
    for (const Eigen::VectorXf* state : optimizer->state()) floats += std::size_t(state->size());
    return floats * sizeof(float);
  }
};

struct SwarmPeer {
  std::unique_ptr<Transport> transport;
  MemoryIncarnationStore incarnations;
  std::unique_ptr<MomentumHost> host;
  std::unique_ptr<node::Peer> node;
  node::Peer* slot = nullptr;
  std::string address;
  TrainingDriver* training = nullptr;

  ~SwarmPeer() {
    slot = nullptr;
    if (node) node->stop();
    node.reset();
    if (transport) transport->shutdown();
  }
};

// One peer of the swarm on `network`; `seed_address` empty for the first.
std::unique_ptr<SwarmPeer> make_peer(MemoryNetwork& network, const crypto::SwarmKey& swarm_key, int index,
                                    const compress::Layout& layout, Eigen::VectorXf initial,
                                    const std::string& seed_address, bool joining) {
  auto peer = std::make_unique<SwarmPeer>();
  crypto::Identity identity = crypto::Identity::generate();
  PeerOptions peer_options;
  std::copy(identity.node_id().bytes().begin(), identity.node_id().bytes().end(), peer_options.node_id.begin());
  peer_options.authority = make_record_authority(identity.clone());
  MemoryTransportOptions transport_options;
  transport_options.security = make_crypto_security(std::move(identity), swarm_key.clone());
  const std::string name = "m" + std::to_string(index);
  peer->transport = network.create_transport(name, std::move(transport_options));
  peer->host = std::make_unique<MomentumHost>(std::move(initial));
  peer->host->transport = peer->transport.get();
  peer->host->driver = &peer->slot;

  TrainingDriverOptions options;
  options.layout = layout;
  options.compressor = *compress::CompressorSpec::parse("topk:0.01");  // the peer's default
  options.model_hash = model_hash("memory-test mlp:256,128");
  options.download_bf16 = true;  // as `starling peer`
  options.neighbours = 3;
  peer_options.membership = gossip::lan_config();
  peer_options.training = options;
  peer_options.random_seed = 500 + std::uint64_t(index);
  peer->node = std::make_unique<node::Peer>(*peer->transport, peer->host.get(), peer->incarnations, std::move(peer_options));
  peer->slot = peer->node.get();
  peer->training = peer->node->training();
  auto bound = peer->node->listen(Address{name, 7000});
  REQUIRE(bound.ok());
  peer->address = to_string(*bound);
  peer->node->start(seed_address.empty() ? std::vector<std::string>{} : std::vector<std::string>{seed_address}, joining);
  return peer;
}

}  // namespace

TEST_CASE("peer memory: an MLP peer with 3 ready links holds at most 10 vectors of the model's size",
          "[runtime][training][memory]") {
  // The default peer model on Fashion-MNIST: mlp:256,128 on 784 inputs, 10 classes.
  const ml::Mlp mlp(*ml::ModelSpec::parse("mlp:256,128"), 784, 10);
  const compress::Layout layout = compress::layout_for(mlp);
  const std::size_t n = layout.dimension();
  REQUIRE(n == 235'146);
  const double vector_bytes = double(n * sizeof(float));

  MemoryNetwork network(5);
  network.set_latency_us(500);
  const crypto::SwarmKey swarm_key = crypto::SwarmKey::generate();
  std::mt19937_64 random(5);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  std::vector<std::unique_ptr<SwarmPeer>> peers;
  for (int index = 0; index < 4; ++index) {
    Eigen::VectorXf initial(static_cast<Eigen::Index>(n));
    for (auto& v : initial) v = normal(random);
    peers.push_back(make_peer(network, swarm_key, index, layout, std::move(initial),
                              index == 0 ? std::string() : peers[0]->address, false));
  }

  auto all_ready = [&] {
    for (const auto& peer : peers) {
      std::size_t ready = 0;
      for (const auto& neighbour : peer->training->status().neighbours) ready += neighbour.ready ? 1 : 0;
      if (ready < 3) return false;
    }
    return true;
  };
  REQUIRE(network.run_until(all_ready, 30 * kSecondUs, 50'000'000));
  network.run_for(3 * kSecondUs, 50'000'000);  // ~60 rounds of deltas and consensus
  REQUIRE(all_ready());

  for (const auto& peer : peers) {
    const TrainingDriverStatus status = peer->training->status();
    REQUIRE(status.neighbours.size() == 3);
    CHECK(status.rounds > 40);
    CHECK(status.link_resets == 0);
    const double driver_vectors = double(status.model_bytes_held) / vector_bytes;
    const double host_vectors = double(status.host_model_bytes_held) / vector_bytes;
    INFO("driver holds " << driver_vectors << " model vectors, host " << host_vectors << ", compressor scratch "
                         << status.compressor_scratch_bytes << " bytes");
    // Host: parameters + momentum. Driver: 2 copies x 3 links, the published
    // parameters and the round's correction.
    CHECK(host_vectors == 2.0);
    CHECK(driver_vectors == 8.0);
    CHECK(driver_vectors + host_vectors <= 10.0);
    // The compressors' scratch is small next to a model vector (no
    // model-sized difference buffer per link any more).
    CHECK(double(status.compressor_scratch_bytes) < 0.1 * vector_bytes);
  }
}

TEST_CASE("peer memory: a served model copy goes soon after the joiner's download, not a minute later",
          "[runtime][training][memory]") {
  const ml::Mlp mlp(*ml::ModelSpec::parse("mlp:32"), 784, 10);
  const compress::Layout layout = compress::layout_for(mlp);
  const std::size_t n = layout.dimension();
  MemoryNetwork network(6);
  network.set_latency_us(500);
  const crypto::SwarmKey swarm_key = crypto::SwarmKey::generate();
  std::vector<std::unique_ptr<SwarmPeer>> peers;
  peers.push_back(make_peer(network, swarm_key, 0, layout, Eigen::VectorXf::Constant(Eigen::Index(n), 0.5f), "", false));
  REQUIRE(network.run_until([&] { return peers[0]->training->status().rounds > 2; }, 5 * kSecondUs, 50'000'000));
  peers.push_back(make_peer(network, swarm_key, 1, layout, Eigen::VectorXf::Zero(Eigen::Index(n)), peers[0]->address, true));
  REQUIRE(network.run_until([&] { return peers[1]->training->status().state == "training"; }, 20 * kSecondUs,
                            50'000'000));
  CHECK(peers[1]->training->status().model_bytes_downloaded == n * 2);  // bf16
  const TrainingDriverStatus serving = peers[0]->training->status();
  CHECK(serving.model_bytes_served == n * 2);
  REQUIRE(network.run_until([&] { return peers[0]->training->status().neighbours.size() == 1 &&
                                         peers[0]->training->status().neighbours[0].ready; },
                            10 * kSecondUs, 50'000'000));
  // Right after the download the copy is still there (the last chunk may be
  // lost and asked for again)...
  const double vector_bytes = double(n * sizeof(float));
  const auto vectors = [&] { return double(peers[0]->training->status().model_bytes_held) / vector_bytes; };
  INFO("server holds " << vectors() << " model vectors right after serving");
  CHECK(vectors() == 5.0);  // published parameters, correction, 2 link copies, the served copy
  // ...and gone a few seconds later (it was kept 60 s, and only dropped on a
  // later request).
  network.run_for(8 * kSecondUs, 50'000'000);
  INFO("server holds " << vectors() << " model vectors 8 s later");
  CHECK(vectors() == 4.0);
}
