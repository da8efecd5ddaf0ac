#include "membership_swarm.h"

#include <array>
#include <utility>

#include "starling/crypto/keys.h"
#include "starling/node/record_authority.h"

namespace starling::bench {

using node::Address;
using node::ByteSpan;
using node::ConnectionId;
using node::TimerId;
using node::Transport;

// Forwards to the peer's memory transport, losing outbound datagrams with a
// probability from its own seeded generator and counting the bytes sent.
class DatagramLoss final : public Transport {
 public:
  DatagramLoss(Transport& inner, std::uint64_t seed, const double& loss) : inner_(inner), random_(seed), loss_(loss) {}
  void set_events(node::TransportEvents events) override { inner_.set_events(std::move(events)); }
  Result<Address> listen(const Address& address) override { return inner_.listen(address); }
  Result<ConnectionId> connect(const Address& remote) override { return inner_.connect(remote); }
  Status send(ConnectionId id, ByteSpan frame) override {
    stream_bytes += frame.size();
    return inner_.send(id, frame);
  }
  void close(ConnectionId id) override { inner_.close(id); }
  std::size_t pending_outbound_bytes(ConnectionId id) const override { return inner_.pending_outbound_bytes(id); }
  Status send_datagram(const Address& to, ByteSpan datagram) override {
    datagram_bytes += datagram.size();
    if (loss_ > 0.0 && std::uniform_real_distribution<double>(0.0, 1.0)(random_) < loss_) return ok_status();
    return inner_.send_datagram(to, datagram);
  }
  TimerId start_timer(std::uint64_t delay_ms, std::function<void()> callback) override {
    return inner_.start_timer(delay_ms, std::move(callback));
  }
  void cancel_timer(TimerId id) override { inner_.cancel_timer(id); }
  std::uint64_t now_ms() const override { return inner_.now_ms(); }
  void set_peer_label(ConnectionId id, std::string label) override { inner_.set_peer_label(id, std::move(label)); }
  void shutdown() override { inner_.shutdown(); }
  node::TransportStats stats() const override { return inner_.stats(); }
  std::size_t connection_count() const override { return inner_.connection_count(); }

  std::uint64_t datagram_bytes = 0;
  std::uint64_t stream_bytes = 0;

