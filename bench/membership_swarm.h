// A swarm of membership-only peers (node::MembershipDriver, no model) on one
// deterministic in-memory network in virtual time, with plain sessions, for
// the scale figures of bench/membership_scale. Kept small and separate from
// the figures so it can later be pointed at src/sim's world instead of
// runtime::MemoryNetwork.
//
// What it observes comes from the drivers' membership events only (no view()
// copies in the hot loop): a table of what every peer believes about every
// other, plus the times a benchmark needs (first suspicion of a crashed peer,
// a newcomer listed alive, false deaths of running peers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "starling/gossip/config.h"
#include "starling/node/peer.h"
#include "starling/node/verified_statements.h"
#include "starling/runtime/memory_network.h"

namespace starling::bench {

// What one peer lists about another (unknown: not listed, or a candidate).
enum class Listed : std::uint8_t { unknown, alive, suspect, dead, left };

class DatagramLoss;

class MembershipSwarm {
 public:
  MembershipSwarm(std::uint64_t seed, gossip::Config config, std::uint64_t latency_us);
  ~MembershipSwarm();
  MembershipSwarm(const MembershipSwarm&) = delete;
  MembershipSwarm& operator=(const MembershipSwarm&) = delete;

  // Starts a new peer that joins through the given peers (none: the first).
  // Returns its index.
  std::size_t add_peer(const std::vector<std::size_t>& seeds);
  // The peer vanishes without a word (its transport is destroyed).
  void crash(std::size_t index);
  // Every peer loses each datagram it sends with this probability (streams,
  // which stand for TCP, are untouched).
  void set_datagram_loss(double probability);

  void run_for(std::uint64_t duration_us);
  std::uint64_t now_us() const { return network_.now_us(); }

  std::size_t size() const { return peers_.size(); }
  bool live(std::size_t index) const;
  std::size_t live_count() const;
  Listed listed(std::size_t observer, std::size_t subject) const { return table_[observer][subject]; }
  // Every live peer lists every other live peer alive (or suspect).
  bool converged() const;

  // Virtual time (us) of the first member_suspected event about `subject`
  // after `since_us`, from any peer; 0 if none.
  std::uint64_t first_suspected_us(std::size_t subject) const { return first_suspected_us_[subject]; }
  // How many live peers list `subject` as it is listed by the condition.
  std::size_t count_listing(std::size_t subject, Listed state) const;

  // member_dead events about peers that were running at the time (any observer).
  std::uint64_t false_deaths() const { return false_deaths_; }
  // member_suspected events about running peers.
  std::uint64_t false_suspicions() const { return false_suspicions_; }
  void reset_false_counts() { false_deaths_ = false_suspicions_ = 0; }

  // Bytes every peer has sent so far (encoded membership messages, before
  // framing): by datagram (probes, acks, gossip) and by stream (join, push-pull).
  std::uint64_t datagram_bytes_sent() const;
  std::uint64_t stream_bytes_sent() const;
  // Membership messages the drivers counted (MembershipTraffic), live peers.
  std::uint64_t driver_bytes_sent() const;

  // Called on every listed-state change: (observer, subject, before, after).
  std::function<void(std::size_t, std::size_t, Listed, Listed)> on_change;

 private:
  struct Peer;
  void on_event(std::size_t observer, const gossip::Event& event);
  void set_listed(std::size_t observer, std::size_t subject, Listed state);

  runtime::MemoryNetwork network_;
  // One memo of verified signatures for the whole swarm: each signed record
  // is verified once, not once per peer that hears it.
  std::shared_ptr<node::VerifiedStatements> verified_ = std::make_shared<node::VerifiedStatements>();
  gossip::Config config_;
  std::mt19937_64 random_;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::unordered_map<std::string, std::size_t> index_of_address_;
  std::vector<std::vector<Listed>> table_;
  std::vector<std::uint64_t> first_suspected_us_;
  std::uint64_t false_deaths_ = 0;
  std::uint64_t false_suspicions_ = 0;
  std::uint64_t dead_bytes_datagram_ = 0;  // sent by peers since crashed
  std::uint64_t dead_bytes_stream_ = 0;
  double loss_ = 0.0;
};

}  // namespace starling::bench
