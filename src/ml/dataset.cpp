// Dataset basics, resolving --data, the train/test split of single-file data
// sets, and standardisation.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "shuffle.h"
#include "standardization.h"
#include "starling/ml/byte_dataset.h"
#include "starling/ml/dataset.h"
#include "starling/text.h"

namespace starling::ml {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// DATASETS_DIR/NAME, or not_found naming the Debian package to install.
Result<std::string> debian_dataset_folder(const std::string& name, const std::string& datasets_dir) {
  std::string folder = datasets_dir + "/" + name;
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) {
    if (name == "fashion-mnist") {
      return make_error(ErrorKind::not_found,
                        "data set 'fashion-mnist' not found in " + folder +
                            ": install Debian's dataset-fashion-mnist package "
                            "(sudo apt-get install dataset-fashion-mnist)");
    }
    // Debian ships no MNIST package (only dataset-fashion-mnist).
    return make_error(ErrorKind::not_found,
                      "data set " + quoted_text(name) + " not found: " + folder +
                          " is missing and no Debian package provides it; put the four IDX files "
                          "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] in a folder and pass --data FOLDER");
  }
  return folder;
}

// The IDX folder `spec` names (Debian's data sets by name, or a folder);
// nullopt when it names something else (a file, or nothing).
Result<std::optional<std::string>> idx_folder_of(const std::string& spec) {
  if (is_named_dataset(spec)) {
    auto folder = debian_dataset_folder(spec, kDebianDatasetsDir);
    if (!folder) return folder.error();
    return std::optional<std::string>(std::move(*folder));
  }
  std::error_code ec;
  if (std::filesystem::is_directory(spec, ec)) return std::optional<std::string>(spec);
  return std::optional<std::string>();
}

}  // namespace

bool is_named_dataset(std::string_view spec) { return spec == "fashion-mnist" || spec == "mnist"; }

Dataset Dataset::subset(const std::vector<std::size_t>& indices) const {
  Dataset out;
  out.classes = classes;
  out.features.resize(features.rows(), Eigen::Index(indices.size()));
  out.labels.resize(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    STARLING_ASSERT(indices[i] < size());
    out.features.col(Eigen::Index(i)) = features.col(Eigen::Index(indices[i]));
    out.labels[i] = labels[indices[i]];
  }
  return out;
}


std::string label_warning(const std::vector<std::int32_t>& train, const std::vector<std::int32_t>& test,
                          int classes, bool classes_given) {
  if (classes <= 0) return {};
  std::vector<std::size_t> examples(std::size_t(classes), 0);
  for (const auto* labels : {&train, &test}) {
    for (std::int32_t label : *labels) {
      STARLING_ASSERT(label >= 0 && label < classes);
      ++examples[std::size_t(label)];
    }
  }
  const auto present = std::size_t(std::count_if(examples.begin(), examples.end(), [](auto n) { return n > 0; }));
  const auto singles = std::size_t(std::count(examples.begin(), examples.end(), std::size_t{1}));
  const auto all = std::size_t(classes);
  // Of the classes present: a label is its class, so a column of ids (1000,
  // 1001, ...) also leaves most of 0..max empty, and this is what it is.
  if (present > 2 && singles * 2 > present) {
    return std::to_string(singles) + " of the " + std::to_string(present) +
           " classes have a single example among " + std::to_string(train.size() + test.size()) +
           " samples: is the first field of each line the label, not an id or a measurement?";
  }
  if (!classes_given && present * 2 < all) {
    return "the labels run from 0 to " + std::to_string(classes - 1) + " but only " + std::to_string(present) +
           " of those " + std::to_string(classes) + " classes have an example: the model gets " +
           std::to_string(classes) + " outputs, " + std::to_string(all - present) +
           " of them never trained (a label is its class: if these are all the classes, number them 0.." +
           std::to_string(present - 1) + "; if other files, such as other peers', hold the rest, give the "
           "number of classes with --classes)";
  }
  return {};
}

Result<TrainTest> load_debian_dataset(const std::string& name, const std::string& datasets_dir) {
  auto folder = debian_dataset_folder(name, datasets_dir);
  if (!folder) return folder.error();
  return load_idx_folder(*folder);
}

