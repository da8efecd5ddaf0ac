// The connection handshake, sans-I/O: no sockets, no clock. The initiator and
// the responder consume and produce plain message structs; src/wire encodes
// them and src/runtime moves them and enforces the handshake timeout.
//
//   initiator                                  responder
//   start()            -- HandshakeHello  -->  on_hello()
//   on_reply()         <-- HandshakeReply --
//     => Session       -- HandshakeFinish -->  on_finish() => Session
//
// Ephemeral keys come from crypto_kx; each side signs (Ed25519) a transcript of
// the version, both ephemeral keys, both frame-AEAD offers, both identity keys
// and its role (so an offer cannot be changed in flight: no silent downgrade
// from AES-256-GCM to ChaCha20-Poly1305); every step
// is keyed with the swarm key, so a peer without it gets nothing past the
// first message. Identities travel encrypted. Details: docs/security.md.
//
// Any failure returns an Error (security for authentication failures,
// unsupported for a version we do not speak) and the object stays failed:
// drop the connection. No Session is ever produced by a failed handshake.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "starling/crypto/frame.h"
#include "starling/crypto/keys.h"
#include "starling/crypto/secret.h"
#include "starling/status.h"

namespace starling::crypto {

// 2: the hello and the reply carry frame-AEAD offers, bound into the transcript.
inline constexpr std::uint32_t kHandshakeVersion = 2;
inline constexpr std::size_t kEphemeralKeyBytes = 32;
inline constexpr std::size_t kHandshakeTagBytes = 16;

using EphemeralPublicKey = std::array<std::uint8_t, kEphemeralKeyBytes>;

// Message 1, initiator -> responder.
struct HandshakeHello {
  std::uint32_t version = kHandshakeVersion;
  EphemeralPublicKey ephemeral_public_key{};
  // The frame AEADs the initiator can use (kFrameAead* bits).
  std::uint32_t frame_aeads = kFrameAeadChaCha20Poly1305;
  // The initiator's identity public key, sealed under a key derived from the
  // swarm key and ephemeral_public_key: proves the sender holds the swarm key.
  std::array<std::uint8_t, kPublicKeyBytes + kHandshakeTagBytes> sealed_identity{};
};

// Message 2, responder -> initiator.
struct HandshakeReply {
  std::uint32_t version = kHandshakeVersion;
  EphemeralPublicKey ephemeral_public_key{};
  // The frame AEADs the responder can use (kFrameAead* bits).
  std::uint32_t frame_aeads = kFrameAeadChaCha20Poly1305;
  // The responder's identity public key and its transcript signature, sealed
  // under the responder->initiator handshake key (from crypto_kx + swarm key).
  std::array<std::uint8_t, kPublicKeyBytes + kSignatureBytes + kHandshakeTagBytes> sealed_identity_proof{};
};

// Message 3, initiator -> responder.
struct HandshakeFinish {
  // The initiator's transcript signature, sealed under the initiator->responder
  // handshake key.
  std::array<std::uint8_t, kSignatureBytes + kHandshakeTagBytes> sealed_signature{};
};

// The result of a completed handshake: keys for each direction and who the
// peer proved to be. A resource (holds secrets): move it, do not copy it.
struct Session {
  SymmetricKey send_key;
  SymmetricKey receive_key;
  PublicKey peer_public_key{};
  NodeId peer_id;
  bool open_swarm = false;  // the swarm key was the public open() key
  // AES-256-GCM when both ends offered it, else ChaCha20-Poly1305.
  FrameAead frame_aead = FrameAead::chacha20_poly1305;
  // A hash of the whole transcript, equal on both ends and unique per session
  // (channel binding, log correlation). Not secret.
  std::array<std::uint8_t, 32> transcript_hash{};

  FrameSealer make_sealer() const { return FrameSealer(send_key, frame_aead); }
  FrameOpener make_opener() const { return FrameOpener(receive_key, frame_aead); }
};

// What the initiator gets from a good reply: the last message to send and the
// session, ready to seal frames right after the finish message.
struct InitiatorDone {
  HandshakeFinish finish;
  Session session;
};

// The side that opened the connection. identity and swarm_key must outlive it.
class HandshakeInitiator {
 public:
  // expected_peer: when dialling a known node, the handshake fails (security)
  // unless the responder proves to be exactly that node. frame_aeads: what we
  // offer (ChaCha20-Poly1305 is always added, AES-256-GCM dropped where the
  // CPU cannot run it).
  HandshakeInitiator(const Identity& identity, const SwarmKey& swarm_key,
                     std::optional<NodeId> expected_peer = std::nullopt,
                     std::uint32_t frame_aeads = local_frame_aeads());
  ~HandshakeInitiator();
  HandshakeInitiator(const HandshakeInitiator&) = delete;
  HandshakeInitiator& operator=(const HandshakeInitiator&) = delete;

  // The first message. Call exactly once, first.
  HandshakeHello start();
  // Consumes the responder's reply. On success the handshake is complete.
  Result<InitiatorDone> on_reply(const HandshakeReply& reply);

  bool failed() const { return state_ == State::failed; }
  bool done() const { return state_ == State::done; }

 private:
  enum class State { fresh, awaiting_reply, done, failed };
  Error fail(ErrorKind kind, std::string message);

  const Identity& identity_;
  const SwarmKey& swarm_key_;
  std::optional<NodeId> expected_peer_;
  std::uint32_t frame_aeads_;
  State state_ = State::fresh;
  EphemeralPublicKey ephemeral_public_{};
  SymmetricKey ephemeral_secret_;
};

// The side that accepted the connection. identity and swarm_key must outlive it.
class HandshakeResponder {
 public:
  HandshakeResponder(const Identity& identity, const SwarmKey& swarm_key,
                     std::uint32_t frame_aeads = local_frame_aeads());
  ~HandshakeResponder();
  HandshakeResponder(const HandshakeResponder&) = delete;
  HandshakeResponder& operator=(const HandshakeResponder&) = delete;

  // Consumes the initiator's hello. A hello that does not authenticate under
  // our swarm key fails here: nothing is sent back, drop the connection.
  Result<HandshakeReply> on_hello(const HandshakeHello& hello);
  // Consumes the finish message. On success the handshake is complete.
  Result<Session> on_finish(const HandshakeFinish& finish);

  bool failed() const { return state_ == State::failed; }
  bool done() const { return state_ == State::done; }

 private:
  enum class State { awaiting_hello, awaiting_finish, done, failed };
  Error fail(ErrorKind kind, std::string message);

  const Identity& identity_;
  const SwarmKey& swarm_key_;
  std::uint32_t frame_aeads_;
  State state_ = State::awaiting_hello;
  FrameAead frame_aead_ = FrameAead::chacha20_poly1305;
  PublicKey peer_public_key_{};
  std::array<std::uint8_t, 32> transcript_hash_{};
  SymmetricKey handshake_key_from_initiator_;
  SymmetricKey session_key_send_;
  SymmetricKey session_key_receive_;
};

}  // namespace starling::crypto
