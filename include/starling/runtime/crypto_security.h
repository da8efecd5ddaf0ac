// Secure sessions: src/crypto's signed, swarm-bound handshake on every
// connection, AEAD on every frame after it, and sealed datagrams with a replay
// window. Available when the crypto layer is built (STARLING_HAVE_CRYPTO).
#pragma once

#include <memory>
#include <optional>

#include "starling/crypto/datagram.h"
#include "starling/crypto/keys.h"
#include "starling/runtime/security.h"

namespace starling::runtime {

struct CryptoSecurityOptions {
  crypto::DatagramLimits datagram_limits;
  // Offer AES-256-GCM for frames when this CPU has AES instructions (and
  // STARLING_NO_AES_GCM is unset); a session uses it when both ends offer it,
  // ChaCha20-Poly1305 otherwise. false: offer ChaCha20-Poly1305 only.
  bool allow_aes_gcm = true;
};

// Takes the peer's identity and the swarm key (both stay inside the returned
// object, which must outlive every transport using it). With
// crypto::SwarmKey::open() the swarm is open: sessions are still encrypted,
// but anyone can join; the application must say so loudly.
std::shared_ptr<Security> make_crypto_security(crypto::Identity identity, crypto::SwarmKey swarm_key,
                                               CryptoSecurityOptions options = {});

}  // namespace starling::runtime
