// BLAKE2b-256, whole and piece by piece.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "starling/crypto/hash.h"

using namespace starling::crypto;

namespace {
std::span<const std::uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}
}  // namespace

TEST_CASE("hash: the incremental hasher equals the one-shot hash of the concatenation", "[crypto][hash]") {
  const std::string whole = "the quick brown fox jumps over the lazy dog";
  Hasher hasher;
  hasher.update(bytes_of(whole.substr(0, 10)));
  hasher.update(bytes_of(std::string()));
  hasher.update(bytes_of(whole.substr(10)));
  CHECK(hasher.finish() == hash256(whole));

  Hasher other;
  other.update(bytes_of(whole + "!"));
  CHECK(other.finish() != hash256(whole));
  CHECK(Hasher().finish() == hash256(std::string_view()));
}
