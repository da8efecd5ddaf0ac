// Fused passes of a delta round. See starling/node/model_passes.h.
#include "starling/node/model_passes.h"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace starling::node {
namespace {

// Strips of a few pages: the second reduction over a strip reads it from L1.
constexpr std::size_t kStrip = 2048;

using ConstMap = Eigen::Map<const Eigen::VectorXf>;

}  // namespace

DisplacementNorms displacement_and_norm(const float* x, const float* base, std::size_t n) {
  double moved = 0.0;
  double own = 0.0;
  for (std::size_t at = 0; at < n; at += kStrip) {
    const Eigen::Index length = Eigen::Index(std::min(kStrip, n - at));
    const ConstMap strip(x + at, length);
    moved += double((strip - ConstMap(base + at, length)).squaredNorm());
    own += double(strip.squaredNorm());
  }
  return DisplacementNorms{std::sqrt(moved), std::sqrt(own)};
}

double model_norm(const float* x, std::size_t n) {
  double own = 0.0;
  for (std::size_t at = 0; at < n; at += kStrip)
    own += double(ConstMap(x + at, Eigen::Index(std::min(kStrip, n - at))).squaredNorm());
  return std::sqrt(own);
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
