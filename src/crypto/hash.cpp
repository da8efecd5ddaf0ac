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

struct Hasher::State {
  crypto_generichash_state state;
};

Hasher::Hasher() : state_(std::make_unique<State>()) {
  internal::ensure_sodium();
  const int result = crypto_generichash_init(&state_->state, nullptr, 0, sizeof(Hash256));
  STARLING_ASSERT(result == 0);
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(std::span<const std::uint8_t> bytes) {
  STARLING_ASSERT_MSG(!finished_, "Hasher::update after finish");
  const int result = crypto_generichash_update(&state_->state, bytes.data(), bytes.size());
  STARLING_ASSERT(result == 0);
}

Hash256 Hasher::finish() {
  STARLING_ASSERT_MSG(!finished_, "Hasher::finish twice");
  finished_ = true;
  Hash256 out{};
  const int result = crypto_generichash_final(&state_->state, out.data(), out.size());
  STARLING_ASSERT(result == 0);
  return out;
}

}  // namespace starling::crypto
