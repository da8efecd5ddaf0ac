// libFuzzer target for the data set loaders (src/ml/idx.cpp, text_formats.cpp).
// The first byte picks the loader: 0 IDX (the rest is split into an images
// file and a labels file by a u16 length), 1 CSV, 2 libsvm (inferred width),
// 3 libsvm with a width from the next byte. Files go through zlib, so gzipped
// inputs are fuzzed too. Properties beyond "no crash, no leak, no UB, no
// uncaught exception": a refusal is corrupt or invalid_argument; a data set
// that loads is consistent (one label per sample, labels in [0, classes),
// finite features). IDX data that loads is also standardised as a peer
// does (standardization_of over its bytes, then features_of over a subset
// of its samples, with repeats): a finite mean, a deviation above zero, and
// finite features with the subset's labels.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "starling/ml/byte_dataset.h"
#include "starling/ml/dataset.h"

using namespace starling;

namespace {

constexpr const char* kTarget = "fuzz_loaders";

void check(const Result<ml::Dataset>& loaded) {
  if (!loaded.ok()) {
    const ErrorKind kind = loaded.error().kind;
    if (kind != ErrorKind::corrupt && kind != ErrorKind::invalid_argument && kind != ErrorKind::unsupported) {
      fuzz::property_failed(kTarget, "unexpected error kind: " + loaded.error().message);
    }
    return;
  }
  const ml::Dataset& d = *loaded;
  if (std::size_t(d.features.cols()) != d.labels.size()) fuzz::property_failed(kTarget, "labels and samples differ in count");
  for (int label : d.labels) {
    if (label < 0 || label >= d.classes) fuzz::property_failed(kTarget, "a label outside [0, classes)");
  }
  if (!d.features.allFinite()) fuzz::property_failed(kTarget, "a non-finite feature");
}

// What a peer makes of IDX data: its bytes standardised, a shard made floats.
void check_standardised(const Result<ml::ByteDataset>& loaded) {
  if (!loaded.ok()) return;  // load_idx, which reads through the same function, checked the refusal
  const ml::ByteDataset& bytes = *loaded;
  const ml::Standardization s = ml::standardization_of(bytes);
  if (!std::isfinite(s.mean) || !(s.deviation > 0.0f) || !std::isfinite(s.deviation) || !std::isfinite(s.scale)) {
    fuzz::property_failed(kTarget, "standardization_of gave a non-finite mean or a deviation not above zero");
  }
  std::vector<std::size_t> shard;  // every other sample from the last, and the first twice
  for (std::size_t i = bytes.size(); i > 0; i -= std::min<std::size_t>(i, 2)) shard.push_back(i - 1);
  if (bytes.size() > 0) shard.push_back(0);
  const ml::Dataset d = ml::features_of(bytes, s, &shard);
  if (std::size_t(d.features.cols()) != shard.size() || d.features.rows() != bytes.inputs ||
      d.labels.size() != shard.size() || d.classes != bytes.classes) {
    fuzz::property_failed(kTarget, "features_of's shard has the wrong shape");
  }
  for (std::size_t k = 0; k < shard.size() && k < d.labels.size(); ++k) {
    if (d.labels[k] != bytes.labels[shard[k]]) fuzz::property_failed(kTarget, "features_of's labels are not the shard's");
  }
  if (!d.features.allFinite()) fuzz::property_failed(kTarget, "a non-finite standardised feature");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string first = fuzz::scratch_path("data-1");
  static const std::string second = fuzz::scratch_path("data-2");
  fuzz::Input in(data, size);
  switch (in.u8() % 4) {
    case 0: {
      auto images = in.chunk();
      fuzz::write_scratch(first, images.data(), images.size());
      const std::size_t used = size - in.remaining();
      fuzz::write_scratch(second, data + used, size - used);
      check(ml::load_idx(first, second));
      check_standardised(ml::load_idx_bytes(first, second));
      break;
    }
    case 1: fuzz::write_scratch(first, data + 1, size - 1); check(ml::load_csv(first)); break;
    case 2: fuzz::write_scratch(first, data + 1, size - 1); check(ml::load_libsvm(first)); break;
    case 3: {
      const int inputs = 1 + in.u8() % 64;
      const std::size_t skip = std::min<std::size_t>(size, 2);
      fuzz::write_scratch(first, data + skip, size - skip);
      check(ml::load_libsvm(first, inputs));
      break;
    }
  }
  return 0;
}
