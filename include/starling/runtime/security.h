// Pluggable connection security. A transport asks its Security for a
// handshake per connection and a datagram cipher; the plain implementation
// needs no handshake and seals nothing (an open swarm, for tests and for the
// benchmark's baseline). crypto_security.h adapts src/crypto's handshake and
// AEAD frames. All of it is sans-I/O: bytes in, bytes out, time as argument.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "starling/runtime/transport.h"
#include "starling/status.h"

namespace starling::runtime {

// Seals and opens the frames of one established connection, strictly in order.
// Any error means: drop the connection.
class FrameCipher {
 public:
  virtual ~FrameCipher() = default;
  // Bytes a sealed frame adds to its plaintext.
  virtual std::size_t overhead() const = 0;
  // Seals plaintext into out, which holds exactly plaintext.size() + overhead().
  virtual Status seal(ByteSpan plaintext, std::span<std::uint8_t> out) = 0;
  // Opens sealed in place; returns the plaintext (a prefix of sealed).
  virtual Result<std::span<std::uint8_t>> open(std::span<std::uint8_t> sealed) = 0;
  // The AEAD in use ("chacha20-poly1305", "aes256-gcm"), for logs and tests.
  virtual std::string_view name() const { return "unnamed"; }
};

// What a handshake step asks the transport to do.
struct HandshakeStep {
  std::vector<Bytes> frames_to_send;  // in order, before any sealed frame
  bool complete = false;              // cipher() and remote_identity() are ready
};

// One connection's handshake. Errors (security, unsupported, corrupt) mean:
// drop the connection.
class Handshake {
 public:
  virtual ~Handshake() = default;
  // Called once when the connection opens.
  virtual Result<HandshakeStep> start() = 0;
  // Called for every frame that arrives before the handshake completes.
  virtual Result<HandshakeStep> receive(ByteSpan frame) = 0;
  // After completion: the connection's cipher (taken once) and who the peer is.
  virtual std::unique_ptr<FrameCipher> take_cipher() = 0;
  virtual Bytes remote_identity() const = 0;
  // An initiator's handshake whose hello arrived at this very process's own
  // responder (which refused it: it proves our own identity): the address
  // dialled is one of this peer's own. Known only once that responder has
  // read the hello; a stranger holding our identity never sets it.
  virtual bool reached_itself() const { return false; }
};

// A datagram that passed the security layer, and who provably sent it.
struct OpenedDatagram {
  Bytes payload;
  Bytes sender_identity;  // the sender's proven node id (it signed the datagram)
};

// Seals datagrams for the wire and opens (authenticates, checks freshness and
// replay, proves the sender) the ones that arrive.
class DatagramCipher {
 public:
  virtual ~DatagramCipher() = default;
  virtual Result<Bytes> seal(ByteSpan payload, std::uint64_t now_ms) = 0;
  virtual Result<OpenedDatagram> open(ByteSpan sealed, std::uint64_t now_ms) = 0;
};

class Security {
 public:
  virtual ~Security() = default;
  // "plain", "sealed", ... for logs and benchmark labels.
  virtual std::string_view name() const = 0;
  // nullptr: the connection is ready at once and its frames travel unsealed.
  virtual std::unique_ptr<Handshake> new_handshake(bool initiator) = 0;
  // nullptr: datagrams travel unsealed.
  virtual DatagramCipher* datagram_cipher() = 0;
};

// No handshake, no sealing. Peers using it run an open swarm.
std::shared_ptr<Security> make_plain_security();

}  // namespace starling::runtime
