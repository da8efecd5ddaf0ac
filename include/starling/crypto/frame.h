// AEAD frames for an established session: ChaCha20-Poly1305 (IETF variant),
// or AES-256-GCM when both ends have AES instructions and the handshake chose
// it (docs/security.md, "Frame AEADs"). Both use a 96-bit nonce and a
// 16-byte tag, so the framing is the same whichever is used.
// Each direction has its own key and a 64-bit frame counter that is the nonce.
// The counter is implicit: never sent, advanced by both ends in lockstep, so a
// replayed, reordered, dropped, truncated or altered frame fails authentication.
// The first failure breaks the opener for good: the connection must be dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "starling/crypto/secret.h"
#include "starling/status.h"

namespace starling::crypto {

// Bytes a sealed frame adds to its plaintext (the Poly1305 or GCM tag).
inline constexpr std::size_t kFrameTagBytes = 16;

// The AEAD of a session's frames, chosen once by the handshake.
enum class FrameAead : std::uint8_t { chacha20_poly1305, aes256_gcm };
const char* frame_aead_name(FrameAead aead);

// Sets of frame ciphers as each end offers them in the handshake (a bit mask;
// unknown bits are ignored, ChaCha20-Poly1305 must always be offered).
inline constexpr std::uint32_t kFrameAeadChaCha20Poly1305 = 1u << 0;
inline constexpr std::uint32_t kFrameAeadAes256Gcm = 1u << 1;

// True when libsodium's AES-256-GCM can run here (AES-NI and PCLMUL).
bool aes256gcm_available();
// What this process offers: ChaCha20-Poly1305, plus AES-256-GCM when
// available, unless the environment variable STARLING_NO_AES_GCM is set to a
// non-empty value other than "0" (tests, and a way out should one be needed).
std::uint32_t local_frame_aeads();
// The cipher of a session whose two ends offered these sets: AES-256-GCM when
// both offered it, ChaCha20-Poly1305 otherwise.
FrameAead choose_frame_aead(std::uint32_t initiator_offer, std::uint32_t responder_offer);

inline constexpr std::size_t sealed_frame_size(std::size_t plaintext_bytes) {
  return plaintext_bytes + kFrameTagBytes;
}

// Seals the outgoing frames of one direction. Not thread-safe; one per link.
class FrameSealer {
 public:
  // aes256_gcm requires aes256gcm_available() (a bug otherwise).
  explicit FrameSealer(const SymmetricKey& key, FrameAead aead = FrameAead::chacha20_poly1305);

  // Seals plaintext into out, which must hold sealed_frame_size(plaintext.size())
  // bytes (a smaller buffer is a bug). out may be the same memory as plaintext.
  // associated_data (e.g. a frame header) is authenticated but not encrypted and
  // not included in out. Returns the bytes written. Fails (security) only when
  // the counter is exhausted; the sealer is then broken.
  Result<std::size_t> seal(std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out,
                           std::span<const std::uint8_t> associated_data = {});

  // Seals buffer[0, plaintext_bytes) in place and writes the tag right after
  // it: buffer must hold sealed_frame_size(plaintext_bytes) bytes. No copy.
  Result<std::size_t> seal_in_place(std::span<std::uint8_t> buffer, std::size_t plaintext_bytes,
                                    std::span<const std::uint8_t> associated_data = {});

  // Convenience for small frames and tests: allocates the sealed frame.
  Result<std::vector<std::uint8_t>> seal_to_vector(std::span<const std::uint8_t> plaintext,
                                                   std::span<const std::uint8_t> associated_data = {});

  std::uint64_t frames_sealed() const { return counter_; }
  bool broken() const { return broken_; }
  FrameAead aead() const { return aead_; }

 private:
  SymmetricKey key_;
  FrameAead aead_;
  std::uint64_t counter_ = 0;
  bool broken_ = false;
};

// Opens the incoming frames of one direction, strictly in order.
class FrameOpener {
 public:
  explicit FrameOpener(const SymmetricKey& key, FrameAead aead = FrameAead::chacha20_poly1305);

  // Opens sealed into out (at least sealed.size() - kFrameTagBytes bytes; out
  // may be the same memory as sealed). Returns the plaintext size. Any failure
  // is Error(security) and breaks the opener: every later call fails too.
  Result<std::size_t> open(std::span<const std::uint8_t> sealed, std::span<std::uint8_t> out,
                           std::span<const std::uint8_t> associated_data = {});

  // Opens in place and returns the plaintext: the first bytes of sealed.
  Result<std::span<std::uint8_t>> open_in_place(std::span<std::uint8_t> sealed,
                                                std::span<const std::uint8_t> associated_data = {});

  // Convenience: allocates the plaintext.
  Result<std::vector<std::uint8_t>> open_to_vector(std::span<const std::uint8_t> sealed,
                                                   std::span<const std::uint8_t> associated_data = {});

  std::uint64_t frames_opened() const { return counter_; }
  bool broken() const { return broken_; }
  FrameAead aead() const { return aead_; }

 private:
  SymmetricKey key_;
  FrameAead aead_;
  std::uint64_t counter_ = 0;
  bool broken_ = false;
};

}  // namespace starling::crypto
