#include "starling/crypto/frame.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include "sodium_support.h"

namespace starling::crypto {
namespace {

static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == kFrameTagBytes);
static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == SymmetricKey::kSize);
// AES-256-GCM takes the same key, nonce and tag sizes, so the nonce scheme and
// the framing below are shared by both AEADs.
static_assert(crypto_aead_aes256gcm_ABYTES == kFrameTagBytes);
static_assert(crypto_aead_aes256gcm_KEYBYTES == SymmetricKey::kSize);
static_assert(crypto_aead_aes256gcm_NPUBBYTES == crypto_aead_chacha20poly1305_ietf_NPUBBYTES);

using Nonce = std::array<std::uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES>;

bool aes_disabled_by_environment() {
  const char* value = std::getenv("STARLING_NO_AES_GCM");
  return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
}

// libsodium's detached AEADs, picked by the session's choice. Both support
// c == m (in place). After a failed open the output is not plaintext anyone
// may read: the opener breaks and the caller drops the connection.
int encrypt_detached(FrameAead aead, std::uint8_t* c, std::uint8_t* mac, const std::uint8_t* m, std::size_t m_bytes,
                     std::span<const std::uint8_t> ad, const Nonce& nonce, const SymmetricKey& key) {
  unsigned long long mac_bytes = 0;
  int result = aead == FrameAead::aes256_gcm
                   ? crypto_aead_aes256gcm_encrypt_detached(c, mac, &mac_bytes, m, m_bytes, ad.data(), ad.size(),
                                                            nullptr, nonce.data(), key.data())
                   : crypto_aead_chacha20poly1305_ietf_encrypt_detached(c, mac, &mac_bytes, m, m_bytes, ad.data(),
                                                                        ad.size(), nullptr, nonce.data(), key.data());
  STARLING_ASSERT(result != 0 || mac_bytes == kFrameTagBytes);
  return result;
}

int decrypt_detached(FrameAead aead, std::uint8_t* m, const std::uint8_t* c, std::size_t c_bytes,
                     const std::uint8_t* mac, std::span<const std::uint8_t> ad, const Nonce& nonce,
                     const SymmetricKey& key) {
  return aead == FrameAead::aes256_gcm
             ? crypto_aead_aes256gcm_decrypt_detached(m, nullptr, c, c_bytes, mac, ad.data(), ad.size(),
                                                      nonce.data(), key.data())
             : crypto_aead_chacha20poly1305_ietf_decrypt_detached(m, nullptr, c, c_bytes, mac, ad.data(), ad.size(),
                                                                  nonce.data(), key.data());
}

void check_aead_usable(FrameAead aead) {
  STARLING_ASSERT_MSG(aead == FrameAead::chacha20_poly1305 || aes256gcm_available(),
                      "AES-256-GCM frames on a CPU without AES instructions");
}

// The 96-bit nonce: the 64-bit frame counter, little-endian, then four zero
// bytes. Each direction has its own key, so (key, nonce) never repeats.
Nonce frame_nonce(std::uint64_t counter) {
  Nonce nonce{};
  internal::store_le64(nonce.data(), counter);
  return nonce;
}

Error broken_error() {
  return make_error(ErrorKind::security, "secure channel is broken by an earlier failure; drop the connection");
}

}  // namespace

const char* frame_aead_name(FrameAead aead) {
  return aead == FrameAead::aes256_gcm ? "aes256-gcm" : "chacha20-poly1305";
}

bool aes256gcm_available() {
  internal::ensure_sodium();  // CPU features are probed by sodium_init
  return crypto_aead_aes256gcm_is_available() == 1;
}

std::uint32_t local_frame_aeads() {
  std::uint32_t offer = kFrameAeadChaCha20Poly1305;
  if (aes256gcm_available() && !aes_disabled_by_environment()) offer |= kFrameAeadAes256Gcm;
  return offer;
}

FrameAead choose_frame_aead(std::uint32_t initiator_offer, std::uint32_t responder_offer) {
  return (initiator_offer & responder_offer & kFrameAeadAes256Gcm) != 0 ? FrameAead::aes256_gcm
                                                                         : FrameAead::chacha20_poly1305;
}

// ---- FrameSealer --------------------------------------------------------------

