// Compressors under CHOCO error feedback: x̂ += C(x - x̂) must converge to x;
// decoding must be bit-for-bit reproducible; bad input and bad payloads must be
// refused rather than applied.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include "starling/compress/compressor.h"
#include "starling/compress/mlp_layout.h"
#include "starling/ml/fpu.h"

using namespace starling;
using namespace starling::compress;

namespace {

const char* const kAllSpecs[] = {"none", "topk:0.1", "randk:0.1", "int8", "sign", "sign2"};

CompressorSpec spec_of(const char* text) { return CompressorSpec::parse(text).value(); }

// Values of varied magnitude, none zero, so every coordinate matters.
std::vector<float> random_vector(std::size_t n, std::uint32_t seed) {
  std::mt19937 engine(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    float v = normal(engine) * (1.0f + float(i % 7));
    x[i] = v == 0.0f ? 0.5f : v;
  }
  return x;
}

bool bits_equal(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

double distance(std::span<const float> a, std::span<const float> b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += double(a[i] - b[i]) * double(a[i] - b[i]);
  return std::sqrt(sum);
}

double norm(std::span<const float> a) { return distance(a, std::vector<float>(a.size(), 0.0f)); }

// Segments like a small MLP: weight matrices (compressed) and biases (exact).
Layout mixed_layout() {
  return Layout::make(5000, {{0, 3000}, {3000, 100}, {3100, 1500}, {4600, 30}, {4630, 370}}).value();
}

// One CHOCO round on a link: q = C(x - x̂), x̂ += q. Returns q.
CompressedDelta choco_round(Compressor& compressor, std::span<const float> x, std::vector<float>& x_hat) {
  CompressedDelta q;
  REQUIRE(compressor.compress_difference(x, x_hat, q).ok());
  REQUIRE(decompress_add(compressor.layout(), q, x_hat).ok());
  return q;
}

}  // namespace

TEST_CASE("none sends the vector exactly", "[compress]") {
  const auto x = random_vector(1000, 1);
  Compressor compressor(spec_of("none"), Layout::whole(x.size()), 7);
  std::vector<float> x_hat(x.size(), 0.0f);
  choco_round(compressor, x, x_hat);
  CHECK(bits_equal(x, x_hat));
}

TEST_CASE("top-k under error feedback is exact after ceil(1/fraction) rounds", "[compress]") {
  const auto layout = GENERATE(Layout::whole(1000), mixed_layout());
  for (const double fraction : {0.1, 0.03, 0.25}) {
    const auto x = random_vector(layout.dimension(), 2);
    Compressor compressor(CompressorSpec{CompressorKind::topk, fraction}, layout, 7);
    std::vector<float> x_hat(x.size(), 0.0f);
    const auto rounds = std::size_t(std::ceil(1.0 / fraction));
    for (std::size_t round = 0; round < rounds; ++round) {
      INFO("fraction " << fraction << " round " << round);
      CHECK_FALSE(bits_equal(x, x_hat));
      const auto q = choco_round(compressor, x, x_hat);
      CHECK(q.indices.size() == sparse_count(fraction, layout.compressed_count()));
    }
    CHECK(bits_equal(x, x_hat));
  }
}

TEST_CASE("top-k picks the largest magnitudes, lowest index first among ties", "[compress]") {
  const std::vector<float> x = {1.0f, -5.0f, 2.0f, 5.0f, -2.0f, 0.0f, 2.0f, -5.0f};
  Compressor compressor(CompressorSpec{CompressorKind::topk, 0.5}, Layout::whole(x.size()), 7);
  const auto q = compressor.compress(x).value();
  CHECK(q.indices == std::vector<std::uint32_t>{1, 2, 3, 7});
  CHECK(q.values == std::vector<float>{-5.0f, 2.0f, 5.0f, -5.0f});
}

TEST_CASE("random-k under error feedback converges to x", "[compress]") {
  const auto layout = GENERATE(Layout::whole(1000), mixed_layout());
  const auto x = random_vector(layout.dimension(), 3);
  Compressor compressor(spec_of("randk:0.1"), layout, 11);
  std::vector<float> x_hat(x.size(), 0.0f);
  double previous = distance(x, x_hat);
  for (int round = 0; round < 300; ++round) {
    const auto q = choco_round(compressor, x, x_hat);
    CHECK(q.indices.empty());
    const double now = distance(x, x_hat);
    CHECK(now <= previous);
    previous = now;
  }
  CHECK(bits_equal(x, x_hat));
}

TEST_CASE("int8 under error feedback converges to x", "[compress]") {
  const auto layout = GENERATE(Layout::whole(1000), mixed_layout());
  const auto x = random_vector(layout.dimension(), 4);
  Compressor compressor(spec_of("int8"), layout, 13);
  std::vector<float> x_hat(x.size(), 0.0f);
  double previous = distance(x, x_hat);
  for (int round = 0; round < 3; ++round) {
    choco_round(compressor, x, x_hat);
    const double now = distance(x, x_hat);
    CHECK(now < previous / 50.0);  // each round shrinks the residual about 127-fold
    previous = now;
  }
  CHECK(distance(x, x_hat) < 1e-6 * norm(x));
}

TEST_CASE("int8 stochastic rounding is unbiased", "[compress]") {
  const std::size_t n = 512;
  const auto x = random_vector(n, 5);
  std::vector<double> sum(n, 0.0);
  const int trials = 4000;
  for (int trial = 0; trial < trials; ++trial) {
    Compressor compressor(spec_of("int8"), Layout::whole(n), std::uint64_t(trial) + 1);
    std::vector<float> decoded(n, 0.0f);
    REQUIRE(decompress_add(compressor.compress(x).value(), decoded).ok());
    for (std::size_t i = 0; i < n; ++i) sum[i] += decoded[i];
  }
  // A code's standard deviation is at most scale/2, so the mean's is scale/(2 sqrt(trials)).
  const auto q = Compressor(spec_of("int8"), Layout::whole(n), 1).compress(x).value();
  double total_bias = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double scale = q.scales[i / kBlockSize];
    const double bias = sum[i] / trials - x[i];
    CHECK(std::fabs(bias) < 5.0 * scale / (2.0 * std::sqrt(double(trials))));
    total_bias += bias / scale;
  }
  CHECK(std::fabs(total_bias / n) < 0.01);
}