 private:
  Transport& inner_;
  std::mt19937_64 random_;
  const double& loss_;
};

struct MembershipSwarm::Peer {
  std::unique_ptr<Transport> transport;
  std::unique_ptr<DatagramLoss> lossy;
  node::MemoryIncarnationStore incarnations;
  std::unique_ptr<node::Peer> driver;  // membership only
  std::string address;
};

MembershipSwarm::MembershipSwarm(std::uint64_t seed, gossip::Config config, std::uint64_t latency_us)
    : network_(seed), config_(std::move(config)), random_(seed) {
  network_.set_latency_us(latency_us);
}

MembershipSwarm::~MembershipSwarm() {
  for (auto& peer : peers_) {
    peer->driver.reset();
    peer->lossy.reset();
    peer->transport.reset();
  }
}

std::size_t MembershipSwarm::add_peer(const std::vector<std::size_t>& seeds) {
  const std::size_t index = peers_.size();
  auto peer = std::make_unique<Peer>();
  const std::string host = "n" + std::to_string(index);
  peer->transport = network_.create_transport(host);  // plain sessions
  peer->lossy = std::make_unique<DatagramLoss>(*peer->transport, random_(), loss_);

  node::PeerOptions options;
  options.membership = config_;
  options.random_seed = random_();
  options.on_membership_event = [this, index](const gossip::Event& event) { on_event(index, event); };

  // Deterministic identities: the run replays from the seed.
  std::array<std::uint8_t, 32> key_seed{};
  for (std::size_t i = 0; i < key_seed.size(); i += 8) {
    const std::uint64_t word = random_();
    for (std::size_t b = 0; b < 8; ++b) key_seed[i + b] = std::uint8_t(word >> (8 * b));
  }
  crypto::Identity identity = crypto::Identity::from_seed(key_seed);
  options.node_id = identity.node_id().bytes();
  options.authority = node::make_record_authority(std::move(identity), verified_);
  peer->driver = std::make_unique<node::Peer>(*peer->lossy, nullptr, peer->incarnations, std::move(options));
  auto bound = peer->driver->listen(Address{host, 7946});
  STARLING_ASSERT(bound.ok());
  peer->address = node::to_string(*bound);
  index_of_address_[peer->address] = index;

  for (auto& row : table_) row.push_back(Listed::unknown);
  table_.emplace_back(index + 1, Listed::unknown);
  first_suspected_us_.push_back(0);
  std::vector<std::string> seed_addresses;
  for (std::size_t s : seeds) seed_addresses.push_back(peers_[s]->address);
  peers_.push_back(std::move(peer));
  peers_.back()->driver->start(std::move(seed_addresses), false);
  return index;
}

void MembershipSwarm::crash(std::size_t index) {
  Peer& peer = *peers_[index];
  STARLING_ASSERT(peer.driver != nullptr);
  dead_bytes_datagram_ += peer.lossy->datagram_bytes;
  dead_bytes_stream_ += peer.lossy->stream_bytes;
  peer.driver.reset();
  peer.lossy.reset();
  peer.transport.reset();
  first_suspected_us_[index] = 0;
}

void MembershipSwarm::set_datagram_loss(double probability) { loss_ = probability; }

void MembershipSwarm::run_for(std::uint64_t duration_us) { network_.run_for(duration_us, 1'000'000'000); }

bool MembershipSwarm::live(std::size_t index) const { return peers_[index]->driver != nullptr; }

std::size_t MembershipSwarm::live_count() const {
  std::size_t count = 0;
  for (std::size_t i = 0; i < peers_.size(); ++i) count += live(i) ? 1 : 0;
  return count;
}

bool MembershipSwarm::converged() const {
  for (std::size_t observer = 0; observer < peers_.size(); ++observer) {
    if (!live(observer)) continue;
    for (std::size_t subject = 0; subject < peers_.size(); ++subject) {
      if (subject == observer || !live(subject)) continue;
      const Listed state = table_[observer][subject];
      if (state != Listed::alive && state != Listed::suspect) return false;
    }
  }
  return true;
}

std::size_t MembershipSwarm::count_listing(std::size_t subject, Listed state) const {
  std::size_t count = 0;
  for (std::size_t observer = 0; observer < peers_.size(); ++observer)
    if (observer != subject && live(observer) && table_[observer][subject] == state) ++count;
  return count;
}

std::uint64_t MembershipSwarm::datagram_bytes_sent() const {
  std::uint64_t total = dead_bytes_datagram_;
  for (const auto& peer : peers_)
    if (peer->lossy) total += peer->lossy->datagram_bytes;
  return total;
}

std::uint64_t MembershipSwarm::stream_bytes_sent() const {
  std::uint64_t total = dead_bytes_stream_;
  for (const auto& peer : peers_)
    if (peer->lossy) total += peer->lossy->stream_bytes;
  return total;
}

std::uint64_t MembershipSwarm::driver_bytes_sent() const {
  std::uint64_t total = 0;
  for (const auto& peer : peers_)
    if (peer->driver) total += peer->driver->membership().traffic().bytes_sent;
  return total;
}

void MembershipSwarm::on_event(std::size_t observer, const gossip::Event& event) {
  const auto found = index_of_address_.find(event.member.address);
  if (found == index_of_address_.end()) return;  // joined_swarm, join_retry, self_refuted about ourselves
  const std::size_t subject = found->second;
  if (subject == observer) return;
  switch (event.kind) {
    case gossip::EventKind::member_joined:
    case gossip::EventKind::member_recovered:
      set_listed(observer, subject, Listed::alive);
      break;
    case gossip::EventKind::member_suspected:
      if (live(subject)) ++false_suspicions_;
      else if (first_suspected_us_[subject] == 0) first_suspected_us_[subject] = network_.now_us();
      set_listed(observer, subject, Listed::suspect);
      break;
    case gossip::EventKind::member_dead:
      if (live(subject)) ++false_deaths_;
      set_listed(observer, subject, Listed::dead);
      break;
    case gossip::EventKind::member_left:
      set_listed(observer, subject, Listed::left);
      break;
    case gossip::EventKind::member_reaped:
      set_listed(observer, subject, Listed::unknown);
      break;
    default:
      break;
  }
}

void MembershipSwarm::set_listed(std::size_t observer, std::size_t subject, Listed state) {
  const Listed before = table_[observer][subject];
  table_[observer][subject] = state;
  if (on_change && before != state) on_change(observer, subject, before, state);
}

}  // namespace starling::bench
