// See typed_secret.h.
#include "typed_secret.h"

#include <array>

#include "sodium_support.h"
#include "starling/crypto/keys.h"

namespace starling::crypto::internal {
namespace {

// At most this many distinct values among 32 bytes, or among their 31 steps,
// is a typed pattern (see typed_secret.h for the odds).
constexpr int kMostDistinctOfATypedSecret = 16;

// Distinct values among `values`; the table is wiped (it says which bytes the
// secret holds).
int distinct(std::span<const std::uint8_t> values) {
  std::array<std::uint8_t, 256> seen{};
  int count = 0;
  for (std::uint8_t v : values) {
    count += seen[v] == 0;
    seen[v] = 1;
  }
  sodium_memzero(seen.data(), seen.size());
  return count;
}

}  // namespace

std::optional<std::string> typed_secret(std::span<const std::uint8_t, 32> bytes) {
  std::array<std::uint8_t, 31> steps{};
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) steps[i] = std::uint8_t(bytes[i + 1] - bytes[i]);
  const int byte_values = distinct(bytes);
  const int step_values = distinct(steps);
  sodium_memzero(steps.data(), steps.size());
  if (byte_values == 1) return "the byte " + to_hex(bytes.first(1)) + " repeated";
  if (byte_values <= kMostDistinctOfATypedSecret) {
    return "only " + std::to_string(byte_values) + " distinct byte values among 32 (a random key has about 30)";
  }
  if (step_values <= kMostDistinctOfATypedSecret) {
    return "a pattern: only " + std::to_string(step_values) +
           " distinct steps between consecutive bytes (as in 00 01 02 ...; random bytes have about 29)";
  }
  return std::nullopt;
}

}  // namespace starling::crypto::internal
