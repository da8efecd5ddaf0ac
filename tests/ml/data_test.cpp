// Data sets: IDX/CSV/libsvm loaders on small files made here, partitions,
// shards and the minibatch iterator. One test ([fashion]) reads the real
// Fashion-MNIST from Debian's package when it is installed.
#include <arpa/inet.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <numeric>
#include <set>

#include "idx_files.h"
#include "starling/ml/dataset.h"

namespace fs = std::filesystem;
using namespace starling;
using namespace starling::ml;
using namespace starling::test;

namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

// Labels 0..classes-1, `per_class` samples each, one input holding the index.
Dataset labelled(int classes, int per_class) {
  Dataset data;
  data.classes = classes;
  const int n = classes * per_class;
  data.features.resize(3, n);
  for (int i = 0; i < n; ++i) {
    data.features.col(i).setConstant(float(i));
    data.labels.push_back(std::int32_t(i % classes));
  }
  return data;
}

std::vector<std::vector<std::size_t>> all_shards(const Dataset& data, int count, const Partition& partition,
                                                  std::uint64_t seed) {
  std::vector<std::vector<std::size_t>> out;
  for (int i = 0; i < count; ++i) out.push_back(shard_indices(data, ShardSpec{i, count}, partition, seed));
  return out;
}

void require_disjoint_cover(const std::vector<std::vector<std::size_t>>& shards, std::size_t samples) {
  std::vector<int> seen(samples, 0);
  for (const auto& shard : shards) {
    REQUIRE(!shard.empty());
    for (std::size_t index : shard) {
      REQUIRE(index < samples);
      ++seen[index];
    }
  }
  REQUIRE(std::all_of(seen.begin(), seen.end(), [](int times) { return times == 1; }));
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The four IDX files of a folder: training set gzipped, test set plain.
void write_idx_folder(const TempDir& dir, std::uint32_t rows, std::uint32_t cols) {
  write_gz(dir.file("train-images-idx3-ubyte.gz"), idx_images(6, rows, cols));
  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_labels(6, 3));
  write_plain(dir.file("t10k-images-idx3-ubyte"), idx_images(2, rows, cols));
  write_plain(dir.file("t10k-labels-idx1-ubyte"), idx_labels(2, 2));
}

}  // namespace

TEST_CASE("IDX round trip of a tiny file, gzipped and plain alike", "[data][idx]") {
  TempDir dir;
  const auto images = idx_images(5, 2, 3);
  const auto labels = idx_labels(5, 3);
  write_plain(dir.file("images"), images);
  write_plain(dir.file("labels"), labels);
  write_gz(dir.file("images.gz"), images);
  write_gz(dir.file("labels.gz"), labels);

  auto plain = load_idx(dir.file("images"), dir.file("labels"));
  REQUIRE(plain.ok());
  REQUIRE(plain->size() == 5);
  REQUIRE(plain->inputs() == 6);
  REQUIRE(plain->classes == 3);
  REQUIRE(plain->labels == std::vector<std::int32_t>{0, 1, 2, 0, 1});
  // Sample s, pixel p is body byte s*6+p, scaled to [0, 1].
  for (int s = 0; s < 5; ++s) {
    for (int p = 0; p < 6; ++p) {
      const int byte = ((s * 6 + p) * 7 + 3) % 256;
      REQUIRE(plain->features(p, s) == Approx(byte / 255.0f));
    }
  }
  REQUIRE(plain->features.minCoeff() >= 0.0f);
  REQUIRE(plain->features.maxCoeff() <= 1.0f);

  auto gz = load_idx(dir.file("images.gz"), dir.file("labels.gz"));
  REQUIRE(gz.ok());
  REQUIRE(gz->features == plain->features);
  REQUIRE(gz->labels == plain->labels);
}

