#include "frame_reader.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace starling::runtime {

namespace {
constexpr std::size_t kMinReadBytes = 64 * 1024;
// A buffer grown for one huge frame is given back once it is empty, so an
// idle connection does not keep max_frame_bytes of memory forever.
constexpr std::size_t kShrinkAboveBytes = 8u << 20;
}

std::size_t FrameReader::announced_size() const {
  const std::uint8_t* header = buffer_.data() + begin_;
  return (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) | (std::size_t{header[2]} << 8) |
         std::size_t{header[3]};
}

std::span<std::uint8_t> FrameReader::prepare(std::size_t suggested_bytes) {
  const std::size_t have = end_ - begin_;
  std::size_t want = std::max(suggested_bytes, kMinReadBytes);
  if (have >= kFrameHeaderBytes) {
    const std::size_t frame = announced_size();
    // An oversized announcement is reported by next(); read no more for it.
    if (frame <= max_frame_bytes_) want = std::max(want, kFrameHeaderBytes + frame - std::min(have, kFrameHeaderBytes + frame));
  }
  if (have == 0 && buffer_.size() > kShrinkAboveBytes && want < buffer_.size() / 4) {
    std::vector<std::uint8_t>().swap(buffer_);
    begin_ = end_ = 0;
  }
  if (buffer_.size() - end_ < want) {
    // Slide the unconsumed tail to the front before growing.
    if (begin_ > 0) {
      if (have > 0) std::memmove(buffer_.data(), buffer_.data() + begin_, have);
      begin_ = 0;
      end_ = have;
    }
    if (buffer_.size() - end_ < want) buffer_.resize(end_ + want);
  }
  return {buffer_.data() + end_, buffer_.size() - end_};
}

void FrameReader::commit(std::size_t bytes) {
  STARLING_ASSERT(end_ + bytes <= buffer_.size());
  end_ += bytes;
}

Result<std::optional<std::span<std::uint8_t>>> FrameReader::next() {
  const std::size_t have = end_ - begin_;
  if (have < kFrameHeaderBytes) {
    if (have == 0) begin_ = end_ = 0;
    return std::optional<std::span<std::uint8_t>>{};
  }
  const std::size_t frame = announced_size();
  if (frame > max_frame_bytes_) {
    return make_error(ErrorKind::overloaded, "incoming frame of " + std::to_string(frame) +
                                                 " bytes exceeds the limit of " + std::to_string(max_frame_bytes_));
  }
  if (have < kFrameHeaderBytes + frame) return std::optional<std::span<std::uint8_t>>{};
  std::span<std::uint8_t> payload(buffer_.data() + begin_ + kFrameHeaderBytes, frame);
  begin_ += kFrameHeaderBytes + frame;
  return std::optional<std::span<std::uint8_t>>{payload};
}

}  // namespace starling::runtime
