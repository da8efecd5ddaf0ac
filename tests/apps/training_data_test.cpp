// What a peer keeps of its data: only its shard's training samples, with the
// batches they make unchanged.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <vector>

#include "../ml/idx_files.h"
#include "starling/ml/dataset.h"
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

namespace {

// The float path a peer took before IDX data was kept as bytes: everything
// loaded and standardised, then the shard kept.
TrainingData float_path(const TrainingOptions& o) {
  TrainingData out;
  auto data = ml::load_dataset(o.data, o.seed);
  REQUIRE(data.ok());
  out.data = std::move(*data);
  out.train_samples = out.data.train.size();
  std::tie(out.data_mean, out.data_std) = ml::standardize(out.data);
  out.shard = ml::shard_indices(out.data.train, *ml::ShardSpec::parse(o.shard), *ml::Partition::parse(o.partition),
                                o.seed);
  keep_only_shard(out);
  return out;
}

void check_same_data(const TrainingData& loaded, const TrainingData& reference, float tolerance) {
  CHECK(loaded.train_samples == reference.train_samples);
  CHECK(loaded.shard == reference.shard);
  CHECK(loaded.data.train.labels == reference.data.train.labels);
  CHECK(loaded.data.test.labels == reference.data.test.labels);
  CHECK(loaded.data.train.classes == reference.data.train.classes);
  CHECK(loaded.data_mean == Approx(reference.data_mean).epsilon(tolerance));
  CHECK(loaded.data_std == Approx(reference.data_std).epsilon(tolerance));
  REQUIRE(loaded.data.train.features.cols() == reference.data.train.features.cols());
  REQUIRE(loaded.data.test.features.cols() == reference.data.test.features.cols());
  CHECK((loaded.data.train.features - reference.data.train.features).cwiseAbs().maxCoeff() <= tolerance);
  CHECK((loaded.data.test.features - reference.data.test.features).cwiseAbs().maxCoeff() <= tolerance);
}

}  // namespace

TEST_CASE("IDX labels {0, 255} load with a warning: 256 classes, 254 of them empty", "[apps][training]") {
  test::TempDir dir;
  auto labels = [](std::vector<std::uint8_t> values) {
    std::vector<std::uint8_t> out;
    test::put_u32(out, 0x801);
    test::put_u32(out, std::uint32_t(values.size()));
    out.insert(out.end(), values.begin(), values.end());
    return out;
  };
  test::write_plain(dir.file("train-images-idx3-ubyte"), test::idx_images(6, 2, 2));
  test::write_plain(dir.file("train-labels-idx1-ubyte"), labels({0, 255, 0, 255, 0, 255}));
  test::write_plain(dir.file("t10k-images-idx3-ubyte"), test::idx_images(2, 2, 2));
  test::write_plain(dir.file("t10k-labels-idx1-ubyte"), labels({255, 0}));
  TrainingOptions o;
  o.data = dir.path.string();
  auto loaded = load_training_data(o, ml::ShardSpec{}, ml::Partition{});
  REQUIRE(loaded.ok());
  CHECK(loaded->data.train.classes == 256);  // still trains: the warning says what it makes
  CHECK(loaded->label_warning.find("the labels run from 0 to 255 but only 2 of those 256 classes") !=
        std::string::npos);

  // Contiguous labels (0..2) are quiet.
  test::write_plain(dir.file("train-labels-idx1-ubyte"), test::idx_labels(6, 3));
  test::write_plain(dir.file("t10k-labels-idx1-ubyte"), test::idx_labels(2, 3));
  loaded = load_training_data(o, ml::ShardSpec{}, ml::Partition{});
  REQUIRE(loaded.ok());
  CHECK(loaded->label_warning.empty());
}

TEST_CASE("IDX data loads only the shard's training samples, as the whole set cut to the shard would be",
          "[apps][training]") {
  test::TempDir dir;
  test::write_gz(dir.file("train-images-idx3-ubyte.gz"), test::idx_images(30, 4, 5));
  test::write_gz(dir.file("train-labels-idx1-ubyte.gz"), test::idx_labels(30, 3));
  test::write_plain(dir.file("t10k-images-idx3-ubyte"), test::idx_images(7, 4, 5));
  test::write_plain(dir.file("t10k-labels-idx1-ubyte"), test::idx_labels(7, 3));
  TrainingOptions o;
  o.data = dir.path.string();
  for (const char* partition : {"iid", "dirichlet:0.3"}) {
    for (const char* shard : {"0/1", "2/3"}) {
      INFO(partition << " " << shard);
      o.partition = partition;
      o.shard = shard;
      auto loaded = load_training_data(o, *ml::ShardSpec::parse(shard), *ml::Partition::parse(partition));
      REQUIRE(loaded.ok());
      check_same_data(*loaded, float_path(o), 1e-6f);
      CHECK(loaded->train_samples == 30);
      CHECK(loaded->data.test.size() == 7);
      CHECK(loaded->shard.size() == loaded->data.train.size());
    }
  }
  // More shards than samples (40 IID shards of 30) are refused before the
  // split, which sized its tables by the shard count (0/2000000000 ran out of
  // memory); each shard held one sample at most.
  o.partition = "iid";
  for (int index : {0, 39}) {
    o.shard = std::to_string(index) + "/40";
    auto loaded = load_training_data(o, ml::ShardSpec{index, 40}, ml::Partition{});
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().message ==
          "--shard " + o.shard + ": 40 shards of 30 training samples leave at most one sample a shard; give N <= 30");
  }
}