TEST_CASE("IDX errors: truncated body, bad magic, count mismatch, missing file", "[data][idx]") {
  TempDir dir;
  const auto images = idx_images(4, 2, 2);
  write_plain(dir.file("labels"), idx_labels(4, 2));

  SECTION("truncated body, plain and gzipped") {
    auto cut = images;
    cut.pop_back();
    write_plain(dir.file("cut"), cut);
    write_gz(dir.file("cut.gz"), cut);
    for (const char* name : {"cut", "cut.gz"}) {
      auto result = load_idx(dir.file(name), dir.file("labels"));
      REQUIRE(!result.ok());
      REQUIRE(result.error().kind == ErrorKind::corrupt);
      REQUIRE(contains(result.error().message, "truncated"));
    }
  }
  SECTION("a gzip stream cut short") {
    write_gz(dir.file("whole.gz"), images);
    const auto size = fs::file_size(dir.file("whole.gz"));
    fs::copy_file(dir.file("whole.gz"), dir.file("cut.gz"));
    fs::resize_file(dir.file("cut.gz"), size - 10);  // loses the gzip trailer and some data
    auto result = load_idx(dir.file("cut.gz"), dir.file("labels"));
    REQUIRE(!result.ok());
    REQUIRE(result.error().kind == ErrorKind::corrupt);
  }
  SECTION("truncated header") {
    write_plain(dir.file("short"), std::vector<std::uint8_t>(images.begin(), images.begin() + 7));
    auto result = load_idx(dir.file("short"), dir.file("labels"));
    REQUIRE(!result.ok());
    REQUIRE(result.error().kind == ErrorKind::corrupt);
  }
  SECTION("bad magic: labels file given as images") {
    auto result = load_idx(dir.file("labels"), dir.file("labels"));
    REQUIRE(!result.ok());
    REQUIRE(result.error().kind == ErrorKind::corrupt);
    REQUIRE(contains(result.error().message, "magic 0x00000801"));
  }
  SECTION("a lying header does not allocate what it announces") {
    std::vector<std::uint8_t> lie;
    put_u32(lie, 0x803);
    put_u32(lie, 0xffffffffu);
    put_u32(lie, 0xffffffffu);
    put_u32(lie, 1);
    write_plain(dir.file("lie"), lie);
    auto result = load_idx(dir.file("lie"), dir.file("labels"));
    REQUIRE(!result.ok());
    REQUIRE(result.error().kind == ErrorKind::corrupt);
  }
  SECTION("trailing data") {
    auto longer = images;
    longer.push_back(0);
    write_plain(dir.file("long"), longer);
    auto result = load_idx(dir.file("long"), dir.file("labels"));
    REQUIRE(!result.ok());
    REQUIRE(result.error().kind == ErrorKind::corrupt);
  }
  SECTION("image and label counts differ") {
    write_plain(dir.file("images"), images);
    write_plain(dir.file("labels3"), idx_labels(3, 2));
    auto result = load_idx(dir.file("images"), dir.file("labels3"));
    REQUIRE(!result.ok());
    REQUIRE(result.error().kind == ErrorKind::corrupt);
    REQUIRE(contains(result.error().message, "4 images but"));
  }
  SECTION("garbage that is not gzip is read as plain bytes and fails the magic check") {
    write_text(dir.file("text"), "hello, this is not an IDX file");
    auto result = load_idx(dir.file("text"), dir.file("labels"));
    REQUIRE(!result.ok());
    REQUIRE(result.error().kind == ErrorKind::corrupt);
  }
  SECTION("missing file") {
    auto result = load_idx(dir.file("nope"), dir.file("labels"));
    REQUIRE(!result.ok());
    REQUIRE(result.error().kind == ErrorKind::not_found);
    REQUIRE(contains(result.error().message, "nope"));
  }
}

TEST_CASE("IDX folder and --data resolution", "[data][idx]") {
  TempDir dir;
  write_idx_folder(dir, 2, 2);

  auto data = load_dataset(dir.path.string());
  REQUIRE(data.ok());
  REQUIRE(data->train.size() == 6);
  REQUIRE(data->test.size() == 2);
  REQUIRE(data->train.classes == 3);
  REQUIRE(data->test.classes == 3);  // the union of both splits

  auto unknown = load_dataset(dir.file("no-such-thing"));
  REQUIRE(!unknown.ok());
  REQUIRE(unknown.error().kind == ErrorKind::not_found);
  REQUIRE(contains(unknown.error().message, "neither a known data set"));

  write_text(dir.file("data.bin"), "x");
  auto bad_type = load_dataset(dir.file("data.bin"));
  REQUIRE(!bad_type.ok());
  REQUIRE(bad_type.error().kind == ErrorKind::invalid_argument);

  TempDir empty;
  auto missing_package = load_debian_dataset("fashion-mnist", empty.path.string());
  REQUIRE(!missing_package.ok());
  REQUIRE(missing_package.error().kind == ErrorKind::not_found);
  REQUIRE(contains(missing_package.error().message,
                   "install Debian's dataset-fashion-mnist package (sudo apt-get install dataset-fashion-mnist)"));
  auto missing_mnist = load_debian_dataset("mnist", empty.path.string());
  REQUIRE(!missing_mnist.ok());
  REQUIRE(missing_mnist.error().kind == ErrorKind::not_found);

  auto missing_files = load_idx_folder(empty.path.string());
  REQUIRE(!missing_files.ok());
  REQUIRE(missing_files.error().kind == ErrorKind::not_found);
}

