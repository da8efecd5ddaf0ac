// hash256: BLAKE2b-256 (crypto_generichash without a key).
#include "starling/crypto/hash.h"

#include "sodium_support.h"

namespace starling::crypto {

Hash256 hash256(std::span<const std::uint8_t> bytes) {
  internal::ensure_sodium();
  Hash256 out{};
  const int result = crypto_generichash(out.data(), out.size(), bytes.data(), bytes.size(), nullptr, 0);
  STARLING_ASSERT(result == 0);
  return out;
}

Hash256 hash256(std::string_view text) {
  return hash256(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

}  // namespace starling::crypto
