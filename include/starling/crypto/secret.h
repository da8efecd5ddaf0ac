// Secret bytes that wipe themselves. Every secret the crypto layer holds (swarm
// key, identity secret key, session keys) lives in a SecretBytes so that its
// destructor overwrites it with sodium_memzero, which the compiler may not elide.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace starling::crypto {

namespace detail {
// Overwrites size bytes at data with zeros in a way the optimiser keeps
// (sodium_memzero). Defined in src/crypto so this header stays libsodium-free.
void secure_wipe(void* data, std::size_t size) noexcept;
// Constant-time equality of two equally long byte ranges (sodium_memcmp).
bool constant_time_equal(const std::uint8_t* a, const std::uint8_t* b, std::size_t size) noexcept;
}  // namespace detail

// A fixed-size secret. A resource, not a value: it cannot be copied by
// accident (use clone()), and a move leaves the source wiped.
template <std::size_t N>
class SecretBytes {
 public:
  static constexpr std::size_t kSize = N;

  SecretBytes() { bytes_.fill(0); }
  explicit SecretBytes(std::span<const std::uint8_t, N> bytes) {
    for (std::size_t i = 0; i < N; ++i) bytes_[i] = bytes[i];
  }
  ~SecretBytes() { detail::secure_wipe(bytes_.data(), N); }

  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept : bytes_(other.bytes_) { other.wipe(); }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      bytes_ = other.bytes_;
      other.wipe();
    }
    return *this;
  }

  // An explicit copy, for the rare place that really needs two owners.
  SecretBytes clone() const { return SecretBytes(std::span<const std::uint8_t, N>(bytes_)); }

  void wipe() noexcept { detail::secure_wipe(bytes_.data(), N); }

  std::uint8_t* data() { return bytes_.data(); }
  const std::uint8_t* data() const { return bytes_.data(); }
  static constexpr std::size_t size() { return N; }
  std::span<const std::uint8_t, N> view() const { return std::span<const std::uint8_t, N>(bytes_); }
  std::span<std::uint8_t, N> mutable_view() { return std::span<std::uint8_t, N>(bytes_); }

  // Constant time, so comparing secrets leaks no timing.
  bool equals(const SecretBytes& other) const {
    return detail::constant_time_equal(bytes_.data(), other.bytes_.data(), N);
  }

 private:
  std::array<std::uint8_t, N> bytes_;
};

// A 256-bit symmetric key (swarm key, session key, derived subkey).
using SymmetricKey = SecretBytes<32>;

}  // namespace starling::crypto
