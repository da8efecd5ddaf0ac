// A deterministic in-memory network in virtual time: the second Transport
// implementation, for the conformance suite and for the simulator. Nothing
// happens until the owner drives it (step, run_for, run_until); every message
// crosses the network's FaultPolicy, whose generator is seeded from the
// network's seed, so a seed replays a run exactly.
//
// Connections behave like the libuv ones: reliable and ordered, one frame per
// send, the same Session logic (handshake, sealing, timeouts, limits).
// Datagrams are best effort. A perfect link delivers after latency_us.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "starling/runtime/transport.h"
#include "starling/runtime/security.h"

namespace starling::runtime {

struct MemoryTransportOptions {
  TransportLimits limits;
  std::shared_ptr<Security> security;  // nullptr: plain
  std::string name;                    // fault-layer key; empty: its listen address
  // A host whose firewall refuses everything inbound (a peer behind NAT):
  // connections to it are refused and datagrams to it dropped (counted in
  // its datagrams_dropped_by_faults). Its own connections work both ways.
  bool firewalled = false;
};

// One message handed to its receiver (for the simulator's trace): the hosts
// of both ends, the virtual time, the bytes as they crossed the network.
struct MemoryDelivery {
  const std::string& from_host;
  const std::string& to_host;
  std::uint64_t at_us = 0;
  ByteSpan bytes;
  bool datagram = false;
};

class MemoryNetwork {
 public:
  explicit MemoryNetwork(std::uint64_t seed);
  // Every transport must be destroyed first (asserted).
  ~MemoryNetwork();
  MemoryNetwork(const MemoryNetwork&) = delete;
  MemoryNetwork& operator=(const MemoryNetwork&) = delete;

  // A transport on host `host` (any name); it listens on host:port.
  std::unique_ptr<Transport> create_transport(std::string host, MemoryTransportOptions options = {});

  // The faults every message crosses (both directions, all peers).
  FaultPolicy& faults();
  // One-way delay of a perfect link. Default 100 us.
  void set_latency_us(std::uint64_t latency_us);

  // Called for every frame and datagram as it reaches a live receiver.
  void set_delivery_observer(std::function<void(const MemoryDelivery&)> observer);

  // A stopped process (SIGSTOP): nothing reaches the transport and none of
  // its timers fire while paused; all of it is held, in order, and runs at
  // resume(). What it sent before stays in flight. `transport` must come
  // from this network.
  void pause(const Transport& transport);
  void resume(const Transport& transport);
  bool paused(const Transport& transport) const;

  std::uint64_t now_us() const;
  // What std::bad_alloc said, once a transport's event handler ran out of
  // memory. From then on the network runs no event (step() is false,
  // run_for() and run_until() only move the clock): a handler that failed
  // half-way leaves its peer in no state worth simulating further, so the
  // driver ends the run and says so.
  const std::optional<std::string>& out_of_memory() const;
  // Runs the next event, moving the clock to it. False when none is pending.
  bool step();
  // Runs every event due within duration_us (at most max_events) and moves the
  // clock to the end of the span. Returns the events run.
  std::size_t run_for(std::uint64_t duration_us, std::size_t max_events = 10'000'000);
  // Runs events until done() holds, timeout_us of virtual time passes or
  // max_events ran; returns done().
  bool run_until(const std::function<bool()>& done, std::uint64_t timeout_us,
                 std::size_t max_events = 10'000'000);
  std::size_t pending_events() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace starling::runtime
