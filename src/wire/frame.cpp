// Stream framing.
//
// Why Cap'n Proto's own stream format rather than a separate length header:
// a frame is a standard serialized message (segment table + one segment)
// whose root struct `Frame` holds the payload as Data. The segment table *is*
// the length prefix, so there is no second header format to version or get
// wrong, `capnp::expectedSizeInWordsFromPrefix` tells the decoder how much it
// needs (and thus lets it reject an oversized frame after at most the segment
// table, before any body is buffered), and a captured stream can be inspected
// with `capnp decode frame.capnp Frame`. The price is 24 bytes and at most 7
// bytes of padding per frame, small next to the AEAD tag and headers.
#include "starling/wire/frame.h"

#include <algorithm>
#include <new>
#include <string>

#include <capnp/serialize.h>

#include "capnp_support.h"
#include "frame.capnp.h"

namespace starling::wire {
namespace {

constexpr std::size_t kWordBytes = sizeof(capnp::word);
// Root pointer + the Frame struct's one pointer; table for one segment.
constexpr std::size_t kFrameOverheadWords = 2;
constexpr std::size_t kTableBytes = 8;
// Leeway for frames from other encoders (extra segments, far pointers).
constexpr std::size_t kForeignSlackWords = 64;
// Above this, the partial-frame buffer is released after use rather than kept.
constexpr std::size_t kKeptBufferWords = (std::size_t{2} << 20) / kWordBytes;
// Zero-copy reads: the smallest read offered, and the size above which an
// emptied read buffer is given back (an idle connection must not keep the
// memory of one huge frame).
constexpr std::size_t kMinReadBytes = 64 * 1024;
constexpr std::size_t kShrinkReadBufferBytes = std::size_t{8} << 20;

std::size_t payload_words(std::size_t payload_bytes) { return (payload_bytes + kWordBytes - 1) / kWordBytes; }

struct FrameFailure {
  Error error;
};

[[noreturn]] void fail(ErrorKind kind, std::string message) { throw FrameFailure{make_error(kind, std::move(message))}; }

}  // namespace

std::size_t framed_size(std::size_t payload_bytes) {
  return kTableBytes + (kFrameOverheadWords + payload_words(payload_bytes)) * kWordBytes;
}

Result<std::span<std::uint8_t>> frame_in_place(std::size_t payload_bytes, std::vector<std::uint8_t>& out,
                                               const FrameLimits& limits) {
  out.clear();
  if (payload_bytes > limits.max_payload_bytes) {
    return make_error(ErrorKind::overloaded, "frame payload of " + std::to_string(payload_bytes) +
                                                 " bytes exceeds the limit of " +
                                                 std::to_string(limits.max_payload_bytes));
  }
  std::size_t payload_offset = 0;
  {
    detail::InPlaceMessageBuilder builder(out, kFrameOverheadWords + payload_words(payload_bytes));
    auto data = builder.initRoot<schema::Frame>().initPayload(static_cast<unsigned>(payload_bytes));
    payload_offset = static_cast<std::size_t>(data.begin() - out.data());
    builder.serialize();
  }
  // One segment sized for the frame: the payload stayed where it was built.
  STARLING_ASSERT(out.size() == framed_size(payload_bytes));
  STARLING_ASSERT(payload_offset + payload_bytes <= out.size());
  return std::span<std::uint8_t>(out.data() + payload_offset, payload_bytes);
}

Result<std::vector<std::uint8_t>> frame(std::span<const std::uint8_t> payload, const FrameLimits& limits) {
  std::vector<std::uint8_t> out;
  auto room = frame_in_place(payload.size(), out, limits);
  if (!room) return room.error();
  if (!payload.empty()) std::memcpy(room->data(), payload.data(), payload.size());
  return out;
}

FrameDecoder::FrameDecoder(FrameLimits limits) : limits_(limits) {}

std::size_t FrameDecoder::max_frame_words() const {
  return framed_size(limits_.max_payload_bytes) / kWordBytes + kForeignSlackWords;
}

namespace {

// Parses one complete frame of exactly `words` and appends its payload.
void read_frame(kj::ArrayPtr<const capnp::word> words, const FrameLimits& limits,
                std::vector<std::vector<std::uint8_t>>& out) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = words.size() + kForeignSlackWords;
  options.nestingLimit = 4;
  capnp::FlatArrayMessageReader reader(words, options);
  if (reader.getEnd() != words.end()) fail(ErrorKind::corrupt, "frame ends before its announced size");
  auto payload = reader.getRoot<schema::Frame>().getPayload();
  if (payload.size() > limits.max_payload_bytes) {
    fail(ErrorKind::overloaded, "frame payload of " + std::to_string(payload.size()) +
                                    " bytes exceeds the limit of " + std::to_string(limits.max_payload_bytes));
  }
  out.emplace_back(payload.begin(), payload.end());
}

}  // namespace