TEST_CASE("sign under error feedback decreases the error every round", "[compress]") {
  const auto layout = GENERATE(Layout::whole(1000), mixed_layout());
  const auto x = random_vector(layout.dimension(), 6);
  Compressor compressor(spec_of("sign"), layout, 17);
  std::vector<float> x_hat(x.size(), 0.0f);
  const double initial = distance(x, x_hat);
  double previous = initial;
  for (int round = 0; round < 200; ++round) {
    const auto q = choco_round(compressor, x, x_hat);
    const double now = distance(x, x_hat);
    CHECK(now < previous);
    previous = now;
  }
  CHECK(previous < 0.05 * initial);
}

// The quality δ of a compressor (E‖C(v) − v‖² <= (1 − δ)‖v‖²) is what its
// default consensus step γ is set from (src/node/training_internal.h,
// docs/learning.md "Low-bit gossip"). Scaled sign on a Gaussian block keeps
// ‖v‖₁²/(n‖v‖²) of the energy, 2/π in expectation: δ ≈ 0.64, far above top-k
// 1%'s 0.01 at 1/32 of the dense bytes. A scale other than the block's mean
// |v| (its max, its RMS) gives a worse δ, and this fails.
TEST_CASE("sign keeps 2/pi of a Gaussian vector's energy (quality delta)", "[compress]") {
  const std::size_t n = 256 * 400;
  std::mt19937 engine(8);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& value : v) value = normal(engine);
  Compressor compressor(spec_of("sign"), Layout::whole(n), 3);
  std::vector<float> decoded(n, 0.0f);
  choco_round(compressor, v, decoded);
  const double error = distance(v, decoded) * distance(v, decoded);
  const double delta = 1.0 - error / (norm(v) * norm(v));
  CHECK(delta == Approx(2.0 / 3.14159265358979).margin(0.01));
  // A second round sends the residual at about the same quality.
  const std::vector<float> before = decoded;
  choco_round(compressor, v, decoded);
  const double residual = distance(v, before) * distance(v, before);
  const double after = distance(v, decoded) * distance(v, decoded);
  CHECK(1.0 - after / residual > 0.6);
}

