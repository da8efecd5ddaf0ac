// The sending side: q = C(x). Only the sender runs this code, so it may use any
// arithmetic; what the receiver must reproduce lives in decode.cpp and
// random_coordinates.cpp.
#include "starling/compress/compressor.h"

#include "starling/assert.h"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <string>

#include "apply_own.h"

namespace starling::compress {

namespace {

// The vector being compressed, read by index: x itself...
struct Plain {
  const float* x;
  float operator[](std::size_t i) const { return x[i]; }
  // Values [offset, offset + length) as a pointer (`buffer` unused).
  const float* block(std::size_t offset, std::size_t, float*) const { return x + offset; }
};

// ...or x - x_hat, computed where it is read (no model-sized temporary). Each
// value is the same float subtraction a stored difference would hold, so the
// encoding is bit for bit that of the stored difference.
struct Difference {
  const float* x;
  const float* x_hat;
  float operator[](std::size_t i) const { return x[i] - x_hat[i]; }
  // Values [offset, offset + length) written to `buffer` (length <= kBlockSize).
  const float* block(std::size_t offset, std::size_t length, float* buffer) const {
    for (std::size_t i = 0; i < length; ++i) buffer[i] = x[offset + i] - x_hat[offset + i];
    return buffer;
  }
};

// Index of the first NaN or infinity, or n if all are finite. Checks bits
// rather than std::isfinite so the loop vectorizes.
template <class Source>
std::size_t first_non_finite(const Source& source, std::size_t n) {
  std::uint32_t any = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = source[i];
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    any |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  if (!any) return n;
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(source[i])) return i;
  return n;
}

Status non_finite_error(std::size_t n, std::size_t index, float value) {
  return make_error(ErrorKind::numerical, "compress: value " + std::to_string(index) + " of " +
                                              std::to_string(n) + " is " + (std::isnan(value) ? "NaN" : "infinite"));
}

// The bits of |v|: for finite floats, ordering these integers orders |v|.
inline std::uint32_t magnitude_key(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits & 0x7fffffffu;
}

// Stochastic rounding of one int8 block: floor(x * inverse), plus one when the
// uniform draw falls below the fractional part, so E[code] = x * inverse.
void round_block(const float* block, const float* uniform, float inverse, std::size_t length,
                 std::uint8_t* codes) {
  for (std::size_t i = 0; i < length; ++i) {
    const float scaled = block[i] * inverse;
    // floor() by truncation: |scaled| <= 127 fits, and unlike std::floor it vectorizes.
    const float truncated = float(static_cast<std::int32_t>(scaled));
    const float lower = truncated > scaled ? truncated - 1.0f : truncated;
    float code = lower + (uniform[i] < scaled - lower ? 1.0f : 0.0f);
    code = code > 127.0f ? 127.0f : code;  // |scaled| can pass 127 by an ulp
    code = code < -127.0f ? -127.0f : code;
    codes[i] = static_cast<std::uint8_t>(static_cast<std::int32_t>(code) & 0xff);
  }
}

// `length` uniforms in [0, 1), two 24-bit ones per draw of `random` (the high
// bits first; an odd length drops the last draw's low half): the same numbers
// as calling random.next() once per pair, but the draws are computed from the
// state at once (SplitMix64::state()), so the loop vectorizes.
void fill_uniforms(SplitMix64& random, float* uniform, std::size_t length) {
  const std::uint64_t base = random.state();
  const std::size_t pairs = length / 2;
  for (std::size_t k = 0; k < pairs; ++k) {
    const std::uint64_t bits = SplitMix64::mix(base + (k + 1) * SplitMix64::kGamma);
    uniform[2 * k] = float(std::uint32_t(bits >> 40)) * 0x1p-24f;
    uniform[2 * k + 1] = float(std::uint32_t(bits >> 8) & 0xffffffu) * 0x1p-24f;
  }
  random.skip(pairs);
  if (length % 2 != 0) uniform[length - 1] = float(std::uint32_t(random.next() >> 40)) * 0x1p-24f;
}

// Whether a block holds NaN or infinity (one vectorizable OR).
bool block_finite(const float* block, std::size_t length) {
  std::uint32_t non_finite = 0;
  for (std::size_t i = 0; i < length; ++i) non_finite |= std::uint32_t(magnitude_key(block[i]) >= 0x7f800000u);
  return non_finite == 0;
}

}  // namespace

