// A fresh folder under the system's temp directory for one test, removed
// with everything in it when the test ends. Shared by the embed tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

namespace starling::embed_test {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "starling-embed-test") {
    path = std::filesystem::temp_directory_path() /
           (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace starling::embed_test
