// The transport the peer core talks through: framed, reliable connections plus
// unreliable datagrams and timers. Two implementations pass one conformance
// suite: real libuv sockets (uv_transport.h) and a deterministic in-memory
// network in virtual time (memory_network.h). See docs/runtime.md.
//
// Threading: a Transport is used from one thread only (the libuv loop thread,
// or whoever drives the memory network). Every callback runs on that thread.
// Errors are values: a call returns a Status, a lost link arrives as
// on_disconnected with an Error saying why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "starling/status.h"

namespace starling::node {

using ConnectionId = std::uint64_t;
using TimerId = std::uint64_t;
using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

// A numeric IP address and port for libuv ("127.0.0.1", "::1"); any host name
// in the memory network.
struct Address {
  std::string host;
  std::uint16_t port = 0;
  friend bool operator==(const Address&, const Address&) = default;
};

// "127.0.0.1:9000", "[::1]:9000".
std::string to_string(const Address& address);
// Parses the forms to_string writes. Errors: invalid_argument.
Result<Address> parse_address(std::string_view text);

// Every limit a hostile or broken peer could otherwise push past. Defaults fit
// a trainer exchanging model deltas on a LAN or the Internet.
struct TransportLimits {
  // Largest application frame (plaintext) sent or accepted; a bigger incoming
  // frame drops the connection.
  std::size_t max_frame_bytes = 16u << 20;
  // Memory all connections' readers together may hold for inbound frames
  // (libuv transport): a frame arrives into a buffer that grows with its bytes.
  // Past it, idle readers give their buffers back, then the connections whose
  // frame in progress started earliest are dropped until the rest fit. A
  // member that started 16 MiB frames on hundreds of connections and never
  // finished them held about 19 MiB on each. Never below one largest frame
  // plus 1 MiB.
  std::size_t max_inbound_buffer_bytes = 256u << 20;
  // Bytes queued towards one connection (not yet handed to the kernel or, in
  // memory, not yet delivered). send() beyond it returns overloaded.
  std::size_t max_pending_outbound_bytes = 32u << 20;
  // Inbound connections from one remote host (IP); extra ones are closed at once.
  std::size_t max_connections_per_address = 16;
  // Inbound connections still in their handshake (libuv transport). At the limit a
  // new one evicts the oldest: a stranger holding sockets open without a word
  // (slowloris) from many addresses cannot lock honest peers out, whose
  // handshakes finish within a round trip.
  std::size_t max_handshaking_connections = 128;
  // All inbound connections (libuv transport). Extra ones evict the oldest still handshaking, or
  // are closed at once. The libuv transport also keeps it under half the
  // process's open-file limit, so sockets, files and dials keep descriptors.
  std::size_t max_inbound_connections = 512;
  // Inbound connections from one authenticated identity (secure mode), counted
  // once the handshake proved who it is; extra ones are closed before the
  // application hears of them. Bounds a member that dials from many addresses,
  // or many members behind one address when they share it (NAT, loopback).
  std::size_t max_connections_per_identity = 8;
  // A connection that has not completed its secure handshake by then is dropped.
  std::uint64_t handshake_timeout_ms = 5'000;
  // An established connection that received nothing for this long is dropped.
  // The peer core sends keepalives well within it. 0 disables.
  std::uint64_t idle_timeout_ms = 120'000;
  // Largest datagram on the wire (sealed), to stay below common path MTUs.
  std::size_t max_datagram_bytes = 1'400;
};

struct ConnectionInfo {
  ConnectionId id = 0;
  Address remote;        // the dialled address, or the remote socket of an inbound connection
  bool inbound = false;
  Bytes remote_identity; // the peer's proven node id in secure mode; empty in plain mode
};

// The callbacks a transport makes. Any may be empty. A callback may call back
// into the transport (send, close, ...) but must not destroy it.
struct TransportEvents {
  // The connection is ready (and authenticated, in secure mode).
  std::function<void(const ConnectionInfo& info)> on_connected;
  // One whole frame, in order. The bytes are valid only during the call.
  std::function<void(ConnectionId id, ByteSpan frame)> on_frame;
  // The connection is gone (never after close() of the same id). Also fires for
  // a connect() that failed or whose handshake did not complete; an inbound
  // connection that never reached on_connected goes silently (see stats()).
  std::function<void(ConnectionId id, const Error& reason)> on_disconnected;
  // A connection that refused a send with overloaded has drained below half
  // its pending limit: sending may resume.
  std::function<void(ConnectionId id)> on_send_ready;
  // One datagram that passed the security layer. Valid only during the call.
  // sender_identity: the node id that provably sent it (it signed it) in
  // secure mode; empty in plain mode.
  std::function<void(const Address& from, ByteSpan datagram, const Bytes& sender_identity)> on_datagram;
};

// Connections that came up but whose secure handshake did not complete, by
// why (from the error that ended them): security (another swarm key, a bad
// signature or proof), timeout (not done within the handshake timeout),
// closed (the other side hung up, typically because its own check failed),
// protocol (malformed, oversized or unsupported handshake messages),
// own_identity (the other end proved this peer's own identity: a looped
// connection, or two peers started from one identity file; not counted in
// security).
struct HandshakeFailures {
  std::uint64_t security = 0;
  std::uint64_t timeout = 0;
  std::uint64_t closed = 0;
  std::uint64_t protocol = 0;
  std::uint64_t own_identity = 0;
  std::string own_identity_last_from;  // the remote address of the latest own_identity failure
};

struct TransportStats {
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t bytes_sent = 0;          // stream wire bytes, framing and sealing included (not datagrams)
  std::uint64_t bytes_received = 0;
  std::uint64_t datagrams_sent = 0;
  std::uint64_t datagram_bytes_sent = 0;  // wire bytes of the datagrams sent, sealing included
  // Every byte as the real secure session puts it on the wire: AEAD-sealed
  // frames in Cap'n Proto stream framing, handshake frames, sealed datagram
  // envelopes. On the libuv transport it is bytes_sent + datagram_bytes_sent;
  // the memory network neither frames nor (with plain security, as the
  // simulator runs) seals, so it adds what framing, the 16-byte frame tag and
  // the SealedDatagram envelope would weigh (docs/simulator.md, "Bytes").
  std::uint64_t secure_wire_bytes_sent = 0;
  std::uint64_t datagrams_received = 0;
  std::uint64_t datagram_bytes_received = 0;  // wire bytes of every datagram that arrived, rejected ones too
  std::uint64_t datagrams_rejected = 0;  // failed to open, oversized, malformed
  std::uint64_t connections_rejected = 0;  // over a connection limit above, evicted by one, or accept() failed
  std::uint64_t connections_dropped = 0;   // for any error (timeouts, bad frames, ...), not a close by the other end
  std::uint64_t frames_dropped_by_faults = 0;
  // Memory the connections' readers hold now for inbound frames (libuv
  // transport; max_inbound_buffer_bytes bounds it). 0 in memory.
  std::uint64_t inbound_buffer_bytes = 0;
  std::uint64_t datagrams_dropped_by_faults = 0;
  HandshakeFailures handshake_failures;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Sets the callbacks. Call before listen/connect.
  virtual void set_events(TransportEvents events) = 0;