std::size_t wire_bytes(const CompressedDelta& delta) {
  return (delta.indices.size() + delta.values.size() + delta.scales.size()) * 4 + delta.codes.size();
}

std::size_t block_count(const Layout& layout) {
  std::size_t blocks = 0;
  for (const Segment& segment : layout.compressed()) blocks += (segment.length + kBlockSize - 1) / kBlockSize;
  return blocks;
}

std::size_t sparse_count(double fraction, std::size_t n) {
  if (n == 0) return 0;
  const double wanted = std::ceil(fraction * double(n));
  if (!(wanted >= 1.0)) return 1;
  if (wanted >= double(n)) return n;
  return std::size_t(wanted);
}

Compressor::Compressor(CompressorSpec spec, Layout layout, std::uint64_t seed, SparsityWarmup warmup)
    : spec_(spec), layout_(std::move(layout)), warmup_(warmup), random_(seed) {}

double Compressor::current_fraction() const { return warmup_.fraction_at(spec_.fraction, rounds_); }

Status Compressor::check_size(std::span<const float> x) const {
  if (x.size() != layout_.dimension())
    return make_error(ErrorKind::invalid_argument, "compress: vector of " + std::to_string(x.size()) +
                                                       " values for a layout of " +
                                                       std::to_string(layout_.dimension()));
  return ok_status();
}

Result<CompressedDelta> Compressor::compress(std::span<const float> x) {
  CompressedDelta out;
  if (auto status = compress_into(x, out); !status) return status.error();
  return out;
}

Status Compressor::compress_into(std::span<const float> x, CompressedDelta& out) {
  if (auto status = check_size(x); !status) return status;
  const Plain source{x.data()};
  if (const std::size_t bad = first_non_finite(source, x.size()); bad != x.size())
    return non_finite_error(x.size(), bad, source[bad]);
  encode(source, out);
  return ok_status();
}

Status Compressor::compress_difference(std::span<const float> x, std::span<const float> x_hat,
                                       CompressedDelta& out) {
  if (auto status = check_size(x); !status) return status;
  if (auto status = check_size(x_hat); !status) return status;
  const Difference source{x.data(), x_hat.data()};
  if (const std::size_t bad = first_non_finite(source, x.size()); bad != x.size())
    return non_finite_error(x.size(), bad, source[bad]);
  encode(source, out);
  return ok_status();
}

Status Compressor::compress_difference(std::span<const float> x, std::span<const float> x_hat,
                                       CompressedDelta& out, std::span<float> scratch) {
  if (auto status = check_size(x); !status) return status;
  if (auto status = check_size(x_hat); !status) return status;
  if (scratch.size() != x.size())
    return make_error(ErrorKind::invalid_argument, "compress: scratch of " + std::to_string(scratch.size()) +
                                                       " values for a layout of " + std::to_string(x.size()));
  // The difference and the finiteness check in one pass (it vectorizes).
  std::uint32_t any_non_finite = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float v = x[i] - x_hat[i];
    scratch[i] = v;
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    any_non_finite |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  const Plain source{scratch.data()};
  if (any_non_finite) {
    const std::size_t bad = first_non_finite(source, x.size());
    return non_finite_error(x.size(), bad, source[bad]);
  }
  encode(source, out);
  return ok_status();
}