// The sign codes against the definition, bit by bit: code bit k (LSB first
// within a byte, over the compressed coordinates in layout order) is set
// exactly when x − x̂ < 0 (so +0, −0 and a positive value all send +). The
// encoder gathers eight comparisons into a byte with one multiply; a wrong
// gather or a sign-bit shortcut (−0 has its sign bit set) fails here.
TEST_CASE("sign codes equal the per-value definition, zeros and negative zeros included", "[compress]") {
  const Layout odd = Layout::make(4000, {{0, 1027}, {1027, 5}, {1032, 2963}, {3995, 5}}, LayoutPolicy{16}).value();
  for (const Layout& layout : {Layout::whole(1000), Layout::whole(1003), mixed_layout(), odd}) {
    auto x = random_vector(layout.dimension(), 71);
    std::vector<float> x_hat(x.size(), 0.0f);
    for (std::size_t i = 0; i < x.size(); i += 5) x_hat[i] = x[i];              // difference +0
    for (std::size_t i = 2; i < x.size(); i += 11) x[i] = -0.0f, x_hat[i] = 0.0f;  // difference -0
    Compressor compressor(spec_of("sign"), layout, 5);
    CompressedDelta q;
    REQUIRE(compressor.compress_difference(x, x_hat, q).ok());
    std::size_t at = 0;
    std::size_t mismatches = 0;
    for (const Segment& segment : layout.compressed())
      for (std::size_t i = segment.offset; i < segment.offset + segment.length; ++i, ++at) {
        const bool expected = (x[i] - x_hat[i]) < 0.0f;
        const bool coded = (q.codes[at >> 3] >> (at & 7)) & 1u;
        if (coded != expected) ++mismatches;
      }
    INFO("dimension " << layout.dimension());
    CHECK(mismatches == 0);
  }
}

TEST_CASE("sign2 under error feedback decreases the error every round", "[compress]") {
  const auto layout = GENERATE(Layout::whole(1000), mixed_layout());
  const auto x = random_vector(layout.dimension(), 6);
  Compressor compressor(spec_of("sign2"), layout, 17);
  std::vector<float> x_hat(x.size(), 0.0f);
  const double initial = distance(x, x_hat);
  double previous = initial;
  // Down to float precision (about 1e-7 of the start), where it stalls.
  for (int round = 0; round < 100 && previous > 1e-6 * initial; ++round) {
    choco_round(compressor, x, x_hat);
    const double now = distance(x, x_hat);
    CHECK(now < previous);
    previous = now;
  }
  CHECK(previous < 1e-6 * initial);
}

// Two-bit sign: the best symmetric 4-level quantizer of a Gaussian keeps
// 1 - 0.1175 of its energy (Lloyd-Max); sign2's per-block Lloyd passes must
// get there. Fails if the split or the class scales are off (e.g. one scale
// for both classes gives sign's 0.64, a threshold at the block's max 0.64).
TEST_CASE("sign2 keeps 0.88 of a Gaussian vector's energy (quality delta)", "[compress]") {
  const std::size_t n = 256 * 400;
  std::mt19937 engine(8);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& value : v) value = normal(engine);
  Compressor compressor(spec_of("sign2"), Layout::whole(n), 3);
  std::vector<float> decoded(n, 0.0f);
  const auto q = choco_round(compressor, v, decoded);
  CHECK(q.scales.size() == 2 * 400);
  CHECK(q.codes.size() == n / 4);
  const double error = distance(v, decoded) * distance(v, decoded);
  const double delta = 1.0 - error / (norm(v) * norm(v));
  CHECK(delta == Approx(1.0 - 0.1175).margin(0.005));
  // Every value keeps its sign, and its class: inner below outer.
  for (std::size_t b = 0; b < 400; ++b) CHECK(q.scales[2 * b] < q.scales[2 * b + 1]);
  std::size_t wrong_sign = 0;
  for (std::size_t i = 0; i < n; ++i) wrong_sign += (decoded[i] < 0.0f) != (v[i] < 0.0f);
  CHECK(wrong_sign == 0);
}

