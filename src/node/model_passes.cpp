// Fused passes of a delta round. See starling/node/model_passes.h.
#include "starling/node/model_passes.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace starling::node {
namespace {

double sum_lanes(const double (&partial)[8], double tail) {
  return tail + (((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                 ((partial[4] + partial[5]) + (partial[6] + partial[7])));
}

}  // namespace

DisplacementNorms displacement_and_norm(const float* x, const float* base, std::size_t n) {
  double moved[8] = {};
  double own[8] = {};
  double moved_tail = 0.0;
  double own_tail = 0.0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t lane = 0; lane < 8; ++lane) {
      const float value = x[i + lane];
      const float d = value - base[i + lane];
      moved[lane] += double(d) * double(d);
      own[lane] += double(value) * double(value);
    }
  for (; i < n; ++i) {
    const float d = x[i] - base[i];
    moved_tail += double(d) * double(d);
    own_tail += double(x[i]) * double(x[i]);
  }
  return DisplacementNorms{std::sqrt(sum_lanes(moved, moved_tail)), std::sqrt(sum_lanes(own, own_tail))};
}

double model_norm(const float* x, std::size_t n) {
  double own[8] = {};
  double tail = 0.0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t lane = 0; lane < 8; ++lane) own[lane] += double(x[i + lane]) * double(x[i + lane]);
  for (; i < n; ++i) tail += double(x[i]) * double(x[i]);
  return std::sqrt(sum_lanes(own, tail));
}

bool add_correction_in_place(float* x, float* c, std::size_t n) {
  std::uint32_t non_finite = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float value = c[i];
    x[i] += value;
    c[i] = value + 0.0f;
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    non_finite |= std::uint32_t((bits & 0x7f800000u) == 0x7f800000u);
  }
  return non_finite == 0;
}

}  // namespace starling::node
