// IDX files (the MNIST format): a big-endian header (magic, then one 32-bit
// size per dimension) followed by the unsigned bytes of the body.
#include <arpa/inet.h>  // ntohl: IDX header integers are big-endian

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <endian.h>  // le32toh: gzip trailers are little-endian

#include <filesystem>
#include <fstream>
#include <limits>

#include "gz_file.h"
#include "starling/ml/byte_dataset.h"
#include "starling/ml/dataset.h"

namespace starling::ml {
namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
// A body larger than this is not a data set we can hold as floats in memory.
constexpr std::uint64_t kMaxBodyBytes = std::uint64_t{1} << 32;
// Reserve at most this much before the bytes are actually there, so a lying
// header in a tiny file cannot make us allocate gigabytes.
constexpr std::size_t kMaxReserveBytes = std::size_t{256} << 20;

// The one place IDX's byte order is handled.
std::uint32_t big_endian_u32(const std::uint8_t* bytes) {
  std::uint32_t value;
  std::memcpy(&value, bytes, sizeof value);
  return ntohl(value);
}

struct IdxFile {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> body;
};

// `header_only`: the dimensions alone (the body is left unread).
Result<IdxFile> read_idx(const std::string& path, std::uint32_t magic, std::size_t rank, bool header_only = false) {
  auto file = detail::DataFileReader::open(path);
  if (!file) return file.error();

  std::vector<std::uint8_t> header;
  const std::size_t header_bytes = 4 * (1 + rank);
  if (auto status = file->read(header_bytes, header); !status) return status.error();
  if (header.size() < 4) return make_error(ErrorKind::corrupt, path + ": not an IDX file (shorter than its magic number)");
  const std::uint32_t found_magic = big_endian_u32(header.data());
  if (found_magic != magic) {
    char text[96];
    std::snprintf(text, sizeof text, ": bad IDX magic 0x%08x (expected 0x%08x, %zu-dimensional unsigned bytes)",
                  found_magic, magic, rank);
    return make_error(ErrorKind::corrupt, path + text);
  }
  if (header.size() < header_bytes) return make_error(ErrorKind::corrupt, path + ": truncated IDX header");

  IdxFile idx;
  std::uint64_t body_bytes = 1;
  for (std::size_t d = 0; d < rank; ++d) {
    const std::uint32_t dim = big_endian_u32(header.data() + 4 * (1 + d));
    idx.dims.push_back(dim);
    body_bytes *= dim;  // at most 3 factors below 2^32 each: checked against the cap as we go
    if (body_bytes > kMaxBodyBytes) {
      return make_error(ErrorKind::corrupt, path + ": IDX header announces more than 4 GiB of data");
    }
  }

  if (header_only) return idx;
  idx.body.reserve(std::min<std::size_t>(body_bytes, kMaxReserveBytes));
  if (auto status = file->read(body_bytes, idx.body); !status) return status.error();
  if (idx.body.size() < body_bytes) {
    return make_error(ErrorKind::corrupt, path + ": truncated IDX body: header announces " + std::to_string(body_bytes) +
                                              " bytes, file holds " + std::to_string(idx.body.size()));
  }
  std::vector<std::uint8_t> extra;
  if (auto status = file->read(1, extra); !status) return status.error();
  if (!extra.empty()) {
    return make_error(ErrorKind::corrupt, path + ": data past the end announced by the IDX header");
  }
  return idx;
}

struct IdxPair {
  std::string images;
  std::string labels;
};
struct IdxFolder {
  IdxPair train;
  IdxPair test;
};

Result<IdxFolder> idx_folder_paths(const std::string& folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return make_error(ErrorKind::not_found, folder + ": no such folder");
  // Debian and the original site use "train-images-idx3-ubyte[.gz]"; some
  // archives unpack to "train-images.idx3-ubyte". Two of these at once (a
  // `gunzip -k` beside its .gz, two downloads) may hold different data, and
  // nothing tells which is meant: refused, naming them, never picked in silence.
  // (The separator is the one before "idx": "train.images-idx3-ubyte" was
  // looked for instead, and the archives' name never found.)
  auto find = [&](const std::string& prefix, const std::string& what, const std::string& idx) -> Result<std::string> {
    std::vector<std::string> found;
    for (const char* separator : {"-", "."}) {
      for (const char* suffix : {"", ".gz"}) {
        const fs::path candidate = fs::path(folder) / (prefix + "-" + what + separator + idx + "-ubyte" + suffix);
        if (fs::exists(candidate, ec)) found.push_back(candidate.string());
      }
    }
    if (found.size() == 1) return found.front();
    if (found.empty()) {
      return make_error(ErrorKind::not_found,
                        folder + ": no " + prefix + "-" + what + "-" + idx + "-ubyte[.gz] (expected the four IDX files "
                                 "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz])");
    }
    std::string names;
    for (const auto& name : found) names += (names.empty() ? "" : " and ") + name;
    return make_error(ErrorKind::invalid_argument,
                      folder + " holds " + names + ", " + std::to_string(found.size()) +
                          " copies of one IDX file that may differ: remove all but one");
  };
  IdxFolder paths;
  for (auto [prefix, target] : {std::pair{"train", &paths.train}, std::pair{"t10k", &paths.test}}) {
    auto images = find(prefix, "images", "idx3");
    if (!images) return images.error();
    auto labels = find(prefix, "labels", "idx1");
    if (!labels) return labels.error();
    *target = IdxPair{std::move(*images), std::move(*labels)};
  }
  return paths;
}

// Whether `path` holds `bytes` bytes once decompressed, told without
// decompressing: a plain file by its size, a gzip file by its trailer's
// ISIZE (the size mod 2^32 of its last member, so exact for the one-member
// files gzip writes). false when it cannot be told (a file of several
// members) or disagrees (a file cut short).
bool holds_bytes(const std::string& path, std::uint64_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  unsigned char magic[2] = {0, 0};
  in.read(reinterpret_cast<char*>(magic), 2);
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return false;
  const bool gzipped = in.good() && size >= 18 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (!gzipped) return std::uint64_t(size) == bytes;
  std::uint32_t trailer = 0;
  in.seekg(size - 4);
  in.read(reinterpret_cast<char*>(&trailer), sizeof trailer);
  return in.good() && le32toh(trailer) == std::uint32_t(bytes & 0xffffffffu);  // gzip's trailer is little-endian
}

// With the classes given (`classes` > 0: --classes, a checkpoint's model), a
// label from `classes` up is an error naming its sample (0-based).
template <typename Labels>
Status check_labels_fit(const std::string& labels_path, const Labels& labels, int classes) {
  if (classes <= 0) return ok_status();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (int(labels[i]) >= classes) {
      return make_error(ErrorKind::invalid_argument,
                        labels_path + ": sample " + std::to_string(i) + ": label '" + std::to_string(int(labels[i])) +
                            "' does not fit the " + std::to_string(classes) + " classes of the model (labels 0 to " +
                            std::to_string(classes - 1) + ")");
    }
  }
  return ok_status();
}

}  // namespace