Status Compressor::compress_and_apply(std::span<const float> x, std::span<float> x_hat, CompressedDelta& out,
                                      std::span<float> scratch) {
  if (auto status = check_size(x); !status) return status;
  if (auto status = check_size(x_hat); !status) return status;
  const bool checks_itself = spec_.kind == CompressorKind::none || spec_.kind == CompressorKind::int8 ||
                             spec_.kind == CompressorKind::sign || spec_.kind == CompressorKind::sign2;
  if (checks_itself) {
    // One pass: x - x̂ read block by block (no scratch), finiteness checked
    // by the encoder on the way. A NaN or infinity leaves the compressor as
    // it was (random stream, round count) and x̂ untouched.
    const SplitMix64 random = random_;
    const double fraction_scale = next_fraction_scale_;
    const Difference source{x.data(), x_hat.data()};
    if (!encode(source, out)) {
      random_ = random;
      --rounds_;
      next_fraction_scale_ = fraction_scale;
      const std::size_t bad = first_non_finite(source, x.size());
      STARLING_ASSERT(bad < x.size());
      return non_finite_error(x.size(), bad, source[bad]);
    }
  } else if (scratch.empty()) {
    if (auto status = compress_difference(x, x_hat, out); !status) return status;
  } else if (auto status = compress_difference(x, x_hat, out, scratch); !status) {
    return status;
  }
  return apply_own_delta(layout_, out, x_hat);
}

std::size_t Compressor::scratch_bytes() const {
  return chosen_.capacity() * sizeof(std::uint32_t) + bitmap_.capacity() * sizeof(std::uint64_t);
}

template <class Source>
bool Compressor::encode(const Source& source, CompressedDelta& out) {
  out.kind = spec_.kind;
  out.dimension = layout_.dimension();
  out.seed = 0;
  out.indices.clear();
  out.values.clear();
  out.codes.clear();
  out.scales.clear();
  const double fraction = current_fraction() * std::clamp(next_fraction_scale_, 0.0, 1.0);
  next_fraction_scale_ = 1.0;
  bool finite = false;
  switch (spec_.kind) {
    case CompressorKind::none: {
      out.values.resize(layout_.dimension());
      float* values = out.values.data();
      std::uint32_t non_finite = 0;
      for (std::size_t i = 0; i < layout_.dimension(); ++i) {
        values[i] = source[i];
        non_finite |= std::uint32_t(magnitude_key(values[i]) >= 0x7f800000u);
      }
      finite = non_finite == 0;
      break;
    }
    case CompressorKind::topk: encode_topk(source, out, fraction); break;
    case CompressorKind::randk: encode_randk(source, out, fraction); break;
    case CompressorKind::int8: finite = encode_int8(source, out); break;
    case CompressorKind::sign: finite = encode_sign(source, out); break;
    case CompressorKind::sign2: finite = encode_sign2(source, out); break;
  }
  ++rounds_;
  return finite;
}

template <class Source>
bool Compressor::encode_exact(const Source& source, CompressedDelta& out) const {
  std::uint32_t non_finite = 0;
  for (const Segment& segment : layout_.exact())
    for (std::size_t i = segment.offset; i < segment.offset + segment.length; ++i) {
      out.values.push_back(source[i]);
      non_finite |= std::uint32_t(magnitude_key(out.values.back()) >= 0x7f800000u);
    }
  return non_finite == 0;
}

// The sampled top-k path is worth its sample only on long vectors.
constexpr std::size_t kTopkSampleSize = 4096;
constexpr std::size_t kTopkSampledFrom = 8 * kTopkSampleSize;

