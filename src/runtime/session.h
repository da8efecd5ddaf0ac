// One connection's protocol state, sans-I/O, shared by both transports:
// handshake, sealing and opening frames, the handshake and idle deadlines, and
// the frames queued before the connection is ready. The transports move bytes
// and arm timers; this decides what the bytes mean.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
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
  std::size_t delayed_bytes = 0;  // held back by the fault layer
};

}  // namespace starling::runtime
