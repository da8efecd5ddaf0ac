// A plain (unkeyed) 256-bit hash, BLAKE2b-256 from libsodium: integrity
// checks and content names, e.g. the digest of a training link's copy or the
// hash of a model description both ends must agree on.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace starling::crypto {

using Hash256 = std::array<std::uint8_t, 32>;

Hash256 hash256(std::span<const std::uint8_t> bytes);
Hash256 hash256(std::string_view text);

// The same hash fed piece by piece: update() any number of times, then
// finish() once. hash256 of the concatenation equals finish() of the pieces.
// The simulator hashes its event trace with it as the run goes.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;

  void update(std::span<const std::uint8_t> bytes);
  // A bug to call twice, or update() after it.
  Hash256 finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
  bool finished_ = false;
};

}  // namespace starling::crypto