TEST_CASE("decoding is bit-for-bit deterministic", "[compress]") {
  const Layout layout = mixed_layout();
  const auto x = random_vector(layout.dimension(), 8);
  const auto start = random_vector(layout.dimension(), 9);
  for (const char* text : kAllSpecs) {
    INFO(text);
    for (const float scale : {1.0f, 0.37f}) {
      Compressor compressor(spec_of(text), layout, 19);
      const auto q = compressor.compress(x).value();
      const CompressedDelta copy = q;
      std::vector<float> a = start, b = start, c = start;
      REQUIRE(decompress_add(layout, q, a, scale).ok());
      REQUIRE(decompress_add(layout, q, b, scale).ok());
      REQUIRE(decompress_add(layout, copy, c, scale).ok());
      CHECK(bits_equal(a, b));
      CHECK(bits_equal(a, c));
      CHECK_FALSE(bits_equal(a, start));
      // Two compressors with the same seed send the same bytes.
      Compressor twin(spec_of(text), layout, 19);
      CHECK(twin.compress(x).value() == q);
    }
  }
}

TEST_CASE("decoding ignores the thread's flush-to-zero mode", "[compress]") {
  // Subnormals in the payload and in the target are where FTZ/DAZ would differ.
  const Layout layout = Layout::whole(64);
  std::vector<float> start(64), values(64);
  for (std::size_t i = 0; i < 64; ++i) {
    start[i] = (i % 3 == 0) ? FLT_MIN * 0.25f * float(i + 1) : 1e-30f * float(i);
    values[i] = (i % 2 == 0) ? -FLT_MIN * 0.5f : 3e-38f * float(i % 5) - start[i];
  }
  CompressedDelta q;
  q.kind = CompressorKind::none;
  q.dimension = 64;
  q.values = values;
  std::vector<float> plain = start;
  REQUIRE(decompress_add(layout, q, plain, 1.0f).ok());
  std::vector<float> flushed = start;
  bool ok = false;
  std::thread([&] {
    ml::enable_flush_to_zero();
    ok = decompress_add(layout, q, flushed, 1.0f).ok();
  }).join();
  REQUIRE(ok);
  CHECK(bits_equal(plain, flushed));
  for (float v : plain) CHECK((v == 0.0f || std::fabs(v) >= FLT_MIN));
}

TEST_CASE("random-k coordinates are the same on both ends", "[compress]") {
  std::vector<std::uint32_t> sender, receiver, other;
  std::vector<std::uint64_t> bitmap;
  random_coordinates(42, 100000, 5000, sender, bitmap);
  random_coordinates(42, 100000, 5000, receiver, bitmap);
  random_coordinates(43, 100000, 5000, other, bitmap);
  CHECK(sender == receiver);
  CHECK(sender != other);
  CHECK(std::set<std::uint32_t>(sender.begin(), sender.end()).size() == 5000);
  CHECK(std::is_sorted(sender.begin(), sender.end()));
  CHECK(sender.back() < 100000);
  // Pinned: a change to the generator would break links between versions.
  random_coordinates(42, 1000, 5, sender, bitmap);
  CHECK(sender == std::vector<std::uint32_t>{250, 474, 550, 841, 891});
  SplitMix64 reference(1234567);
  CHECK(reference.next() == 6457827717110365317ULL);
  CHECK(reference.next() == 3203168211198807973ULL);

  // The receiver's decode touches exactly the coordinates the sender gathered.
  const Layout layout = mixed_layout();
  const auto x = random_vector(layout.dimension(), 10);
  Compressor compressor(spec_of("randk:0.05"), layout, 23);
  const auto q = compressor.compress(x).value();
  CHECK(q.values.size() == layout.exact_count() + sparse_count(0.05, layout.compressed_count()));
  std::vector<float> decoded(x.size(), 0.0f);
  REQUIRE(decompress_add(layout, q, decoded).ok());
  std::size_t touched = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (decoded[i] != 0.0f) {
      CHECK(decoded[i] == x[i]);
      ++touched;
    }
  }
  CHECK(touched == q.values.size());
}