FrameSealer::FrameSealer(const SymmetricKey& key, FrameAead aead) : key_(key.clone()), aead_(aead) {
  internal::ensure_sodium();
  check_aead_usable(aead_);
}

Result<std::size_t> FrameSealer::seal(std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out,
                                      std::span<const std::uint8_t> associated_data) {
  STARLING_ASSERT_MSG(out.size() >= sealed_frame_size(plaintext.size()), "frame output buffer too small");
  if (broken_) return broken_error();
  if (counter_ == std::numeric_limits<std::uint64_t>::max()) {
    broken_ = true;  // never reuse a nonce: the link must be re-keyed by a new handshake
    return make_error(ErrorKind::security, "frame counter exhausted; reconnect to re-key");
  }
  Nonce nonce = frame_nonce(counter_);
  // Detached: the ciphertext goes where the plaintext was (or into out), the
  // tag right after it; libsodium supports out == plaintext.
  int result = encrypt_detached(aead_, out.data(), out.data() + plaintext.size(), plaintext.data(), plaintext.size(),
                                associated_data, nonce, key_);
  STARLING_ASSERT(result == 0);
  ++counter_;
  return sealed_frame_size(plaintext.size());
}

Result<std::size_t> FrameSealer::seal_in_place(std::span<std::uint8_t> buffer, std::size_t plaintext_bytes,
                                               std::span<const std::uint8_t> associated_data) {
  STARLING_ASSERT_MSG(buffer.size() >= sealed_frame_size(plaintext_bytes), "frame buffer has no room for the tag");
  return seal(buffer.first(plaintext_bytes), buffer, associated_data);
}

Result<std::vector<std::uint8_t>> FrameSealer::seal_to_vector(std::span<const std::uint8_t> plaintext,
                                                              std::span<const std::uint8_t> associated_data) {
  std::vector<std::uint8_t> sealed(sealed_frame_size(plaintext.size()));
  Result<std::size_t> written = seal(plaintext, sealed, associated_data);
  if (!written) return written.error();
  return sealed;
}

// ---- FrameOpener --------------------------------------------------------------

FrameOpener::FrameOpener(const SymmetricKey& key, FrameAead aead) : key_(key.clone()), aead_(aead) {
  internal::ensure_sodium();
  check_aead_usable(aead_);
}

Result<std::size_t> FrameOpener::open(std::span<const std::uint8_t> sealed, std::span<std::uint8_t> out,
                                      std::span<const std::uint8_t> associated_data) {
  if (broken_) return broken_error();
  if (sealed.size() < kFrameTagBytes) {
    broken_ = true;
    return make_error(ErrorKind::security, "sealed frame of " + std::to_string(sealed.size()) +
                                               " bytes is shorter than its authentication tag");
  }
  std::size_t plaintext_bytes = sealed.size() - kFrameTagBytes;
  STARLING_ASSERT_MSG(out.size() >= plaintext_bytes, "frame output buffer too small");
  Nonce nonce = frame_nonce(counter_);
  // libsodium checks the tag before it decrypts; on failure it never exposes
  // unauthenticated plaintext (out is zeroed or left alone).
  int result = decrypt_detached(aead_, out.data(), sealed.data(), plaintext_bytes, sealed.data() + plaintext_bytes,
                                associated_data, nonce, key_);
  if (result != 0) {
    broken_ = true;
    return make_error(ErrorKind::security, "frame " + std::to_string(counter_) +
                                               " failed authentication (altered, truncated, replayed or reordered)");
  }
  ++counter_;
  return plaintext_bytes;
}

Result<std::span<std::uint8_t>> FrameOpener::open_in_place(std::span<std::uint8_t> sealed,
                                                           std::span<const std::uint8_t> associated_data) {
  Result<std::size_t> opened = open(sealed, sealed, associated_data);
  if (!opened) return opened.error();
  return sealed.first(*opened);
}

Result<std::vector<std::uint8_t>> FrameOpener::open_to_vector(std::span<const std::uint8_t> sealed,
                                                              std::span<const std::uint8_t> associated_data) {
  std::vector<std::uint8_t> plaintext(sealed.size() >= kFrameTagBytes ? sealed.size() - kFrameTagBytes : 0);
  Result<std::size_t> opened = open(sealed, plaintext, associated_data);
  if (!opened) return opened.error();
  return plaintext;
}

}  // namespace starling::crypto
