// The security modes the conformance suite runs each transport in.
#pragma once

#include <memory>

#include "starling/runtime/security.h"
#if STARLING_HAVE_CRYPTO
#include "starling/runtime/crypto_security.h"
#endif

namespace starling::runtime::testing {

struct PlainMode {
  static constexpr const char* kName = "plain";
  static constexpr bool kSealed = false;
  std::shared_ptr<Security> make() { return make_plain_security(); }
};

#if STARLING_HAVE_CRYPTO
// Every peer has its own identity; all share one swarm key.
struct SealedMode {
  static constexpr const char* kName = "sealed";
  static constexpr bool kSealed = true;
  crypto::SwarmKey swarm_key = crypto::SwarmKey::generate();
  bool allow_aes_gcm = true;  // false: this peer offers ChaCha20-Poly1305 only
  std::shared_ptr<Security> make() {
    CryptoSecurityOptions options;
    options.allow_aes_gcm = allow_aes_gcm;
    return make_crypto_security(crypto::Identity::generate(), swarm_key.clone(), options);
  }
  std::shared_ptr<Security> make_outsider() {
    return make_crypto_security(crypto::Identity::generate(), crypto::SwarmKey::generate());
  }
};
#endif

}  // namespace starling::runtime::testing
