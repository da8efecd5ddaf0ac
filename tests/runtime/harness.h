// What the transport conformance suite needs from a network: make peers that
// listen and record every event, and drive time with a bound. One harness per
// implementation; the suite is templated over them (transport_conformance_test).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "starling/runtime/event_loop.h"
#include "starling/runtime/transport.h"
#include "starling/runtime/memory_network.h"
#include "starling/runtime/security.h"
#include "starling/runtime/uv_transport.h"

namespace starling::runtime::testing {

// Every event a transport reported, in order.
struct Recorder {
  std::vector<ConnectionInfo> connected;
  std::map<ConnectionId, std::vector<Bytes>> frames;
  std::vector<std::pair<ConnectionId, Error>> disconnected;
  std::vector<ConnectionId> send_ready;
  std::vector<std::pair<Address, Bytes>> datagrams;
  std::vector<Bytes> datagram_senders;  // the proven sender of each datagram (empty in plain mode)

  std::size_t frame_count() const {
    std::size_t count = 0;
    for (const auto& [id, list] : frames) count += list.size();
    return count;
  }
  bool disconnected_with(ConnectionId id) const {
    for (const auto& [gone, reason] : disconnected)
      if (gone == id) return true;
    return false;
  }
  const Error* reason_for(ConnectionId id) const {
    for (const auto& [gone, reason] : disconnected)
      if (gone == id) return &reason;
    return nullptr;
  }
};

struct Peer {
  std::unique_ptr<Transport> transport;
  Address address;  // where it listens (TCP and UDP)
  Recorder events;
  std::string key() const { return to_string(address); }  // its fault-layer name
};

inline TransportEvents recording_events(Recorder& recorder) {
  TransportEvents events;
  events.on_connected = [&recorder](const ConnectionInfo& info) { recorder.connected.push_back(info); };
  events.on_frame = [&recorder](ConnectionId id, ByteSpan frame) {
    recorder.frames[id].emplace_back(frame.begin(), frame.end());
  };
  events.on_disconnected = [&recorder](ConnectionId id, const Error& reason) {
    recorder.disconnected.emplace_back(id, reason);
  };
  events.on_send_ready = [&recorder](ConnectionId id) { recorder.send_ready.push_back(id); };
  events.on_datagram = [&recorder](const Address& from, ByteSpan datagram, const Bytes& sender_identity) {
    recorder.datagrams.emplace_back(from, Bytes(datagram.begin(), datagram.end()));
    recorder.datagram_senders.push_back(sender_identity);
  };
  return events;
}

inline Bytes random_bytes(std::mt19937_64& generator, std::size_t size) {
  Bytes bytes(size);
  for (auto& byte : bytes) byte = static_cast<std::uint8_t>(generator());
  return bytes;
}

// Real sockets on 127.0.0.1; wall-clock time.
class UvHarness {
 public:
  static constexpr const char* kName = "libuv";
  static constexpr bool kVirtualTime = false;

  ~UvHarness() {
    peers_.clear();  // transports before the loop
  }

  Peer& make_peer(TransportLimits limits = {}, std::shared_ptr<Security> security = nullptr) {
    auto peer = std::make_unique<Peer>();
    UvTransportOptions options;
    options.limits = limits;
    options.security = std::move(security);
    options.faults = faults_;
    peer->transport = make_uv_transport(loop_, std::move(options));
    peer->transport->set_events(recording_events(peer->events));
    auto bound = peer->transport->listen(Address{"127.0.0.1", 0});
    STARLING_ASSERT_MSG(bound.ok(), bound.ok() ? "" : bound.error().message.c_str());
    peer->address = *bound;
    peers_.push_back(std::move(peer));
    return *peers_.back();
  }

  // An address where nobody listens.
  Address dead_address() {
    auto probe = make_uv_transport(loop_);
    auto bound = probe->listen(Address{"127.0.0.1", 0});
    STARLING_ASSERT(bound.ok());
    probe.reset();
    loop_.run_for(5);  // let the listener close
    return *bound;
  }

  bool run_until(const std::function<bool()>& done, std::uint64_t timeout_ms) {
    return loop_.run_until(done, timeout_ms);
  }
  void run_for(std::uint64_t duration_ms) { loop_.run_for(duration_ms); }
  std::uint64_t now_ms() { return loop_.now_ms(); }
  FaultPolicy& faults() { return *faults_; }
  EventLoop& loop() { return loop_; }
  void destroy(Peer& peer) { peer.transport.reset(); }

 private:
  EventLoop loop_;
  std::shared_ptr<FaultPolicy> faults_ = std::make_shared<FaultPolicy>(std::mt19937_64(7));
  std::vector<std::unique_ptr<Peer>> peers_;
};

// The in-memory network; virtual time, so timeouts cost nothing.
class MemoryHarness {
 public:
  static constexpr const char* kName = "memory";
  static constexpr bool kVirtualTime = true;

  ~MemoryHarness() { peers_.clear(); }

  Peer& make_peer(TransportLimits limits = {}, std::shared_ptr<Security> security = nullptr) {
    auto peer = std::make_unique<Peer>();
    MemoryTransportOptions options;
    options.limits = limits;
    options.security = std::move(security);
    const std::string host = "node-" + std::to_string(peers_.size() + 1);
    peer->transport = network_.create_transport(host, std::move(options));
    peer->transport->set_events(recording_events(peer->events));
    auto bound = peer->transport->listen(Address{host, 0});
    STARLING_ASSERT(bound.ok());
    peer->address = *bound;
    peers_.push_back(std::move(peer));
    return *peers_.back();
  }

  Address dead_address() { return Address{"nobody", 1}; }

  bool run_until(const std::function<bool()>& done, std::uint64_t timeout_ms) {
    return network_.run_until(done, timeout_ms * 1000);
  }
  void run_for(std::uint64_t duration_ms) { network_.run_for(duration_ms * 1000); }
  std::uint64_t now_ms() { return network_.now_us() / 1000; }
  FaultPolicy& faults() { return network_.faults(); }
  MemoryNetwork& network() { return network_; }
  void destroy(Peer& peer) { peer.transport.reset(); }

 private:
  MemoryNetwork network_{42};
  std::vector<std::unique_ptr<Peer>> peers_;
};

}  // namespace starling::runtime::testing
