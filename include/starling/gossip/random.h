// The only source of randomness in gossip/: a seeded generator owned by each
// state machine. Draws are reduced with plain modulo and a fixed-point fraction
// (not std::uniform_int_distribution, whose output differs between standard
// libraries) so a seed replays the same run on every platform.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "starling/assert.h"

namespace starling::gossip {

class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}

  // Uniform in [0, bound); bound must be positive. The modulo bias is below
  // 2^-40 for the sizes used here.
  std::uint64_t below(std::uint64_t bound) {
    STARLING_ASSERT(bound > 0);
    return engine_() % bound;
  }

  // Uniform in [low, high].
  std::int64_t between(std::int64_t low, std::int64_t high) {
    STARLING_ASSERT(low <= high);
    return low + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(high - low) + 1));
  }

  // Uniform in [0, 1).
  double fraction() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) {
      std::swap(items[i - 1], items[below(i)]);
    }
  }

  std::uint64_t next() { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace starling::gossip
