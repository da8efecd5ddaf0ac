// Small IDX files written by tests: a temporary folder, image and label
// files of a given size, gzipped or plain.
#pragma once

#include <arpa/inet.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace starling::test {

namespace fs = std::filesystem;

// A fresh folder per test, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("starling_data_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

inline void put_u32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  std::uint8_t bytes[4];
  const std::uint32_t big = htonl(value);  // IDX is big-endian
  std::memcpy(bytes, &big, 4);
  for (std::uint8_t byte : bytes) out.push_back(byte);
}

inline std::vector<std::uint8_t> idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
  std::vector<std::uint8_t> out;
  put_u32(out, 0x803);
  put_u32(out, count);
  put_u32(out, rows);
  put_u32(out, cols);
  for (std::uint32_t i = 0; i < count * rows * cols; ++i) out.push_back(std::uint8_t((i * 7 + 3) % 256));
  return out;
}

inline std::vector<std::uint8_t> idx_labels(std::uint32_t count, int classes) {
  std::vector<std::uint8_t> out;
  put_u32(out, 0x801);
  put_u32(out, count);
  for (std::uint32_t i = 0; i < count; ++i) out.push_back(std::uint8_t(i % std::uint32_t(classes)));
  return out;
}

inline void write_plain(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  REQUIRE(out.good());
}

inline void write_gz(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(file) == Z_OK);
}

}  // namespace starling::test
