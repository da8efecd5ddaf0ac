// The cryptographic steps of the handshake, one function each, so that the
// state machines in handshake.cpp stay readable and tests can build a forged
// message that is valid in every respect but one. Private to the layer (and
// its tests).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "starling/crypto/handshake.h"

namespace starling::crypto::internal {

using Hash = std::array<std::uint8_t, 32>;

enum class Direction { initiator_to_responder, responder_to_initiator };
enum class Role { initiator, responder };

// The two crypto_kx keys, named by the direction they protect.
struct KxKeys {
  SymmetricKey initiator_to_responder;
  SymmetricKey responder_to_initiator;
};

struct EphemeralKeypair {
  EphemeralPublicKey public_key{};
  SymmetricKey secret_key;
};
EphemeralKeypair make_ephemeral_keypair();

// Message 1: the initiator's identity under a key from the swarm key and its
// ephemeral key. open_hello_identity is false when it does not authenticate.
void seal_hello_identity(const SwarmKey& swarm_key, HandshakeHello& hello, const PublicKey& identity);
bool open_hello_identity(const SwarmKey& swarm_key, const HandshakeHello& hello, PublicKey& identity);

// crypto_kx from each side's view; false for a degenerate (low-order) peer key.
bool initiator_kx(const EphemeralKeypair& own, const EphemeralPublicKey& responder, KxKeys& out);
bool responder_kx(const EphemeralKeypair& own, const EphemeralPublicKey& initiator, KxKeys& out);

// The frame-AEAD sets each end offered (kFrameAead* bits), as they travelled.
struct FrameAeadOffers {
  std::uint32_t initiator = 0;
  std::uint32_t responder = 0;
};

// Transcript before the responder's identity is known, then the full one.
// Both offers are in it, so both signatures and every key cover them.
Hash pre_transcript(const SwarmKey& swarm_key, std::uint32_t version, const EphemeralPublicKey& initiator_ephemeral,
                    const EphemeralPublicKey& responder_ephemeral, const PublicKey& initiator_identity,
                    FrameAeadOffers offers);
Hash full_transcript(const SwarmKey& swarm_key, const Hash& pre, const PublicKey& responder_identity);

// Keys for the encrypted handshake messages and for the session itself.
SymmetricKey handshake_key(const SwarmKey& swarm_key, Direction direction, const KxKeys& kx, const Hash& pre);
SymmetricKey session_key(const SwarmKey& swarm_key, Direction direction, const KxKeys& kx, const Hash& transcript);

// What each role signs: a role label and the full transcript.
Signature sign_transcript(const Identity& identity, Role role, const Hash& transcript);
bool verify_transcript(const PublicKey& signer, Role role, const Hash& transcript, const Signature& signature);

// Message 2 payload: responder identity and signature.
void seal_identity_proof(const SymmetricKey& key, const Hash& pre, const PublicKey& identity,
                         const Signature& signature, HandshakeReply& reply);
bool open_identity_proof(const SymmetricKey& key, const Hash& pre, const HandshakeReply& reply, PublicKey& identity,
                         Signature& signature);

// Message 3 payload: initiator signature.
void seal_finish(const SymmetricKey& key, const Hash& transcript, const Signature& signature,
                 HandshakeFinish& finish);
bool open_finish(const SymmetricKey& key, const Hash& transcript, const HandshakeFinish& finish,
                 Signature& signature);

}  // namespace starling::crypto::internal