TEST_CASE("probing an IDX folder gives the shape its load has, without reading the images", "[data][idx]") {
  TempDir dir;
  write_idx_folder(dir, 2, 3);

  auto probed = probe_dataset(dir.path.string());
  REQUIRE(probed.ok());
  REQUIRE(probed->has_value());
  auto loaded = load_dataset(dir.path.string());
  REQUIRE(loaded.ok());
  CHECK(**probed == DatasetShape{loaded->train.inputs(), loaded->train.classes});
  CHECK((*probed)->inputs == 6);
  CHECK((*probed)->classes == 3);  // the larger of the two sides' label ranges, as the load has it

  // A test set with a class the training set lacks widens the shape too.
  auto wide_labels = idx_labels(2, 2);
  wide_labels.back() = 4;
  write_plain(dir.file("t10k-labels-idx1-ubyte"), wide_labels);
  auto wider = probe_dataset(dir.path.string());
  REQUIRE(wider.ok());
  CHECK((*wider)->classes == 5);
  REQUIRE(load_dataset(dir.path.string())->train.classes == 5);

  // A file shorter than its header says (gzipped or plain) gives no shape:
  // the header's claim is not enough to build a model of its width.
  auto short_images = idx_images(6, 2, 3);
  short_images.erase(short_images.end() - 5, short_images.end());
  write_gz(dir.file("train-images-idx3-ubyte.gz"), short_images);
  auto cut = probe_dataset(dir.path.string());
  REQUIRE(cut.ok());
  CHECK(!cut->has_value());
  auto truncated = load_dataset(dir.path.string());
  REQUIRE(!truncated.ok());
  CHECK(contains(truncated.error().message, "truncated IDX body"));
  write_gz(dir.file("train-images-idx3-ubyte.gz"), idx_images(6, 2, 3));
  auto long_test = idx_images(2, 2, 3);
  long_test.push_back(7);
  write_plain(dir.file("t10k-images-idx3-ubyte"), long_test);
  auto longer = probe_dataset(dir.path.string());
  REQUIRE(longer.ok());
  CHECK(!longer->has_value());
  write_plain(dir.file("t10k-images-idx3-ubyte"), idx_images(2, 2, 3));
  REQUIRE(probe_dataset(dir.path.string())->has_value());
  // A header announcing a huge image in a tiny file (a model of a billion
  // inputs would be built from it) is not taken at its word either.
  {
    TempDir lying;
    auto huge = idx_images(1, 1, 1);
    huge[8] = huge[9] = 0x7f;  // rows 0x7f7f0001: 2.1e9 pixels per image, one byte of body
    write_plain(lying.file("train-images-idx3-ubyte"), huge);
    write_plain(lying.file("t10k-images-idx3-ubyte"), huge);
    write_plain(lying.file("train-labels-idx1-ubyte"), idx_labels(1, 2));
    write_plain(lying.file("t10k-labels-idx1-ubyte"), idx_labels(1, 2));
    auto claimed = probe_dataset(lying.path.string());
    REQUIRE(claimed.ok());
    CHECK(!claimed->has_value());
  }

  // What the headers and labels can tell, the probe refuses as the load does.
  write_gz(dir.file("train-images-idx3-ubyte.gz"), idx_images(5, 2, 3));
  auto mismatch = probe_dataset(dir.path.string());
  REQUIRE(!mismatch.ok());
  CHECK(mismatch.error().kind == ErrorKind::corrupt);
  CHECK(contains(mismatch.error().message, "5 images"));
  write_gz(dir.file("train-images-idx3-ubyte.gz"), idx_images(6, 3, 3));
  auto widths = probe_dataset(dir.path.string());
  REQUIRE(!widths.ok());
  CHECK(contains(widths.error().message, "9 pixels, test images 6"));
  std::filesystem::remove(dir.file("t10k-labels-idx1-ubyte"));
  auto missing = probe_dataset(dir.path.string());
  REQUIRE(!missing.ok());
  CHECK(missing.error().kind == ErrorKind::not_found);

  // Text formats have no header: nullopt (the caller loads them whole).
  write_text(dir.file("data.csv"), "0,1.0\n1,2.0\n");
  auto text = probe_dataset(dir.file("data.csv"));
  REQUIRE(text.ok());
  CHECK(!text->has_value());
  TempDir empty;
  CHECK(probe_dataset(empty.file("nothing")).ok());  // not found is the load's to say, with its own message
}

TEST_CASE("CSV: header, values, labels, errors with line numbers", "[data][csv]") {
  TempDir dir;
  SECTION("with a header") {
    write_text(dir.file("a.csv"), "label,x,y\r\n7,0.5,-1\n\n2,1e-3,+2\n7, 3 ,4\n");
    auto data = load_csv(dir.file("a.csv"));
    REQUIRE(data.ok());
    REQUIRE(data->size() == 3);
    REQUIRE(data->inputs() == 2);
    REQUIRE(data->classes == 8);  // a label is its class: 0..7
    REQUIRE(data->labels == std::vector<std::int32_t>{7, 2, 7});
    REQUIRE(data->features(0, 0) == 0.5f);
    REQUIRE(data->features(1, 0) == -1.0f);
    REQUIRE(data->features(0, 1) == Approx(1e-3f));
    REQUIRE(data->features(1, 1) == 2.0f);
    REQUIRE(data->features(0, 2) == 3.0f);
  }
  SECTION("without a header") {
    write_text(dir.file("b.csv"), "0,1,2\n1,3,4");
    auto data = load_csv(dir.file("b.csv"));
    REQUIRE(data.ok());
    REQUIRE(data->size() == 2);
    REQUIRE(data->features(1, 1) == 4.0f);
  }
  SECTION("inconsistent columns name the line") {
    write_text(dir.file("c.csv"), "label,x,y\n0,1,2\n1,3,4\n\n1,5\n");
    auto data = load_csv(dir.file("c.csv"));
    REQUIRE(!data.ok());
    REQUIRE(data.error().kind == ErrorKind::corrupt);
    REQUIRE(contains(data.error().message, dir.file("c.csv") + ":5: "));
  }
  SECTION("NaN and Inf are rejected, also on the first line") {
    write_text(dir.file("d.csv"), "0,1,2\n1,nan,4\n");
    auto data = load_csv(dir.file("d.csv"));
    REQUIRE(!data.ok());
    REQUIRE(contains(data.error().message, "d.csv:2: "));
    REQUIRE(contains(data.error().message, "not finite"));
    write_text(dir.file("e.csv"), "0,inf,2\n1,3,4\n");
    data = load_csv(dir.file("e.csv"));
    REQUIRE(!data.ok());
    REQUIRE(contains(data.error().message, "e.csv:1: "));
    write_text(dir.file("f.csv"), "0,1e999,2\n");
    REQUIRE(!load_csv(dir.file("f.csv")).ok());
  }
  SECTION("garbage after the header") {
    write_text(dir.file("g.csv"), "a,b\n0,1\n1,x1\n");
    auto data = load_csv(dir.file("g.csv"));
    REQUIRE(!data.ok());
    REQUIRE(contains(data.error().message, "g.csv:3: column 2: 'x1' is not a number"));
  }
  SECTION("a UTF-8 byte order mark is not part of the first line") {
    // With the mark, the first sample looked like a header and was dropped.
    write_text(dir.file("bom.csv"), "\xEF\xBB\xBF" "0,1,2\n1,3,4\n");
    auto data = load_csv(dir.file("bom.csv"));
    REQUIRE(data.ok());
    REQUIRE(data->size() == 2);
    REQUIRE(data->features(0, 0) == 1.0f);
    write_text(dir.file("bom-header.csv"), "\xEF\xBB\xBF" "label,x\n0,1\n1,2\n");
    data = load_csv(dir.file("bom-header.csv"));
    REQUIRE(data.ok());
    REQUIRE(data->size() == 2);
  }
  SECTION("empty and header-only files") {
    write_text(dir.file("h.csv"), "");
    REQUIRE(load_csv(dir.file("h.csv")).error().kind == ErrorKind::corrupt);
    write_text(dir.file("i.csv"), "label,x\n");
    REQUIRE(load_csv(dir.file("i.csv")).error().kind == ErrorKind::corrupt);
  }
}

