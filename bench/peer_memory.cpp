// Resident memory of N training peers (membership + delta gossip) over the
// in-memory network, in virtual time: the figure of docs/learning.md, "Memory
// per peer". Each peer's model side is single-threaded (as in the simulator):
// the parameters and an SGD momentum buffer. Prints one JSON object.
//
//   bench_peer_memory [peers=64] [mlp hidden=128] [virtual seconds=5] [max links=8]
//
// maxrss is the process's peak (getrusage); baseline_kb is the RSS before the
// peers exist, so (maxrss - baseline) / peers is the peak cost of one peer.
// Deliberately uses only what TrainingDriver had before the memory work, so
// the same file measures the code before and after it.
#include <sys/resource.h>

#include <Eigen/Core>

#include <cstdio>
#include <cstdlib>
#include <fstream>
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

long peak_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // kilobytes on Linux
}

long current_rss_kb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * 4;  // 4 KiB pages
}

struct MomentumHost : ModelHost {
  Transport* transport = nullptr;
  node::Peer** driver = nullptr;
  Eigen::VectorXf x;
  std::unique_ptr<ml::Optimizer> optimizer;

  explicit MomentumHost(Eigen::VectorXf initial)
      : x(std::move(initial)), optimizer(std::make_unique<ml::Optimizer>(ml::OptimizerConfig{}, std::size_t(x.size()))) {}
  void start_training(const Eigen::VectorXf* initial) override {
    if (initial) x = *initial;
  }
  void request_parameters(std::int64_t) override {
    optimizer->velocity() = 0.9f * optimizer->velocity() + 1e-3f * x;
    optimizer->step_with_velocity(x, 0.01f);
    transport->start_timer(1, [this] {
      if (*driver) (*driver)->on_parameters(x);
    });
  }
  void add_correction(const Eigen::VectorXf& correction) override { x += correction; }
};

struct SwarmPeer {
  std::unique_ptr<Transport> transport;
  MemoryIncarnationStore incarnations;
  std::unique_ptr<MomentumHost> host;
  std::unique_ptr<node::Peer> node;
  node::Peer* slot = nullptr;
  std::string address;
  ~SwarmPeer() {
    slot = nullptr;
    if (node) node->stop();
    node.reset();
    if (transport) transport->shutdown();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int peer_count = argc > 1 ? std::atoi(argv[1]) : 64;
  const int hidden = argc > 2 ? std::atoi(argv[2]) : 128;
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 5;
  const int max_links = argc > 4 ? std::atoi(argv[4]) : 8;
  const ml::Mlp mlp(*ml::ModelSpec::parse("mlp:" + std::to_string(hidden)), 784, 10);
  const compress::Layout layout = compress::layout_for(mlp);
  const std::size_t n = layout.dimension();

  MemoryNetwork network(9);
  network.set_latency_us(500);
  const crypto::SwarmKey swarm_key = crypto::SwarmKey::generate();
  std::mt19937_64 random(9);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  const long baseline_kb = current_rss_kb();

  std::vector<std::unique_ptr<SwarmPeer>> peers;
  for (int index = 0; index < peer_count; ++index) {
    auto peer = std::make_unique<SwarmPeer>();
    crypto::Identity identity = crypto::Identity::generate();
    PeerOptions peer_options;
    std::copy(identity.node_id().bytes().begin(), identity.node_id().bytes().end(), peer_options.node_id.begin());
    peer_options.authority = make_record_authority(identity.clone());
    MemoryTransportOptions transport_options;
    transport_options.security = make_crypto_security(std::move(identity), swarm_key.clone());
    const std::string name = "p" + std::to_string(index);
    peer->transport = network.create_transport(name, std::move(transport_options));
    Eigen::VectorXf initial(static_cast<Eigen::Index>(n));
    for (auto& v : initial) v = normal(random);
    peer->host = std::make_unique<MomentumHost>(std::move(initial));
    peer->host->transport = peer->transport.get();
    peer->host->driver = &peer->slot;
    TrainingDriverOptions options;
    options.layout = layout;
    options.compressor = *compress::CompressorSpec::parse("topk:0.01");
    options.model_hash = model_hash("peer-memory-bench");
    options.max_links = std::size_t(max_links);
    peer_options.membership = gossip::lan_config();
    peer_options.training = options;
    peer_options.random_seed = 700 + std::uint64_t(index);
    peer->node = std::make_unique<node::Peer>(*peer->transport, peer->host.get(), peer->incarnations, std::move(peer_options));
    peer->slot = peer->node.get();
    auto bound = peer->node->listen(Address{name, 7000});
    if (!bound) return 1;
    peer->address = to_string(*bound);
    peer->node->start(index == 0 ? std::vector<std::string>{} : std::vector<std::string>{peers[0]->address}, false);
    peers.push_back(std::move(peer));
  }
  network.run_for(std::uint64_t(seconds) * 1'000'000, 500'000'000);

  double ready_links = 0;
  std::uint64_t rounds = 0;
  for (const auto& peer : peers) {
    const TrainingDriverStatus status = peer->node->training()->status();
    for (const auto& neighbour : status.neighbours) ready_links += neighbour.ready ? 1 : 0;
    rounds += status.rounds;
  }
  const long peak_kb = peak_rss_kb();
  const long now_kb = current_rss_kb();
  const double vector_kb = double(n * sizeof(float)) / 1024.0;
  const double per_peer_kb = double(peak_kb - baseline_kb) / peer_count;
  std::printf(
      "{\"peers\": %d, \"parameters\": %zu, \"virtual_seconds\": %d, \"max_links\": %d, \"ready_links_per_peer\": %.2f, "
      "\"rounds_per_peer\": %.1f, \"baseline_kb\": %ld, \"maxrss_kb\": %ld, \"rss_end_kb\": %ld, "
      "\"peak_kb_per_peer\": %.0f, \"peak_model_vectors_per_peer\": %.2f}\n",
      peer_count, n, seconds, max_links, ready_links / peer_count, double(rounds) / peer_count, baseline_kb, peak_kb,
      now_kb, per_peer_kb, per_peer_kb / vector_kb);
  return 0;
}
