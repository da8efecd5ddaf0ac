#include <catch2/catch.hpp>

#include <vector>

#include "starling/crypto/datagram.h"

using namespace starling;
using namespace starling::crypto;

namespace {

constexpr std::uint64_t kNow = 1'700'000'000'000;  // a realistic wall clock in ms

std::vector<std::uint8_t> payload(std::uint8_t tag) { return {tag, 1, 2, 3}; }

ErrorKind rejection(DatagramOpener& opener, const SealedDatagram& datagram, std::uint64_t now_ms) {
  Result<std::vector<std::uint8_t>> opened = opener.open(datagram, now_ms);
  REQUIRE_FALSE(opened.ok());
  return opened.error().kind;
}

}  // namespace

TEST_CASE("datagrams round-trip and fail under another swarm key", "[crypto][datagram]") {
  SwarmKey key = SwarmKey::generate();
  Identity identity = Identity::generate();
  const NodeId sender = identity.node_id();
  DatagramSealer sealer(key, identity);
  DatagramOpener opener(key);
  SealedDatagram datagram = sealer.seal(payload(7), kNow);
  CHECK(datagram.sender == sender);
  CHECK(datagram.sender_key == identity.public_key());
  CHECK(datagram.timestamp_ms == kNow);
  Result<std::vector<std::uint8_t>> opened = opener.open(datagram, kNow + 5);
  REQUIRE(opened.ok());
  CHECK(*opened == payload(7));

  DatagramOpener stranger(SwarmKey::generate());
  CHECK(rejection(stranger, sealer.seal(payload(8), kNow), kNow) == ErrorKind::security);
  CHECK(stranger.tracked_senders() == 0);  // failures leave no state behind
}

TEST_CASE("datagram metadata and contents are authenticated", "[crypto][datagram]") {
  SwarmKey key = SwarmKey::generate();
  Identity identity = Identity::generate();
  DatagramSealer sealer(key, identity);
  DatagramOpener opener(key);
  SealedDatagram original = sealer.seal(payload(1), kNow);
  SealedDatagram changed = original;
  changed.timestamp_ms += 1;
  CHECK(rejection(opener, changed, kNow) == ErrorKind::security);
  changed = original;
  changed.counter += 1;
  CHECK(rejection(opener, changed, kNow) == ErrorKind::security);
  changed = original;
  changed.sender = Identity::generate().node_id();
  CHECK(rejection(opener, changed, kNow) == ErrorKind::security);
  changed = original;
  changed.nonce[0] ^= 1;
  CHECK(rejection(opener, changed, kNow) == ErrorKind::security);
  changed = original;
  changed.ciphertext[0] ^= 1;
  CHECK(rejection(opener, changed, kNow) == ErrorKind::security);
  changed = original;
  changed.ciphertext.resize(kDatagramTagBytes - 1);
  CHECK(rejection(opener, changed, kNow) == ErrorKind::corrupt);
  // None of the forgeries poisoned the replay window.
  CHECK(opener.open(original, kNow).ok());
}

TEST_CASE("replayed datagrams are rejected, reordered ones are accepted once", "[crypto][datagram]") {
  SwarmKey key = SwarmKey::generate();
  Identity identity = Identity::generate();
  DatagramSealer sealer(key, identity);
  DatagramOpener opener(key);
  SealedDatagram first = sealer.seal(payload(1), kNow);
  SealedDatagram second = sealer.seal(payload(2), kNow + 1);
  SealedDatagram third = sealer.seal(payload(3), kNow + 2);
  CHECK(first.counter < second.counter);
  CHECK(second.counter < third.counter);
  REQUIRE(opener.open(third, kNow + 3).ok());
  REQUIRE(opener.open(first, kNow + 3).ok());   // late, but new
  CHECK(rejection(opener, first, kNow + 4) == ErrorKind::security);
  CHECK(rejection(opener, third, kNow + 4) == ErrorKind::security);
  REQUIRE(opener.open(second, kNow + 4).ok());
  CHECK(rejection(opener, second, kNow + 5) == ErrorKind::security);
}

TEST_CASE("datagrams older than the replay window are rejected", "[crypto][datagram]") {
  SwarmKey key = SwarmKey::generate();
  DatagramLimits limits;
  limits.replay_window = 8;
  Identity identity = Identity::generate();
  DatagramSealer sealer(key, identity);
  DatagramOpener opener(key, limits);
  SealedDatagram held_back = sealer.seal(payload(0), kNow);
  for (int i = 0; i < 20; ++i) REQUIRE(opener.open(sealer.seal(payload(1), kNow), kNow).ok());
  CHECK(rejection(opener, held_back, kNow) == ErrorKind::security);
}

