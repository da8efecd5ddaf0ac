// The swarm harness of the training driver tests: node::Peer swarms on the
// in-memory network with sealed connections (real identities) whose models
// are plain vectors (VectorHost), so every property is checked exactly.
#pragma once

#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <cmath>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "starling/compress/layout.h"
#include "starling/crypto/hash.h"
#include "starling/crypto/keys.h"
#include "starling/gossip/config.h"
#include "starling/runtime/crypto_security.h"
#include "starling/runtime/memory_network.h"
#include "starling/node/membership_driver.h"
#include "starling/node/peer.h"
#include "starling/node/record_authority.h"
#include "starling/node/training_driver.h"
#include "starling/wire/codec.h"


namespace starling::test_training {

using namespace starling::runtime;
using namespace starling::node;

constexpr std::uint64_t kSecondUs = 1'000'000;
constexpr std::size_t kDimension = 3000;

// A model host whose "training" is optional noise: the parameters are a plain
// vector; parameter requests are answered asynchronously, like the thread's.
struct VectorHost : ModelHost {
  Transport* transport = nullptr;
  Peer** driver = nullptr;
  Eigen::VectorXf x;
  bool started = false;
  bool downloaded = false;
  Eigen::VectorXf first_model;
  // Optional "training": per parameter request, x ← x − rate·(x − target) + noise,
  // so honest peers keep disagreeing a little, as SGD makes them.
  std::optional<Eigen::VectorXf> target;
  float rate = 0.0f;
  float noise = 0.0f;
  std::mt19937_64 random{3};
  bool frozen = false;  // corrections ignored: x stays as set (local average tests)
  // Stepping mode (step_every_ms > 0): a "step" (the training above) per
  // timer tick, counted, and requests for a future step wait for it (the
  // ModelHost contract); `stepping = false` stalls it. Without it, a host
  // that does not count steps: each request is a step.
  std::uint64_t step_every_ms = 0;
  bool stepping = true;
  // false: no request is answered, not even one for a step already made (a
  // trainer thread that has not started: `starling peer` loading its data).
  bool serving = true;
  std::int64_t steps = 0;
  std::optional<std::int64_t> publish_at;

  void train() {
    if (!target) return;
    std::normal_distribution<float> normal(0.0f, noise);
    x -= rate * (x - *target);
    for (auto& v : x) v += normal(random);
  }
  void answer() {
    const std::int64_t step = step_every_ms > 0 ? steps : TrainingDriver::kNoStep;
    transport->start_timer(1, [this, step] {
      if (*driver) (*driver)->on_parameters(x, step);
    });
  }
  void tick() {
    transport->start_timer(step_every_ms, [this] {
      if (stepping) {
        train();
        ++steps;
        if (serving && publish_at && steps >= *publish_at) {
          publish_at.reset();
          answer();
        }
      }
      tick();
    });
  }

  void start_training(const Eigen::VectorXf* initial) override {
    started = true;
    if (initial) {
      x = *initial;
      downloaded = true;
    }
    first_model = x;
    if (step_every_ms > 0) tick();
  }
  void request_parameters(std::int64_t at_step) override {
    if (step_every_ms == 0) {
      train();
      answer();
      return;
    }
    if (at_step > steps || !serving) {
      publish_at = at_step;
      return;
    }
    publish_at.reset();
    answer();
  }
  void add_correction(const Eigen::VectorXf& correction) override {
    if (!frozen) x += correction;
  }
};

// Forwards to a transport and keeps the books on timers: which ones a
// component armed are still pending. A component destroyed with one pending
// would be called back on freed memory.
class TimerLedger final : public Transport {
 public:
  explicit TimerLedger(Transport& inner) : inner_(inner) {}
  void set_events(TransportEvents events) override { inner_.set_events(std::move(events)); }
  Result<Address> listen(const Address& address) override { return inner_.listen(address); }
  Result<ConnectionId> connect(const Address& remote) override { return inner_.connect(remote); }
  Status send(ConnectionId id, ByteSpan frame) override { return inner_.send(id, frame); }
  void close(ConnectionId id) override { inner_.close(id); }
  std::size_t pending_outbound_bytes(ConnectionId id) const override { return inner_.pending_outbound_bytes(id); }
  Status send_datagram(const Address& to, ByteSpan datagram) override { return inner_.send_datagram(to, datagram); }
  TimerId start_timer(std::uint64_t delay_ms, std::function<void()> callback) override {
    auto pending = pending_;
    auto slot = std::make_shared<TimerId>(0);
    const TimerId id = inner_.start_timer(delay_ms, [pending, slot, callback = std::move(callback)] {
      pending->erase(*slot);
      callback();
    });
    *slot = id;
    pending_->insert(id);
    return id;
  }
  void cancel_timer(TimerId id) override {
    pending_->erase(id);
    inner_.cancel_timer(id);
  }
  std::uint64_t now_ms() const override { return inner_.now_ms(); }
  void set_peer_label(ConnectionId id, std::string label) override { inner_.set_peer_label(id, std::move(label)); }
  void shutdown() override { inner_.shutdown(); }
  TransportStats stats() const override { return inner_.stats(); }
  std::size_t connection_count() const override { return inner_.connection_count(); }