TEST_CASE("compression ratios on the MLP 784-256-128-10", "[compress]") {
  ml::Mlp model(*ml::ModelSpec::parse("mlp:256,128"), 784, 10);
  const Layout layout = layout_for(model);
  const auto x = random_vector(layout.dimension(), 11);
  const double dense = 4.0 * double(x.size());
  auto bytes = [&](const char* text) {
    Compressor compressor(spec_of(text), layout, 29);
    return double(wire_bytes(compressor.compress(x).value()));
  };
  CHECK(bytes("none") == dense);
  Compressor topk(spec_of("topk:0.01"), layout, 29);
  const auto q = topk.compress(x).value();
  CHECK(q.indices.size() == 2348);  // ceil(1% of 234752 weights)
  CHECK(q.values.size() == 2348 + 394);
  CHECK(bytes("topk:0.01") / dense == Approx(0.0216).epsilon(0.01));  // 1% as value+index, plus biases
  CHECK(bytes("randk:0.01") / dense == Approx(0.0117).epsilon(0.01));  // no indices
  CHECK(bytes("int8") / dense == Approx(0.2552).epsilon(0.01));        // a byte each, scale per 256
  CHECK(bytes("sign") / dense == Approx(0.0368).epsilon(0.01));        // a bit each, scale per 256
  CHECK(bytes("sign2") / dense == Approx(0.0719).epsilon(0.01));       // two bits each, two scales per 256
}

TEST_CASE("sparsity warm-up starts denser", "[compress]") {
  const Layout layout = Layout::whole(10000);
  const auto x = random_vector(layout.dimension(), 12);
  Compressor compressor(spec_of("topk:0.01"), layout, 31, SparsityWarmup{0.5, 10});
  std::size_t previous = layout.dimension() + 1;
  for (int round = 0; round < 12; ++round) {
    const auto q = compressor.compress(x).value();
    if (round == 0) CHECK(q.indices.size() == 5000);
    if (round >= 10) CHECK(q.indices.size() == 100);
    CHECK(q.indices.size() <= previous);
    previous = q.indices.size();
  }
}

TEST_CASE("small segments are sent exactly by every compressor", "[compress]") {
  const Layout layout = mixed_layout();
  const auto x = random_vector(layout.dimension(), 13);
  for (const char* text : kAllSpecs) {
    INFO(text);
    Compressor compressor(spec_of(text), layout, 37);
    std::vector<float> x_hat(x.size(), 0.0f);
    choco_round(compressor, x, x_hat);
    for (const Segment& segment : layout.exact())
      for (std::size_t i = segment.offset; i < segment.offset + segment.length; ++i) CHECK(x_hat[i] == x[i]);
  }
}

TEST_CASE("a zero vector decodes to nothing", "[compress]") {
  const Layout layout = mixed_layout();
  const std::vector<float> zeros(layout.dimension(), 0.0f);
  const auto start = random_vector(layout.dimension(), 14);
  for (const char* text : kAllSpecs) {
    INFO(text);
    Compressor compressor(spec_of(text), layout, 41);
    const auto q = compressor.compress(zeros).value();
    for (float scale : q.scales) CHECK(scale == 0.0f);
    for (std::uint8_t code : q.codes) CHECK(code == 0);
    std::vector<float> target = start;
    REQUIRE(decompress_add(layout, q, target).ok());
    CHECK(bits_equal(target, start));
  }
  // Empty vectors are fine too.
  Compressor empty(spec_of("topk:0.5"), Layout::whole(0), 1);
  const auto q = empty.compress(std::span<const float>()).value();
  CHECK(wire_bytes(q) == 0);
}