TEST_CASE("stale and future datagrams are rejected by the freshness window", "[crypto][datagram]") {
  SwarmKey key = SwarmKey::generate();
  Identity identity = Identity::generate();
  DatagramSealer sealer(key, identity);
  DatagramOpener opener(key);  // 30 s window
  SealedDatagram datagram = sealer.seal(payload(1), kNow);
  Result<std::vector<std::uint8_t>> stale = opener.open(datagram, kNow + 30'001);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().kind == ErrorKind::security);
  CHECK_THAT(stale.error().message, Catch::Contains("stale"));
  Result<std::vector<std::uint8_t>> future = opener.open(datagram, kNow - 30'001);
  REQUIRE_FALSE(future.ok());
  CHECK_THAT(future.error().message, Catch::Contains("future"));
  CHECK(opener.open(datagram, kNow + 30'000).ok());  // the edge is still fresh
  // After the replay state for this sender is long gone, the old datagram is
  // still refused: by then it is stale.
  CHECK(rejection(opener, datagram, kNow + 10 * 60'000) == ErrorKind::security);
}

TEST_CASE("a restarted sender is accepted even though it forgot its counter", "[crypto][datagram]") {
  SwarmKey key = SwarmKey::generate();
  Identity sender = Identity::generate();
  DatagramOpener opener(key);
  {
    DatagramSealer before(key, sender);
    for (int i = 0; i < 100; ++i) REQUIRE(opener.open(before.seal(payload(1), kNow), kNow).ok());
  }
  DatagramSealer after(key, sender);  // restarted one millisecond later
  CHECK(opener.open(after.seal(payload(2), kNow + 1), kNow + 1).ok());
}

TEST_CASE("replay state is bounded in the number of senders", "[crypto][datagram]") {
  SwarmKey key = SwarmKey::generate();
  DatagramLimits limits;
  limits.max_senders = 4;
  DatagramOpener opener(key, limits);
  for (int i = 0; i < 10; ++i) {
    Identity identity = Identity::generate();
    DatagramSealer sealer(key, identity);
    REQUIRE(opener.open(sealer.seal(payload(1), kNow + static_cast<std::uint64_t>(i)), kNow + static_cast<std::uint64_t>(i)).ok());
    CHECK(opener.tracked_senders() <= 4);
  }
}

TEST_CASE("datagrams work in an open swarm, and do not cross into a keyed one", "[crypto][datagram]") {
  SwarmKey open = SwarmKey::open();
  Identity identity = Identity::generate();
  DatagramSealer sealer(open, identity);
  DatagramOpener opener(open);
  CHECK(opener.open(sealer.seal(payload(1), 0), 0).ok());  // simulated time may start at zero
  DatagramOpener keyed(SwarmKey::generate());
  CHECK(rejection(keyed, sealer.seal(payload(2), 1), 1) == ErrorKind::security);
}

// Regression: every member holds the datagram key, so before datagrams were
// signed any member could put another member's node id on a datagram and be
// believed. Now the id must be the hash of the carried key, and that key must
// have signed the datagram.
TEST_CASE("a datagram speaks only for its signer", "[crypto][datagram]") {
  SwarmKey key = SwarmKey::generate();
  Identity honest = Identity::generate();
  Identity liar = Identity::generate();
  DatagramSealer liar_sealer(key, liar);
  DatagramOpener opener(key);

  // A member rewrites the sender to an honest member's id. The AEAD alone
  // would let it re-seal with the shared key; here it cannot sign for them.
  SealedDatagram posing = liar_sealer.seal(payload(1), kNow);
  posing.sender = honest.node_id();
  CHECK(rejection(opener, posing, kNow) == ErrorKind::security);

  // Same, and it also swaps in the honest member's public key: the id matches
  // the key now, but the signature is the liar's.
  posing.sender_key = honest.public_key();
  CHECK(rejection(opener, posing, kNow) == ErrorKind::security);

  // A signature by another identity over an otherwise untouched datagram.
  SealedDatagram resigned = liar_sealer.seal(payload(2), kNow);
  Identity other = Identity::generate();
  resigned.signature = other.sign(std::vector<std::uint8_t>{1, 2, 3});
  CHECK(rejection(opener, resigned, kNow) == ErrorKind::security);
  resigned = liar_sealer.seal(payload(3), kNow);
  resigned.signature[0] ^= 1;
  CHECK(rejection(opener, resigned, kNow) == ErrorKind::security);

  // None of that left state behind, and the liar speaking as itself is fine.
  CHECK(opener.tracked_senders() == 0);
  SealedDatagram own = liar_sealer.seal(payload(4), kNow);
  CHECK(opener.open(own, kNow).ok());
}