  std::size_t pending_timers() const { return pending_->size(); }

 private:
  Transport& inner_;
  std::shared_ptr<std::set<TimerId>> pending_ = std::make_shared<std::set<TimerId>>();
};

struct SwarmPeer {
  std::unique_ptr<Transport> transport;
  std::unique_ptr<TimerLedger> ledger;  // the peer's view of transport
  MemoryIncarnationStore incarnations;
  std::unique_ptr<Peer> node;
  Peer* slot = nullptr;
  VectorHost host;
  std::string address;
  std::vector<std::string> log;
  struct LoggedEvent {
    std::string event;
    LogFields fields;
  };
  std::vector<LoggedEvent> events;  // what a json log would name (docs/cli.md, "Logs")

  TrainingDriver* training() { return node ? node->training() : nullptr; }
  MembershipDriver& membership() { return node->membership(); }

  ~SwarmPeer() { stop(); }
  void stop() {
    slot = nullptr;
    node.reset();
    if (transport) transport->shutdown();
    transport.reset();
  }
};

struct SwarmConfig {
  compress::CompressorSpec compressor;
  ClipMode clip = ClipMode::off;
  std::string model = "test-model";
  std::size_t dimension = kDimension;  // the model's parameters (the initial vector must match)
  std::string model_shape;             // TrainingDriverOptions::model_shape
  std::uint32_t model_chunk_bytes = 1u << 20;
  std::size_t max_link_backlog_bytes = 4u << 20;
  std::uint64_t round_every_steps = 0;
  std::uint64_t round_min_interval_ms = 2;
  std::uint64_t round_max_interval_ms = 1000;
  Mixing mixing = Mixing::neighbourhood;
  std::uint64_t step_every_ms = 0;  // > 0: hosts that count steps (VectorHost)
  bool host_serving = true;         // VectorHost::serving from the start
  float gamma = 0.0f;               // 0: the compressor's default
  bool consensus_control = false;
  bool download_bf16 = true;   // as `starling peer` (embedded peers: false)
  std::size_t neighbours = 3;  // TrainingDriverOptions' defaults
  std::size_t max_links = 8;
  std::uint64_t random_seed = 0;  // 0: 1000 + the peer's index
  // Round pacing (node/round_pacing.h): the CPU rule's share, and a fake CPU
  // clock that advances this much at each read (the driver reads it at the
  // start and the end of a round, so each round costs exactly this; 0: no clock).
  double round_cpu_share = 0.25;
  std::uint64_t round_cpu_cost_us = 0;
  std::uint64_t max_upload_bytes_per_second = 0;  // --max-upload (0: none)
};

// A bare member (a real identity, the swarm key) that speaks the training
// protocol by hand: for the flood tests.
struct RawMember {
  std::unique_ptr<Transport> transport;
  std::optional<ConnectionId> connection;
  bool connected = false;
  std::vector<wire::ModelChunk> chunks;
  std::vector<wire::Message> messages;  // everything it received, in order

  ~RawMember() {
    if (transport) transport->shutdown();
  }
  void send(const wire::Message& message) {
    auto bytes = wire::encode(message);
    REQUIRE(bytes.ok());
    REQUIRE(transport->send(*connection, *bytes).ok());
  }
};

// The messages of one kind a RawMember received, in order.
template <typename M>
std::vector<M> received(const RawMember& member) {
  std::vector<M> out;
  for (const auto& message : member.messages)
    if (const auto* m = std::get_if<M>(&message)) out.push_back(*m);
  return out;
}

class Swarm {
 public:
  explicit Swarm(std::uint64_t seed) : network_(seed), random_(seed), seed_(seed) { network_.set_latency_us(500); }
  ~Swarm() { peers.clear(); }