Result<ByteDataset> load_idx_bytes(const std::string& images_path, const std::string& labels_path) {
  auto images = read_idx(images_path, kImagesMagic, 3);
  if (!images) return images.error();
  auto labels = read_idx(labels_path, kLabelsMagic, 1);
  if (!labels) return labels.error();

  const std::size_t count = images->dims[0];
  const std::size_t pixels = std::size_t{images->dims[1]} * images->dims[2];
  if (labels->dims[0] != count) {
    return make_error(ErrorKind::corrupt, images_path + " holds " + std::to_string(count) + " images but " +
                                              labels_path + " holds " + std::to_string(labels->dims[0]) + " labels");
  }
  if (count == 0 || pixels == 0) {
    return make_error(ErrorKind::corrupt, images_path + ": empty IDX image file (" + std::to_string(count) + " images of " +
                                              std::to_string(pixels) + " pixels)");
  }
  if (pixels > std::size_t(std::numeric_limits<int>::max())) {
    return make_error(ErrorKind::corrupt, images_path + ": " + std::to_string(pixels) + " pixels per image");
  }

  ByteDataset data;
  data.pixels = std::move(images->body);  // each image's bytes are contiguous: one sample
  data.inputs = int(pixels);
  data.labels.assign(labels->body.begin(), labels->body.end());  // bytes, so always < 256
  data.classes = 1 + *std::max_element(data.labels.begin(), data.labels.end());
  return data;
}

