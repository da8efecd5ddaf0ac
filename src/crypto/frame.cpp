#include "starling/crypto/frame.h"

#include <limits>

#include "sodium_support.h"

namespace starling::crypto {
namespace {

static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == kFrameTagBytes);
static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == SymmetricKey::kSize);

using Nonce = std::array<std::uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES>;

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

// ---- FrameSealer --------------------------------------------------------------

FrameSealer::FrameSealer(const SymmetricKey& key) : key_(key.clone()) { internal::ensure_sodium(); }

Result<std::size_t> FrameSealer::seal(std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out,
                                      std::span<const std::uint8_t> associated_data) {
  STARLING_ASSERT_MSG(out.size() >= sealed_frame_size(plaintext.size()), "frame output buffer too small");
  if (broken_) return broken_error();
  if (counter_ == std::numeric_limits<std::uint64_t>::max()) {
    broken_ = true;  // never reuse a nonce: the link must be re-keyed by a new handshake
    return make_error(ErrorKind::security, "frame counter exhausted; reconnect to re-key");
  }
  Nonce nonce = frame_nonce(counter_);
  unsigned long long tag_bytes = 0;
  // Detached: the ciphertext goes where the plaintext was (or into out), the
  // tag right after it; libsodium supports out == plaintext.
  int result = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      out.data(), out.data() + plaintext.size(), &tag_bytes, plaintext.data(), plaintext.size(),
      associated_data.data(), associated_data.size(), nullptr, nonce.data(), key_.data());
  STARLING_ASSERT(result == 0 && tag_bytes == kFrameTagBytes);
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

FrameOpener::FrameOpener(const SymmetricKey& key) : key_(key.clone()) { internal::ensure_sodium(); }

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
  int result = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
      out.data(), nullptr, sealed.data(), plaintext_bytes, sealed.data() + plaintext_bytes, associated_data.data(),
      associated_data.size(), nonce.data(), key_.data());
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
