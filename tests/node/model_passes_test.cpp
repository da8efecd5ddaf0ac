// The fused passes of a delta round (node/model_passes.h) against the
// straightforward definitions they replace, on random vectors.
#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "starling/node/model_passes.h"

using namespace starling::node;

namespace {

Eigen::VectorXf random_vector(std::size_t n, std::mt19937& random, float spread) {
  std::normal_distribution<float> normal(0.0f, spread);
  Eigen::VectorXf v(Eigen::Index(n), 1);
  for (Eigen::Index k = 0; k < v.size(); ++k) v[k] = normal(random);
  return v;
}

long double reference_norm(const Eigen::VectorXf& a, const Eigen::VectorXf* b) {
  long double sum = 0.0L;
  for (Eigen::Index k = 0; k < a.size(); ++k) {
    const float d = b ? a[k] - (*b)[k] : a[k];  // the difference in float, as the pass defines it
    sum += (long double)d * (long double)d;
  }
  return std::sqrt(sum);
}

std::uint32_t bits_of(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

}  // namespace

TEST_CASE("model passes: displacement and norm in one pass match the separate definitions", "[node][passes]") {
  std::mt19937 random(7);
  for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 63u, 1000u, 235146u}) {
    const Eigen::VectorXf x = random_vector(n, random, 0.1f);
    const Eigen::VectorXf base = x + random_vector(n, random, 1e-3f);
    const DisplacementNorms norms = displacement_and_norm(x.data(), base.data(), n);
    CHECK(norms.displacement == Approx(double(reference_norm(x, &base))).epsilon(1e-5).margin(1e-300));
    CHECK(norms.norm == Approx(double(reference_norm(x, nullptr))).epsilon(1e-5).margin(1e-300));
    // model_norm is the same sum without the displacement: the same bits.
    CHECK(model_norm(x.data(), n) == norms.norm);
    // Eigen's float norm (what the round used before) agrees to float rounding.
    if (n > 0) CHECK(norms.norm == Approx(double(x.norm())).epsilon(1e-5));
  }
}

TEST_CASE("model passes: adding the correction in place gives the bits of x += c and flags non-finite entries",
          "[node][passes]") {
  std::mt19937 random(11);
  for (std::size_t n : {0u, 5u, 8u, 17u, 4099u}) {
    Eigen::VectorXf x = random_vector(n, random, 1.0f);
    Eigen::VectorXf c = random_vector(n, random, 1e-2f);
    if (n > 3) {
      c[1] = -0.0f;
      x[2] = -0.0f;
      c[2] = -0.0f;
    }
    Eigen::VectorXf expected_x = x;
    expected_x += c;
    const Eigen::VectorXf c_before = c;
    REQUIRE(add_correction_in_place(x.data(), c.data(), n));
    for (Eigen::Index k = 0; k < x.size(); ++k) {
      CHECK(bits_of(x[k]) == bits_of(expected_x[k]));
      CHECK(bits_of(c[k]) == bits_of(c_before[k] + 0.0f));  // what the old copy into a zeroed sum kept
    }
    if (n > 3) CHECK(bits_of(c[1]) == bits_of(0.0f));
  }
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    Eigen::VectorXf x = Eigen::VectorXf::Zero(33);
    Eigen::VectorXf c = Eigen::VectorXf::Constant(33, 0.5f);
    c[32] = bad;
    CHECK_FALSE(add_correction_in_place(x.data(), c.data(), 33));
  }
}