TEST_CASE("libsvm: sparse rows, -1/+1 labels, index errors", "[data][libsvm]") {
  TempDir dir;
  write_text(dir.file("a.svm"), "+1 1:0.5 3:2 # comment\n-1 2:-1\n\n+1\n");
  auto data = load_libsvm(dir.file("a.svm"));
  REQUIRE(data.ok());
  REQUIRE(data->size() == 3);
  REQUIRE(data->inputs() == 3);
  REQUIRE(data->classes == 2);
  REQUIRE(data->labels == std::vector<std::int32_t>{1, 0, 1});
  Eigen::MatrixXf expected(3, 3);
  expected << 0.5f, 0, 0,  //
      0, -1, 0,            //
      2, 0, 0;
  REQUIRE(data->features == expected);

  auto wider = load_libsvm(dir.file("a.svm"), 5);
  REQUIRE(wider.ok());
  REQUIRE(wider->inputs() == 5);
  auto narrower = load_libsvm(dir.file("a.svm"), 2);
  REQUIRE(!narrower.ok());
  REQUIRE(contains(narrower.error().message, "a.svm:1: "));

  const std::pair<const char*, const char*> bad[] = {
      {"0 0:1\n", ":1: bad feature index '0'"},
      {"0 1:1\n1 -2:1\n", ":2: bad feature index '-2'"},
      {"0 2:1 2:3\n", ":1: feature index 2 after 2"},
      {"0 3:1 1:3\n", ":1: feature index 1 after 3"},
      {"0 1:nan\n", ":1: feature 1: 'nan' is not finite"},
      {"0 1\n", ":1: expected index:value"},
      {"x 1:1\n", ":1: label 'x' is not a number"},
  };
  for (auto [text, message] : bad) {
    write_text(dir.file("bad.svm"), text);
    auto result = load_libsvm(dir.file("bad.svm"));
    INFO(text);
    REQUIRE(!result.ok());
    REQUIRE(result.error().kind == ErrorKind::corrupt);
    INFO(result.error().message);
    REQUIRE(contains(result.error().message, std::string("bad.svm") + message));
  }

  auto split = load_dataset(dir.file("a.svm"), 3, 0.34);
  REQUIRE(split.ok());
  REQUIRE(split->train.size() + split->test.size() == 3);
  REQUIRE(split->test.size() == 1);
}

// fuzz_loaders: 24 bytes naming feature 258929849 made a 1 GiB matrix of
// zeros (a second of a peer's time and a gigabyte; 18 s under ASan).
TEST_CASE("libsvm: a width the file does not bear out is refused, not a gigabyte of zeros", "[data][libsvm]") {
  TempDir dir;
  write_text(dir.file("sparse.svm"), "2  00000000000258929849:0\n");
  auto refused = load_libsvm(dir.file("sparse.svm"));
  REQUIRE(!refused.ok());
  CHECK(refused.error().kind == ErrorKind::unsupported);
  INFO(refused.error().message);
  CHECK(contains(refused.error().message, "sparse.svm:1: feature index 258929849"));
  CHECK(contains(refused.error().message, "too sparse"));

  // Empty samples count: a matrix of them is as large.
  std::string empty_samples = "0 100000:1\n";
  for (int i = 0; i < 1000; ++i) empty_samples += "1\n";
  write_text(dir.file("empty.svm"), empty_samples);
  auto empty = load_libsvm(dir.file("empty.svm"));
  REQUIRE(!empty.ok());
  CHECK(empty.error().kind == ErrorKind::unsupported);

  // Up to 2^24 values (64 MiB) load however sparse, as a wide sample does.
  write_text(dir.file("wide.svm"), "1 100000:0.5\n0 1:1\n");
  auto wide = load_libsvm(dir.file("wide.svm"));
  REQUIRE(wide.ok());
  CHECK(wide->inputs() == 100000);
  CHECK(wide->features(99999, 0) == 0.5f);
}

