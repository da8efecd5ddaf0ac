// A portable random stream for compressors. The receiver of a random-k delta
// regenerates the sender's indices from a seed, so every step here is fully
// specified integer arithmetic: same seed, same numbers, on any platform and
// standard library (std::uniform_int_distribution is not specified that way).
#pragma once

#include <cstdint>

namespace starling::compress {

// SplitMix64 (Steele, Lea, Flood 2014): one 64-bit state, passes BigCrush.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  static constexpr std::uint64_t kGamma = 0x9E3779B97F4A7C15ULL;

  std::uint64_t next() { return mix(state_ += kGamma); }

  // The state only counts up by kGamma, so draw k from now (k = 1, 2, ...)
  // is mix(state() + k·kGamma): a block of draws has no serial dependency
  // and vectorizes. skip(n) moves past n draws.
  std::uint64_t state() const { return state_; }
  void skip(std::uint64_t n) { state_ += n * kGamma; }
  static std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound), bound > 0, without modulo bias: draws below
  // 2^64 mod bound are rejected (at most half of them, usually almost none).
  std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const std::uint64_t r = next();
      if (r >= threshold) return r % bound;
    }
  }

 private:
  std::uint64_t state_;
};

}  // namespace starling::compress