  // Accepts connections and datagrams on address (port 0 picks a free port;
  // TCP and UDP share the port). Returns the bound address. Errors: io,
  // invalid_argument.
  virtual Result<Address> listen(const Address& address) = 0;

  // Starts a connection; its fate arrives as on_connected or on_disconnected.
  // Frames sent before on_connected are queued and count as pending bytes.
  virtual Result<ConnectionId> connect(const Address& remote) = 0;

  // Queues one frame. Errors: invalid_argument (larger than max_frame_bytes),
  // not_found (unknown or closed connection), overloaded (the connection's
  // pending bytes would pass the limit: back off until on_send_ready).
  virtual Status send(ConnectionId id, ByteSpan frame) = 0;

  // Closes the connection, dropping unsent frames. No callback follows.
  virtual void close(ConnectionId id) = 0;

  virtual std::size_t pending_outbound_bytes(ConnectionId id) const = 0;

  // One datagram, best effort. Errors: invalid_argument (too large or a bad
  // address), io.
  virtual Status send_datagram(const Address& to, ByteSpan datagram) = 0;

  // One-shot timer on the transport's clock (virtual in memory).
  virtual TimerId start_timer(std::uint64_t delay_ms, std::function<void()> callback) = 0;
  virtual void cancel_timer(TimerId id) = 0;
  virtual std::uint64_t now_ms() const = 0;

  // Names the peer behind a connection for the fault layer (e.g. its listen
  // address once the peer said hello); defaults to the remote address.
  virtual void set_peer_label(ConnectionId id, std::string label) = 0;

  // Closes the listener, the datagram socket, every connection and timer. No
  // callbacks follow. The destructor does the same.
  virtual void shutdown() = 0;

  virtual TransportStats stats() const = 0;
  virtual std::size_t connection_count() const = 0;
};

}  // namespace starling::node