Result<TrainTest> split_train_test(const Dataset& all, double test_fraction, std::uint64_t seed) {
  if (!(test_fraction > 0.0 && test_fraction < 1.0)) {
    return make_error(ErrorKind::invalid_argument,
                      "test fraction must be in (0, 1), got " + std::to_string(test_fraction));
  }
  if (all.size() < 2) {
    return make_error(ErrorKind::invalid_argument,
                      "cannot split " + std::to_string(all.size()) + " sample(s) into training and test sets");
  }
  std::vector<std::size_t> order(all.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937_64 rng(seed);
  detail::seeded_shuffle(order, rng);
  // At least one sample on each side.
  auto test_count = std::size_t(std::llround(test_fraction * double(all.size())));
  test_count = std::clamp<std::size_t>(test_count, 1, all.size() - 1);
  std::vector<std::size_t> test(order.begin(), order.begin() + std::ptrdiff_t(test_count));
  std::vector<std::size_t> train(order.begin() + std::ptrdiff_t(test_count), order.end());
  std::sort(test.begin(), test.end());  // keep the file's order within each side
  std::sort(train.begin(), train.end());
  return TrainTest{all.subset(train), all.subset(test)};
}

Result<TrainTest> load_dataset(const std::string& spec, std::uint64_t seed, double test_fraction, int classes) {
  auto folder = idx_folder_of(spec);
  if (!folder) return folder.error();
  if (*folder) return load_idx_folder(**folder, classes);
  auto all = load_data_file(spec, classes);
  if (!all) return all.error();
  return split_train_test(*all, test_fraction, seed);
}

Result<Dataset> load_data_file(const std::string& spec, int classes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(spec, ec)) {
    return make_error(ErrorKind::not_found,
                      "--data " + quoted_text(spec) + " is neither a known data set (fashion-mnist, mnist) nor an existing "
                                          "folder or file");
  }
  std::string name = spec;
  if (ends_with(name, ".gz")) name.resize(name.size() - 3);
  if (ends_with(name, ".csv")) return load_csv(spec, classes);
  if (ends_with(name, ".libsvm") || ends_with(name, ".svm")) return load_libsvm(spec, 0, classes);
  return make_error(ErrorKind::invalid_argument,
                    "--data " + quoted_text(spec) + ": unknown file type (expected .csv, .libsvm or .svm, optionally .gz, "
                                        "or a folder of IDX files)");
}

Result<std::optional<DatasetShape>> probe_dataset(const std::string& spec, int classes) {
  auto folder = idx_folder_of(spec);
  if (!folder) return folder.error();
  if (*folder) return probe_idx_folder(**folder, classes);
  return std::optional<DatasetShape>();
}

Result<std::optional<ByteTrainTest>> load_dataset_bytes(const std::string& spec, int classes) {
  auto folder = idx_folder_of(spec);
  if (!folder) return folder.error();
  if (!*folder) return std::optional<ByteTrainTest>();
  auto bytes = load_idx_folder_bytes(**folder, classes);
  if (!bytes) return bytes.error();
  return std::optional<ByteTrainTest>(std::move(*bytes));
}

std::pair<float, float> standardize(TrainTest& data) {
  const Eigen::MatrixXf& train = data.train.features;
  double sum = 0.0;
  double sum_squares = 0.0;
  for (Eigen::Index c = 0; c < train.cols(); ++c) {
    // In double: 47M pixels summed in float would lose digits.
    const auto column = train.col(c).cast<double>();
    sum += column.sum();
    sum_squares += column.squaredNorm();
  }
  const Standardization s = detail::standardization_from_sums(double(train.size()), sum, sum_squares);
  for (Dataset* part : {&data.train, &data.test}) {
    part->features.array() = (part->features.array() - s.mean) * s.scale;
  }
  return {s.mean, s.deviation};
}

std::string first_non_finite_feature(const Dataset& data) {
  const Eigen::MatrixXf& features = data.features;  // inputs x samples
  if (features.allFinite()) return {};
  for (Eigen::Index sample = 0; sample < features.cols(); ++sample) {
    for (Eigen::Index feature = 0; feature < features.rows(); ++feature) {
      const float value = features(feature, sample);
      if (!std::isfinite(value)) {
        return "feature " + std::to_string(feature + 1) + " of sample " + std::to_string(sample + 1) + " is " +
               (std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf");
      }
    }
  }
  return {};
}

}  // namespace starling::ml
