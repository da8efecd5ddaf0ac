// Internal to starling_compress: the sender applies its own delta to x̂ with
// the decoder's arithmetic (decode.cpp), skipping the per-value checks a
// delta from the wire needs.
#pragma once

#include <span>

#include "starling/compress/compressor.h"

namespace starling::compress {

// target += decode(delta) for a delta this library just encoded: values are
// finite and int8 codes never -128 by construction, so only sizes and scales
// are checked (corrupt, target untouched, if off). Same bits as
// decompress_add(layout, delta, target).
Status apply_own_delta(const Layout& layout, const CompressedDelta& delta, std::span<float> target);

}  // namespace starling::compress
