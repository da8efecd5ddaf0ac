// Per-thread and per-process math settings for training.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "starling/status.h"

namespace starling::ml {

// Flush-to-zero and denormals-are-zero for the calling thread. Dead ReLU units
// let momentum decay into subnormal floats, and a step then runs 3-5x slower;
// every training thread calls this once before its first step.
void enable_flush_to_zero();

// Threads for one replica's matrix products. Builds that route products to
// the serial OpenBLAS (the default, STARLING_OPENBLAS) run them on one thread,
// so asking for more is an error there rather than a silently ignored flag.
Status set_math_threads(int threads);

// 1 for NaN or infinity (all exponent bits set), 0 otherwise; no branch, so
// loops that OR it over a vector vectorize.
inline std::uint32_t non_finite(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return std::uint32_t((bits & 0x7f800000u) == 0x7f800000u);
}

// No value is NaN or infinite: one vectorizable OR over the exponent bits
// (Eigen's allFinite() is a scalar loop with an early exit, several times
// slower on a model-sized vector; the hand-off checks one per round).
bool all_finite(const float* values, std::size_t count);

// to[i] = from[i] for every i, and whether every value is finite, in one pass.
bool copy_all_finite(const float* from, float* to, std::size_t count);

}  // namespace starling::ml
