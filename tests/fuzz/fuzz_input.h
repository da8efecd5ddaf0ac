// Reads a fuzz input as a stream of small choices (structure-aware targets).
// Past the end every read returns zeros / empty, so any input is a complete
// program: the fuzzer never has to learn a length prefix to reach the end.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace starling::fuzz {

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return at_ >= size_; }
  std::size_t remaining() const { return size_ - at_; }

  std::uint8_t u8() { return empty() ? 0 : data_[at_++]; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  std::uint32_t u32() { return std::uint32_t(u16()) | (std::uint32_t(u16()) << 16); }
  float f32() {
    const std::uint32_t bits = u32();
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  }

  // A length-prefixed chunk (u16 length, clipped to what is left).
  std::span<const std::uint8_t> chunk() {
    const std::size_t want = u16();
    const std::size_t take = std::min(want, remaining());
    std::span<const std::uint8_t> out(data_ + at_, take);
    at_ += take;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

// Appends one length-prefixed chunk in the layout chunk() reads (for seeds).
inline void put_chunk(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> bytes) {
  const std::size_t n = std::min<std::size_t>(bytes.size(), 0xFFFF);
  out.push_back(static_cast<std::uint8_t>(n & 0xFF));
  out.push_back(static_cast<std::uint8_t>(n >> 8));
  out.insert(out.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
}

[[noreturn]] inline void property_failed(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: property failed: %s\n", target, what.c_str());
  std::abort();
}

// The loaders read files: the input goes to one scratch file per process
// (tmpfs when there is one, so a run does not wear a disk).
std::string scratch_path(const char* name);
void write_scratch(const std::string& path, const std::uint8_t* data, std::size_t size);

}  // namespace starling::fuzz
