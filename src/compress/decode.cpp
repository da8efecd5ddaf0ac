// The receiving side, also run by the sender on its own copy of x̂: both must
// end with the same bits. Everything here is a float multiply or add in a fixed
// order (built with -ffp-contract=off), subnormals flushed explicitly so that
// flush-to-zero/denormals-are-zero settings of the calling thread do not matter,
// and the payload is checked in full before the target is touched.
#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>

#include "starling/assert.h"
#include "starling/compress/compressor.h"

#include "apply_own.h"

namespace starling::compress {

namespace {

// Zero for subnormals (and -0), the value otherwise. Gives the same answer
// whether or not the CPU treats subnormal inputs as zero.
inline float flushed(float v) { return std::fabs(v) < FLT_MIN ? 0.0f : v; }

// For each code byte, the float sign bit of its eight values (LSB first): a
// table lookup per byte instead of eight shifts the compiler keeps scalar.
constexpr std::array<std::array<std::uint32_t, 8>, 256> kSignMasks = [] {
  std::array<std::array<std::uint32_t, 8>, 256> masks{};
  for (std::uint32_t byte = 0; byte < 256; ++byte)
    for (std::uint32_t bit = 0; bit < 8; ++bit) masks[byte][bit] = ((byte >> bit) & 1u) << 31;
  return masks;
}();

// target += scale * value, the one formula every kind uses.
inline void add_to(float& target, float value, float scale) {
  target = flushed(flushed(target) + flushed(scale * flushed(value)));
}

Status corrupt(const CompressedDelta& delta, const std::string& why) {
  return make_error(ErrorKind::corrupt, std::string("delta (") + to_string(delta.kind) + "): " + why);
}

Status expect_size(const CompressedDelta& delta, const char* field, std::size_t actual, std::size_t expected) {
  if (actual == expected) return ok_status();
  return corrupt(delta, std::string(field) + " has " + std::to_string(actual) + " entries, expected " +
                            std::to_string(expected));
}

// Checks exponent bits, not std::isfinite, so the loop vectorizes.
bool all_finite(const std::vector<float>& values) {
  std::uint32_t non_finite = 0;
  for (const float v : values) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    non_finite |= std::uint32_t((bits & 0x7f800000u) == 0x7f800000u);
  }
  return non_finite == 0;
}

// Whether any code is 0x80 (-128, never sent). One OR over all codes, no
// early exit: the loop vectorizes (a byte compare per lane), where a branch
// per byte did not (7% of a receiving peer's loop thread).
bool has_int8_minimum(const std::vector<std::uint8_t>& codes) {
  const std::uint8_t* data = codes.data();
  const std::size_t n = codes.size();
  std::uint8_t found = 0;
  for (std::size_t i = 0; i < n; ++i) found |= std::uint8_t(data[i] == 0x80);
  return found != 0;
}

Status check_scales(const CompressedDelta& delta, const Layout& layout, std::size_t per_block = 1) {
  if (auto status = expect_size(delta, "scales", delta.scales.size(), per_block * block_count(layout)); !status)
    return status;
  for (float scale : delta.scales)
    if (!(scale >= 0.0f) || !std::isfinite(scale)) return corrupt(delta, "a scale is negative or not finite");
  return ok_status();
}

// How much of a payload validate() checks: all of it for a delta from the
// wire; for the sender's own delta not the per-value properties its encoder
// guarantees (finite values, no int8 code -128).
enum class Origin { wire, own };

// Everything a payload must satisfy before any of it is applied.
Status validate(const Layout& layout, const CompressedDelta& delta, Origin origin) {
  if (delta.dimension != layout.dimension())
    return corrupt(delta, "dimension " + std::to_string(delta.dimension) + ", expected " +
                              std::to_string(layout.dimension()));
  if (origin == Origin::wire && !all_finite(delta.values)) return corrupt(delta, "a value is NaN or infinite");
  const std::size_t exact = layout.exact_count();
  const std::size_t compressed = layout.compressed_count();
  switch (delta.kind) {
    case CompressorKind::none:
      if (auto s = expect_size(delta, "values", delta.values.size(), layout.dimension()); !s) return s;
      if (!delta.indices.empty() || !delta.codes.empty() || !delta.scales.empty())
        return corrupt(delta, "unexpected indices, codes or scales");
      return ok_status();
    case CompressorKind::topk: {
      if (delta.values.size() < exact || delta.indices.size() != delta.values.size() - exact ||
          delta.indices.size() > compressed)
        return corrupt(delta, std::to_string(delta.indices.size()) + " indices and " +
                                  std::to_string(delta.values.size()) + " values do not fit " +
                                  std::to_string(exact) + " exact and " + std::to_string(compressed) +
                                  " compressed coordinates");
      if (!delta.codes.empty() || !delta.scales.empty()) return corrupt(delta, "unexpected codes or scales");
      // Strictly increasing and inside the compressed segments (an index in an
      // exact segment would add that value twice: the layouts disagree).
      std::uint64_t next = 0;  // smallest acceptable index
      auto segment = layout.compressed().begin();
      for (const std::uint32_t index : delta.indices) {
        if (index < next) return corrupt(delta, "index " + std::to_string(index) + " out of order");
        while (segment != layout.compressed().end() && index >= segment->offset + segment->length) ++segment;
        if (segment == layout.compressed().end() || index < segment->offset)
          return corrupt(delta, "index " + std::to_string(index) + " is not in a compressed segment");
        next = std::uint64_t(index) + 1;
      }
      return ok_status();
    }
    case CompressorKind::randk:
      if (delta.values.size() < exact || delta.values.size() - exact > compressed)
        return corrupt(delta, std::to_string(delta.values.size()) + " values do not fit " + std::to_string(exact) +
                                  " exact and " + std::to_string(compressed) + " compressed coordinates");
      if (!delta.indices.empty() || !delta.codes.empty() || !delta.scales.empty())
        return corrupt(delta, "unexpected indices, codes or scales");
      return ok_status();
    case CompressorKind::int8:
      if (auto s = expect_size(delta, "values", delta.values.size(), exact); !s) return s;
      if (auto s = expect_size(delta, "codes", delta.codes.size(), compressed); !s) return s;
      if (!delta.indices.empty()) return corrupt(delta, "unexpected indices");
      if (origin == Origin::wire && has_int8_minimum(delta.codes)) return corrupt(delta, "int8 code -128 is not used");
      return check_scales(delta, layout);
    case CompressorKind::sign:
      if (auto s = expect_size(delta, "values", delta.values.size(), exact); !s) return s;
      if (auto s = expect_size(delta, "codes", delta.codes.size(), (compressed + 7) / 8); !s) return s;
      if (!delta.indices.empty()) return corrupt(delta, "unexpected indices");
      if (compressed % 8 != 0 && (delta.codes.back() >> (compressed % 8)) != 0)
        return corrupt(delta, "unused sign bits are set");
      return check_scales(delta, layout);
    case CompressorKind::sign2:
      if (auto s = expect_size(delta, "values", delta.values.size(), exact); !s) return s;
      if (auto s = expect_size(delta, "codes", delta.codes.size(), (compressed + 3) / 4); !s) return s;
      if (!delta.indices.empty()) return corrupt(delta, "unexpected indices");
      if (compressed % 4 != 0 && (delta.codes.back() >> (2 * (compressed % 4))) != 0)
        return corrupt(delta, "unused code bits are set");
      return check_scales(delta, layout, 2);
  }
  return corrupt(delta, "unknown compressor kind " + std::to_string(int(delta.kind)));
}

void apply_exact(const Layout& layout, const CompressedDelta& delta, std::span<float> target, float scale) {
  std::size_t at = 0;
  for (const Segment& segment : layout.exact())
    for (std::size_t i = 0; i < segment.length; ++i) add_to(target[segment.offset + i], delta.values[at++], scale);
}

void apply_randk(const Layout& layout, const CompressedDelta& delta, std::span<float> target, float scale) {
  const std::size_t exact = layout.exact_count();
  std::vector<std::uint32_t> coordinates;
  std::vector<std::uint64_t> bitmap;
  random_coordinates(delta.seed, layout.compressed_count(), delta.values.size() - exact, coordinates, bitmap);
  auto segment = layout.compressed().begin();
  std::size_t segment_start = 0;
  std::size_t at = exact;
  for (const std::uint32_t coordinate : coordinates) {
    while (coordinate >= segment_start + segment->length) segment_start += (segment++)->length;
    add_to(target[segment->offset + (coordinate - segment_start)], delta.values[at++], scale);
  }
}

// One block of the compressed coordinates: kBlockSize values, fewer at the
// end of a segment (blocks restart at each compressed segment).
struct Block {
  std::size_t offset;  // its first value's index in the flat vector (into the target)
  std::size_t length;  // its values, 1..kBlockSize
  std::size_t at;      // its first value's index among the compressed coordinates (into the codes)
  std::size_t index;   // its number, in order (into the scales)
};

// Calls visit(block) for each block of layout's compressed segments, in
// order: the walk int8, sign and sign2 share. (The encoders in compressor.cpp
// keep their own loops: through this helper their hot loops measured slower,
// bench/README.md's bench_compress compress/sign.)
template <class Visit>
void for_each_block(const Layout& layout, Visit&& visit) {
  std::size_t at = 0;
  std::size_t index = 0;
  for (const Segment& segment : layout.compressed()) {
    for (std::size_t start = 0; start < segment.length; start += kBlockSize) {
      const Block block{segment.offset + start, std::min(kBlockSize, segment.length - start), at, index++};
      visit(block);
      at += block.length;
    }
  }
}

void apply_int8(const Layout& layout, const CompressedDelta& delta, std::span<float> target, float scale) {
  for_each_block(layout, [&](const Block& block) {
    const float block_scale = delta.scales[block.index];
    const std::uint8_t* codes = delta.codes.data() + block.at;
    float* out = target.data() + block.offset;
    for (std::size_t i = 0; i < block.length; ++i) {
      const float code = float(static_cast<std::int8_t>(codes[i]));
      add_to(out[i], code * block_scale, scale);
    }
  });
}

void apply_sign(const Layout& layout, const CompressedDelta& delta, std::span<float> target, float scale) {
  for_each_block(layout, [&](const Block& block) {
    const std::size_t at = block.at, length = block.length;
    std::uint32_t scale_bits;
    std::memcpy(&scale_bits, &delta.scales[block.index], sizeof scale_bits);
    // Signed scales first (the sign bit set from the code, no branch: signs
    // are random), then the same vectorizable add as every other kind.
    float staged[kBlockSize];
    std::size_t i = 0;
    if (at % 8 == 0) {  // whole code bytes (every block of the MLP): eight sign masks per byte
      const std::uint8_t* codes = delta.codes.data() + at / 8;
      for (; i + 8 <= length; i += 8) {
        const std::array<std::uint32_t, 8>& masks = kSignMasks[codes[i / 8]];
        for (std::size_t bit = 0; bit < 8; ++bit) {
          const std::uint32_t bits = scale_bits | masks[bit];
          std::memcpy(&staged[i + bit], &bits, sizeof bits);
        }
      }
    }
    for (; i < length; ++i) {
      const std::uint32_t negative = (delta.codes[(at + i) >> 3] >> ((at + i) & 7)) & 1u;
      const std::uint32_t bits = scale_bits | (negative << 31);
      std::memcpy(&staged[i], &bits, sizeof bits);
    }
    float* out = target.data() + block.offset;
    for (std::size_t k = 0; k < length; ++k) add_to(out[k], staged[k], scale);
  });
}

// As apply_sign, with two scales per block picked by each value's high code bit.
void apply_sign2(const Layout& layout, const CompressedDelta& delta, std::span<float> target, float scale) {
  for_each_block(layout, [&](const Block& block) {
    const std::size_t at = block.at, length = block.length;
    std::uint32_t scale_bits[2];
    std::memcpy(&scale_bits[0], &delta.scales[2 * block.index], sizeof scale_bits[0]);
    std::memcpy(&scale_bits[1], &delta.scales[2 * block.index + 1], sizeof scale_bits[1]);
    float staged[kBlockSize];
    for (std::size_t i = 0; i < length; ++i) {
      const unsigned code = (delta.codes[(at + i) >> 2] >> (2 * ((at + i) & 3))) & 3u;
      const std::uint32_t bits = scale_bits[code >> 1] | (std::uint32_t(code & 1u) << 31);
      std::memcpy(&staged[i], &bits, sizeof bits);
    }
    float* out = target.data() + block.offset;
    for (std::size_t k = 0; k < length; ++k) add_to(out[k], staged[k], scale);
  });
}

// target += scale * decode(delta) for a validated delta.
void apply(const Layout& layout, const CompressedDelta& delta, std::span<float> target, float scale) {
  switch (delta.kind) {
    case CompressorKind::none:
      for (std::size_t i = 0; i < target.size(); ++i) add_to(target[i], delta.values[i], scale);
      break;
    case CompressorKind::topk: {
      apply_exact(layout, delta, target, scale);
      const float* values = delta.values.data() + layout.exact_count();
      for (std::size_t j = 0; j < delta.indices.size(); ++j) add_to(target[delta.indices[j]], values[j], scale);
      break;
    }
    case CompressorKind::randk:
      apply_exact(layout, delta, target, scale);
      apply_randk(layout, delta, target, scale);
      break;
    case CompressorKind::int8:
      apply_exact(layout, delta, target, scale);
      apply_int8(layout, delta, target, scale);
      break;
    case CompressorKind::sign:
      apply_exact(layout, delta, target, scale);
      apply_sign(layout, delta, target, scale);
      break;
    case CompressorKind::sign2:
      apply_exact(layout, delta, target, scale);
      apply_sign2(layout, delta, target, scale);
      break;
  }
}

}  // namespace

Status decompress_add(const Layout& layout, const CompressedDelta& delta, std::span<float> target, float scale) {
  if (target.size() != layout.dimension())
    return make_error(ErrorKind::invalid_argument, "decompress: target of " + std::to_string(target.size()) +
                                                       " values for a layout of " +
                                                       std::to_string(layout.dimension()));
  if (!std::isfinite(scale)) return make_error(ErrorKind::invalid_argument, "decompress: scale is not finite");
  if (auto status = validate(layout, delta, Origin::wire); !status) return status;
  apply(layout, delta, target, scale);
  return ok_status();
}

Status apply_own_delta(const Layout& layout, const CompressedDelta& delta, std::span<float> target) {
  STARLING_ASSERT(target.size() == layout.dimension());
  if (auto status = validate(layout, delta, Origin::own); !status) return status;
  apply(layout, delta, target, 1.0f);
  return ok_status();
}

Status decompress_add(const CompressedDelta& delta, std::span<float> target, float scale) {
  return decompress_add(Layout::whole(target.size()), delta, target, scale);
}

}  // namespace starling::compress
