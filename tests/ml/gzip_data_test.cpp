// Gzipped data files: several members back to back are one file, as gzip
// says; bytes after the last member are corrupt (zlib's gzread skipped them in
// silence). And an IDX folder holding a file twice (X and X.gz) is refused
// naming both, where the .gz was taken in silence.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "idx_files.h"
#include "starling/ml/dataset.h"

using namespace starling;
using namespace starling::ml;
using namespace starling::test;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes gzipped(const TempDir& dir, const Bytes& plain) {
  const std::string scratch = dir.file("scratch.gz");
  write_gz(scratch, plain);
  std::ifstream in(scratch, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

Bytes joined(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes text_bytes(const std::string& text) { return Bytes(text.begin(), text.end()); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("gzip members back to back load as one file", "[data][gzip]") {
  TempDir dir;
  const Bytes images = idx_images(4, 2, 2);
  write_plain(dir.file("labels"), idx_labels(4, 2));
  write_plain(dir.file("images"), images);
  const Bytes head(images.begin(), images.begin() + 10), tail(images.begin() + 10, images.end());
  // As `cat a.gz b.gz` makes, with an empty member between the two.
  write_plain(dir.file("images.gz"), joined(joined(gzipped(dir, head), gzipped(dir, {})), gzipped(dir, tail)));
  auto plain = load_idx(dir.file("images"), dir.file("labels"));
  auto members = load_idx(dir.file("images.gz"), dir.file("labels"));
  REQUIRE(plain.ok());
  REQUIRE(members.ok());
  CHECK(members->features == plain->features);

  const std::string csv = "label,a\n0,1\n1,2\n0,3\n1,4\n";
  write_plain(dir.file("d.csv.gz"), joined(gzipped(dir, text_bytes(csv.substr(0, 9))), gzipped(dir, text_bytes(csv.substr(9)))));
  auto loaded = load_data_file(dir.file("d.csv.gz"));
  REQUIRE(loaded.ok());
  CHECK(loaded->size() == 4);
}

TEST_CASE("bytes after the last gzip member are corrupt, naming the file", "[data][gzip]") {
  TempDir dir;
  const Bytes images = idx_images(4, 2, 2);
  write_plain(dir.file("labels"), idx_labels(4, 2));
  const Bytes whole = gzipped(dir, images);
  const std::string csv = "label,a\n0,1\n1,2\n0,3\n1,4\n";

  const std::vector<std::pair<const char*, Bytes>> trailers = {
      {"text", text_bytes("JUNK")},
      {"one byte", {0x1f}},
      {"zeros (tar's padding)", Bytes(512, 0)},
      {"half a gzip magic", {0x1f, 0x00, 0x01}},
      {"a line of CSV", text_bytes("1,5\n")},
  };
  for (const auto& [what, trailer] : trailers) {
    INFO(what);
    write_plain(dir.file("images.gz"), joined(whole, trailer));
    auto idx = load_idx(dir.file("images.gz"), dir.file("labels"));
    REQUIRE_FALSE(idx.ok());
    CHECK(idx.error().kind == ErrorKind::corrupt);
    CHECK(contains(idx.error().message, dir.file("images.gz") + ": bytes after the end of its gzip data (from byte " +
                                            std::to_string(whole.size()) + ")"));

    write_plain(dir.file("d.csv.gz"), joined(gzipped(dir, text_bytes(csv)), trailer));
    auto text = load_data_file(dir.file("d.csv.gz"));
    REQUIRE_FALSE(text.ok());
    CHECK(text.error().kind == ErrorKind::corrupt);
    CHECK(contains(text.error().message, dir.file("d.csv.gz") + ": bytes after the end of its gzip data"));
  }

  SECTION("a second member that is damaged") {
    Bytes second = gzipped(dir, text_bytes("1,5\n"));
    second[second.size() - 6] ^= 0xff;  // its CRC-32
    write_plain(dir.file("d.csv.gz"), joined(gzipped(dir, text_bytes(csv)), second));
    auto text = load_data_file(dir.file("d.csv.gz"));
    REQUIRE_FALSE(text.ok());
    CHECK(text.error().kind == ErrorKind::corrupt);
    CHECK(contains(text.error().message, "cannot decompress"));
  }
  SECTION("a stream cut inside its trailer") {
    write_plain(dir.file("d.csv.gz"), Bytes(whole.begin(), whole.end() - 3));
    auto text = load_data_file(dir.file("d.csv.gz"));
    REQUIRE_FALSE(text.ok());
    CHECK(text.error().kind == ErrorKind::corrupt);
    CHECK(contains(text.error().message, "truncated gzip data"));
  }
}

TEST_CASE("an IDX folder holding one file twice is refused, naming both", "[data][idx][gzip]") {
  TempDir dir;
  write_gz(dir.file("train-images-idx3-ubyte.gz"), idx_images(6, 2, 2));
  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_labels(6, 3));
  write_plain(dir.file("t10k-images-idx3-ubyte"), idx_images(2, 2, 2));
  write_plain(dir.file("t10k-labels-idx1-ubyte"), idx_labels(2, 2));
  REQUIRE(load_dataset(dir.path.string()).ok());

  // `gunzip -k`: the same data twice; a stale or half-written copy would not be.
  for (const std::string twin : {"train-images-idx3-ubyte", "train-images.idx3-ubyte"}) {
    INFO(twin);
    write_plain(dir.file(twin), idx_images(6, 2, 2));
    const auto check_refusal = [&](const Error& error) {
      CHECK(error.kind == ErrorKind::invalid_argument);
      CHECK(contains(error.message, dir.file(twin)));
      CHECK(contains(error.message, dir.file("train-images-idx3-ubyte.gz")));
      CHECK(contains(error.message, "remove all but one"));
    };
    auto loaded = load_dataset(dir.path.string());
    REQUIRE_FALSE(loaded.ok());
    check_refusal(loaded.error());
    auto probed = probe_dataset(dir.path.string());
    REQUIRE_FALSE(probed.ok());
    check_refusal(probed.error());
    fs::remove(dir.file(twin));
  }
  REQUIRE(load_dataset(dir.path.string()).ok());

  // The archives' other name alone is found (it was looked for as "train.images-idx3-ubyte").
  fs::remove(dir.file("train-images-idx3-ubyte.gz"));
  write_plain(dir.file("train-images.idx3-ubyte"), idx_images(6, 2, 2));
  REQUIRE(load_dataset(dir.path.string()).ok());
}
