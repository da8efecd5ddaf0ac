// Stream framing: frames rebuilt from any chunking, bounded memory, and
// oversized or malformed frames rejected.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "sample_messages.h"
#include "starling/wire/codec.h"
#include "starling/wire/frame.h"

using namespace starling;
using namespace starling::wire;

namespace {

std::vector<std::uint8_t> payload_of(std::size_t size, std::uint8_t seed) {
  std::vector<std::uint8_t> payload(size);
  for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<std::uint8_t>(seed + i * 3);
  return payload;
}

std::vector<std::uint8_t> framed(std::span<const std::uint8_t> payload, const FrameLimits& limits = {}) {
  auto bytes = frame(payload, limits);
  REQUIRE(bytes.ok());
  return std::move(bytes).value();
}

using Payloads = std::vector<std::vector<std::uint8_t>>;

void append(Payloads& into, Result<Payloads> more) {
  REQUIRE(more.ok());
  for (auto& p : *more) into.push_back(std::move(p));
}

struct Stream {
  Payloads payloads;
  std::vector<std::uint8_t> bytes;
};

Stream make_stream(std::initializer_list<std::size_t> sizes) {
  Stream stream;
  std::uint8_t seed = 1;
  for (std::size_t size : sizes) {
    stream.payloads.push_back(payload_of(size, seed++));
    auto f = framed(stream.payloads.back());
    stream.bytes.insert(stream.bytes.end(), f.begin(), f.end());
  }
  return stream;
}

}  // namespace

TEST_CASE("a frame round-trips and has the announced size", "[wire][frame]") {
  for (std::size_t size : {0, 1, 7, 8, 9, 4096, 100000}) {
    auto payload = payload_of(size, 5);
    auto bytes = framed(payload);
    CHECK(bytes.size() == framed_size(size));
    CHECK(bytes.size() % 8 == 0);
    FrameDecoder decoder;
    auto frames = decoder.feed(bytes);
    REQUIRE(frames.ok());
    REQUIRE(frames->size() == 1);
    CHECK(frames->front() == payload);
    CHECK(decoder.buffered_bytes() == 0);
  }
}

TEST_CASE("frames survive a split at every byte boundary", "[wire][frame]") {
  Stream stream = make_stream({0, 1, 7, 8, 9, 300, 13});
  for (std::size_t split = 0; split <= stream.bytes.size(); ++split) {
    INFO("split at " << split);
    FrameDecoder decoder;
    Payloads got;
    append(got, decoder.feed(std::span(stream.bytes).first(split)));
    append(got, decoder.feed(std::span(stream.bytes).subspan(split)));
    CHECK(got == stream.payloads);
    CHECK(decoder.buffered_bytes() == 0);
  }
}

TEST_CASE("frames survive being fed one byte at a time and in odd chunks", "[wire][frame]") {
  Stream stream = make_stream({5, 0, 1000, 64, 3});
  for (std::size_t chunk : {1, 3, 5, 8, 13, 100}) {
    INFO("chunk of " << chunk);
    FrameDecoder decoder;
    Payloads got;
    for (std::size_t at = 0; at < stream.bytes.size(); at += chunk) {
      auto piece = std::span(stream.bytes).subspan(at, std::min(chunk, stream.bytes.size() - at));
      append(got, decoder.feed(piece));
      CHECK(decoder.buffered_bytes() <= framed_size(1000));
    }
    CHECK(got == stream.payloads);
  }
}

TEST_CASE("many frames in one chunk, aligned or not", "[wire][frame]") {
  Stream stream;
  for (int i = 0; i < 1000; ++i) {
    stream.payloads.push_back(payload_of(static_cast<std::size_t>(i % 37), static_cast<std::uint8_t>(i)));
    auto f = framed(stream.payloads.back());
    stream.bytes.insert(stream.bytes.end(), f.begin(), f.end());
  }
  SECTION("aligned") {
    FrameDecoder decoder;
    auto got = decoder.feed(stream.bytes);
    REQUIRE(got.ok());
    CHECK(*got == stream.payloads);
  }
  SECTION("unaligned") {
    std::vector<std::uint8_t> shifted(stream.bytes.size() + 3);
    std::memcpy(shifted.data() + 3, stream.bytes.data(), stream.bytes.size());
    FrameDecoder decoder;
    auto got = decoder.feed(std::span(shifted).subspan(3));
    REQUIRE(got.ok());
    CHECK(*got == stream.payloads);
  }
}

