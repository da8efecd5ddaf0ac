// A plain (unkeyed) 256-bit hash, BLAKE2b-256 from libsodium: integrity
// checks and content names, e.g. the digest of a training link's copy or the
// hash of a model description both ends must agree on.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace starling::crypto {

using Hash256 = std::array<std::uint8_t, 32>;

Hash256 hash256(std::span<const std::uint8_t> bytes);
Hash256 hash256(std::string_view text);

}  // namespace starling::crypto