  SwarmPeer& add(const SwarmConfig& config, std::vector<int> seeds, bool joining, Eigen::VectorXf initial) {
    auto peer = std::make_unique<SwarmPeer>();
    const int index = int(peers.size());
    // From the swarm's seed, as the simulator's: node ids order maps and
    // samples, so random ones made each run of a test take another path
    // (a failure seen once could not be replayed).
    crypto::Identity identity = identity_for(index);
    gossip::Identity self;
    std::copy(identity.node_id().bytes().begin(), identity.node_id().bytes().end(), self.node_id.begin());
    self.authority = make_record_authority(identity.clone());
    MemoryTransportOptions transport_options;
    transport_options.security = make_crypto_security(std::move(identity), swarm_key_.clone());
    const std::string host = "n" + std::to_string(index);
    peer->transport = network_.create_transport(host, std::move(transport_options));

    peer->host.transport = peer->transport.get();
    peer->host.driver = &peer->slot;
    peer->host.x = std::move(initial);

    TrainingDriverOptions options;
    options.layout = compress::Layout::whole(config.dimension);
    options.model_shape = config.model_shape;
    options.compressor = config.compressor;
    options.model_hash = model_hash(config.model);
    options.clip = config.clip;
    options.model_chunk_bytes = config.model_chunk_bytes;
    options.download_bf16 = config.download_bf16;
    options.max_link_backlog_bytes = config.max_link_backlog_bytes;
    options.round_every_steps = config.round_every_steps;
    options.round_min_interval_ms = config.round_min_interval_ms;
    options.round_max_interval_ms = config.round_max_interval_ms;
    options.mixing = config.mixing;
    options.gamma = config.gamma;
    options.consensus_control = config.consensus_control;
    options.neighbours = config.neighbours;
    options.max_links = config.max_links;
    options.round_cpu_share = config.round_cpu_share;
    if (config.round_cpu_cost_us > 0) {
      options.round_cpu_clock_us = [cost = config.round_cpu_cost_us, reads = std::uint64_t(0)]() mutable {
        return cost * reads++;
      };
    }
    options.upload_budget.bytes_per_second = config.max_upload_bytes_per_second;
    peer->host.step_every_ms = config.step_every_ms;
    peer->host.serving = config.host_serving;
    PeerOptions peer_options;
    peer_options.membership = gossip::lan_config();
    peer_options.training = options;
    peer_options.random_seed = config.random_seed != 0 ? config.random_seed : 1000 + std::uint64_t(index);
    peer_options.node_id = self.node_id;
    peer_options.authority = self.authority;
    SwarmPeer* raw = peer.get();
    peer_options.log = [raw](LogLevel, std::string_view event, const std::string& message, const LogFields& fields) {
      raw->log.push_back(message);
      raw->events.push_back({std::string(event), fields});
    };
    peer->ledger = std::make_unique<TimerLedger>(*peer->transport);
    peer->node = std::make_unique<Peer>(*peer->ledger, &peer->host, peer->incarnations, std::move(peer_options));
    peer->slot = peer->node.get();
    auto bound = peer->node->listen(Address{host, 7000});
    REQUIRE(bound.ok());
    peer->address = to_string(*bound);

    std::vector<std::string> seed_addresses;
    for (int s : seeds) seed_addresses.push_back(peers[std::size_t(s)]->address);
    peer->node->start(seed_addresses, joining);
    peers.push_back(std::move(peer));
    return *peers.back();
  }

