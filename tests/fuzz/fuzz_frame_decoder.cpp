// libFuzzer target for the stream frame decoder. The first input byte picks
// how the rest is cut into chunks, so split points are fuzzed too. Properties:
// any chunking gives the same frames (or the same error) as feeding all at
// once; the buffer never holds more than one maximal frame; every payload
// re-frames and decodes to itself; the zero-copy reads (prepare / commit /
// next) agree with feed().
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "starling/wire/frame.h"

using namespace starling;
using namespace starling::wire;

namespace {

[[noreturn]] void property_failed(const char* what) {
  std::fprintf(stderr, "fuzz_frame_decoder: %s\n", what);
  std::abort();
}

// Small limit so that "oversized" is reachable with fuzzer-sized inputs.
FrameLimits limits() {
  FrameLimits l;
  l.max_payload_bytes = 2048;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t chunking = data[0];
  std::span<const std::uint8_t> stream(data + 1, size - 1);

  FrameDecoder whole(limits());
  auto all_at_once = whole.feed(stream);

  FrameDecoder pieces(limits());
  std::vector<std::vector<std::uint8_t>> chunked;
  std::uint32_t rng = chunking * 2654435761u + 1;
  bool chunked_ok = true;
  Error chunked_error{ErrorKind::corrupt, ""};
  for (std::size_t at = 0; at < stream.size();) {
    rng = rng * 1664525u + 1013904223u;
    std::size_t take = chunking == 0 ? stream.size() : 1 + (rng >> 16) % (chunking % 64 + 1);
    take = std::min(take, stream.size() - at);
    auto got = pieces.feed(stream.subspan(at, take));
    at += take;
    if (!got.ok()) {
      chunked_ok = false;
      chunked_error = got.error();
      break;
    }
    if (pieces.buffered_bytes() > framed_size(limits().max_payload_bytes) + 64 * 8) {
      property_failed("buffer grew beyond one maximal frame");
    }
    for (auto& p : *got) chunked.push_back(std::move(p));
  }

  if (all_at_once.ok() != chunked_ok) property_failed("chunking changed success");
  if (!chunked_ok) {
    if (all_at_once.error().kind != chunked_error.kind) property_failed("chunking changed the error kind");
    if (chunked_error.kind != ErrorKind::corrupt && chunked_error.kind != ErrorKind::overloaded) {
      property_failed("unexpected error kind");
    }
    return 0;
  }
  if (*all_at_once != chunked) property_failed("chunking changed the frames");

  // Zero-copy reads, in chunks of the same sizes.
  FrameDecoder in_place(limits());
  std::vector<std::vector<std::uint8_t>> pulled;
  rng = chunking * 2654435761u + 1;
  for (std::size_t at = 0; at < stream.size();) {
    rng = rng * 1664525u + 1013904223u;
    std::size_t take = chunking == 0 ? stream.size() : 1 + (rng >> 16) % (chunking % 64 + 1);
    take = std::min(take, stream.size() - at);
    auto room = in_place.prepare(take);
    take = std::min(take, room.size());
    std::copy_n(stream.data() + at, take, room.data());
    in_place.commit(take);
    at += take;
    for (;;) {
      auto next = in_place.next();
      if (!next.ok()) property_failed("zero-copy reads failed where feed() did not");
      if (!next->has_value()) break;
      pulled.emplace_back((*next)->begin(), (*next)->end());
    }
  }
  if (pulled != chunked) property_failed("zero-copy reads gave other frames");
  if (whole.buffered_bytes() != pieces.buffered_bytes()) property_failed("chunking changed the buffered bytes");
  for (const auto& payload : chunked) {
    auto framed = frame(payload, limits());
    if (!framed.ok()) property_failed("an accepted payload does not re-frame");
    FrameDecoder check(limits());
    auto back = check.feed(*framed);
    if (!back.ok() || back->size() != 1 || back->front() != payload) property_failed("re-framed payload differs");
  }
  return 0;
}
