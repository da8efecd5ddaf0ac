// What a peer keeps of its data: only its shard's training samples, with the
// batches they make unchanged.
#include <catch2/catch.hpp>

#include <vector>

#include "training_options.h"

using namespace starling;
using namespace starling::apps;

namespace {

// Ten samples of two features; sample k holds (k, -k) and label k % 3.
TrainingData ten_samples(std::vector<std::size_t> shard) {
  TrainingData data;
  data.data.train.classes = 3;
  data.data.train.features.resize(2, 10);
  for (int k = 0; k < 10; ++k) {
    data.data.train.features(0, k) = float(k);
    data.data.train.features(1, k) = float(-k);
    data.data.train.labels.push_back(k % 3);
  }
  data.shard = std::move(shard);
  return data;
}

// The samples (by their first feature) of `epochs` epochs of batches.
std::vector<float> batches(const ml::Dataset& data, const std::vector<std::size_t>& indices, int epochs) {
  ml::Batcher batcher(data, indices, 2, 42);
  std::vector<float> seen;
  while (batcher.epoch() < std::uint64_t(epochs)) {
    const int count = batcher.next();
    for (int k = 0; k < count; ++k) seen.push_back(batcher.features()(0, k));
  }
  return seen;
}

}  // namespace

TEST_CASE("a peer keeps only its shard's training samples, and its batches stay the same samples",
          "[apps][training]") {
  const std::vector<std::size_t> shard = {7, 2, 5, 9};
  TrainingData full = ten_samples(shard);
  TrainingData kept = ten_samples(shard);
  keep_only_shard(kept);

  REQUIRE(kept.data.train.size() == 4);
  REQUIRE(kept.data.train.features.cols() == 4);
  CHECK(kept.data.train.classes == 3);
  CHECK(kept.shard == std::vector<std::size_t>{0, 1, 2, 3});
  for (std::size_t k = 0; k < shard.size(); ++k) {
    CHECK(kept.data.train.features(0, Eigen::Index(k)) == float(shard[k]));
    CHECK(kept.data.train.features(1, Eigen::Index(k)) == -float(shard[k]));
    CHECK(kept.data.train.labels[k] == std::int32_t(shard[k] % 3));
  }
  CHECK(batches(kept.data.train, kept.shard, 3) == batches(full.data.train, full.shard, 3));

  // The whole set (one shard of one, in shuffled order): left as it is.
  TrainingData whole = ten_samples({3, 1, 4, 0, 5, 9, 2, 6, 8, 7});
  keep_only_shard(whole);
  CHECK(whole.data.train.size() == 10);
  CHECK(whole.shard == std::vector<std::size_t>{3, 1, 4, 0, 5, 9, 2, 6, 8, 7});
}
