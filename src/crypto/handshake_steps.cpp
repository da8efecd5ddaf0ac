#include "handshake_steps.h"

#include <cstring>
#include <vector>

#include "sodium_support.h"

namespace starling::crypto::internal {
namespace {

static_assert(crypto_kx_PUBLICKEYBYTES == kEphemeralKeyBytes);
static_assert(crypto_kx_SECRETKEYBYTES == SymmetricKey::kSize);
static_assert(crypto_kx_SESSIONKEYBYTES == SymmetricKey::kSize);
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == kHandshakeTagBytes);

// Every handshake key is used for exactly one message, so a zero nonce is safe.
constexpr std::array<std::uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> kZeroNonce{};

void seal_once(const SymmetricKey& key, std::span<const std::uint8_t> associated_data,
               std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out) {
  STARLING_ASSERT(out.size() == plaintext.size() + kHandshakeTagBytes);
  unsigned long long written = 0;
  int result = crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &written, plaintext.data(), plaintext.size(),
                                                         associated_data.data(), associated_data.size(), nullptr,
                                                         kZeroNonce.data(), key.data());
  STARLING_ASSERT(result == 0 && written == out.size());
}

bool open_once(const SymmetricKey& key, std::span<const std::uint8_t> associated_data,
               std::span<const std::uint8_t> sealed, std::span<std::uint8_t> plaintext) {
  STARLING_ASSERT(sealed.size() == plaintext.size() + kHandshakeTagBytes);
  unsigned long long written = 0;
  int result = crypto_aead_chacha20poly1305_ietf_decrypt(plaintext.data(), &written, nullptr, sealed.data(),
                                                         sealed.size(), associated_data.data(),
                                                         associated_data.size(), kZeroNonce.data(), key.data());
  return result == 0 && written == plaintext.size();
}

std::string_view direction_label(Direction direction) {
  return direction == Direction::initiator_to_responder ? "initiator->responder" : "responder->initiator";
}

const SymmetricKey& kx_key(const KxKeys& kx, Direction direction) {
  return direction == Direction::initiator_to_responder ? kx.initiator_to_responder : kx.responder_to_initiator;
}

SymmetricKey hello_key(const SwarmKey& swarm_key, const EphemeralPublicKey& initiator_ephemeral) {
  SymmetricKey key;
  KeyedHash(swarm_key.secret()).update("starling/handshake/v1/hello-key").update(initiator_ephemeral).finish_into(key);
  return key;
}

// The hello's associated data: version, ephemeral key and frame-AEAD offer
// travel in the clear but cannot be changed without breaking the sealed
// identity (the offer is in the transcript as well).
std::array<std::uint8_t, 8 + kEphemeralKeyBytes> hello_associated_data(const HandshakeHello& hello) {
  std::array<std::uint8_t, 8 + kEphemeralKeyBytes> data{};
  for (int i = 0; i < 4; ++i) data[i] = static_cast<std::uint8_t>(hello.version >> (8 * i));
  std::memcpy(data.data() + 4, hello.ephemeral_public_key.data(), kEphemeralKeyBytes);
  for (int i = 0; i < 4; ++i)
    data[4 + kEphemeralKeyBytes + i] = static_cast<std::uint8_t>(hello.frame_aeads >> (8 * i));
  return data;
}

std::vector<std::uint8_t> signed_message(Role role, const Hash& transcript) {
  // The role is part of what is signed, so a signature made by one role can
  // never be passed off as the other's.
  std::string_view label = role == Role::initiator ? "starling/handshake/v1/signature/initiator"
                                                   : "starling/handshake/v1/signature/responder";
  std::vector<std::uint8_t> message(label.size() + transcript.size());
  std::memcpy(message.data(), label.data(), label.size());
  std::memcpy(message.data() + label.size(), transcript.data(), transcript.size());
  return message;
}

}  // namespace

EphemeralKeypair make_ephemeral_keypair() {
  ensure_sodium();
  EphemeralKeypair keypair;
  int result = crypto_kx_keypair(keypair.public_key.data(), keypair.secret_key.data());
  STARLING_ASSERT(result == 0);
  return keypair;
}

void seal_hello_identity(const SwarmKey& swarm_key, HandshakeHello& hello, const PublicKey& identity) {
  SymmetricKey key = hello_key(swarm_key, hello.ephemeral_public_key);
  seal_once(key, hello_associated_data(hello), identity, hello.sealed_identity);
}