TEST_CASE("labels are whole numbers, and at most kMaxClasses of them", "[data][csv][libsvm]") {
  // A CSV with its label last read the first feature as the label: one class
  // per distinct value, without a word.
  TempDir dir;
  write_text(dir.file("last.csv"), "x,y,label\n5.1,3.5,0\n4.9,3.0,1\n");
  auto data = load_csv(dir.file("last.csv"));
  REQUIRE(!data.ok());
  CHECK(data.error().kind == ErrorKind::corrupt);
  CHECK(contains(data.error().message, "last.csv:2: label '5.1' is not a whole number"));
  write_text(dir.file("real.svm"), "1 1:1\n0.25 1:2\n");
  auto svm = load_libsvm(dir.file("real.svm"));
  REQUIRE(!svm.ok());
  CHECK(contains(svm.error().message, "real.svm:2: label '0.25' is not a whole number"));
  write_text(dir.file("whole.csv"), "1.0,1\n0,2\n+2,3\n1e1,4\n");  // whole numbers in any spelling
  auto whole = load_csv(dir.file("whole.csv"));
  REQUIRE(whole.ok());
  CHECK(whole->labels == std::vector<std::int32_t>{1, 0, 2, 10});

  // A label is its class: one past the last class a model may have is refused at its line.
  std::string ids;
  for (int i = 0; i <= kMaxClasses; ++i) ids += std::to_string(i * 3) + ",1\n";
  write_text(dir.file("ids.csv"), ids);
  data = load_csv(dir.file("ids.csv"));
  REQUIRE(!data.ok());
  CHECK(data.error().kind == ErrorKind::unsupported);
  CHECK(contains(data.error().message, "ids.csv:21847: label '65538' is past the 65536 classes a model may have"));
  write_text(dir.file("top.csv"), "65535,1\n0,2\n");
  data = load_csv(dir.file("top.csv"));
  REQUIRE(data.ok());
  CHECK(data->classes == kMaxClasses);
}

TEST_CASE("a label is the same class in every file, whatever other labels the file holds", "[data][csv][libsvm]") {
  // Mapped in sorted order of the labels each file held, a peer's file of
  // {3, 7} trained outputs 0 and 1 while its neighbours' 3 and 7 meant 3 and 7.
  TempDir dir;
  write_text(dir.file("few.csv"), "3,0.1\n7,0.2\n3,0.3\n");
  std::string all_text;
  for (int label = 0; label < 10; ++label) all_text += std::to_string(label) + ",0.5\n";
  write_text(dir.file("all.csv"), all_text);
  auto few = load_csv(dir.file("few.csv"));
  auto all = load_csv(dir.file("all.csv"));
  REQUIRE(few.ok());
  REQUIRE(all.ok());
  CHECK(few->labels == std::vector<std::int32_t>{3, 7, 3});
  CHECK(few->classes == 8);  // the largest label + 1
  CHECK(all->labels[7] == 7);
  CHECK(all->classes == 10);
  write_text(dir.file("few.svm"), "7 1:1\n3 1:2\n");
  auto few_svm = load_libsvm(dir.file("few.svm"));
  REQUIRE(few_svm.ok());
  CHECK(few_svm->labels == std::vector<std::int32_t>{7, 3});

  // --classes: the model's outputs, the same for every file; classes a file
  // lacks are outputs all the same.
  auto padded = load_csv(dir.file("few.csv"), 10);
  REQUIRE(padded.ok());
  CHECK(padded->classes == 10);
  CHECK(padded->labels == std::vector<std::int32_t>{3, 7, 3});
  auto padded_svm = load_libsvm(dir.file("few.svm"), 0, 10);
  REQUIRE(padded_svm.ok());
  CHECK(padded_svm->classes == 10);
  // Too few for the labels: an error naming the label, its line and the count.
  auto small = load_csv(dir.file("few.csv"), 5);
  REQUIRE(!small.ok());
  CHECK(small.error().kind == ErrorKind::invalid_argument);
  CHECK(contains(small.error().message, "few.csv:2: label '7' does not fit the 5 classes of the model (labels 0 to 4)"));
  auto small_svm = load_libsvm(dir.file("few.svm"), 0, 7);
  REQUIRE(!small_svm.ok());
  CHECK(contains(small_svm.error().message, "few.svm:1: label '7' does not fit the 7 classes"));

  // The split of one file shares its classes: a test side lacking a class
  // still has the model's outputs, and each label its own class.
  auto split = load_dataset(dir.file("few.csv"), 1, 0.34, 10);
  REQUIRE(split.ok());
  CHECK(split->train.classes == 10);
  CHECK(split->test.classes == 10);
  for (const Dataset* side : {&split->train, &split->test})
    for (std::int32_t label : side->labels) CHECK((label == 3 || label == 7));
  CHECK(load_dataset(dir.file("few.csv"), 1, 0.34)->test.classes == 8);
}