TEST_CASE("NaN or infinity in the input is a numerical error", "[compress]") {
  const Layout layout = mixed_layout();
  for (const char* text : kAllSpecs) {
    for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      INFO(text << " " << bad);
      auto x = random_vector(layout.dimension(), 15);
      x[3050] = bad;  // in an exact segment
      Compressor compressor(spec_of(text), layout, 43);
      auto q = compressor.compress(x);
      REQUIRE_FALSE(q.ok());
      CHECK(q.error().kind == ErrorKind::numerical);
      CHECK(q.error().message.find("3050") != std::string::npos);
      x[3050] = 1.0f;
      x[17] = bad;  // in a compressed segment
      CHECK(compressor.compress(x).error().kind == ErrorKind::numerical);
    }
  }
  // inf - inf in compress_difference.
  std::vector<float> x(10, std::numeric_limits<float>::infinity());
  Compressor compressor(spec_of("none"), Layout::whole(10), 1);
  CompressedDelta q;
  CHECK(compressor.compress_difference(x, x, q).error().kind == ErrorKind::numerical);
  CHECK(compressor.compress(std::vector<float>(9, 0.0f)).error().kind == ErrorKind::invalid_argument);
}

TEST_CASE("corrupt payloads are refused and leave the target alone", "[compress]") {
  const Layout layout = mixed_layout();
  const auto x = random_vector(layout.dimension(), 16);
  const auto start = random_vector(layout.dimension(), 17);
  auto refused = [&](const CompressedDelta& q) {
    std::vector<float> target = start;
    auto status = decompress_add(layout, q, target);
    const bool corrupt = !status.ok() && status.error().kind == ErrorKind::corrupt;
    return corrupt && bits_equal(target, start);
  };
  auto delta = [&](const char* text) { return Compressor(spec_of(text), layout, 47).compress(x).value(); };

  for (const char* text : kAllSpecs) {
    INFO(text);
    auto q = delta(text);
    q.dimension += 1;
    CHECK(refused(q));
    q = delta(text);
    q.values.push_back(1.0f);
    if (q.kind != CompressorKind::randk) CHECK(refused(q));
    q = delta(text);
    q.values[0] = std::numeric_limits<float>::quiet_NaN();
    CHECK(refused(q));
    q = delta(text);
    q.kind = CompressorKind(9);
    CHECK(refused(q));
  }
  auto topk = delta("topk:0.1");
  std::swap(topk.indices[0], topk.indices[1]);
  CHECK(refused(topk));
  topk = delta("topk:0.1");
  topk.indices.back() = std::uint32_t(layout.dimension());
  CHECK(refused(topk));
  topk = delta("topk:0.1");
  topk.indices.back() = 3050;  // inside an exact segment
  std::sort(topk.indices.begin(), topk.indices.end());
  CHECK(refused(topk));
  topk = delta("topk:0.1");
  topk.indices.pop_back();
  CHECK(refused(topk));
  auto int8 = delta("int8");
  int8.codes[5] = 0x80;
  CHECK(refused(int8));
  int8 = delta("int8");
  int8.scales[1] = -1.0f;
  CHECK(refused(int8));
  int8 = delta("int8");
  int8.scales.pop_back();
  CHECK(refused(int8));
  auto sign = delta("sign");
  sign.codes.pop_back();
  CHECK(refused(sign));
  auto sign2 = delta("sign2");
  sign2.codes.pop_back();
  CHECK(refused(sign2));
  sign2 = delta("sign2");
  sign2.scales.pop_back();  // one scale per block, as sign would send
  CHECK(refused(sign2));
  sign2 = delta("sign2");
  sign2.scales[3] = -1.0f;
  CHECK(refused(sign2));
  sign2 = delta("sign2");
  sign2.scales[0] = std::numeric_limits<float>::infinity();
  CHECK(refused(sign2));
  auto randk = delta("randk:0.1");
  randk.values.resize(layout.exact_count() + layout.compressed_count() + 1, 1.0f);
  CHECK(refused(randk));

  std::vector<float> wrong_size(10, 0.0f);
  CHECK(decompress_add(layout, delta("none"), wrong_size).error().kind == ErrorKind::invalid_argument);
}

TEST_CASE("sign and int8 keep each value's sign on segments of odd lengths", "[compress]") {
  // Compressed segments whose lengths are not multiples of 8 or of the block size.
  const Layout layout =
      Layout::make(4000, {{0, 1027}, {1027, 5}, {1032, 2963}, {3995, 5}}, LayoutPolicy{16}).value();
  const auto x = random_vector(layout.dimension(), 18);
  for (const char* text : {"sign", "sign2", "int8"}) {
    INFO(text);
    Compressor compressor(spec_of(text), layout, 53);
    std::vector<float> decoded(x.size(), 0.0f);
    REQUIRE(decompress_add(layout, compressor.compress(x).value(), decoded).ok());
    std::size_t mismatched = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
      mismatched += decoded[i] != 0.0f && (decoded[i] < 0.0f) != (x[i] < 0.0f);
    CHECK(mismatched == 0);
  }
}

