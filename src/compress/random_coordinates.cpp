// Random-k coordinates. Both ends of a link run this with the delta's seed, so
// it is integer arithmetic only, specified here and nowhere else.
#include <bit>

#include "starling/compress/compressor.h"

namespace starling::compress {

// Floyd's algorithm (Bentley & Floyd 1987, "A sample of brilliance"): k draws
// give k distinct coordinates, uniformly among all k-subsets. A bitmap records
// the chosen ones; reading it back yields them in ascending order, which keeps
// the sender's gather and the receiver's scatter sequential in memory.
void random_coordinates(std::uint64_t seed, std::size_t n, std::size_t k, std::vector<std::uint32_t>& out,
                        std::vector<std::uint64_t>& bitmap) {
  STARLING_ASSERT(k <= n);
  out.clear();
  if (k == 0) return;
  bitmap.assign((n + 63) / 64, 0);
  SplitMix64 random(seed);
  for (std::size_t j = n - k; j < n; ++j) {
    std::uint64_t pick = random.below(j + 1);
    if (bitmap[pick >> 6] & (std::uint64_t{1} << (pick & 63))) pick = j;
    bitmap[pick >> 6] |= std::uint64_t{1} << (pick & 63);
  }
  out.reserve(k);
  for (std::size_t word = 0; word < bitmap.size(); ++word) {
    for (std::uint64_t bits = bitmap[word]; bits != 0; bits &= bits - 1)
      out.push_back(std::uint32_t(word * 64 + std::size_t(std::countr_zero(bits))));
  }
  STARLING_ASSERT(out.size() == k);
}

}  // namespace starling::compress