// The k largest |x| of the compressed segments; among equal magnitudes the
// lowest index wins, so the choice is a function of x alone (whichever path
// finds it). Fast path, one pass over x: a threshold t from a random sample
// of magnitudes, set a few standard deviations below the sample's k-th
// quantile so that at least k values reach it with overwhelming probability;
// the values >= t (about 1.7% of them at k = 1%) are collected with their
// indices, and the exact k-th largest is selected among those alone. When
// fewer than k or too many values reach t (a sample out of luck, or a vector
// of many equal values such as zeros), the exact path below runs instead.
template <class Source>
bool Compressor::encode_topk_sampled(const Source& source, CompressedDelta& out, std::size_t k) {
  const std::size_t n = layout_.compressed_count();
  // The sample: kTopkSampleSize compressed coordinates drawn with replacement.
  std::uint32_t sample[kTopkSampleSize];
  const std::vector<Segment>& segments = layout_.compressed();
  for (std::uint32_t& key : sample) {
    std::size_t coordinate = std::size_t(random_.next() % n);
    auto segment = segments.begin();
    while (coordinate >= segment->length) coordinate -= (segment++)->length;
    key = magnitude_key(source[segment->offset + coordinate]);
  }
  const double expected = double(kTopkSampleSize) * double(k) / double(n);
  const std::size_t rank = std::min<std::size_t>(kTopkSampleSize - 1,
                                                 std::size_t(expected + 4.0 * std::sqrt(expected) + 8.0));
  std::nth_element(sample, sample + rank, sample + kTopkSampleSize, std::greater<std::uint32_t>());
  const std::uint32_t t = sample[rank];
  // Room for twice the expected count of candidates; more means t is too low.
  const std::size_t capacity = std::max<std::size_t>(
      k + 1024, std::size_t(2.0 * double(n) * double(rank + 1) / double(kTopkSampleSize)));
  if (capacity >= n) return false;
  // Indices, keys, and the keys again for selection, in one uninitialised
  // buffer that lives for this call only: a peer's links compress one after
  // another, so they share one such buffer's worth of memory instead of each
  // keeping its own between rounds (docs/learning.md, "Memory per peer").
  const std::unique_ptr<std::uint32_t[]> buffer(new std::uint32_t[3 * capacity]);
  std::uint32_t* indices = buffer.get();
  std::uint32_t* keys = indices + capacity;
  std::uint32_t* selection = keys + capacity;
  std::size_t count = 0;
  // A bit mask of the candidates among 64 values (the comparisons vectorize),
  // then only the set bits are visited: about 2x faster than a branch per
  // value at 1%, and no misprediction storm at 10%.
  constexpr std::size_t kBlock = 64;
  for (const Segment& segment : segments) {
    const std::size_t end = segment.offset + segment.length;
    std::size_t i = segment.offset;
    for (; i + kBlock <= end; i += kBlock) {
      std::uint64_t mask = 0;
      for (std::size_t j = 0; j < kBlock; ++j) mask |= std::uint64_t(magnitude_key(source[i + j]) >= t) << j;
      if (count + std::size_t(std::popcount(mask)) > capacity) return false;
      for (; mask != 0; mask &= mask - 1) {
        const std::size_t at = i + std::size_t(std::countr_zero(mask));
        indices[count] = std::uint32_t(at);
        keys[count++] = magnitude_key(source[at]);
      }
    }
    for (; i < end; ++i) {
      const std::uint32_t key = magnitude_key(source[i]);
      if (key >= t) {
        if (count == capacity) return false;
        indices[count] = std::uint32_t(i);
        keys[count++] = key;
      }
    }
  }
  if (count < k) return false;
  // The k-th largest among the candidates is the k-th largest overall: every
  // value at least as large is a candidate.
  std::copy(keys, keys + count, selection);
  std::nth_element(selection, selection + (k - 1), selection + count, std::greater<std::uint32_t>());
  const std::uint32_t threshold = selection[k - 1];
  std::size_t above = 0;
  for (std::size_t i = 0; i + 1 < k; ++i) above += selection[i] > threshold;
  std::size_t ties_left = k - above;
  for (std::size_t c = 0; c < count; ++c) {
    const std::uint32_t key = keys[c];
    if (key > threshold || (key == threshold && ties_left > 0)) {
      if (key == threshold) --ties_left;
      out.indices.push_back(indices[c]);
      out.values.push_back(source[indices[c]]);
    }
  }
  STARLING_ASSERT(out.indices.size() == k);
  return true;
}