TEST_CASE("an oversized announced frame is rejected from its header alone", "[wire][frame]") {
  FrameLimits small;
  small.max_payload_bytes = 1024;
  auto big = framed(payload_of(1 << 20, 1));  // a sender with default limits
  FrameDecoder decoder(small);
  // Only the segment table (8 bytes) arrives: the announced size is enough.
  auto result = decoder.feed(std::span(big).first(8));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().kind == ErrorKind::overloaded);
  CHECK(decoder.buffered_bytes() == 0);
  CHECK(decoder.failed());
  // The connection is out of step for good.
  auto later = decoder.feed(framed(payload_of(10, 1)));
  REQUIRE_FALSE(later.ok());
  CHECK(later.error().kind == ErrorKind::overloaded);
}

TEST_CASE("a huge announced length is rejected without allocating it", "[wire][frame]") {
  // A table announcing one segment of 2^32-1 words (32 GiB).
  auto bytes = framed(payload_of(16, 1));
  std::memset(bytes.data() + 4, 0xff, 4);
  FrameDecoder decoder;
  auto result = decoder.feed(std::span(bytes).first(8));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().kind == ErrorKind::overloaded);
  // And a table announcing 2^31 segments, which would be a 8 GiB table.
  std::memset(bytes.data(), 0xff, 3);
  bytes[3] = 0x7f;
  FrameDecoder other;
  auto table = other.feed(std::span(bytes).first(8));
  REQUIRE_FALSE(table.ok());
  CHECK(table.error().kind == ErrorKind::overloaded);
}

TEST_CASE("the payload limit is exact", "[wire][frame]") {
  FrameLimits limits;
  limits.max_payload_bytes = 100;
  CHECK(frame(payload_of(100, 1), limits).ok());
  auto refused = frame(payload_of(101, 1), limits);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::overloaded);
  FrameDecoder decoder(limits);
  auto got = decoder.feed(framed(payload_of(100, 1)));
  REQUIRE(got.ok());
  CHECK(got->size() == 1);
}

TEST_CASE("a malformed frame is corrupt", "[wire][frame]") {
  // A valid segment table followed by a root pointer of garbage.
  auto bytes = framed(payload_of(16, 1));
  std::memset(bytes.data() + 8, 0xff, bytes.size() - 8);
  FrameDecoder decoder;
  auto result = decoder.feed(bytes);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().kind == ErrorKind::corrupt);
}

TEST_CASE("random garbage streams never crash the frame decoder", "[wire][frame]") {
  std::uint64_t state = 0x2545f4914f6cdd1dull;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  FrameLimits limits;
  limits.max_payload_bytes = 4096;
  for (int round = 0; round < 5000; ++round) {
    std::vector<std::uint8_t> bytes(next() % 300);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(next());
    if (round % 2 == 0 && bytes.size() >= 8) std::memset(bytes.data(), 0, 4);  // one segment
    if (round % 4 == 0 && bytes.size() >= 8) bytes[5] = bytes[6] = bytes[7] = 0;  // a small one
    FrameDecoder decoder(limits);
    std::size_t at = 0;
    while (at < bytes.size()) {
      std::size_t take = std::min<std::size_t>(next() % 20 + 1, bytes.size() - at);
      auto got = decoder.feed(std::span(bytes).subspan(at, take));
      at += take;
      if (!got.ok()) {
        auto kind = got.error().kind;
        CHECK((kind == ErrorKind::corrupt || kind == ErrorKind::overloaded));
        break;
      }
      CHECK(decoder.buffered_bytes() <= framed_size(limits.max_payload_bytes) + 64 * 8);
    }
  }
}