void FrameDecoder::take_frames(std::span<const std::uint8_t> bytes, std::vector<std::vector<std::uint8_t>>& out) {
  const std::size_t max_words = max_frame_words();
  auto check_announced = [&](std::size_t words) {
    if (words > max_words) {
      fail(ErrorKind::overloaded, "frame announces " + std::to_string(words * kWordBytes) +
                                      " bytes, more than the limit of " + std::to_string(max_words * kWordBytes));
    }
  };
  for (;;) {
    if (buffered_bytes_ == 0) {
      if (bytes.empty()) return;
      // Fast path: a whole frame starts word-aligned at the head of the
      // chunk and is read in place, without passing through the buffer.
      if (bytes.size() >= kWordBytes && reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(capnp::word) == 0) {
        auto words = kj::arrayPtr(reinterpret_cast<const capnp::word*>(bytes.data()), bytes.size() / kWordBytes);
        std::size_t expected = capnp::expectedSizeInWordsFromPrefix(words);
        check_announced(expected);
        if (expected <= words.size()) {
          read_frame(words.slice(0, expected), limits_, out);
          bytes = bytes.subspan(expected * kWordBytes);
          continue;
        }
      }
    }
    // Slow path: gather the frame in the buffer. The announced size is
    // re-read from every complete word held (first word, then more of the
    // segment table, then the whole frame). It only grows as the prefix grows,
    // so checking it each time rejects an oversized frame as early as the
    // bytes allow, whatever the chunking, and nothing beyond an accepted size
    // is ever buffered.
    std::size_t have_words = buffered_bytes_ / kWordBytes;
    std::size_t need_words =
        have_words == 0 ? 1
                        : capnp::expectedSizeInWordsFromPrefix(
                              kj::arrayPtr(reinterpret_cast<const capnp::word*>(buffer_.data()), have_words));
    check_announced(need_words);
    std::size_t need_bytes = need_words * kWordBytes;
    if (buffered_bytes_ == need_bytes) {
      read_frame(kj::arrayPtr(reinterpret_cast<const capnp::word*>(buffer_.data()), need_words), limits_, out);
      buffered_bytes_ = 0;
      if (buffer_.size() > kKeptBufferWords) buffer_ = {};
      continue;
    }
    if (buffered_bytes_ > need_bytes) fail(ErrorKind::corrupt, "frame segment table shrank as it was read");
    if (bytes.empty()) return;  // wait for more input
    if (buffer_.size() < need_words) buffer_.resize(need_words);
    std::size_t take = std::min(need_bytes - buffered_bytes_, bytes.size());
    std::memcpy(reinterpret_cast<std::uint8_t*>(buffer_.data()) + buffered_bytes_, bytes.data(), take);
    buffered_bytes_ += take;
    bytes = bytes.subspan(take);
  }
}

std::span<std::uint8_t> FrameDecoder::prepare(std::size_t suggested_bytes) {
  auto* base = reinterpret_cast<std::uint8_t*>(read_buffer_.data());
  const std::size_t have = read_end_ - read_begin_;
  // Never more than one largest frame at a time: a connection still in its
  // handshake (4 kB frames) must not cost a 64 kB zeroed buffer per socket.
  const std::size_t largest_frame_bytes = max_frame_words() * kWordBytes;
  std::size_t want = std::min(std::max(suggested_bytes, kMinReadBytes), largest_frame_bytes);
  if (!failed_ && have >= kWordBytes) {
    auto words = kj::arrayPtr(reinterpret_cast<const capnp::word*>(base + read_begin_), have / kWordBytes);
    const std::size_t frame_bytes = capnp::expectedSizeInWordsFromPrefix(words) * kWordBytes;
    // An oversized announcement is reported by next(); read no more for it.
    // A large frame's room grows with the bytes that came (doubling), not
    // with what its 8-byte table announces: otherwise 8 bytes would cost us
    // a zeroed buffer of max_frame_bytes.
    if (frame_bytes <= largest_frame_bytes && frame_bytes > have)
      want = std::max(want, std::min(frame_bytes - have, std::max(have, kMinReadBytes)));
  }
  const std::size_t capacity = read_buffer_.size() * kWordBytes;
  if (have == 0 && capacity > kShrinkReadBufferBytes && want < capacity / 4) {
    read_buffer_ = {};
    read_begin_ = read_end_ = 0;
  }
  if (read_buffer_.size() * kWordBytes - read_end_ < want) {
    // Slide the unconsumed tail (it starts on a word boundary) to the front.
    if (read_begin_ > 0) {
      if (have > 0) std::memmove(base, base + read_begin_, have);
      read_begin_ = 0;
      read_end_ = have;
    }
    if (read_buffer_.size() * kWordBytes - read_end_ < want) {
      read_buffer_.resize((read_end_ + want + kWordBytes - 1) / kWordBytes);
    }
  }
  base = reinterpret_cast<std::uint8_t*>(read_buffer_.data());
  return {base + read_end_, read_buffer_.size() * kWordBytes - read_end_};
}