template <class Source>
void Compressor::encode_topk(const Source& source, CompressedDelta& out, double fraction) {
  const std::size_t n = layout_.compressed_count();
  const std::size_t k = sparse_count(fraction, n);
  out.values.reserve(layout_.exact_count() + k);
  out.indices.reserve(k);
  encode_exact(source, out);
  if (k == 0) return;
  if (k < n && n >= kTopkSampledFrom) {
    if (encode_topk_sampled(source, out, k)) return;
    ++topk_exact_fallbacks_;
  }

  std::uint32_t threshold = 0;
  std::size_t ties_left = n;  // k == n: take everything
  if (k < n) {
    constexpr int kShift = 20;  // 2048 buckets: sign-less exponent and 3 mantissa bits
    std::uint32_t histogram[std::size_t{1} << (31 - kShift)] = {};  // n < 2^32: indices are 32-bit
    for (const Segment& segment : layout_.compressed())
      for (std::size_t i = segment.offset; i < segment.offset + segment.length; ++i)
        ++histogram[magnitude_key(source[i]) >> kShift];
    std::size_t bucket = std::size(histogram);
    std::size_t above_bucket = 0;  // keys in buckets above `bucket`
    while (above_bucket + histogram[bucket - 1] < k) above_bucket += histogram[--bucket];
    --bucket;  // the bucket that holds the k-th largest key
    // The bucket's keys, in a buffer of exactly their count that lives only
    // for this call: a peer's links compress one after another, so they
    // share one such buffer's worth of memory instead of each keeping its
    // own (a few percent of the model per link) between rounds.
    std::vector<std::uint32_t> keys;
    keys.reserve(histogram[bucket]);
    for (const Segment& segment : layout_.compressed())
      for (std::size_t i = segment.offset; i < segment.offset + segment.length; ++i) {
        const std::uint32_t key = magnitude_key(source[i]);
        if ((key >> kShift) == bucket) keys.push_back(key);
      }
    const std::size_t rank = k - above_bucket;  // 1-based rank of the threshold inside the bucket
    std::nth_element(keys.begin(), keys.begin() + std::ptrdiff_t(rank - 1), keys.end(),
                     std::greater<std::uint32_t>());
    threshold = keys[rank - 1];
    std::size_t above = above_bucket;
    for (std::size_t i = 0; i + 1 < rank; ++i) above += keys[i] > threshold;
    ties_left = k - above;
  }
  for (const Segment& segment : layout_.compressed()) {
    for (std::size_t i = segment.offset; i < segment.offset + segment.length; ++i) {
      const std::uint32_t key = magnitude_key(source[i]);
      if (key > threshold || (key == threshold && ties_left > 0)) {
        if (key == threshold) --ties_left;
        out.indices.push_back(std::uint32_t(i));
        out.values.push_back(source[i]);
      }
    }
  }
  STARLING_ASSERT(out.indices.size() == k);
}

template <class Source>
void Compressor::encode_randk(const Source& source, CompressedDelta& out, double fraction) {
  const std::size_t n = layout_.compressed_count();
  const std::size_t k = sparse_count(fraction, n);
  out.seed = random_.next();
  out.values.reserve(layout_.exact_count() + k);
  encode_exact(source, out);
  random_coordinates(out.seed, n, k, chosen_, bitmap_);
  // chosen_ is ascending in the compressed coordinates; walk the segments along.
  auto segment = layout_.compressed().begin();
  std::size_t segment_start = 0;
  for (const std::uint32_t coordinate : chosen_) {
    while (coordinate >= segment_start + segment->length) segment_start += (segment++)->length;
    out.values.push_back(source[segment->offset + (coordinate - segment_start)]);
  }
}

