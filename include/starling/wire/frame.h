// Stream framing for TCP connections. A frame carries opaque bytes (normally
// one AEAD-sealed message); the decoder rebuilds frames from arbitrary read
// chunks with bounded memory and rejects an oversized frame from its header,
// before buffering its body. The byte format is Cap'n Proto's own stream
// framing (see src/wire/frame.cpp); nothing here is hand-packed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "starling/status.h"
#include "starling/wire/codec.h"

namespace starling::wire {

// Room above a message for the sealing layer (nonce, tag, counters).
inline constexpr std::size_t kMaxFramePayloadBytes = kMaxMessageBytes + 4096;

struct FrameLimits {
  // Checked against the size a frame announces in its header, before its
  // body is buffered. Our frames have one segment; a peer may send more, but
  // the total (segment table included) stays within framed_size() of this
  // plus a little slack.
  std::size_t max_payload_bytes = kMaxFramePayloadBytes;
};

// Bytes a frame of `payload_bytes` occupies on the wire (for byte accounting).
std::size_t framed_size(std::size_t payload_bytes);

// Wraps `payload` in one frame. overloaded when it exceeds max_payload_bytes.
Result<std::vector<std::uint8_t>> frame(std::span<const std::uint8_t> payload, const FrameLimits& limits = {});

// Same frame, but the payload is left zero-filled for the caller to write in
// place (e.g. seal straight into it), saving a copy of the payload. Replaces
// the contents of `out` (framed_size(payload_bytes) bytes) and returns the
// payload's bytes inside it, valid until `out` is resized. overloaded when
// payload_bytes exceeds max_payload_bytes (then `out` is left empty).
Result<std::span<std::uint8_t>> frame_in_place(std::size_t payload_bytes, std::vector<std::uint8_t>& out,
                                               const FrameLimits& limits = {});

// Incremental decoder for one connection's inbound byte stream. Not copyable
// (it owns the connection's partial-frame buffer). After an error the stream is
// out of step for good: every later feed() returns the same error and the
// caller should drop the connection.
class FrameDecoder {
 public:
  explicit FrameDecoder(FrameLimits limits = {});
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;
  FrameDecoder(FrameDecoder&&) = default;
  FrameDecoder& operator=(FrameDecoder&&) = default;

  // Consumes all of `bytes` and returns the payloads of the frames it
  // completed, in order (possibly none). Errors: overloaded when a frame
  // announces more than max_payload_bytes; corrupt when a frame is malformed.
  Result<std::vector<std::vector<std::uint8_t>>> feed(std::span<const std::uint8_t> bytes);

  // ---- Zero-copy use, for a transport that reads straight into the decoder.
  // Use either feed() or these three on one decoder, never both.
  //
  // Room for the next read: at least what the frame in progress still needs
  // (when its size is known and within the limit), at least suggested_bytes.
  std::span<std::uint8_t> prepare(std::size_t suggested_bytes);
  // `bytes` were written at the start of the span prepare() returned.
  void commit(std::size_t bytes);
  // The next whole frame's payload, in place in the decoder's buffer and
  // writable (e.g. to open a sealed frame in place), valid until the next
  // prepare(); nullopt when more bytes are needed. The current limits apply
  // to each frame as it is taken, so they may change between frames (a
  // connection proving itself). Errors as for feed(), sticky.
  Result<std::optional<std::span<std::uint8_t>>> next();

  void set_limits(FrameLimits limits) { limits_ = limits; }
  const FrameLimits& limits() const { return limits_; }

  // Bytes held for the frame in progress; never more than one frame's size
  // (zero-copy use: bytes received and not yet taken by next()).
  std::size_t buffered_bytes() const { return buffered_bytes_ + (read_end_ - read_begin_); }
  bool failed() const { return failed_; }
  // Memory the decoder holds (its buffers' capacity), in bytes.
  std::size_t held_bytes() const { return (buffer_.capacity() + read_buffer_.capacity()) * sizeof(std::uint64_t); }
  // Frees the buffers when no frame is in progress (buffered_bytes() is 0);
  // the next prepare() or feed() allocates again.
  void release_if_idle();

 private:
  void take_frames(std::span<const std::uint8_t> bytes, std::vector<std::vector<std::uint8_t>>& out);
  std::size_t max_frame_words() const;

  FrameLimits limits_;
  std::vector<std::uint64_t> buffer_;  // word-aligned: Cap'n Proto reads words in place
  std::size_t buffered_bytes_ = 0;
  bool failed_ = false;
  Error error_{ErrorKind::corrupt, ""};
  // Zero-copy use: received bytes live in read_buffer_[read_begin_, read_end_)
  // (byte offsets); a frame always starts on a word boundary.
  std::vector<std::uint64_t> read_buffer_;
  std::size_t read_begin_ = 0;
  std::size_t read_end_ = 0;
};

}  // namespace starling::wire
