// Cuts a TCP byte stream into frames: a 4-byte big-endian length, then that
// many bytes. It owns the read buffer so libuv reads straight into it and a
// whole frame is handed on without a copy (and opened in place when sealed).
// TODO(wire): switch to the wire layer's FrameDecoder when it lands, keeping
// this read-in-place buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "starling/status.h"

namespace starling::runtime {

inline constexpr std::size_t kFrameHeaderBytes = 4;

// Writes the frame header for a payload of payload_bytes.
inline void write_frame_header(std::uint8_t* out, std::size_t payload_bytes) {
  const auto size = static_cast<std::uint32_t>(payload_bytes);
  out[0] = static_cast<std::uint8_t>(size >> 24);
  out[1] = static_cast<std::uint8_t>(size >> 16);
  out[2] = static_cast<std::uint8_t>(size >> 8);
  out[3] = static_cast<std::uint8_t>(size);
}

class FrameReader {
 public:
  explicit FrameReader(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  // Room for the next read: at least what the current frame still needs.
  std::span<std::uint8_t> prepare(std::size_t suggested_bytes);
  // bytes were written at the start of the last prepare()d span.
  void commit(std::size_t bytes);
  // The next whole frame's payload, valid until the next prepare(); nullopt
  // when more bytes are needed. Error (overloaded) for a frame announced
  // larger than the limit: the stream cannot be trusted any more.
  Result<std::optional<std::span<std::uint8_t>>> next();

  // The limit may change as a connection proves itself (handshake -> frames).
  void set_max_frame_bytes(std::size_t max_frame_bytes) { max_frame_bytes_ = max_frame_bytes; }

  std::size_t buffered_bytes() const { return end_ - begin_; }

 private:
  std::size_t announced_size() const;

  std::size_t max_frame_bytes_;
  std::vector<std::uint8_t> buffer_;
  std::size_t begin_ = 0;  // first unconsumed byte
  std::size_t end_ = 0;    // one past the last received byte
};

}  // namespace starling::runtime
