// Compressors for CHOCO delta gossip (DESIGN.md, "Learning"): q = C(x - x̂) is
// sent, and both ends add q to their public copy x̂. Decoding must therefore give
// the same floats on both ends, bit for bit: it uses only float additions and
// multiplications in a fixed order (no fused multiply-add: the library is built
// with -ffp-contract=off), and flushes subnormals explicitly so a thread with
// flush-to-zero and one without agree.
//
// Payload per kind, with n_e exact and n_c compressed coordinates (Layout):
//   none   values: the whole vector, flat order.
//   topk   values: n_e exact values, then k values; indices: k flat indices,
//          strictly increasing, all inside compressed segments.
//   randk  values: n_e exact values, then k values; seed: the receiver draws
//          the same k distinct coordinates of the compressed part from it.
//   int8   values: n_e exact values; codes: n_c int8 (two's complement, -128
//          never used); scales: one per block of kBlockSize within each
//          compressed segment, value = code * scale.
//   sign   values: n_e exact values; codes: n_c sign bits, LSB first, 1 =
//          negative, unused bits of the last byte zero; scales: one per block,
//          value = ±scale with scale = mean |x| of the block.
//   sign2  values: n_e exact values; codes: n_c 2-bit codes, four per byte,
//          LSB first (value i in bits 2(i mod 4) and 2(i mod 4) + 1): the low
//          bit 1 = negative, the high bit 1 = outer; unused bits of the last
//          byte zero; scales: two per block, inner then outer, value =
//          ±(outer ? outer scale : inner scale), each the mean |x| of its class.
// Exact values follow the layout's exact segments in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "starling/compress/layout.h"
#include "starling/compress/random.h"
#include "starling/compress/spec.h"
#include "starling/status.h"

namespace starling::compress {

// Part of the payload format: int8 and sign keep one scale per block of this
// many values (sign2 two), blocks restarting at each compressed segment.
inline constexpr std::size_t kBlockSize = 256;

// Blocks of an int8, sign or sign2 delta for this layout (scales: one per
// block, two for sign2).
std::size_t block_count(const Layout& layout);

// Fields map one to one onto wire::Delta (minus epoch and seq).
struct CompressedDelta {
  CompressorKind kind = CompressorKind::none;
  std::uint64_t dimension = 0;
  std::uint64_t seed = 0;
  std::vector<std::uint32_t> indices;
  std::vector<float> values;
  std::vector<std::uint8_t> codes;
  std::vector<float> scales;
  bool operator==(const CompressedDelta&) const = default;
};

// Payload bytes of a delta (the same count wire's size estimate uses), for
// bytes-per-step accounting; framing and crypto come on top.
std::size_t wire_bytes(const CompressedDelta& delta);

// One sender's compressor for one link. Holds the random stream (random-k
// seeds, int8 rounding), the round count for warm-up, and small scratch memory,
// so a warmed-up call allocates nothing but the output. It holds no buffer of
// the model's size: compress_difference reads x - x_hat on the fly, so a peer
// with L links does not pay L extra model-sized vectors (docs/learning.md,
// "Memory per peer"). Not thread-safe.
class Compressor {
 public:
  Compressor(CompressorSpec spec, Layout layout, std::uint64_t seed, SparsityWarmup warmup = {});

  // q = C(x). x.size() must equal the layout's dimension (else invalid_argument);
  // a NaN or infinity in x is numerical. Every call is one round of warm-up.
  Result<CompressedDelta> compress(std::span<const float> x);

  // Same, reusing out's buffers.
  Status compress_into(std::span<const float> x, CompressedDelta& out);

  // q = C(x - x_hat) without a temporary for the difference: every value is
  // the float x[i] - x_hat[i], computed where it is read, so the result is bit
  // for bit that of compress(x - x_hat).
  Status compress_difference(std::span<const float> x, std::span<const float> x_hat, CompressedDelta& out);
  // Same result, bit for bit, with the difference written to the caller's
  // `scratch` (the layout's dimension) and compressed from there: top-k then
  // reads one vector per pass instead of two (about 20% faster). A peer
  // passes one buffer for all its links (they compress one after another).
  Status compress_difference(std::span<const float> x, std::span<const float> x_hat, CompressedDelta& out,
                             std::span<float> scratch);