TEST_CASE("compress_difference on the fly, through a scratch buffer and of a stored difference agree bit for bit",
          "[compress]") {
  // The peer's memory work (docs/learning.md, "Memory per peer") reads x - x̂
  // on the fly or through a shared scratch instead of a per-link buffer: the
  // deltas, and so the protocol, must not change. Ties in top-k included.
  const Layout layout = mixed_layout();
  auto x = random_vector(layout.dimension(), 21);
  const auto x_hat = random_vector(layout.dimension(), 22);
  for (std::size_t i = 0; i < 400; ++i) x[i] = x_hat[i] + 0.25f;  // equal magnitudes of x - x̂
  std::vector<float> difference(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) difference[i] = x[i] - x_hat[i];
  for (const char* spec : {"none", "topk:0.01", "topk:0.1", "randk:0.1", "int8", "sign", "sign2"}) {
    INFO(spec);
    Compressor stored(spec_of(spec), layout, 5), on_the_fly(spec_of(spec), layout, 5), scratched(spec_of(spec), layout, 5);
    std::vector<float> scratch(x.size(), -1.0f);
    for (int round = 0; round < 3; ++round) {
      CompressedDelta a, b, c;
      REQUIRE(stored.compress_into(difference, a).ok());
      REQUIRE(on_the_fly.compress_difference(x, x_hat, b).ok());
      REQUIRE(scratched.compress_difference(x, x_hat, c, scratch).ok());
      CHECK(a == b);
      CHECK(a == c);
    }
    CHECK(on_the_fly.scratch_bytes() < x.size());  // no buffer of the model's size kept
  }
  Compressor compressor(spec_of("topk:0.1"), layout, 5);
  std::vector<float> short_scratch(10);
  CompressedDelta q;
  CHECK(compressor.compress_difference(x, x_hat, q, short_scratch).error().kind == ErrorKind::invalid_argument);
}

TEST_CASE("compress_and_apply equals compress_difference then decompress_add, bit for bit", "[compress]") {
  // The sender's one-call step (LinkState::make_delta): the delta, the copy
  // it leaves and the compressor's random stream must not change.
  const Layout odd = Layout::make(4000, {{0, 1027}, {1027, 5}, {1032, 2963}, {3995, 5}}, LayoutPolicy{16}).value();
  for (const Layout& layout : {mixed_layout(), odd}) {
    auto x = random_vector(layout.dimension(), 61);
    for (const char* spec : {"none", "topk:0.01", "topk:0.1", "randk:0.1", "int8", "sign", "sign2"}) {
      INFO(spec << " dimension " << layout.dimension());
      Compressor reference(spec_of(spec), layout, 9), fused(spec_of(spec), layout, 9), scratched(spec_of(spec), layout, 9);
      std::vector<float> hat_a(x.size(), 0.0f), hat_b = hat_a, hat_c = hat_a;
      std::vector<float> scratch(x.size());
      for (int round = 0; round < 4; ++round) {
        for (std::size_t i = 0; i < x.size(); i += 7) x[i] *= 1.01f;  // training moves x
        CompressedDelta a, b, c;
        REQUIRE(reference.compress_difference(x, hat_a, a).ok());
        REQUIRE(decompress_add(layout, a, hat_a).ok());
        REQUIRE(fused.compress_and_apply(x, hat_b, b).ok());
        REQUIRE(scratched.compress_and_apply(x, hat_c, c, scratch).ok());
        CHECK(a == b);
        CHECK(a == c);
        CHECK(bits_equal(hat_a, hat_b));
        CHECK(bits_equal(hat_a, hat_c));
      }
    }
  }
}

