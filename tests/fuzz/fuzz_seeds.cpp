// Writes the seed corpora for the fuzz targets: every sample message encoded
// (fuzz_codec) and the same messages framed, singly and as one stream
// (fuzz_frame_decoder, whose first byte picks the chunking).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "../wire/sample_messages.h"
#include "starling/wire/codec.h"
#include "starling/wire/frame.h"

using namespace starling::wire;

namespace {

void write(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  std::filesystem::path root(argv[1]);
  std::filesystem::create_directories(root / "fuzz_codec");
  std::filesystem::create_directories(root / "fuzz_frame_decoder");
  FrameLimits small;
  small.max_payload_bytes = 2048;
  std::vector<std::uint8_t> stream{7};
  int index = 0;
  for (const Message& message : samples::all()) {
    auto bytes = encode(message);
    if (!bytes.ok()) return 1;
    std::string name = std::to_string(index++) + "_" + message_name(message);
    write(root / "fuzz_codec" / name, *bytes);
    auto framed = frame(*bytes, small);
    if (!framed.ok()) return 1;
    std::vector<std::uint8_t> single{3};
    single.insert(single.end(), framed->begin(), framed->end());
    write(root / "fuzz_frame_decoder" / name, single);
    stream.insert(stream.end(), framed->begin(), framed->end());
  }
  write(root / "fuzz_frame_decoder" / "stream_of_all", stream);
  return 0;
}
