// IDX data as the file's bytes, before they become features. A byte per
// pixel is a quarter of a float's memory and is cheap to count: the training
// set's mean and deviation come from a 256-bin histogram, and only the
// samples a replica trains on are ever made floats (a peer on a quarter of
// Fashion-MNIST converts 47 MB of its 188 MB of training features).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "starling/ml/dataset.h"
#include "starling/status.h"

namespace starling::ml {

struct ByteDataset {
  std::vector<std::uint8_t> pixels;  // `inputs` bytes per sample, sample after sample
  int inputs = 0;
  std::vector<std::int32_t> labels;  // one per sample, in [0, classes)
  int classes = 0;

  std::size_t size() const { return labels.size(); }
};

struct ByteTrainTest {
  ByteDataset train;
  ByteDataset test;
};

// load_idx and load_idx_folder without the conversion: the same checks and
// errors, the body kept as bytes.
Result<ByteDataset> load_idx_bytes(const std::string& images_path, const std::string& labels_path);
Result<ByteTrainTest> load_idx_folder_bytes(const std::string& folder, int classes = 0);

// What load_dataset(spec) would load, as bytes, when `spec` names IDX data
// (Debian's data sets or a folder); nullopt for the text formats, which hold
// numbers rather than bytes. The errors load_dataset gives; `classes` as there.
Result<std::optional<ByteTrainTest>> load_dataset_bytes(const std::string& spec, int classes = 0);

// One mean and deviation for every feature (standardize()'s): a feature x
// becomes (x - mean) * scale, scale = 1 / deviation rounded once from double.
struct Standardization {
  float mean = 0.0f;
  float deviation = 1.0f;
  float scale = 1.0f;
};

// The standardisation standardize() would compute over the training set's
// features b / 255, from a histogram of its bytes. It sums in another order,
// so the float results can differ from standardize()'s in their last bit.
Standardization standardization_of(const ByteDataset& train);

// The samples at `indices` (in that order; every sample when null) as
// features, each (float(b) * (1 / 255) - mean) * scale: the bits that
// load_idx followed by standardize() give for the same mean and scale.
Dataset features_of(const ByteDataset& bytes, const Standardization& standardization,
                    const std::vector<std::size_t>* indices = nullptr);

// The labels and classes alone (no features): what shard_indices reads.
Dataset labels_of(const ByteDataset& bytes);

}  // namespace starling::ml
