#include <catch2/catch.hpp>

#include <numeric>
#include <vector>

#include "starling/crypto/frame.h"
#include "starling/crypto/keys.h"

using namespace starling;
using namespace starling::crypto;

namespace {

SymmetricKey test_key(std::uint8_t fill) {
  std::array<std::uint8_t, 32> bytes{};
  bytes.fill(fill);
  return SymmetricKey(bytes);
}

std::vector<std::uint8_t> pattern(std::size_t size, std::uint8_t start = 0) {
  std::vector<std::uint8_t> bytes(size);
  std::iota(bytes.begin(), bytes.end(), start);
  return bytes;
}

struct Link {
  SymmetricKey key = test_key(0x5A);
  FrameSealer sealer{key};
  FrameOpener opener{key};
};

void check_rejected(FrameOpener& opener, const std::vector<std::uint8_t>& frame) {
  Result<std::vector<std::uint8_t>> opened = opener.open_to_vector(frame);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().kind == ErrorKind::security);
  CHECK(opener.broken());
}

}  // namespace

TEST_CASE("frames round-trip in order, of every size", "[crypto][frame]") {
  Link link;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{63}, std::size_t{16384}, std::size_t{1} << 20}) {
    std::vector<std::uint8_t> message = pattern(size, static_cast<std::uint8_t>(size));
    Result<std::vector<std::uint8_t>> sealed = link.sealer.seal_to_vector(message);
    REQUIRE(sealed.ok());
    CHECK(sealed->size() == sealed_frame_size(size));
    if (size >= 64) CHECK_FALSE(std::equal(message.begin(), message.begin() + 64, sealed->begin()));
    Result<std::vector<std::uint8_t>> opened = link.opener.open_to_vector(*sealed);
    REQUIRE(opened.ok());
    CHECK(*opened == message);
  }
  CHECK(link.sealer.frames_sealed() == 5);
  CHECK(link.opener.frames_opened() == 5);
}

TEST_CASE("frames seal and open in place, with associated data", "[crypto][frame]") {
  Link link;
  std::vector<std::uint8_t> header{0xF0, 0x0D};
  std::vector<std::uint8_t> message = pattern(1000);
  std::vector<std::uint8_t> buffer = message;
  buffer.resize(sealed_frame_size(message.size()));
  Result<std::size_t> written = link.sealer.seal_in_place(buffer, message.size(), header);
  REQUIRE(written.ok());
  CHECK(*written == buffer.size());
  Result<std::span<std::uint8_t>> opened = link.opener.open_in_place(buffer, header);
  REQUIRE(opened.ok());
  CHECK(opened->data() == buffer.data());
  CHECK(std::equal(opened->begin(), opened->end(), message.begin(), message.end()));

  // Associated data is authenticated: a changed header breaks the frame.
  auto sealed = link.sealer.seal_to_vector(message, header);
  REQUIRE(sealed.ok());
  std::vector<std::uint8_t> other_header{0xF0, 0x0E};
  Result<std::vector<std::uint8_t>> wrong = link.opener.open_to_vector(*sealed, other_header);
  CHECK_FALSE(wrong.ok());
}

TEST_CASE("altered, truncated, replayed and reordered frames break the channel", "[crypto][frame]") {
  Link link;
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < 3; ++i) frames.push_back(*link.sealer.seal_to_vector(pattern(100, static_cast<std::uint8_t>(i))));

  SECTION("altered ciphertext") {
    frames[0][17] ^= 0x01;
    check_rejected(link.opener, frames[0]);
  }
  SECTION("altered tag") {
    frames[0].back() ^= 0x80;
    check_rejected(link.opener, frames[0]);
  }
  SECTION("truncated") {
    frames[0].pop_back();
    check_rejected(link.opener, frames[0]);
  }
  SECTION("shorter than a tag") {
    check_rejected(link.opener, std::vector<std::uint8_t>(kFrameTagBytes - 1, 0));
  }
  SECTION("extended") {
    frames[0].push_back(0);
    check_rejected(link.opener, frames[0]);
  }
  SECTION("replayed") {
    REQUIRE(link.opener.open_to_vector(frames[0]).ok());
    check_rejected(link.opener, frames[0]);
  }
  SECTION("reordered") {
    check_rejected(link.opener, frames[1]);
  }
  SECTION("dropped") {
    REQUIRE(link.opener.open_to_vector(frames[0]).ok());
    check_rejected(link.opener, frames[2]);
  }
  // Once broken, even the genuine next frame is refused.
  Result<std::vector<std::uint8_t>> after = link.opener.open_to_vector(frames[0]);
  if (link.opener.broken()) {
    REQUIRE_FALSE(after.ok());
    CHECK(after.error().kind == ErrorKind::security);
  }
}

TEST_CASE("a frame sealed under another key is rejected", "[crypto][frame]") {
  SymmetricKey key_a = test_key(1);
  SymmetricKey key_b = test_key(2);
  FrameSealer sealer(key_a);
  FrameOpener opener(key_b);
  check_rejected(opener, *sealer.seal_to_vector(pattern(10)));
}