TEST_CASE("labels -1/+1: -1 is class 0 and +1 class 1 in every file, other negative labels are refused",
          "[data][csv][libsvm]") {
  TempDir dir;
  // Whichever of the two a file holds: a file of +1 alone is still class 1 of 2.
  const std::pair<const char*, std::vector<std::int32_t>> files[] = {
      {"-1 1:1\n+1 1:2\n", {0, 1}}, {"+1 1:1\n+1 1:2\n", {1, 1}}, {"-1 1:1\n-1 1:2\n", {0, 0}},
      {"0 1:1\n1 1:2\n", {0, 1}},   {"1 1:1\n", {1}},
  };
  for (const auto& [text, labels] : files) {
    INFO(text);
    write_text(dir.file("pm.svm"), text);
    auto data = load_libsvm(dir.file("pm.svm"));
    REQUIRE(data.ok());
    CHECK(data->labels == labels);
    CHECK(data->classes == 2);
  }
  write_text(dir.file("pm.csv"), "-1,0.5\n1,0.25\n");
  auto csv = load_csv(dir.file("pm.csv"));
  REQUIRE(csv.ok());
  CHECK(csv->labels == std::vector<std::int32_t>{0, 1});
  CHECK(load_csv(dir.file("pm.csv"), 4)->classes == 4);

  // -1 beside 0 (two numberings) or beside 2 and up (more than two classes),
  // and any other negative label: corrupt at the line that shows it.
  const std::pair<const char*, const char*> bad[] = {
      {"-1 1:1\n+1 1:1\n0 1:1\n", ":3: label '0' beside label '-1' (line 1): classes are 0, 1, 2 ... or, for two "
                                   "classes, -1 and +1"},
      {"0 1:1\n\n-1 1:1\n", ":3: label '-1' beside label '0' (line 1)"},
      {"-1 1:1\n2 1:1\n", ":2: label '2' beside label '-1' (line 1)"},
      {"1 1:1\n5 1:1\n-1 1:1\n", ":3: label '-1' beside label '5' (line 2)"},
      {"1 1:1\n-2 1:1\n", ":2: label '-2' is negative: classes are 0, 1, 2 ... (or -1, +1 for two classes)"},
  };
  for (auto [text, message] : bad) {
    INFO(text);
    write_text(dir.file("mixed.svm"), text);
    auto result = load_libsvm(dir.file("mixed.svm"));
    REQUIRE(!result.ok());
    CHECK(result.error().kind == ErrorKind::corrupt);
    INFO(result.error().message);
    CHECK(contains(result.error().message, std::string("mixed.svm") + message));
  }
  write_text(dir.file("mixed.csv"), "x,y\n0,1\n-1,2\n");
  auto mixed_csv = load_csv(dir.file("mixed.csv"));
  REQUIRE(!mixed_csv.ok());
  CHECK(contains(mixed_csv.error().message, "mixed.csv:3: label '-1' beside label '0' (line 2)"));
}

TEST_CASE("IDX with the classes given: padded, or an error naming the sample", "[data][idx]") {
  TempDir dir;
  write_idx_folder(dir, 2, 2);  // labels 0..2
  auto padded = load_dataset(dir.path.string(), 1, kTestFraction, 10);
  REQUIRE(padded.ok());
  CHECK(padded->train.classes == 10);
  CHECK(padded->test.classes == 10);
  auto probed = probe_dataset(dir.path.string(), 10);
  REQUIRE(probed.ok());
  REQUIRE(probed->has_value());
  CHECK((*probed)->classes == 10);
  auto small = load_dataset(dir.path.string(), 1, kTestFraction, 2);
  REQUIRE(!small.ok());
  CHECK(small.error().kind == ErrorKind::invalid_argument);
  CHECK(contains(small.error().message, "train-labels-idx1-ubyte.gz: sample 2: label '2' does not fit the 2 classes"));
  auto small_probe = probe_dataset(dir.path.string(), 2);
  REQUIRE(!small_probe.ok());
  CHECK(small_probe.error().message == small.error().message);
}

TEST_CASE("label_warning: sparse labels and single-example classes, not contiguous sets", "[data]") {
  // IDX labels {0, 255}: 256 outputs, 254 of them never trained.
  const std::string sparse = label_warning({0, 255, 0, 255}, {255}, 256);
  CHECK(contains(sparse, "the labels run from 0 to 255 but only 2 of those 256 classes have an example"));
  CHECK(contains(sparse, "254 of them never trained"));
  CHECK(contains(sparse, "give the number of classes with --classes"));
  // Given (--classes), classes a file lacks are expected: a peer's own file
  // may hold only some of the swarm's.
  CHECK(label_warning({0, 255, 0, 255}, {255}, 256, true).empty());
  CHECK(label_warning({3, 7, 3, 7}, {}, 10, true).empty());
  // A column of ids: every class has one example, counted over the classes
  // present (ids 1000.. leave 0..999 empty too; the ids are the point).
  std::vector<std::int32_t> ids(50);
  std::iota(ids.begin(), ids.end(), 0);
  CHECK(contains(label_warning(ids, {}, 50), "50 of the 50 classes have a single example among 50 samples"));
  std::iota(ids.begin(), ids.end(), 1000);
  CHECK(contains(label_warning(ids, {}, 1050), "50 of the 50 classes have a single example among 50 samples"));
  CHECK(contains(label_warning(ids, {}, 1050, true), "50 of the 50 classes have a single example"));
  // Contiguous sets are quiet, Fashion-MNIST's 0..9 among them; so is a
  // class missing here and there, and a binary set with one rare class.
  const Dataset ten = labelled(10, 60);
  CHECK(label_warning(ten.labels, {0, 9}, 10).empty());
  CHECK(label_warning({0, 0, 1, 1, 3, 3}, {}, 4).empty());
  CHECK(label_warning({0, 0, 0, 1}, {}, 2).empty());
  CHECK(label_warning({}, {}, 0).empty());
}

