#include "sodium_support.h"

#include <mutex>

namespace starling::crypto {

namespace detail {
void secure_wipe(void* data, std::size_t size) noexcept { sodium_memzero(data, size); }

bool constant_time_equal(const std::uint8_t* a, const std::uint8_t* b, std::size_t size) noexcept {
  return sodium_memcmp(a, b, size) == 0;
}
}  // namespace detail

namespace internal {

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    // sodium_init returns 1 when already initialised (by another library in the
    // process), which is fine; -1 means no secure randomness: nothing in this
    // layer can work, and that is an environment we refuse to run in.
    int result = sodium_init();
    STARLING_ASSERT_MSG(result >= 0, "sodium_init failed: libsodium cannot get secure randomness");
  });
}

KeyedHash::KeyedHash(const SymmetricKey& key) : KeyedHash(key.view()) {}

KeyedHash::KeyedHash(std::span<const std::uint8_t, 32> key) {
  ensure_sodium();
  int result = crypto_generichash_init(&state_, key.data(), key.size(), 32);
  STARLING_ASSERT(result == 0);
}

KeyedHash& KeyedHash::update(std::span<const std::uint8_t> bytes) {
  int result = crypto_generichash_update(&state_, bytes.data(), bytes.size());
  STARLING_ASSERT(result == 0);
  return *this;
}

KeyedHash& KeyedHash::update(std::string_view label) {
  // Length-prefixed, so label boundaries are unambiguous in the transcript.
  update_u32(static_cast<std::uint32_t>(label.size()));
  return update(std::span(reinterpret_cast<const std::uint8_t*>(label.data()), label.size()));
}

KeyedHash& KeyedHash::update_u32(std::uint32_t value) {
  std::array<std::uint8_t, 4> bytes{};
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
  return update(bytes);
}

std::array<std::uint8_t, 32> KeyedHash::finish() {
  std::array<std::uint8_t, 32> out{};
  int result = crypto_generichash_final(&state_, out.data(), out.size());
  STARLING_ASSERT(result == 0);
  return out;
}

void KeyedHash::finish_into(SymmetricKey& out) {
  int result = crypto_generichash_final(&state_, out.data(), out.size());
  STARLING_ASSERT(result == 0);
}

}  // namespace internal
}  // namespace starling::crypto