void FrameDecoder::release_if_idle() {
  if (buffered_bytes() != 0) return;
  buffer_ = {};
  read_buffer_ = {};
  read_begin_ = read_end_ = 0;
}

void FrameDecoder::commit(std::size_t bytes) {
  STARLING_ASSERT(read_end_ + bytes <= read_buffer_.size() * kWordBytes);
  read_end_ += bytes;
}

Result<std::optional<std::span<std::uint8_t>>> FrameDecoder::next() {
  if (failed_) return error_;
  const std::size_t have = read_end_ - read_begin_;
  if (have < kWordBytes) {
    if (have == 0) read_begin_ = read_end_ = 0;
    return std::optional<std::span<std::uint8_t>>{};
  }
  auto* base = reinterpret_cast<std::uint8_t*>(read_buffer_.data());
  try {
    auto words = kj::arrayPtr(reinterpret_cast<const capnp::word*>(base + read_begin_), have / kWordBytes);
    const std::size_t expected = capnp::expectedSizeInWordsFromPrefix(words);
    if (expected > max_frame_words()) {
      fail(ErrorKind::overloaded, "frame announces " + std::to_string(expected * kWordBytes) +
                                      " bytes, more than the limit of " +
                                      std::to_string(max_frame_words() * kWordBytes));
    }
    if (expected > words.size()) return std::optional<std::span<std::uint8_t>>{};
    capnp::ReaderOptions options;
    options.traversalLimitInWords = expected + kForeignSlackWords;
    options.nestingLimit = 4;
    capnp::FlatArrayMessageReader reader(words.slice(0, expected), options);
    if (reader.getEnd() != words.slice(0, expected).end()) fail(ErrorKind::corrupt, "frame ends before its announced size");
    auto payload = reader.getRoot<schema::Frame>().getPayload();
    if (payload.size() > limits_.max_payload_bytes) {
      fail(ErrorKind::overloaded, "frame payload of " + std::to_string(payload.size()) +
                                      " bytes exceeds the limit of " + std::to_string(limits_.max_payload_bytes));
    }
    // The reader bounds-checked the payload inside this frame's words, which
    // are our own (writable) buffer.
    auto* first = const_cast<std::uint8_t*>(payload.begin());
    read_begin_ += expected * kWordBytes;
    return std::optional<std::span<std::uint8_t>>{std::span<std::uint8_t>(first, payload.size())};
  } catch (const FrameFailure& failure) {
    error_ = failure.error;
  } catch (const kj::Exception& exception) {
    error_ = detail::error_from_kj(exception);
    error_.message = "malformed frame: " + std::string(exception.getDescription().cStr());
  }
  failed_ = true;
  read_buffer_ = {};
  read_begin_ = read_end_ = 0;
  return error_;
}

Result<std::vector<std::vector<std::uint8_t>>> FrameDecoder::feed(std::span<const std::uint8_t> bytes) {
  if (failed_) return error_;
  std::vector<std::vector<std::uint8_t>> out;
  try {
    take_frames(bytes, out);
    return out;
  } catch (const FrameFailure& failure) {
    error_ = failure.error;
  } catch (const kj::Exception& exception) {
    error_ = detail::error_from_kj(exception);
    error_.message = "malformed frame: " + std::string(exception.getDescription().cStr());
  } catch (const std::bad_alloc&) {
    error_ = make_error(ErrorKind::overloaded, "out of memory while buffering a frame");
  }
  failed_ = true;
  buffer_ = {};
  buffered_bytes_ = 0;
  return error_;
}

}  // namespace starling::wire