// QSGD-style: per block, scale = max|x| / 127, and x / scale is rounded up or
// down at random with the probabilities that make the code unbiased.
template <class Source>
bool Compressor::encode_int8(const Source& source, CompressedDelta& out) {
  out.values.reserve(layout_.exact_count());
  bool finite = encode_exact(source, out);
  out.codes.resize(layout_.compressed_count());
  out.scales.reserve(block_count(layout_));
  std::size_t at = 0;
  for (const Segment& segment : layout_.compressed()) {
    for (std::size_t start = 0; start < segment.length; start += kBlockSize) {
      const std::size_t length = std::min(kBlockSize, segment.length - start);
      float buffer[kBlockSize];
      const float* block = source.block(segment.offset + start, length, buffer);
      std::uint32_t largest_key = 0;  // integer max vectorizes, a float max does not
      for (std::size_t i = 0; i < length; ++i) largest_key = std::max(largest_key, magnitude_key(block[i]));
      if (largest_key >= 0x7f800000u) {  // NaN or infinity: the caller reports it
        finite = false;
        largest_key = 0;
      }
      float largest;
      std::memcpy(&largest, &largest_key, sizeof largest);
      float scale = largest / 127.0f;
      // A subnormal scale would decode differently under flush-to-zero; what is
      // not sent stays in x - x̂ (a block this small is noise anyway).
      if (!(scale >= FLT_MIN)) scale = 0.0f;
      const float inverse = scale > 0.0f ? 127.0f / largest : 0.0f;
      std::uint8_t* codes = out.codes.data() + at;
      if (scale == 0.0f) {
        std::fill(codes, codes + length, std::uint8_t{0});
      } else {
        // Random thresholds first, two 24-bit uniforms in [0, 1) per 64 bits,
        // so the rounding loop below is branch-free and vectorizes.
        float uniform[kBlockSize];
        fill_uniforms(random_, uniform, length);
        round_block(block, uniform, inverse, length, codes);
      }
      out.scales.push_back(scale);
      at += length;
    }
  }
  return finite;
}

// Scaled sign: per block, ±mean|x|, the scale that minimises the squared error
// of a sign code, so ||x - q||² = ||x||² - ||x||₁²/n < ||x||² for x != 0.
template <class Source>
bool Compressor::encode_sign(const Source& source, CompressedDelta& out) {
  out.values.reserve(layout_.exact_count());
  bool finite = encode_exact(source, out);
  out.codes.assign((layout_.compressed_count() + 7) / 8, 0);
  out.scales.reserve(block_count(layout_));
  std::size_t at = 0;
  for (const Segment& segment : layout_.compressed()) {
    for (std::size_t start = 0; start < segment.length; start += kBlockSize) {
      const std::size_t length = std::min(kBlockSize, segment.length - start);
      float buffer[kBlockSize];
      const float* block = source.block(segment.offset + start, length, buffer);
      // Eight running sums instead of one: no serial add chain, and they vectorize.
      float partial[8] = {};
      std::size_t tail = 0;
      for (; tail + 8 <= length; tail += 8)
        for (std::size_t lane = 0; lane < 8; ++lane) partial[lane] += std::fabs(block[tail + lane]);
      double sum = 0.0;
      for (; tail < length; ++tail) sum += std::fabs(block[tail]);
      for (const float lane_sum : partial) sum += lane_sum;
      // A sum that is not finite: NaN or infinity in the block (the caller
      // reports it), or finite values whose sum overflowed (an infinite
      // scale the decoder refuses).
      if (!std::isfinite(sum) && !block_finite(block, length)) {
        finite = false;
        sum = 0.0;
      }
      float scale = float(sum / double(length));
      if (!(scale >= FLT_MIN)) scale = 0.0f;
      if (scale > 0.0f) {
        std::size_t i = 0;
        if (at % 8 == 0) {  // whole bytes at a time (every segment of the MLP)
          // The comparisons as 0/1 bytes (one vector compare per eight
          // values), then each eight gathered into a code byte by one
          // multiply: byte k of the product's top byte is bit k (the eight
          // terms never carry into each other). The per-bit loop compiled
          // to a scalar compare, set and shift per value.
          static_assert(std::endian::native == std::endian::little, "sign codes gather little-endian bytes");
          std::uint8_t negative[kBlockSize];
          for (std::size_t k = 0; k < length; ++k) negative[k] = std::uint8_t(block[k] < 0.0f);
          std::uint8_t* codes = out.codes.data() + at / 8;
          for (; i + 8 <= length; i += 8) {
            std::uint64_t lanes;
            std::memcpy(&lanes, negative + i, sizeof lanes);
            codes[i / 8] = std::uint8_t((lanes * 0x0102040810204080ull) >> 56);
          }
        }
        for (; i < length; ++i)
          out.codes[(at + i) >> 3] |= std::uint8_t(unsigned(block[i] < 0.0f) << ((at + i) & 7));
      }
      out.scales.push_back(scale);
      at += length;
    }
  }
  return finite;
}