bool open_hello_identity(const SwarmKey& swarm_key, const HandshakeHello& hello, PublicKey& identity) {
  SymmetricKey key = hello_key(swarm_key, hello.ephemeral_public_key);
  return open_once(key, hello_associated_data(hello), hello.sealed_identity, identity);
}

bool initiator_kx(const EphemeralKeypair& own, const EphemeralPublicKey& responder, KxKeys& out) {
  ensure_sodium();
  // crypto_kx: the initiator is the "client"; its tx key is the responder's rx key.
  return crypto_kx_client_session_keys(out.responder_to_initiator.data(), out.initiator_to_responder.data(),
                                       own.public_key.data(), own.secret_key.data(), responder.data()) == 0;
}

bool responder_kx(const EphemeralKeypair& own, const EphemeralPublicKey& initiator, KxKeys& out) {
  ensure_sodium();
  return crypto_kx_server_session_keys(out.initiator_to_responder.data(), out.responder_to_initiator.data(),
                                       own.public_key.data(), own.secret_key.data(), initiator.data()) == 0;
}

Hash pre_transcript(const SwarmKey& swarm_key, std::uint32_t version, const EphemeralPublicKey& initiator_ephemeral,
                    const EphemeralPublicKey& responder_ephemeral, const PublicKey& initiator_identity,
                    FrameAeadOffers offers) {
  return KeyedHash(swarm_key.secret())
      .update("starling/handshake/v1/pre-transcript")
      .update_u32(version)
      .update(initiator_ephemeral)
      .update(responder_ephemeral)
      .update(initiator_identity)
      .update_u32(offers.initiator)
      .update_u32(offers.responder)
      .finish();
}

Hash full_transcript(const SwarmKey& swarm_key, const Hash& pre, const PublicKey& responder_identity) {
  return KeyedHash(swarm_key.secret())
      .update("starling/handshake/v1/transcript")
      .update(pre)
      .update(responder_identity)
      .finish();
}

SymmetricKey handshake_key(const SwarmKey& swarm_key, Direction direction, const KxKeys& kx, const Hash& pre) {
  SymmetricKey key;
  KeyedHash(swarm_key.secret())
      .update("starling/handshake/v1/handshake-key")
      .update(direction_label(direction))
      .update(kx_key(kx, direction).view())
      .update(pre)
      .finish_into(key);
  return key;
}

SymmetricKey session_key(const SwarmKey& swarm_key, Direction direction, const KxKeys& kx, const Hash& transcript) {
  SymmetricKey key;
  KeyedHash(swarm_key.secret())
      .update("starling/handshake/v1/session-key")
      .update(direction_label(direction))
      .update(kx_key(kx, direction).view())
      .update(transcript)
      .finish_into(key);
  return key;
}

Signature sign_transcript(const Identity& identity, Role role, const Hash& transcript) {
  return identity.sign(signed_message(role, transcript));
}

bool verify_transcript(const PublicKey& signer, Role role, const Hash& transcript, const Signature& signature) {
  return verify_signature(signer, signed_message(role, transcript), signature);
}

void seal_identity_proof(const SymmetricKey& key, const Hash& pre, const PublicKey& identity,
                         const Signature& signature, HandshakeReply& reply) {
  std::array<std::uint8_t, kPublicKeyBytes + kSignatureBytes> plaintext{};
  std::memcpy(plaintext.data(), identity.data(), kPublicKeyBytes);
  std::memcpy(plaintext.data() + kPublicKeyBytes, signature.data(), kSignatureBytes);
  seal_once(key, pre, plaintext, reply.sealed_identity_proof);
}

bool open_identity_proof(const SymmetricKey& key, const Hash& pre, const HandshakeReply& reply, PublicKey& identity,
                         Signature& signature) {
  std::array<std::uint8_t, kPublicKeyBytes + kSignatureBytes> plaintext{};
  if (!open_once(key, pre, reply.sealed_identity_proof, plaintext)) return false;
  std::memcpy(identity.data(), plaintext.data(), kPublicKeyBytes);
  std::memcpy(signature.data(), plaintext.data() + kPublicKeyBytes, kSignatureBytes);
  return true;
}

void seal_finish(const SymmetricKey& key, const Hash& transcript, const Signature& signature,
                 HandshakeFinish& finish) {
  seal_once(key, transcript, signature, finish.sealed_signature);
}

bool open_finish(const SymmetricKey& key, const Hash& transcript, const HandshakeFinish& finish,
                 Signature& signature) {
  return open_once(key, transcript, finish.sealed_signature, signature);
}

}  // namespace starling::crypto::internal
