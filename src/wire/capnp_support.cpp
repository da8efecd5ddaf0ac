#include "capnp_support.h"

#include <algorithm>
#include <string>

#include <capnp/serialize.h>
#include <kj/io.h>

namespace starling::wire::detail {
namespace {

// Writes a serialized message into a byte range. A piece that already sits
// at its destination (the in-place first segment) is not copied.
class RangeOutput final : public kj::OutputStream {
 public:
  explicit RangeOutput(std::span<std::uint8_t> range) : range_(range) {}
  void write(const void* buffer, size_t size) override {
    STARLING_ASSERT(size <= range_.size() - position_);
    std::uint8_t* destination = range_.data() + position_;
    if (buffer != destination && size > 0) std::memmove(destination, buffer, size);
    position_ += size;
  }
  std::size_t position() const { return position_; }

 private:
  std::span<std::uint8_t> range_;
  std::size_t position_ = 0;
};

}  // namespace

InPlaceMessageBuilder::InPlaceMessageBuilder(std::vector<std::uint8_t>& out, std::size_t first_segment_words)
    : out_(out), first_segment_words_(std::max<std::size_t>(first_segment_words, 1)) {
  out_.clear();
  out_.resize(kTableBytes + first_segment_words_ * sizeof(capnp::word));  // zeroed, as capnp requires
  // operator new aligns to at least 16 bytes, so the segment at +8 is word-aligned.
  STARLING_ASSERT(reinterpret_cast<std::uintptr_t>(out_.data() + kTableBytes) % alignof(capnp::word) == 0);
}

kj::ArrayPtr<capnp::word> InPlaceMessageBuilder::allocateSegment(unsigned minimum_words) {
  if (!first_segment_taken_ && minimum_words <= first_segment_words_) {
    first_segment_taken_ = true;
    return kj::arrayPtr(reinterpret_cast<capnp::word*>(out_.data() + kTableBytes), first_segment_words_);
  }
  std::size_t words = std::max<std::size_t>(minimum_words, next_extra_words_);
  next_extra_words_ = std::min<std::size_t>(words * 2, std::size_t{1} << 24);
  extra_segments_.push_back(std::make_unique<capnp::word[]>(words));  // value-initialised: zeroed
  return kj::arrayPtr(extra_segments_.back().get(), words);
}

void InPlaceMessageBuilder::serialize() {
  auto segments = getSegmentsForOutput();
  STARLING_ASSERT(segments.size() >= 1);
  const auto* first = reinterpret_cast<const capnp::word*>(out_.data() + kTableBytes);
  if (segments.size() == 1 && segments[0].begin() == first) {
    // Only the segment table is written; the segment is already in place.
    RangeOutput output(std::span(out_.data(), out_.size()));
    capnp::writeMessage(output, segments);
    out_.resize(output.position());
    return;
  }
  // The message outgrew its first segment: lay it out afresh.
  std::vector<std::uint8_t> fresh(capnp::computeSerializedSizeInWords(segments) * sizeof(capnp::word));
  RangeOutput output(std::span(fresh.data(), fresh.size()));
  capnp::writeMessage(output, segments);
  STARLING_ASSERT(output.position() == fresh.size());
  out_.swap(fresh);
}

kj::ArrayPtr<const capnp::word> as_words(std::span<const std::uint8_t> bytes, std::vector<std::uint64_t>& scratch) {
  STARLING_ASSERT(bytes.size() % sizeof(capnp::word) == 0);
  std::size_t words = bytes.size() / sizeof(capnp::word);
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(capnp::word) == 0) {
    return kj::arrayPtr(reinterpret_cast<const capnp::word*>(bytes.data()), words);
  }
  scratch.resize(words);
  if (words > 0) std::memcpy(scratch.data(), bytes.data(), bytes.size());
  return kj::arrayPtr(reinterpret_cast<const capnp::word*>(scratch.data()), words);
}

Error error_from_kj(const kj::Exception& exception, ErrorKind kind) {
  return make_error(kind, std::string("malformed message: ") + exception.getDescription().cStr());
}

}  // namespace starling::wire::detail
