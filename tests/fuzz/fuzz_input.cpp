#include "fuzz_input.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace starling::fuzz {

std::string scratch_path(const char* name) {
  const std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  return (base / ("starling-fuzz-" + std::to_string(::getpid()) + "-" + name)).string();
}

void write_scratch(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out.flush()) property_failed("scratch", "cannot write " + path);
}

}  // namespace starling::fuzz
