// Secret bytes typed by hand rather than drawn at random: a swarm key or an
// identity seed such as 00112233..., deadbeef repeated or 00 01 02 ... 1f. Each
// is a guessable secret that keygen never writes; a file holding one is
// refused with the reason. Internal to src/crypto.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace starling::crypto::internal {

// Why 32 secret bytes look typed, as a phrase for an error message ("the byte
// 11 repeated", "only 8 distinct byte values", ...); nullopt when they look
// drawn at random. The rules and how often 32 random bytes break them:
//   - one byte repeated (2^-248);
//   - 16 or fewer distinct byte values (a random key has about 30; 2.2e-15);
//   - 16 or fewer distinct steps between consecutive bytes, i.e. a short
//     pattern of steps such as 00 01 02 ... (the 31 steps of random bytes are
//     themselves random bytes; 2.8e-14).
// keygen redraws a key that breaks them, so a key it wrote always loads.
std::optional<std::string> typed_secret(std::span<const std::uint8_t, 32> bytes);

}  // namespace starling::crypto::internal
