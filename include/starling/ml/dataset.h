// Data sets, loaders, partitioning and minibatches. Features are stored
// column-major, one sample per column, so a minibatch is a gather of contiguous
// columns and feeds the model's GEMMs directly.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "starling/status.h"

namespace starling::ml {

struct Dataset {
  Eigen::MatrixXf features;           // inputs x samples
  std::vector<std::int32_t> labels;   // one per sample, in [0, classes)
  int classes = 0;

  int inputs() const { return int(features.rows()); }
  std::size_t size() const { return labels.size(); }
  // The samples at `indices`, in that order.
  Dataset subset(const std::vector<std::size_t>& indices) const;
};

struct TrainTest {
  Dataset train;
  Dataset test;
};

// The most classes a data set may have. IDX labels are bytes (at most 256
// classes); a CSV or libsvm label from this one up is refused (a column of
// ids taken for labels made a class per sample).
inline constexpr int kMaxClasses = 65536;

// A label is its class, in every format: 0, 1, 2 ... as written (-1/+1 in
// CSV and libsvm: 0 and 1), so a class means the same in every file. A data
// set has as many classes as its largest label + 1, or, when the loader is
// given `classes` > 0 (`--classes N`, a checkpoint's model), exactly that
// many: then a label from `classes` up is an error (invalid_argument) naming
// it and its line (IDX: its sample), and classes no file holds are outputs
// the model has anyway (the peers of a swarm must all have the same).

// Labels that look like a mistake rather than a classification task, as a
// sentence for the user; "" when they look fine. Over train and test together:
// - most classes that have an example have only one (a column of ids read as
//   labels);
// - most of the classes 0..classes-1 have no example (IDX labels {0, 255}
//   make a model of 256 outputs, 254 of them never trained), unless
//   `classes_given`: the number was asked for, and a peer's own file lacking
//   some of the swarm's classes is expected.
// A contiguous set such as Fashion-MNIST's 0..9 gives "".
std::string label_warning(const std::vector<std::int32_t>& train, const std::vector<std::int32_t>& test, int classes,
                          bool classes_given = false);

// IDX (MNIST/Fashion-MNIST) image + label files, gzipped or not (zlib reads
// both). Pixels are scaled to [0, 1]. Errors: not_found, corrupt (bad magic,
// header, truncated body, image/label count mismatch, label >= 256).
Result<Dataset> load_idx(const std::string& images_path, const std::string& labels_path);

// A folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; both
// sides get the same classes (`classes`, or the largest label of either + 1).
Result<TrainTest> load_idx_folder(const std::string& folder, int classes = 0);

// What a model for a data set needs to know of it: the width of a sample and
// the number of classes (the largest label of either side, plus one).
struct DatasetShape {
  int inputs = 0;
  int classes = 0;
  bool operator==(const DatasetShape&) const = default;
};

// The shape of an IDX folder from its image headers and label files, without
// decompressing the images (a few ms for Fashion-MNIST, whose full load takes
// about 0.5 s). The same errors as load_idx_folder for missing files, bad
// headers and count mismatches. nullopt when an image file's size does not
// bear out its header (a plain file's length, a gzip file's trailer): a
// model must not be built from a claim the body may not back, so the caller
// loads the data to find out. A body damaged inside shows only on the load.
Result<std::optional<DatasetShape>> probe_idx_folder(const std::string& folder, int classes = 0);

// Text formats. CSV: one sample per line, label first, then features; a first
// line that does not parse as numbers is taken as a header. libsvm: "label
// index:value ..." with 1-based indices. Labels are whole numbers (a fraction
// is corrupt: a feature in the label's place), each its class as above:
// 0, 1, 2 ..., or -1 and +1 for two classes (-1 is class 0, +1 class 1, and a
// file holding -1 has 2 classes). Corrupt at the line: another negative label,
// -1 in a file that also holds 0 or a label from 2 up. A label from
// kMaxClasses up is unsupported. `inputs` = 0 infers the width (libsvm: max
// index); `classes` as above.
Result<Dataset> load_csv(const std::string& path, int classes = 0);
Result<Dataset> load_libsvm(const std::string& path, int inputs = 0, int classes = 0);

// The share of a single-file data set (CSV, libsvm) held out as its test set.
inline constexpr double kTestFraction = 0.1;

// Whether --data names one of the data sets known by name ("fashion-mnist",
// "mnist"), rather than a folder or a file.
bool is_named_dataset(std::string_view spec);

// Resolves the --data argument: "fashion-mnist" or "mnist" (Debian's packages
// under /usr/share/datasets), a folder of IDX files, or a .csv/.libsvm/.svm
// file (split `test_fraction` off as the test set, reproducibly by `seed`,
// after the labels are read: both sides share the classes). `classes` as
// above.
Result<TrainTest> load_dataset(const std::string& spec, std::uint64_t seed = 1, double test_fraction = kTestFraction,
                               int classes = 0);
// One .csv/.libsvm/.svm file (optionally .gz) whole, in its own order, not
// split: load_dataset's file branch before the split. `spec` must be such a
// file (not a folder or a known data set's name).
Result<Dataset> load_data_file(const std::string& spec, int classes = 0);

// The shape of what load_dataset(spec, ..., classes) would load, read cheaply
// where the format allows (IDX folders and Debian's data sets); nullopt for
// the text formats, whose width and classes are known only once every line is
// parsed. The errors load_dataset would give for a missing data set.
Result<std::optional<DatasetShape>> probe_dataset(const std::string& spec, int classes = 0);

// Where Debian's dataset-* packages put their files.
inline constexpr const char* kDebianDatasetsDir = "/usr/share/datasets";

// A named data set from DATASETS_DIR/NAME (IDX files). When the folder is
// missing: not_found, saying which Debian package to install.
Result<TrainTest> load_debian_dataset(const std::string& name, const std::string& datasets_dir = kDebianDatasetsDir);

// Splits one data set in two, reproducibly by `seed`; 0 < test_fraction < 1,
// and each side gets at least one sample (invalid_argument otherwise).
Result<TrainTest> split_train_test(const Dataset& all, double test_fraction, std::uint64_t seed);

// Standardises features with one mean and standard deviation computed over the
// training set (applied to both), as the PyTorch reference does. Returns them.
std::pair<float, float> standardize(TrainTest& data);

// Empty when every feature of `data` is finite, else where the first one is
// not ("feature 2 of sample 17 is -inf"). Standardising in float can make a
// finite value infinite (3e38 minus a mean of -1e38 overflows), which
// training would only show as a NaN loss at its first step: the loaders
// refuse such data instead (apps/training_options.cpp, `starling eval`).
std::string first_non_finite_feature(const Dataset& data);

// Which samples a peer trains on: --shard I/N --partition iid|dirichlet:ALPHA.
struct Partition {
  enum class Kind { iid, dirichlet } kind = Kind::iid;
  double alpha = 0.0;  // Dirichlet concentration (smaller = more label skew)