// Two-bit scaled sign: per block, a sign and a magnitude class (inner or
// outer) per value, and two scales, each the mean |x| of its class. The split
// comes from a few Lloyd iterations (threshold halfway between the two
// scales, starting at mean |x|), which for one block's magnitudes reach the
// best symmetric 4-level quantizer of a Gaussian (δ ≈ 0.88); every pass is a
// vectorizable sum. The scales are the class means of the final split, so
// ||x - q||² <= ||x||² - ||x||₁²/n: never worse than sign on the same block.
template <class Source>
bool Compressor::encode_sign2(const Source& source, CompressedDelta& out) {
  out.values.reserve(layout_.exact_count());
  bool finite = encode_exact(source, out);
  out.codes.assign((layout_.compressed_count() + 3) / 4, 0);
  out.scales.reserve(2 * block_count(layout_));
  constexpr int kLloydPasses = 4;
  std::size_t at = 0;
  for (const Segment& segment : layout_.compressed()) {
    for (std::size_t start = 0; start < segment.length; start += kBlockSize) {
      const std::size_t length = std::min(kBlockSize, segment.length - start);
      float buffer[kBlockSize];
      const float* block = source.block(segment.offset + start, length, buffer);
      float magnitude[kBlockSize];
      for (std::size_t i = 0; i < length; ++i) magnitude[i] = std::fabs(block[i]);
      double total = 0.0;
      for (std::size_t i = 0; i < length; ++i) total += magnitude[i];
      if (!std::isfinite(total) && !block_finite(block, length)) {  // NaN or infinity: the caller reports it
        finite = false;
        total = 0.0;
      }
      double inner = 0.0, outer = 0.0;  // the classes' mean |x|
      std::size_t outer_count = 0;
      float threshold = float(total / double(length));
      for (int pass = 0; pass < kLloydPasses && total > 0.0; ++pass) {
        double inner_sum = 0.0, outer_sum = 0.0;
        outer_count = 0;
        for (std::size_t i = 0; i < length; ++i) {
          const bool is_outer = magnitude[i] >= threshold;
          outer_sum += is_outer ? double(magnitude[i]) : 0.0;
          outer_count += is_outer;
        }
        inner_sum = total - outer_sum;
        const std::size_t inner_count = length - outer_count;
        inner = inner_count > 0 ? std::max(inner_sum, 0.0) / double(inner_count) : 0.0;
        outer = outer_count > 0 ? outer_sum / double(outer_count) : 0.0;
        if (pass + 1 < kLloydPasses) {
          const float next = float(0.5 * (inner + outer));
          if (next == threshold) break;
          threshold = next;
        }
      }
      float inner_scale = float(inner), outer_scale = float(outer);
      if (!(inner_scale >= FLT_MIN)) inner_scale = 0.0f;
      if (!(outer_scale >= FLT_MIN)) outer_scale = 0.0f;
      if (total > 0.0 && outer_scale > 0.0f) {
        for (std::size_t i = 0; i < length; ++i) {
          const unsigned code = unsigned(block[i] < 0.0f) | (unsigned(magnitude[i] >= threshold) << 1);
          out.codes[(at + i) >> 2] |= std::uint8_t(code << (2 * ((at + i) & 3)));
        }
      }
      out.scales.push_back(inner_scale);
      out.scales.push_back(outer_scale);
      at += length;
    }
  }
  return finite;
}

}  // namespace starling::compress
