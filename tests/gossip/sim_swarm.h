// An in-process swarm of Membership state machines on a simulated network,
// in virtual time, driven by one seed. Datagrams can be lost and delayed;
// streams (Join, PushPull) are reliable but, like datagrams, cut by
// partitions and crashed peers. Everything is a discrete-event queue, so a
// run with the same seed is the same run. What the network does to a message
// is decided by node::FaultPolicy, the fault model the runtime and the
// simulator use too; this harness only skips the codec and the transport.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fake_authority.h"
#include "starling/gossip/membership.h"
#include "starling/node/faults.h"

namespace starling::gossip::testing {

struct NetworkFaults {
  double loss = 0.0;             // probability a datagram vanishes
  std::int64_t delay_min_ms = 1;  // one-way delay, uniform in [min, max]
  std::int64_t delay_max_ms = 5;
};

struct LoggedEvent {
  std::int64_t time_ms = 0;
  std::size_t observer = 0;
  Event event;
};

class SimSwarm {
 public:
  SimSwarm(std::uint64_t seed, Config config, NetworkFaults faults = {});

  // Adds `count` peers that are not running yet; returns the first index.
  std::size_t add_nodes(std::size_t count);
  // Starts peer `index` (a fresh process) and joins through `seeds`.
  void start(std::size_t index, const std::vector<std::size_t>& seeds, std::uint64_t initial_incarnation = 0);
  // Adds and starts `count` peers that all join through peer `seed` (or form
  // the swarm when `seed` is empty).
  void start_all(std::optional<std::size_t> seed);
  // kill -9: the peer stops; its in-flight messages still arrive at others.
  void crash(std::size_t index);
  // A stopped peer's state is wiped: its next start() has a new key, so a
  // new node id, on the same address (`restart` with `identity = "new"`).
  void renew_identity(std::size_t index);
  // A stopped peer takes `from`'s identity (a copied identity file): its
  // next start() signs as `from`, at its own address.
  void adopt_identity(std::size_t index, std::size_t from);
  void leave(std::size_t index);

  // Peers in different groups cannot reach each other; group of each peer.
  void partition(const std::vector<int>& group_of_peer);
  void heal();
  void set_faults(NetworkFaults faults);
  // Extra per-message drop rule (e.g. an asymmetric fault): return true to drop.
  std::function<bool(std::size_t from, std::size_t to, const GossipMessage&)> drop_rule;
  // A lying peer: rewrite what `from` sends (add forged updates, ...). The
  // envelope's sender stays authenticated: the runtime would drop a message
  // whose sender is not the one that signed the datagram.
  std::function<void(std::size_t from, std::size_t to, GossipMessage&)> tamper;

  void run_until(std::int64_t time_ms);
  void run_for(std::int64_t duration_ms) { run_until(now_ms_ + duration_ms); }
  // Runs until `done()` holds (checked every `step_ms`) or `limit_ms` of
  // virtual time passed; returns the time it took, or nullopt.
  std::optional<std::int64_t> run_until_true(const std::function<bool()>& done, std::int64_t limit_ms,
                                             std::int64_t step_ms = 50);

  std::int64_t now_ms() const { return now_ms_; }
  std::size_t size() const { return peers_.size(); }
  bool running(std::size_t index) const { return peers_.at(index).machine != nullptr; }
  Membership& node(std::size_t index);
  const NodeId& id(std::size_t index) const { return peers_.at(index).id; }
  const FakeAuthority& authority(std::size_t index) const { return *peers_.at(index).authority; }
  const std::string& address(std::size_t index) const { return peers_.at(index).address; }

  // What `observer` believes about `subject` (nullopt: unknown).
  std::optional<MemberRecord> belief(std::size_t observer, std::size_t subject) const;
  // Every running peer other than `subject` believes `subject` is in `state`.
  bool all_see(std::size_t subject, MemberState state) const;
  // Every running peer sees every other running peer alive.
  bool converged() const;
  // Events seen by anyone, in order.
  const std::vector<LoggedEvent>& events() const { return events_; }
  std::size_t count_events(EventKind kind, std::optional<std::size_t> about = std::nullopt) const;

  std::uint64_t datagrams_sent() const { return datagrams_sent_; }
  std::uint64_t datagrams_dropped() const { return datagrams_dropped_; }
  // Datagrams sent to an address no peer listens at (e.g. a made-up member).
  std::uint64_t datagrams_unroutable() const { return datagrams_unroutable_; }

 private:
  struct Peer {
    NodeId id{};
    std::shared_ptr<const FakeAuthority> authority;
    std::string address;
    std::unique_ptr<Membership> machine;
    std::uint64_t generation = 0;  // bumps on every (re)start: stale timers are ignored
    std::int64_t armed_ms = std::numeric_limits<std::int64_t>::max();
  };
  struct Pending {
    std::int64_t time_ms = 0;
    std::uint64_t order = 0;
    bool is_timer = false;
    std::size_t to = 0;
    std::uint64_t generation = 0;
    std::string from_address;
    GossipMessage message;
  };

  void apply(std::size_t index, Actions actions);
  void rearm(std::size_t index);
  void push(Pending pending);
  std::optional<std::size_t> index_of(const std::string& address) const;

  Config config_;
  Random random_;
  // Datagrams cross the first, streams the second: the same delays and
  // partitions, but streams are reliable (TCP retransmits) so never lost.
  node::FaultPolicy datagram_faults_;
  node::FaultPolicy stream_faults_;
  std::vector<Peer> peers_;
  std::map<std::string, std::size_t> index_of_address_;
  std::vector<Pending> queue_;  // a heap on (time, order)
  std::uint64_t next_order_ = 0;
  std::int64_t now_ms_ = 0;
  std::vector<LoggedEvent> events_;
  std::uint64_t datagrams_sent_ = 0;
  std::uint64_t datagrams_dropped_ = 0;
  std::uint64_t datagrams_unroutable_ = 0;
};

// Test configs: memberlist LAN defaults.
Config test_config();

}  // namespace starling::gossip::testing
