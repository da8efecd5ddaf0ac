// Private helpers shared by the codec and the framer: building a Cap'n Proto
// message directly inside a std::vector, reading word-aligned views, copying
// primitive lists with one memcpy, and turning kj exceptions into Errors.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include <capnp/any.h>
#include <capnp/message.h>
#include <kj/exception.h>

#include "starling/assert.h"
#include "starling/status.h"

namespace starling::wire::detail {

// Cap'n Proto stores numbers little-endian; the one-memcpy list copies below
// rely on the host doing the same.
static_assert(std::endian::native == std::endian::little, "starling's wire layer assumes a little-endian host");

// A MessageBuilder whose first segment lies inside `out`, just after room for
// a one-segment table. When the message fits (the usual case, since callers
// size the segment from the message), the serialized bytes are produced in
// place with no copy of the payload. Further segments, if any, come from the
// heap; serialize() then falls back to a full copy. Unlike
// capnp::MallocMessageBuilder with a caller segment, the destructor leaves the
// first segment as it is, because it is the output.
class InPlaceMessageBuilder final : public capnp::MessageBuilder {
 public:
  // Replaces the contents of `out` with zeroed room for `first_segment_words`.
  InPlaceMessageBuilder(std::vector<std::uint8_t>& out, std::size_t first_segment_words);
  ~InPlaceMessageBuilder() noexcept(false) override = default;
  KJ_DISALLOW_COPY(InPlaceMessageBuilder);

  kj::ArrayPtr<capnp::word> allocateSegment(unsigned minimum_words) override;

  // Leaves the serialized message (segment table + segments) in `out`.
  void serialize();

 private:
  static constexpr std::size_t kTableBytes = 8;  // one segment: count-1 and size, both u32
  std::vector<std::uint8_t>& out_;
  std::size_t first_segment_words_;
  bool first_segment_taken_ = false;
  std::vector<std::unique_ptr<capnp::word[]>> extra_segments_;
  std::size_t next_extra_words_ = 1024;
};

// Views `bytes` as words, copying into `scratch` only when `bytes` is not
// 8-byte aligned. `bytes.size()` must be a multiple of 8.
kj::ArrayPtr<const capnp::word> as_words(std::span<const std::uint8_t> bytes, std::vector<std::uint64_t>& scratch);

// Describes a kj exception raised while reading untrusted bytes.
Error error_from_kj(const kj::Exception& exception, ErrorKind kind = ErrorKind::corrupt);

// Copies a primitive list out of a message. One memcpy when the list is laid
// out as plain elements (what every starling peer writes); element by element
// otherwise (Cap'n Proto also allows a struct list in its place).
template <typename T>
void copy_list(typename capnp::List<T>::Reader list, std::vector<T>& out) {
  out.resize(list.size());
  auto raw = capnp::AnyList::Reader(list).getRawBytes();
  if (raw.size() == out.size() * sizeof(T)) {
    if (!out.empty()) std::memcpy(out.data(), raw.begin(), raw.size());
    return;
  }
  for (unsigned i = 0; i < list.size(); ++i) out[i] = list[i];
}

// Fills a freshly initialised primitive list with one memcpy.
template <typename T>
void fill_list(typename capnp::List<T>::Builder list, std::span<const T> values) {
  STARLING_ASSERT(list.size() == values.size());
  if (values.empty()) return;
  auto raw = capnp::AnyList::Reader(list.asReader()).getRawBytes();
  STARLING_ASSERT(raw.size() == values.size_bytes());
  // The reader view aliases the builder's own (writable) segment memory.
  std::memcpy(const_cast<kj::byte*>(raw.begin()), values.data(), values.size_bytes());
}

}  // namespace starling::wire::detail
