// Top-k on long vectors takes a sampled threshold and one pass; it must pick
// exactly what a full sort picks (the k largest magnitudes, lowest index first
// among ties), and fall back to the exact selection when the sample misleads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "starling/compress/compressor.h"

using namespace starling;
using namespace starling::compress;

namespace {

// The reference: sort every compressed coordinate by (|x| descending, index
// ascending), keep k, report them in index order.
std::vector<std::uint32_t> reference_topk(const Layout& layout, std::span<const float> x, std::size_t k) {
  std::vector<std::uint32_t> order;
  for (const Segment& segment : layout.compressed())
    for (std::size_t i = segment.offset; i < segment.offset + segment.length; ++i) order.push_back(std::uint32_t(i));
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const float ma = std::fabs(x[a]), mb = std::fabs(x[b]);
    return ma != mb ? ma > mb : a < b;
  });
  order.resize(k);
  std::sort(order.begin(), order.end());
  return order;
}

std::vector<float> gaussian(std::size_t n, std::uint32_t seed) {
  std::mt19937 engine(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = normal(engine) * (1.0f + float(i % 13));
  return x;
}

// Long enough for the sampled path; weights compressed, biases exact.
Layout long_layout() {
  return Layout::make(100'000, {{0, 60'000}, {60'000, 200}, {60'200, 39'000}, {99'200, 800}}).value();
}

void check_matches_reference(Compressor& compressor, const Layout& layout, std::span<const float> x) {
  const std::size_t k = sparse_count(compressor.current_fraction(), layout.compressed_count());
  const CompressedDelta q = compressor.compress(x).value();
  REQUIRE(q.indices.size() == k);
  CHECK(q.indices == reference_topk(layout, x, k));
  // The values follow the exact segments, then one per index.
  REQUIRE(q.values.size() == layout.exact_count() + k);
  for (std::size_t j = 0; j < k; ++j) CHECK(std::memcmp(&q.values[layout.exact_count() + j], &x[q.indices[j]], 4) == 0);
}

}  // namespace

TEST_CASE("sampled top-k picks exactly what a full sort picks", "[compress][topk]") {
  const Layout layout = long_layout();
  for (const double fraction : {0.001, 0.01, 0.1, 0.3}) {
    INFO("fraction " << fraction);
    Compressor compressor(CompressorSpec{CompressorKind::topk, fraction}, layout, 3);
    for (std::uint32_t seed = 1; seed <= 5; ++seed) check_matches_reference(compressor, layout, gaussian(100'000, seed));
    // Gaussian vectors never need the exact path: the sampled one did the work.
    CHECK(compressor.topk_exact_fallbacks() == 0);
  }
}

TEST_CASE("sampled top-k keeps the lowest indices among tied magnitudes", "[compress][topk]") {
  const Layout layout = long_layout();
  // Few distinct magnitudes, both signs: the k-th largest is tied many times over.
  std::vector<float> x(100'000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(int(i * 2654435761u % 7) - 3) * 0.5f;
  for (const double fraction : {0.01, 0.2}) {
    Compressor compressor(CompressorSpec{CompressorKind::topk, fraction}, layout, 4);
    for (int round = 0; round < 3; ++round) check_matches_reference(compressor, layout, x);
  }
}

TEST_CASE("sampled top-k falls back to the exact selection when the sample cannot place k", "[compress][topk]") {
  const Layout layout = long_layout();
  // All zeros but a few: the sample's threshold is 0 and every value reaches
  // it, far more than the candidates it has room for.
  std::vector<float> x(100'000, 0.0f);
  for (std::size_t i = 0; i < 50; ++i) x[i * 1999] = float(i + 1);
  Compressor compressor(CompressorSpec{CompressorKind::topk, 0.01}, layout, 5);
  check_matches_reference(compressor, layout, x);
  CHECK(compressor.topk_exact_fallbacks() == 1);
  // Then a normal vector again takes the sampled path.
  check_matches_reference(compressor, layout, gaussian(100'000, 9));
  CHECK(compressor.topk_exact_fallbacks() == 1);
}

TEST_CASE("top-k through a scratch buffer still refuses NaN and infinity", "[compress][topk]") {
  const Layout layout = long_layout();
  const std::vector<float> x_hat = gaussian(100'000, 11);
  std::vector<float> scratch(x_hat.size());
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<float> x = gaussian(100'000, 12);
    x[77'777] = bad;
    Compressor compressor(CompressorSpec{CompressorKind::topk, 0.01}, layout, 6);
    CompressedDelta q;
    Status status = compressor.compress_difference(x, x_hat, q, scratch);
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().kind == ErrorKind::numerical);
    CHECK(status.error().message.find("77777") != std::string::npos);
  }
}