TEST_CASE("encode, frame, unframe, decode: the whole path", "[wire][frame][codec]") {
  FrameDecoder decoder;
  std::vector<std::uint8_t> stream;
  auto messages = samples::all();
  for (const auto& message : messages) {
    auto bytes = encode(message);
    REQUIRE(bytes.ok());
    auto f = framed(*bytes);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  Payloads payloads;
  for (std::size_t at = 0; at < stream.size(); at += 61) {
    append(payloads, decoder.feed(std::span(stream).subspan(at, std::min<std::size_t>(61, stream.size() - at))));
  }
  REQUIRE(payloads.size() == messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    auto decoded = decode(payloads[i]);
    REQUIRE(decoded.ok());
    CHECK(*decoded == messages[i]);
  }
}

TEST_CASE("an oversized entry further down the segment table is caught whatever the chunking", "[wire][frame]") {
  // Found by fuzz_frame_decoder: a 257-segment table whose first segment is
  // empty and whose second is huge. Fed all at once or bytewise, the decoder
  // must reach the same verdict once it holds the same bytes.
  std::vector<std::uint8_t> stream(40, 0);
  stream[1] = 0x01;                                       // segment count - 1 = 256
  std::memset(stream.data() + 8, 0xff, 4);                // second segment: 2^32-1 words
  FrameLimits limits;
  limits.max_payload_bytes = 2048;
  FrameDecoder whole(limits);
  auto at_once = whole.feed(stream);
  REQUIRE_FALSE(at_once.ok());
  CHECK(at_once.error().kind == ErrorKind::overloaded);
  FrameDecoder bytewise(limits);
  bool failed = false;
  for (std::size_t i = 0; i < stream.size() && !failed; ++i) {
    auto got = bytewise.feed(std::span(stream).subspan(i, 1));
    if (!got.ok()) {
      CHECK(got.error().kind == ErrorKind::overloaded);
      CHECK(i == 15);  // as soon as the word holding the second entry is complete
      failed = true;
    }
  }
  CHECK(failed);
}

// ---- zero-copy use: prepare / commit / next --------------------------------

namespace {

// Writes `bytes` into the decoder `chunk` bytes at a time (each read as big
// as the decoder offers, at most chunk) and takes every whole frame.
Result<Payloads> pull_all(FrameDecoder& decoder, std::span<const std::uint8_t> bytes, std::size_t chunk) {
  Payloads out;
  while (!bytes.empty()) {
    auto room = decoder.prepare(chunk);
    const std::size_t take = std::min({chunk, room.size(), bytes.size()});
    std::memcpy(room.data(), bytes.data(), take);
    decoder.commit(take);
    bytes = bytes.subspan(take);
    for (;;) {
      auto next = decoder.next();
      if (!next) return next.error();
      if (!next->has_value()) break;
      out.emplace_back((*next)->begin(), (*next)->end());
    }
  }
  return out;
}

}  // namespace

TEST_CASE("frame_in_place builds the same frame as frame()", "[wire][frame]") {
  for (std::size_t size : {0, 1, 9, 4096}) {
    auto payload = payload_of(size, 9);
    std::vector<std::uint8_t> out{1, 2, 3};
    auto room = frame_in_place(size, out);
    REQUIRE(room.ok());
    REQUIRE(room->size() == size);
    if (size > 0) std::memcpy(room->data(), payload.data(), size);
    CHECK(out == framed(payload));
  }
  FrameLimits limits;
  limits.max_payload_bytes = 10;
  std::vector<std::uint8_t> out;
  auto refused = frame_in_place(11, out, limits);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::overloaded);
  CHECK(out.empty());
}

TEST_CASE("zero-copy reads rebuild frames from any chunking", "[wire][frame]") {
  Stream stream = make_stream({0, 5, 4096, 70000, 17, 200000, 8});
  for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{4097}, std::size_t{1} << 20}) {
    INFO("chunk " << chunk);
    FrameDecoder decoder;
    auto payloads = pull_all(decoder, stream.bytes, chunk);
    REQUIRE(payloads.ok());
    CHECK(*payloads == stream.payloads);
    CHECK(decoder.buffered_bytes() == 0);
  }
}

