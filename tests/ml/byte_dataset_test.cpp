// IDX data kept as bytes: the histogram's standardisation against
// standardize()'s, and the features of the samples kept against the float
// path's, bit for bit. One test ([fashion]) reads the real Fashion-MNIST.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>

#include "idx_files.h"
#include "starling/ml/byte_dataset.h"
#include "starling/ml/dataset.h"

using namespace starling;
using namespace starling::ml;
using namespace starling::test;

namespace {

// `count` images of `rows` x `cols` random bytes, skewed towards 0 as
// pictures on a black background are.
std::vector<std::uint8_t> random_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols,
                                        std::uint64_t seed) {
  std::vector<std::uint8_t> out;
  put_u32(out, 0x803);
  put_u32(out, count);
  put_u32(out, rows);
  put_u32(out, cols);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  for (std::uint32_t i = 0; i < count * rows * cols; ++i) out.push_back(std::uint8_t(byte(rng) < 128 ? 0 : byte(rng)));
  return out;
}

bool same_bits(const Eigen::MatrixXf& a, const Eigen::MatrixXf& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * std::size_t(a.size())) == 0;
}

// What the float path gave before bytes were kept (load_idx's conversion,
// then standardize()'s expression, each a pass of its own), written out here
// so that it does not share the code under test, for the samples at `indices`.
Eigen::MatrixXf float_path(const ByteDataset& bytes, const Standardization& s, const std::vector<std::size_t>& indices) {
  const Eigen::Map<const Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic>> raw(
      bytes.pixels.data(), bytes.inputs, Eigen::Index(bytes.size()));
  Eigen::MatrixXf scaled = raw.cast<float>() * (1.0f / 255.0f);
  Eigen::MatrixXf kept(scaled.rows(), Eigen::Index(indices.size()));
  for (std::size_t k = 0; k < indices.size(); ++k) kept.col(Eigen::Index(k)) = scaled.col(Eigen::Index(indices[k]));
  kept.array() = (kept.array() - s.mean) * s.scale;
  return kept;
}

}  // namespace

TEST_CASE("IDX bytes become the features the float path gives, bit for bit, for the samples kept",
          "[data][idx][bytes]") {
  TempDir dir;
  write_gz(dir.file("images.gz"), random_images(40, 5, 7, 11));
  write_plain(dir.file("labels"), idx_labels(40, 4));

  auto bytes = load_idx_bytes(dir.file("images.gz"), dir.file("labels"));
  REQUIRE(bytes.ok());
  REQUIRE(bytes->size() == 40);
  REQUIRE(bytes->inputs == 35);
  REQUIRE(bytes->classes == 4);
  REQUIRE(bytes->pixels.size() == 40 * 35);
  auto scaled = load_idx(dir.file("images.gz"), dir.file("labels"));
  REQUIRE(scaled.ok());

  // The histogram's mean and deviation are standardize()'s.
  TrainTest floats{*scaled, *scaled};
  const auto [mean, deviation] = standardize(floats);
  const Standardization s = standardization_of(*bytes);
  CHECK(s.mean == Approx(mean).epsilon(1e-6));
  CHECK(s.deviation == Approx(deviation).epsilon(1e-6));
  CHECK(s.scale == Approx(1.0 / deviation).epsilon(1e-6));

  // Whole set and a shuffled subset: the float path's bits, labels with them.
  std::vector<std::size_t> all(40);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  const Dataset whole = features_of(*bytes, s);
  CHECK(same_bits(whole.features, float_path(*bytes, s, all)));
  CHECK(whole.labels == scaled->labels);
  CHECK(whole.classes == 4);
  const std::vector<std::size_t> some = {39, 3, 17, 0, 22};
  const Dataset kept = features_of(*bytes, s, &some);
  CHECK(same_bits(kept.features, float_path(*bytes, s, some)));
  CHECK(kept.labels == scaled->subset(some).labels);
  // The standardised training features have mean 0 and deviation 1.
  CHECK(std::abs(whole.features.mean()) < 1e-5);
  CHECK(std::sqrt(whole.features.array().square().mean()) == Approx(1.0).epsilon(1e-5));

  // The identity standardisation is load_idx's b / 255.
  CHECK(same_bits(features_of(*bytes, Standardization{}).features, float_path(*bytes, Standardization{}, all)));
  CHECK(same_bits(scaled->features, float_path(*bytes, Standardization{}, all)));

  // labels_of carries what shard_indices reads, and the shards match.
  const Dataset labels = labels_of(*bytes);
  CHECK(labels.features.size() == 0);
  for (const char* partition : {"iid", "dirichlet:0.5"}) {
    INFO(partition);
    CHECK(shard_indices(labels, ShardSpec{1, 3}, *Partition::parse(partition), 5) ==
          shard_indices(*scaled, ShardSpec{1, 3}, *Partition::parse(partition), 5));
  }
}

TEST_CASE("a constant image set is centred, not divided by zero", "[data][idx][bytes]") {
  ByteDataset flat;
  flat.inputs = 3;
  flat.pixels.assign(12, 200);
  flat.labels = {0, 1, 0, 1};
  flat.classes = 2;
  const Standardization s = standardization_of(flat);
  CHECK(s.mean == Approx(200.0 / 255.0));
  CHECK(s.deviation == 1.0f);
  CHECK(s.scale == 1.0f);
  CHECK(features_of(flat, s).features.cwiseAbs().maxCoeff() < 1e-6f);
  CHECK(standardization_of(ByteDataset{}).scale == 1.0f);  // nothing to count
}

TEST_CASE("IDX folders and --data as bytes: the same resolution and errors as the float load", "[data][idx][bytes]") {
  TempDir dir;
  write_gz(dir.file("train-images-idx3-ubyte.gz"), random_images(9, 2, 3, 1));
  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_labels(9, 3));
  write_plain(dir.file("t10k-images-idx3-ubyte"), random_images(4, 2, 3, 2));
  auto wide_labels = idx_labels(4, 2);
  wide_labels.back() = 5;
  write_plain(dir.file("t10k-labels-idx1-ubyte"), wide_labels);

  auto bytes = load_dataset_bytes(dir.path.string());
  REQUIRE(bytes.ok());
  REQUIRE(bytes->has_value());
  CHECK((*bytes)->train.size() == 9);
  CHECK((*bytes)->test.size() == 4);
  CHECK((*bytes)->train.classes == 6);  // the union of both sides, as load_idx_folder has it
  CHECK((*bytes)->test.classes == 6);
  auto floats = load_dataset(dir.path.string());
  REQUIRE(floats.ok());
  CHECK(same_bits(features_of((*bytes)->test, Standardization{}).features, floats->test.features));

  // Text formats are not bytes; a missing data set is the float load's error.
  write_plain(dir.file("data.csv"), std::vector<std::uint8_t>{'0', ',', '1', '\n'});
  auto text = load_dataset_bytes(dir.file("data.csv"));
  REQUIRE(text.ok());
  CHECK(!text->has_value());
  TempDir empty;
  auto missing = load_dataset_bytes(empty.path.string());
  REQUIRE(!missing.ok());
  CHECK(missing.error().kind == ErrorKind::not_found);
  write_plain(dir.file("t10k-images-idx3-ubyte"), random_images(4, 3, 3, 2));
  auto widths = load_dataset_bytes(dir.path.string());
  REQUIRE(!widths.ok());
  CHECK(widths.error().message == load_dataset(dir.path.string()).error().message);
}