Result<Dataset> load_idx(const std::string& images_path, const std::string& labels_path) {
  auto bytes = load_idx_bytes(images_path, labels_path);
  if (!bytes) return bytes.error();
  return features_of(*bytes, Standardization{});  // b / 255
}

Result<ByteTrainTest> load_idx_folder_bytes(const std::string& folder, int classes) {
  auto paths = idx_folder_paths(folder);
  if (!paths) return paths.error();
  ByteTrainTest data;
  for (auto [part, target] : {std::pair{&paths->train, &data.train}, std::pair{&paths->test, &data.test}}) {
    auto loaded = load_idx_bytes(part->images, part->labels);
    if (!loaded) return loaded.error();
    if (auto fits = check_labels_fit(part->labels, loaded->labels, classes); !fits) return fits.error();
    *target = std::move(*loaded);
  }
  if (data.train.inputs != data.test.inputs) {
    return make_error(ErrorKind::corrupt, folder + ": training images have " + std::to_string(data.train.inputs) +
                                              " pixels, test images " + std::to_string(data.test.inputs));
  }
  data.train.classes = data.test.classes = classes > 0 ? classes : std::max(data.train.classes, data.test.classes);
  return data;
}

Result<TrainTest> load_idx_folder(const std::string& folder, int classes) {
  auto bytes = load_idx_folder_bytes(folder, classes);
  if (!bytes) return bytes.error();
  TrainTest data;
  data.train = features_of(bytes->train, Standardization{});
  bytes->train = {};  // its bytes are floats now
  data.test = features_of(bytes->test, Standardization{});
  return data;
}

Result<std::optional<DatasetShape>> probe_idx_folder(const std::string& folder, int classes) {
  auto paths = idx_folder_paths(folder);
  if (!paths) return paths.error();
  bool sizes_known = true;
  DatasetShape shape;
  std::int64_t inputs[2] = {0, 0};
  int index = 0;
  for (const IdxPair* part : {&paths->train, &paths->test}) {
    auto images = read_idx(part->images, kImagesMagic, 3, /*header_only=*/true);
    if (!images) return images.error();
    // The labels are small (one byte per sample): read whole, as load_idx does.
    auto labels = read_idx(part->labels, kLabelsMagic, 1);
    if (!labels) return labels.error();
    if (labels->dims[0] != images->dims[0]) {
      return make_error(ErrorKind::corrupt, part->images + " holds " + std::to_string(images->dims[0]) +
                                                " images but " + part->labels + " holds " +
                                                std::to_string(labels->dims[0]) + " labels");
    }
    inputs[index++] = std::int64_t{images->dims[1]} * images->dims[2];
    // The header is only a claim until the body is read: a model is built
    // from it before then, so the file's size must bear it out.
    sizes_known = sizes_known && holds_bytes(part->images, 16 + std::uint64_t{images->dims[0]} * images->dims[1] *
                                                                    images->dims[2]);
    if (auto fits = check_labels_fit(part->labels, labels->body, classes); !fits) return fits.error();
    if (!labels->body.empty()) {
      shape.classes = std::max(shape.classes, 1 + int(*std::max_element(labels->body.begin(), labels->body.end())));
    }
  }
  if (inputs[0] != inputs[1]) {
    return make_error(ErrorKind::corrupt, folder + ": training images have " + std::to_string(inputs[0]) +
                                              " pixels, test images " + std::to_string(inputs[1]));
  }
  if (inputs[0] <= 0 || inputs[0] > std::numeric_limits<int>::max()) {
    return make_error(ErrorKind::corrupt, paths->train.images + ": " + std::to_string(inputs[0]) + " pixels per image");
  }
  if (!sizes_known) return std::optional<DatasetShape>();
  shape.inputs = int(inputs[0]);
  if (classes > 0) shape.classes = classes;
  return std::optional<DatasetShape>(shape);
}

}  // namespace starling::ml