  static Result<Partition> parse(const std::string& text);
  std::string to_string() const;
};

struct ShardSpec {
  int index = 0;  // 0-based
  int count = 1;
  static Result<ShardSpec> parse(const std::string& text);  // "I/N", 0 <= I < N
};

// Indices of shard `shard.index` of `shard.count`, reproducible from `seed`:
// every peer computing the split with the same seed gets disjoint shards that
// cover the data set. IID: a seeded shuffle cut in N near-equal parts.
// Dirichlet(alpha): per class, proportions drawn from Dir(alpha) over shards.
std::vector<std::size_t> shard_indices(const Dataset& data, const ShardSpec& shard, const Partition& partition,
                                       std::uint64_t seed);

// The largest minibatch a command or scenario file may ask for (`--batch`,
// `[swarm] batch`).
inline constexpr int kMaxBatch = 1 << 20;

// Shuffling minibatch iterator over a data set (or a shard of one). Each epoch
// is a fresh seeded permutation; the last partial batch of an epoch is kept.
// A batch size above the samples it has takes all of them per batch, and its
// buffer holds at most that many (a huge --batch on a small set costs nothing).
class Batcher {
 public:
  Batcher(const Dataset& data, std::vector<std::size_t> indices, int batch_size, std::uint64_t seed);

  // Gathers the next batch into features()/labels(); returns its size.
  int next();
  // Moves past `batches` batches without gathering them, to where next()
  // called as often would be: a resumed run (`train --resume`) continues
  // its epoch's order instead of starting the first epoch's again.
  void skip(std::int64_t batches);
  const Eigen::MatrixXf& features() const { return features_; }
  const std::int32_t* labels() const { return labels_.data(); }
  std::uint64_t epoch() const { return epoch_; }
  std::size_t position() const { return position_; }  // within the current epoch
  std::size_t size() const { return indices_.size(); }
  int batch_size() const { return batch_size_; }

 private:
  void reshuffle();
  // Starts the next epoch if this one is done; the next batch's size.
  int advance();

  const Dataset& data_;
  std::vector<std::size_t> indices_;
  int batch_size_;
  std::mt19937_64 rng_;
  std::uint64_t epoch_ = 0;
  std::size_t position_ = 0;
  Eigen::MatrixXf features_;
  std::vector<std::int32_t> labels_;
};

}  // namespace starling::ml