TEST_CASE("split and standardize", "[data]") {
  const Dataset all = labelled(4, 25);
  auto a = split_train_test(all, 0.2, 9);
  auto b = split_train_test(all, 0.2, 9);
  REQUIRE(a.ok());
  REQUIRE(a->test.size() == 20);
  REQUIRE(a->train.size() == 80);
  REQUIRE(a->test.features == b->test.features);
  REQUIRE(!split_train_test(all, 1.0, 9).ok());
  REQUIRE(!split_train_test(all, 0.0, 9).ok());

  TrainTest data = *a;
  const auto [mean, deviation] = standardize(data);
  REQUIRE(mean > 0.0f);
  REQUIRE(deviation > 0.0f);
  const Eigen::ArrayXf train = Eigen::Map<const Eigen::ArrayXf>(data.train.features.data(), data.train.features.size());
  REQUIRE(std::abs(train.mean()) < 1e-4);
  REQUIRE(std::sqrt((train - train.mean()).square().mean()) == Approx(1.0).epsilon(1e-4));
  // The test set gets the training set's transform.
  REQUIRE(data.test.features(0, 0) == Approx((a->test.features(0, 0) - mean) / deviation));
}

TEST_CASE("partition and shard parsing", "[data][partition]") {
  REQUIRE(Partition::parse("iid")->kind == Partition::Kind::iid);
  auto dirichlet = Partition::parse("dirichlet:0.1");
  REQUIRE(dirichlet.ok());
  REQUIRE(dirichlet->kind == Partition::Kind::dirichlet);
  REQUIRE(dirichlet->alpha == 0.1);
  REQUIRE(dirichlet->to_string() == "dirichlet:0.1");
  REQUIRE(Partition::parse(dirichlet->to_string())->alpha == 0.1);
  for (const char* bad : {"", "IID", "dirichlet", "dirichlet:", "dirichlet:0", "dirichlet:-1", "dirichlet:nan",
                          "dirichlet:inf", "dirichlet:0.1x", "zipf:2"}) {
    INFO(bad);
    auto result = Partition::parse(bad);
    REQUIRE(!result.ok());
    REQUIRE(result.error().kind == ErrorKind::invalid_argument);
  }

  auto shard = ShardSpec::parse("2/5");
  REQUIRE(shard.ok());
  REQUIRE(shard->index == 2);
  REQUIRE(shard->count == 5);
  REQUIRE(ShardSpec::parse("0/1").ok());
  for (const char* bad : {"", "1", "/", "5/5", "6/5", "-1/5", "1/0", "1/-3", "a/b", "1/5/7", " 1/5", "1/5 "}) {
    INFO(bad);
    auto result = ShardSpec::parse(bad);
    REQUIRE(!result.ok());
    REQUIRE(result.error().kind == ErrorKind::invalid_argument);
  }
  REQUIRE(contains(ShardSpec::parse("5/5").error().message, "0-based"));
}

TEST_CASE("shards are disjoint, cover the data and follow the seed", "[data][partition]") {
  const Dataset data = labelled(10, 50);
  for (const auto& text : {"iid", "dirichlet:0.1", "dirichlet:1", "dirichlet:100"}) {
    INFO(text);
    const Partition partition = *Partition::parse(text);
    for (int count : {1, 3, 7, 16}) {
      INFO(count);
      const auto shards = all_shards(data, count, partition, 42);
      require_disjoint_cover(shards, data.size());
      REQUIRE(shards == all_shards(data, count, partition, 42));
      if (count > 1) REQUIRE(shards != all_shards(data, count, partition, 43));
    }
  }
  // IID parts differ in size by at most one.
  const auto iid = all_shards(data, 7, Partition{}, 1);
  const auto [smallest, largest] = std::minmax_element(iid.begin(), iid.end(),
                                                       [](const auto& a, const auto& b) { return a.size() < b.size(); });
  REQUIRE(largest->size() - smallest->size() <= 1);
}

TEST_CASE("dirichlet shards with small alpha are label-skewed, never empty", "[data][partition]") {
  const Dataset data = labelled(10, 100);
  const int count = 10;
  const auto skewed = all_shards(data, count, *Partition::parse("dirichlet:0.1"), 7);
  const auto uniform = all_shards(data, count, *Partition::parse("iid"), 7);
  // Share of each shard's most common label: ~0.1-0.2 for IID, most of the
  // shard for Dir(0.1).
  auto mean_top_share = [&](const std::vector<std::vector<std::size_t>>& shards) {
    double total = 0;
    for (const auto& shard : shards) {
      std::vector<int> per_class(10, 0);
      for (std::size_t i : shard) ++per_class[std::size_t(data.labels[i])];
      total += double(*std::max_element(per_class.begin(), per_class.end())) / double(shard.size());
    }
    return total / double(shards.size());
  };
  CAPTURE(mean_top_share(skewed), mean_top_share(uniform));
  REQUIRE(mean_top_share(skewed) > 0.5);
  REQUIRE(mean_top_share(uniform) < 0.3);

  // Tiny alpha puts nearly everything in few shards; still no shard is empty.
  const Dataset small = labelled(2, 10);
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    require_disjoint_cover(all_shards(small, 20, *Partition::parse("dirichlet:0.001"), seed), small.size());
  }
}