TEST_CASE("zero-copy reads apply the limit current when each frame is taken", "[wire][frame]") {
  Stream stream = make_stream({100, 5000});
  FrameDecoder decoder(FrameLimits{200});
  // Both frames are read before either is taken (reads are at most a frame
  // under the current limit, so this takes several).
  for (std::size_t filled = 0, reads = 0; filled < stream.bytes.size(); ++reads) {
    REQUIRE(reads < 100);
    auto room = decoder.prepare(stream.bytes.size() - filled);
    const std::size_t take = std::min(room.size(), stream.bytes.size() - filled);
    REQUIRE(take > 0);
    std::memcpy(room.data(), stream.bytes.data() + filled, take);
    decoder.commit(take);
    filled += take;
  }
  auto first = decoder.next();
  REQUIRE(first.ok());
  REQUIRE(first->has_value());
  CHECK(std::vector<std::uint8_t>((*first)->begin(), (*first)->end()) == stream.payloads[0]);
  SECTION("raised after the first frame: the second passes") {
    decoder.set_limits(FrameLimits{8000});
    auto second = decoder.next();
    REQUIRE(second.ok());
    REQUIRE(second->has_value());
    CHECK((*second)->size() == 5000);
  }
  SECTION("kept: the second is overloaded, and the decoder stays failed") {
    auto second = decoder.next();
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().kind == ErrorKind::overloaded);
    CHECK(decoder.failed());
    CHECK_FALSE(decoder.next().ok());
  }
}

TEST_CASE("zero-copy reads reject an oversized frame from its segment table", "[wire][frame]") {
  auto big = framed(payload_of(100000, 1));
  FrameDecoder decoder(FrameLimits{1000});
  auto room = decoder.prepare(8);
  std::memcpy(room.data(), big.data(), 8);  // the segment table alone
  decoder.commit(8);
  auto next = decoder.next();
  REQUIRE_FALSE(next.ok());
  CHECK(next.error().kind == ErrorKind::overloaded);
}

TEST_CASE("zero-copy reads: garbage gives a typed error, never a crash", "[wire][frame]") {
  std::vector<std::uint8_t> garbage(4096);
  std::uint32_t state = 12345;
  for (auto& b : garbage) {
    state = state * 1664525u + 1013904223u;
    b = static_cast<std::uint8_t>(state >> 24);
  }
  FrameDecoder decoder(FrameLimits{1 << 20});
  auto result = pull_all(decoder, garbage, 100);
  if (!result.ok()) {
    CHECK((result.error().kind == ErrorKind::corrupt || result.error().kind == ErrorKind::overloaded));
  }
}

TEST_CASE("zero-copy reads: room follows the bytes that came, not what a header announces", "[wire][frame]") {
  SECTION("a handshake-sized limit reads at most about one frame, not 64 kB per socket") {
    FrameDecoder decoder(FrameLimits{4096});
    CHECK(decoder.prepare(65536).size() <= 8192);
  }
  SECTION("8 bytes announcing a 12 MB frame cost no 12 MB buffer; the frame still comes whole") {
    auto big = framed(payload_of(12u << 20, 3));
    FrameDecoder decoder(FrameLimits{16u << 20});
    auto room = decoder.prepare(65536);
    std::memcpy(room.data(), big.data(), 8);  // the segment table alone
    decoder.commit(8);
    CHECK(decoder.prepare(65536).size() <= 256 * 1024);
    std::span<const std::uint8_t> rest(big.data() + 8, big.size() - 8);
    std::size_t received = 8, oversized_rooms = 0;
    for (int reads = 0; !rest.empty(); ++reads) {
      REQUIRE(reads < 100'000);
      auto more = decoder.prepare(65536);
      // Doubling: the room offered never passes what had come by then.
      if (more.size() > std::max<std::size_t>(received, 65536)) ++oversized_rooms;
      const std::size_t take = std::min<std::size_t>({more.size(), rest.size(), 65536});
      std::memcpy(more.data(), rest.data(), take);
      decoder.commit(take);
      rest = rest.subspan(take);
      received += take;
    }
    CHECK(oversized_rooms == 0);
    auto next = decoder.next();
    REQUIRE(next.ok());
    REQUIRE(next->has_value());
    CHECK((*next)->size() == (12u << 20));
  }
}
