// Private helpers of the crypto layer, the one place that includes sodium.h.
#pragma once

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "starling/assert.h"
#include "starling/crypto/secret.h"

namespace starling::crypto::internal {

// Initialises libsodium once per process; thread-safe and cheap after the first
// call. Every entry point of the layer that uses libsodium calls it.
void ensure_sodium();

// BLAKE2b-256 keyed with a 32-byte key (crypto_generichash). Every derivation in
// the layer starts with a distinct label, so no two uses can collide.
class KeyedHash {
 public:
  explicit KeyedHash(const SymmetricKey& key);
  explicit KeyedHash(std::span<const std::uint8_t, 32> key);
  ~KeyedHash() { sodium_memzero(&state_, sizeof(state_)); }
  KeyedHash(const KeyedHash&) = delete;
  KeyedHash& operator=(const KeyedHash&) = delete;

  KeyedHash& update(std::span<const std::uint8_t> bytes);
  KeyedHash& update(std::string_view label);
  KeyedHash& update_u32(std::uint32_t value);
  std::array<std::uint8_t, 32> finish();
  void finish_into(SymmetricKey& out);

 private:
  crypto_generichash_state state_;
};

inline void store_le64(std::uint8_t* out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

}  // namespace starling::crypto::internal
