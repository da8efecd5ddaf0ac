// A seeded Fisher-Yates shuffle written out, so a split depends only on the
// seed and mt19937_64 (both fixed by the standard), not on the standard
// library's std::shuffle. Peers on different builds then agree on shards.
#pragma once

#include <cstddef>
#include <random>
#include <utility>
#include <vector>

namespace starling::ml::detail {

template <typename T>
void seeded_shuffle(std::vector<T>& items, std::mt19937_64& rng) {
  for (std::size_t i = items.size(); i > 1; --i) {
    // Modulo bias is below i / 2^64: irrelevant for any data set.
    const std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace starling::ml::detail
