// One connection's protocol state, sans-I/O, shared by both transports:
// handshake, sealing and opening frames, the handshake and idle deadlines, and
// the frames queued before the connection is ready. The transports move bytes
// and arm timers; this decides what the bytes mean.
#pragma once

#include <algorithm>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "starling/runtime/security.h"
#include "starling/runtime/transport.h"
#include "starling/status.h"

namespace starling::runtime {

// Handshake messages are small; a peer that has not proven itself may not
// make us buffer more than this.
inline constexpr std::size_t kMaxHandshakeFrameBytes = 4096;
// Room for any cipher's per-frame overhead (tags, headers).
inline constexpr std::size_t kMaxSealOverheadBytes = 256;

class Session {
 public:
  struct Output {
    std::vector<Bytes> handshake_frames;       // send these unsealed, in order
    bool established_now = false;              // on_connected is due
    std::optional<std::span<std::uint8_t>> frame;  // an application frame
  };

  Session(Security& security, bool initiator, const TransportLimits& limits, std::uint64_t now_ms);

  // The connection is open: the first handshake frames, or established_now.
  Result<Output> start();
  // One wire frame arrived (it may be opened in place). Errors: drop the link.
  Result<Output> receive(std::span<std::uint8_t> wire_frame, std::uint64_t now_ms);

  bool established() const { return established_; }
  // Before establishment: the handshake reached this very process (Handshake::reached_itself).
  bool reached_itself() const { return handshake_ && handshake_->reached_itself(); }
  // Wire bytes for a plaintext frame of plaintext_bytes once established.
  std::size_t sealed_size(std::size_t plaintext_bytes) const { return plaintext_bytes + overhead_; }
  // Seals into out (exactly sealed_size bytes). Plain sessions copy.
  Status seal(ByteSpan plaintext, std::span<std::uint8_t> out);

  // The largest wire frame the reader should accept right now.
  std::size_t max_incoming_wire_bytes() const;
  // After this time the connection must go (handshake or idle timeout).
  std::uint64_t deadline_ms() const;
  Error deadline_error() const;

  const Bytes& remote_identity() const { return remote_identity_; }

  // Frames sent before the connection was established wait here.
  void queue(ByteSpan frame) { queued_.emplace_back(frame.begin(), frame.end()); queued_bytes_ += frame.size(); }
  std::deque<Bytes> take_queued() {
    queued_bytes_ = 0;
    return std::exchange(queued_, {});
  }
  std::size_t queued_bytes() const { return queued_bytes_; }

 private:
  Status apply(HandshakeStep step, Output& output);

  const TransportLimits& limits_;
  std::unique_ptr<Handshake> handshake_;
  std::unique_ptr<FrameCipher> cipher_;
  bool established_ = false;
  std::size_t overhead_ = 0;
  std::uint64_t opened_ms_;
  std::uint64_t last_receive_ms_;
  Bytes remote_identity_;
  std::deque<Bytes> queued_;
  std::size_t queued_bytes_ = 0;
};

// What every transport keeps per connection besides its I/O handles: who the
// remote is, its Session, and the flags behind on_connected/on_send_ready.
struct ConnectionCore {
  ConnectionCore(ConnectionId id_, bool inbound_, Address remote_, Security& security, const TransportLimits& limits,
                 std::uint64_t now_ms)
      : id(id_),
        inbound(inbound_),
        remote(std::move(remote_)),
        peer_label(to_string(remote)),
        session(security, !inbound_, limits, now_ms) {}

  ConnectionId id;
  bool inbound;
  Address remote;
  std::string peer_label;         // fault-layer key of the remote peer
  Session session;
  bool overloaded = false;        // refused a send; on_send_ready is owed
  bool announced = false;         // on_connected fired
  bool opened = false;            // the byte stream is up (TCP connected); the handshake runs
  bool counted_identity = false;  // counts towards its identity's inbound limit
  std::size_t delayed_bytes = 0;    // held back by the fault layer, still in our queue (pending)
  std::size_t held_frames = 0;      // held back by the fault layer, not yet sent on
  std::uint64_t held_until_us = 0;  // when the last frame held back is due

  // When a frame the fault layer delays by delay_us from now_us is due. A
  // stream's frames leave in the order they were sent (`in_order`, every
  // fault but StreamLoss::raw): none is due before one held ahead of it.
  std::uint64_t due_us(std::uint64_t now_us, std::uint64_t delay_us, bool in_order) {
    std::uint64_t due = now_us + delay_us;
    if (in_order && held_frames > 0) due = std::max(due, held_until_us);
    held_until_us = std::max(held_until_us, due);
    return due;
  }
  // Whether a frame due at due_us can go out at once.
  bool sends_now(std::uint64_t now_us, std::uint64_t due_us, bool in_order) const {
    return due_us == now_us && (held_frames == 0 || !in_order);
  }
};

// Inbound connections per authenticated identity (TransportLimits::
// max_connections_per_identity), shared by both transports.
class IdentityCounter {
 public:
  // Call when an inbound connection completes its handshake. False: over the
  // limit, drop it (nothing was counted).
  bool admit(ConnectionCore& connection, std::size_t limit) {
    const Bytes& identity = connection.session.remote_identity();
    if (!connection.inbound || identity.empty()) return true;
    const std::string key = key_of(identity);
    std::size_t& count = counts_[key];
    if (count >= limit) {
      if (count == 0) counts_.erase(key);
      return false;
    }
    ++count;
    connection.counted_identity = true;
    return true;
  }
  // Call when any connection goes.
  void release(const ConnectionCore& connection) {
    if (!connection.counted_identity) return;
    auto found = counts_.find(key_of(connection.session.remote_identity()));
    if (found != counts_.end() && --found->second == 0) counts_.erase(found);
  }
  void clear() { counts_.clear(); }

 private:
  static std::string key_of(const Bytes& identity) { return std::string(identity.begin(), identity.end()); }
  std::map<std::string, std::size_t> counts_;  // node id bytes -> inbound connections
};

// Gives the error that ends a connection its Reason from the state the
// connection was in, unless the code that produced it set one: a connection
// that never opened was refused, one that opened but never finished its
// handshake failed it, and timeouts stay timeouts (a silent host is not a
// peer with another swarm key); a dial our own responder refused as our own
// (Session::reached_itself) is own_address.
Error with_drop_reason(const ConnectionCore& connection, Error reason);

// Counts a dropped connection in stats.handshake_failures when it opened but
// never finished its handshake, by the kind of the error that ended it.
void count_handshake_failure(const ConnectionCore& connection, const Error& reason, node::TransportStats& stats);

}  // namespace starling::runtime