TEST_CASE("compress_and_apply refuses NaN or infinity and leaves the copy and the compressor as they were",
          "[compress]") {
  const Layout layout = mixed_layout();
  for (const char* spec : kAllSpecs) {
    for (const std::size_t at : {std::size_t{17}, std::size_t{3050}, std::size_t{4999}}) {
      INFO(spec << " at " << at);
      auto x = random_vector(layout.dimension(), 63);
      const auto start = random_vector(layout.dimension(), 64);
      Compressor compressor(spec_of(spec), layout, 11), twin(spec_of(spec), layout, 11);
      std::vector<float> x_hat = start;
      const float kept = x[at];
      x[at] = std::numeric_limits<float>::infinity();
      CompressedDelta q;
      const Status refused = compressor.compress_and_apply(x, x_hat, q);
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error().kind == ErrorKind::numerical);
      CHECK(refused.error().message.find(std::to_string(at)) != std::string::npos);
      CHECK(bits_equal(x_hat, start));
      CHECK(compressor.rounds() == 0);
      // The next delta is the one a compressor that never saw the NaN sends.
      x[at] = kept;
      std::vector<float> twin_hat = start;
      CompressedDelta expected;
      REQUIRE(twin.compress_and_apply(x, twin_hat, expected).ok());
      REQUIRE(compressor.compress_and_apply(x, x_hat, q).ok());
      CHECK(q == expected);
      CHECK(bits_equal(x_hat, twin_hat));
    }
  }
  // Finite values whose difference overflows.
  std::vector<float> big(10, 3e38f), minus_big(10, -3e38f);
  Compressor compressor(spec_of("int8"), Layout::whole(10), 1);
  CompressedDelta q;
  CHECK(compressor.compress_and_apply(big, minus_big, q).error().kind == ErrorKind::numerical);
  CHECK(minus_big == std::vector<float>(10, -3e38f));
}

TEST_CASE("int8 rounding draws its uniforms from the stream in order, two per draw", "[compress]") {
  // The draws are computed in blocks (they vectorize); they must be the
  // numbers of one next() per pair of values, odd block lengths included.
  const Layout layout = Layout::whole(301);  // blocks of 256 and 45
  const auto x = random_vector(layout.dimension(), 65);
  Compressor compressor(spec_of("int8"), layout, 77);
  const CompressedDelta q = compressor.compress(x).value();
  SplitMix64 random(77);
  std::size_t mismatched = 0;
  for (std::size_t start = 0; start < x.size(); start += kBlockSize) {
    const std::size_t length = std::min(kBlockSize, x.size() - start);
    float largest = 0.0f;
    for (std::size_t i = 0; i < length; ++i) largest = std::max(largest, std::fabs(x[start + i]));
    const float inverse = 127.0f / largest;
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < length; ++i) {
      if (i % 2 == 0) bits = random.next();
      const float uniform = float(i % 2 == 0 ? bits >> 40 : (bits >> 8) & 0xffffffu) * 0x1p-24f;
      const float scaled = x[start + i] * inverse;
      const float lower = std::floor(scaled);
      const float code = std::clamp(lower + (uniform < scaled - lower ? 1.0f : 0.0f), -127.0f, 127.0f);
      mismatched += q.codes[start + i] != std::uint8_t(std::int32_t(code) & 0xff);
    }
  }
  CHECK(mismatched == 0);
}

TEST_CASE("an int8 code -128 is refused wherever it is", "[compress]") {
  // The check is one branch-free pass over the codes (it vectorizes): a bad
  // code at the start, inside a vector's lanes, or in the scalar tail.
  const Layout layout = mixed_layout();
  const auto x = random_vector(layout.dimension(), 67);
  const CompressedDelta good = Compressor(spec_of("int8"), layout, 3).compress(x).value();
  const auto start = random_vector(layout.dimension(), 68);
  for (const std::size_t at : {std::size_t{0}, std::size_t{31}, std::size_t{1000}, good.codes.size() - 1}) {
    INFO("code " << at);
    CompressedDelta bad = good;
    bad.codes[at] = 0x80;
    std::vector<float> target = start;
    const Status refused = decompress_add(layout, bad, target);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == ErrorKind::corrupt);
    CHECK(bits_equal(target, start));
  }
  std::vector<float> target = start;
  CHECK(decompress_add(layout, good, target).ok());  // 0x7f and 0x81 (±127) are fine
}