  // The sender's whole step: q = C(x - x_hat), then x_hat += q, leaving x_hat
  // with the bits decompress_add(layout(), q, x_hat) gives (what the receiver
  // computes on its copy). Fewer passes than the two calls: none, int8 and
  // sign read x - x_hat block by block and check finiteness on the way (no
  // scratch, no separate check), and the payload is not re-validated value by
  // value (it is valid by construction; sizes and scales still are). `scratch`
  // as for compress_difference (top-k and random-k use it). Errors as for
  // compress_difference, x_hat untouched; an own delta that would not decode
  // (e.g. a sign scale that overflowed) is corrupt.
  Status compress_and_apply(std::span<const float> x, std::span<float> x_hat, CompressedDelta& out,
                            std::span<float> scratch = {});

  // Bytes of scratch this compressor keeps between calls (random-k's
  // coordinates and bitmap; top-k keeps none between calls), for memory
  // accounting.
  std::size_t scratch_bytes() const;

  const CompressorSpec& spec() const { return spec_; }
  const Layout& layout() const { return layout_; }
  // Top-k/random-k: the next compress call sends `scale` (in (0, 1]) times
  // its usual fraction, so a delta fits an upload budget (node/upload_budget.h);
  // the call after is back to the usual fraction. Others ignore it.
  void scale_next_fraction(double scale) { next_fraction_scale_ = scale; }
  std::uint64_t rounds() const { return rounds_; }
  // Top-k calls on long vectors whose sampled threshold missed (fewer than k
  // or too many values reached it), so the exact selection ran instead.
  std::uint64_t topk_exact_fallbacks() const { return topk_exact_fallbacks_; }
  // The fraction the next compress() will use (top-k/random-k).
  double current_fraction() const;

 private:
  Status check_size(std::span<const float> x) const;
  // Source: the vector being compressed, read by index (x, or x - x_hat on
  // the fly); see compressor.cpp.
  // Returns whether every value read was finite for none, int8 and sign
  // (which check on the way); false for top-k and random-k, whose callers
  // check first.
  template <class Source> bool encode(const Source& source, CompressedDelta& out);
  // Returns whether the exact values were finite.
  template <class Source> bool encode_exact(const Source& source, CompressedDelta& out) const;
  template <class Source> void encode_topk(const Source& source, CompressedDelta& out, double fraction);
  template <class Source> bool encode_topk_sampled(const Source& source, CompressedDelta& out, std::size_t k);
  template <class Source> void encode_randk(const Source& source, CompressedDelta& out, double fraction);
  template <class Source> bool encode_int8(const Source& source, CompressedDelta& out);
  template <class Source> bool encode_sign(const Source& source, CompressedDelta& out);
  template <class Source> bool encode_sign2(const Source& source, CompressedDelta& out);

  CompressorSpec spec_;
  Layout layout_;
  SparsityWarmup warmup_;
  SplitMix64 random_;
  std::uint64_t rounds_ = 0;
  std::uint64_t topk_exact_fallbacks_ = 0;
  double next_fraction_scale_ = 1.0;
  std::vector<std::uint32_t> chosen_;  // random-k coordinates
  std::vector<std::uint64_t> bitmap_;
};

// k of n coordinates: ceil(fraction * n), at least 1 when n > 0, at most n.
std::size_t sparse_count(double fraction, std::size_t n);

// The k distinct coordinates of [0, n) a random-k delta with this seed sends,
// ascending. Both ends call it; integer arithmetic only.
void random_coordinates(std::uint64_t seed, std::size_t n, std::size_t k, std::vector<std::uint32_t>& out,
                        std::vector<std::uint64_t>& bitmap);

// target += scale * decode(delta). Checks the payload against the layout first
// (sizes, index range and order, finite values and scales, valid codes) and
// returns corrupt without touching target if anything is off; invalid_argument
// if target's size is not the layout's dimension. Deterministic: the same
// delta, layout, target and scale give the same bits everywhere.
Status decompress_add(const Layout& layout, const CompressedDelta& delta, std::span<float> target,
                      float scale = 1.0f);

// For a vector with no exact segments (Layout::whole(target.size())).
Status decompress_add(const CompressedDelta& delta, std::span<float> target, float scale = 1.0f);

}  // namespace starling::compress
