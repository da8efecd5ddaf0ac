// IDX bytes to features: the histogram's standardisation and the conversion
// of the samples a replica keeps.
#include "starling/ml/byte_dataset.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "standardization.h"

namespace starling::ml {
namespace detail {

Standardization standardization_from_sums(double count, double sum, double sum_squares) {
  if (!(count > 0)) return Standardization{};
  const double mean = sum / count;
  const double variance = std::max(0.0, sum_squares / count - mean * mean);
  double deviation = std::sqrt(variance);
  if (!(deviation > 1e-12)) deviation = 1.0;  // constant features: centre only
  return Standardization{float(mean), float(deviation), float(1.0 / deviation)};
}

}  // namespace detail

namespace {

using ByteValues = Eigen::Array<float, 256, 1>;

// Each byte value b as load_idx made it a feature: float(b) * (1 / 255).
ByteValues scaled_bytes() {
  ByteValues scaled;
  for (int b = 0; b < 256; ++b) scaled[b] = float(b);
  scaled = scaled * (1.0f / 255.0f);
  return scaled;
}

// The feature each byte value becomes. Two passes with a store between them,
// as load_idx's conversion and standardize() were two passes over the
// matrix, so no multiply-add is fused across them and the bits are theirs.
std::array<float, 256> feature_table(const Standardization& s) {
  const ByteValues scaled = scaled_bytes();
  ByteValues standardized;
  standardized = (scaled - s.mean) * s.scale;
  std::array<float, 256> table;
  std::memcpy(table.data(), standardized.data(), sizeof table);
  return table;
}

}  // namespace

Standardization standardization_of(const ByteDataset& train) {
  // Four histograms, so runs of equal bytes do not wait on one counter.
  std::array<std::array<std::uint64_t, 256>, 4> counts{};
  const std::uint8_t* bytes = train.pixels.data();
  const std::size_t total = train.pixels.size();
  std::size_t i = 0;
  for (; i + 4 <= total; i += 4) {
    ++counts[0][bytes[i]];
    ++counts[1][bytes[i + 1]];
    ++counts[2][bytes[i + 2]];
    ++counts[3][bytes[i + 3]];
  }
  for (; i < total; ++i) ++counts[0][bytes[i]];
  const ByteValues scaled = scaled_bytes();  // the features standardize() would sum
  double sum = 0.0;
  double sum_squares = 0.0;
  for (int b = 0; b < 256; ++b) {
    const double value = double(scaled[b]);
    const double count = double(counts[0][b] + counts[1][b] + counts[2][b] + counts[3][b]);
    sum += count * value;
    sum_squares += count * value * value;
  }
  return detail::standardization_from_sums(double(total), sum, sum_squares);
}

Dataset features_of(const ByteDataset& bytes, const Standardization& standardization,
                    const std::vector<std::size_t>* indices) {
  const std::size_t count = indices ? indices->size() : bytes.size();
  const auto inputs = std::size_t(bytes.inputs);
  Dataset out;
  out.classes = bytes.classes;
  out.features.resize(Eigen::Index(inputs), Eigen::Index(count));
  out.labels.resize(count);
  const std::array<float, 256> table = feature_table(standardization);
  float* target = out.features.data();
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t sample = indices ? (*indices)[k] : k;
    STARLING_ASSERT(sample < bytes.size());
    const std::uint8_t* source = bytes.pixels.data() + sample * inputs;
    float* column = target + k * inputs;
    for (std::size_t p = 0; p < inputs; ++p) column[p] = table[source[p]];
    out.labels[k] = bytes.labels[sample];
  }
  return out;
}

Dataset labels_of(const ByteDataset& bytes) {
  Dataset out;
  out.labels = bytes.labels;
  out.classes = bytes.classes;
  return out;
}

}  // namespace starling::ml