  // Connects a RawMember to `to` and says a link hello for `model`; with
  // `identity`, under that one (a member that comes back), else a new one.
  // `joining`: its hello says so (a joiner opens the link once it trains; a
  // member that does not is dropped a stall after its hello).
  std::unique_ptr<RawMember> raw_member(const std::string& name, const SwarmPeer& to, const std::string& model,
                                        bool based_snapshots = false, const crypto::Identity* identity = nullptr,
                                        bool joining = false) {
    auto member = std::make_unique<RawMember>();
    MemoryTransportOptions transport_options;
    transport_options.security =
        make_crypto_security(identity ? identity->clone() : identity_for(-1), swarm_key_.clone());
    member->transport = network_.create_transport(name, std::move(transport_options));
    RawMember* raw = member.get();
    TransportEvents events;
    events.on_connected = [raw](const ConnectionInfo&) { raw->connected = true; };
    events.on_frame = [raw](ConnectionId, ByteSpan frame) {
      auto message = wire::decode(frame);
      if (message && std::holds_alternative<wire::ModelChunk>(*message))
        raw->chunks.push_back(std::get<wire::ModelChunk>(*message));
      if (message) raw->messages.push_back(*message);
    };
    member->transport->set_events(std::move(events));
    REQUIRE(member->transport->listen(Address{name, 7000}).ok());
    auto id = member->transport->connect(*parse_address(to.address));
    REQUIRE(id.ok());
    member->connection = *id;
    wire::LinkHello hello;
    hello.parameter_count = kDimension;
    hello.model_hash = model_hash(model);
    hello.based_snapshots = based_snapshots;
    hello.joining = joining;
    member->send(wire::Message{hello});
    return member;
  }

  Eigen::VectorXf random_model(float scale = 1.0f) {
    std::normal_distribution<float> normal(0.0f, scale);
    Eigen::VectorXf x(kDimension);
    for (auto& v : x) v = 1.0f + normal(random_);
    return x;
  }

  bool run_until(const std::function<bool()>& done, std::uint64_t seconds) {
    return network_.run_until(done, seconds * kSecondUs, 50'000'000);
  }
  void run_for(std::uint64_t seconds) { network_.run_for(seconds * kSecondUs, 50'000'000); }
  void run_for_ms(std::uint64_t ms) { network_.run_for(ms * 1000, 50'000'000); }
  MemoryNetwork& network() { return network_; }

  Eigen::VectorXf mean() const {
    Eigen::VectorXf sum = Eigen::VectorXf::Zero(kDimension);
    int count = 0;
    for (const auto& peer : peers) {
      if (!peer->transport) continue;
      sum += peer->host.x;
      ++count;
    }
    return sum / float(count);
  }
  // Mean over live peers of ‖x_k − x̄‖² / ‖x̄‖².
  double consensus_distance() const {
    const Eigen::VectorXf m = mean();
    double total = 0.0;
    int count = 0;
    for (const auto& peer : peers) {
      if (!peer->transport) continue;
      total += double((peer->host.x - m).squaredNorm()) / double(m.squaredNorm());
      ++count;
    }
    return total / count;
  }
  bool all_links_ready(std::size_t at_least) const {
    for (const auto& peer : peers) {
      if (!peer->training()) continue;
      std::size_t ready = 0;
      for (const auto& n : peer->training()->status().neighbours) ready += n.ready ? 1 : 0;
      if (ready < at_least) return false;
    }
    return true;
  }

  std::vector<std::unique_ptr<SwarmPeer>> peers;

 private:
  MemoryNetwork network_;
  std::mt19937_64 random_;
  std::uint64_t seed_;
  int identities_made_ = 0;  // a peer's restarts and extra clients get new ones
  crypto::Identity identity_for(int index) {
    const crypto::Hash256 seed = crypto::hash256("training-swarm identity " + std::to_string(seed_) + " " +
                                                 std::to_string(index) + " " + std::to_string(identities_made_++));
    return crypto::Identity::from_seed(std::span<const std::uint8_t, 32>(seed));
  }
  crypto::SwarmKey swarm_key_ = crypto::SwarmKey::generate();
};

inline void build_swarm(Swarm& swarm, const SwarmConfig& config, int n) {
  for (int i = 0; i < n; ++i) {
    swarm.add(config, i == 0 ? std::vector<int>{} : std::vector<int>{0}, false, swarm.random_model());
  }
}

// Bytes of snapshot chunks a driver sent (framing included): what a link
// start or reset cost it.
inline std::uint64_t snapshot_bytes_sent(const node::TrainingDriverStatus& status) {
  const auto found = status.traffic_by_kind.find("snapshot_chunk");
  return found == status.traffic_by_kind.end() ? 0 : found->second.bytes_sent;
}

}  // namespace starling::test_training