TEST_CASE("Fashion-MNIST: a peer's shard loads as the same bits as the whole set cut to it", "[apps][training][fashion]") {
  if (!std::filesystem::exists(std::string(ml::kDebianDatasetsDir) + "/fashion-mnist")) {
    WARN("skipped: Debian's dataset-fashion-mnist package is not installed");
    return;
  }
  TrainingOptions o;
  o.shard = "1/4";
  auto loaded = load_training_data(o, ml::ShardSpec{1, 4}, ml::Partition{});
  REQUIRE(loaded.ok());
  CHECK(loaded->data.train.size() == 15000);
  check_same_data(*loaded, float_path(o), 0.0f);
}

TEST_CASE("peers whose files hold different labels build one model when given the classes", "[apps][training]") {
  // A volunteer's file of labels {3, 7} next to a neighbour's 0..9: mapped in
  // sorted order per file, the first trained 3 and 7 as outputs 0 and 1 and
  // the gossip averaged models that disagreed on every output, in silence.
  test::TempDir dir;
  auto write_csv = [&](const std::string& name, const std::vector<int>& labels) {
    std::ofstream out(dir.file(name));
    for (int i = 0; i < 40; ++i) out << labels[std::size_t(i) % labels.size()] << "," << i << "," << -i << "\n";
    return dir.file(name);
  };
  const std::string few = write_csv("few.csv", {3, 7});
  const std::string all = write_csv("all.csv", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  TrainingOptions o;
  o.model = "linear";
  o.classes = 10;
  for (const std::string& data : {few, all}) {
    INFO(data);
    o.data = data;
    auto setup = prepare_training(o);
    REQUIRE(setup.ok());
    CHECK(setup->model->classes() == 10);
    CHECK(setup->label_warning.empty());  // the classes were given: a file lacking some is expected
    for (std::int32_t label : setup->data.train.labels) {
      if (data == few) CHECK((label == 3 || label == 7));
    }
  }
  // Without it, the file decides (the largest label + 1) and says that most outputs never train.
  o.classes = 0;
  o.data = few;
  auto alone = prepare_training(o);
  REQUIRE(alone.ok());
  CHECK(alone->model->classes() == 8);
  CHECK(alone->label_warning.find("give the number of classes with --classes") != std::string::npos);

  o.classes = 5;
  auto small = prepare_training(o);
  REQUIRE(!small.ok());
  CHECK(small.error().kind == ErrorKind::invalid_argument);
  CHECK(small.error().message == few + ":2: label '7' does not fit the 5 classes of the model (labels 0 to 4)");
  o.classes = 1;
  auto one = prepare_training(o);
  REQUIRE(!one.ok());
  CHECK(one.error().message.find("--classes 1") != std::string::npos);

  // IDX: the same, through the probe a peer builds its model from.
  test::write_plain(dir.file("train-images-idx3-ubyte"), test::idx_images(6, 2, 2));
  test::write_plain(dir.file("train-labels-idx1-ubyte"), test::idx_labels(6, 3));
  test::write_plain(dir.file("t10k-images-idx3-ubyte"), test::idx_images(2, 2, 2));
  test::write_plain(dir.file("t10k-labels-idx1-ubyte"), test::idx_labels(2, 3));
  o.data = dir.path.string();
  o.classes = 10;
  auto probed = ml::probe_dataset(o.data, o.classes);
  REQUIRE(probed.ok());
  REQUIRE(probed->has_value());
  auto loaded = load_training_data(o, ml::ShardSpec{}, ml::Partition{});
  REQUIRE(loaded.ok());
  CHECK(shape_of(*loaded) == **probed);
  CHECK((*probed)->classes == 10);
  CHECK(check_shape(*loaded, **probed).ok());
}

TEST_CASE("features that overflow float when standardised are refused at load, naming the file", "[apps][training]") {
  // 3e38 and -3e38 fit a float, but centring them on the training set's mean
  // overflows: training failed with "loss is -nan at step 0 (try a smaller
  // --lr)", advice that could never help.
  test::TempDir dir;
  const std::string file = dir.file("huge.csv");
  std::ofstream(file) << "1,3e38,3e38\n0,-3e38,-3e38\n1,3e38,3e38\n0,-3e38,-3e38\n";
  TrainingOptions o;
  o.data = file;
  auto loaded = load_training_data(o, ml::ShardSpec{}, ml::Partition{});
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message.find("--data '" + file + "': feature values too large to standardise in float") !=
        std::string::npos);

  // Large but standardisable values still load.
  std::ofstream(file) << "1,1e30,1e30\n0,-1e30,-1e30\n1,1e30,1e30\n0,-1e30,-1e30\n";
  loaded = load_training_data(o, ml::ShardSpec{}, ml::Partition{});
  REQUIRE(loaded.ok());
  CHECK(ml::first_non_finite_feature(loaded->data.train).empty());
}