TEST_CASE("Batcher gathers each sample once per epoch and reshuffles", "[data][batcher]") {
  const Dataset data = labelled(3, 7);  // 21 samples
  std::vector<std::size_t> indices;
  for (std::size_t i = 0; i < data.size(); i += 2) indices.push_back(i);  // 11 of them
  Batcher batcher(data, indices, 4, 5);
  REQUIRE(batcher.size() == 11);

  std::vector<std::vector<std::size_t>> orders;
  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<std::size_t> order;
    std::vector<int> sizes;
    while (order.size() < indices.size()) {
      const int count = batcher.next();
      REQUIRE(batcher.epoch() == epoch);
      sizes.push_back(count);
      REQUIRE(batcher.features().cols() == count);
      REQUIRE(batcher.features().rows() == 3);
      for (int k = 0; k < count; ++k) {
        const auto sample = std::size_t(batcher.features()(0, k));  // the input holds the index
        REQUIRE(batcher.features().col(k) == data.features.col(Eigen::Index(sample)));
        REQUIRE(batcher.labels()[k] == data.labels[sample]);
        order.push_back(sample);
      }
    }
    REQUIRE(sizes == std::vector<int>{4, 4, 3});  // the last partial batch is kept
    REQUIRE(batcher.position() == indices.size());
    auto sorted = order;
    std::sort(sorted.begin(), sorted.end());
    REQUIRE(sorted == indices);
    orders.push_back(order);
  }
  REQUIRE(orders[0] != orders[1]);
  REQUIRE(orders[1] != orders[2]);
  REQUIRE(batcher.next() == 4);
  REQUIRE(batcher.epoch() == 3);

  // Same seed, same batches.
  Batcher again(data, indices, 4, 5);
  std::vector<std::size_t> first;
  for (int b = 0; b < 3; ++b) {
    const int count = again.next();
    for (int k = 0; k < count; ++k) first.push_back(std::size_t(again.features()(0, k)));
  }
  REQUIRE(first == orders[0]);
}

// A resumed run skips the batches its checkpoint took: it must then draw what
// the run that took them would draw next, across epochs and partial batches.
TEST_CASE("Batcher::skip lands where as many next() calls would", "[data][batcher]") {
  const Dataset data = labelled(3, 7);  // 21 samples
  std::vector<std::size_t> indices(11);
  std::iota(indices.begin(), indices.end(), std::size_t{0});
  for (std::int64_t taken : {0, 1, 2, 3, 4, 7, 10}) {  // 3 batches (4, 4, 3) per epoch
    INFO("after " << taken << " batches");
    Batcher stepped(data, indices, 4, 9);
    for (std::int64_t b = 0; b < taken; ++b) stepped.next();
    Batcher skipped(data, indices, 4, 9);
    skipped.skip(taken);
    CHECK(skipped.epoch() == stepped.epoch());
    CHECK(skipped.position() == stepped.position());
    for (int b = 0; b < 4; ++b) {
      REQUIRE(skipped.next() == stepped.next());
      REQUIRE(skipped.features() == stepped.features());
    }
  }
}

TEST_CASE("Batcher: a batch size above the samples takes them all, with a buffer no larger", "[data][batcher]") {
  const Dataset data = labelled(3, 7);  // 21 samples
  std::vector<std::size_t> indices(10);
  std::iota(indices.begin(), indices.end(), std::size_t{0});
  // Sized by the batch, this buffer was 3 x 2^20 floats for 10 samples
  // (Fashion-MNIST's 784 features: 3.3 GB).
  Batcher batcher(data, indices, kMaxBatch, 5);
  CHECK(batcher.features().cols() == 10);
  CHECK(batcher.next() == 10);
  CHECK(batcher.features().cols() == 10);
  CHECK(batcher.next() == 10);
  CHECK(batcher.epoch() == 1);
}

TEST_CASE("Fashion-MNIST from Debian's package", "[data][fashion]") {
  const std::string folder = std::string(kDebianDatasetsDir) + "/fashion-mnist";
  if (!fs::exists(folder)) {
    WARN("skipped: " << folder << " is missing (install Debian's dataset-fashion-mnist package)");
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  auto data = load_dataset("fashion-mnist");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(data.ok());
  WARN("loaded Fashion-MNIST train+test in " << seconds << " s");
  REQUIRE(data->train.size() == 60000);
  REQUIRE(data->test.size() == 10000);
  REQUIRE(data->train.inputs() == 784);
  REQUIRE(data->test.inputs() == 784);
  REQUIRE(data->train.classes == 10);
  REQUIRE(data->test.classes == 10);
  REQUIRE(data->train.features.minCoeff() == 0.0f);
  REQUIRE(data->train.features.maxCoeff() == 1.0f);
  // Fashion-MNIST is balanced: 6000 training images per class.
  std::vector<int> per_class(10, 0);
  for (auto label : data->train.labels) ++per_class[std::size_t(label)];
  REQUIRE(std::all_of(per_class.begin(), per_class.end(), [](int n) { return n == 6000; }));
}
