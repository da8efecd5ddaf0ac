// The frame AEAD choice: AES-256-GCM when both ends offer it, ChaCha20-Poly1305
// otherwise; both carry frames and reject tampering; the offers are bound to
// the handshake so nobody in the middle can quietly downgrade a session.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <numeric>
#include <vector>

#include "../../src/crypto/handshake_steps.h"  // to forge a hello re-sealed with another offer
#include "starling/crypto/frame.h"
#include "starling/crypto/handshake.h"
#include "session_pair.h"

using namespace starling;
using namespace starling::crypto;

namespace {

constexpr std::uint32_t kBoth = kFrameAeadChaCha20Poly1305 | kFrameAeadAes256Gcm;
constexpr std::uint32_t kChaChaOnly = kFrameAeadChaCha20Poly1305;

SymmetricKey test_key(std::uint8_t fill) {
  std::array<std::uint8_t, 32> bytes{};
  bytes.fill(fill);
  return SymmetricKey(bytes);
}

std::vector<std::uint8_t> pattern(std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  std::iota(bytes.begin(), bytes.end(), std::uint8_t{7});
  return bytes;
}

// This machine's AES; the AES-specific checks say so when they cannot run.
bool have_aes() {
  if (aes256gcm_available()) return true;
  WARN("no AES instructions on this CPU: AES-256-GCM checks skipped");
  return false;
}

Result<testing::SessionPair> handshake(std::uint32_t initiator_offer, std::uint32_t responder_offer) {
  static const Identity alice = Identity::generate();
  static const Identity bob = Identity::generate();
  static const SwarmKey key = SwarmKey::generate();
  return testing::run_handshake(alice, key, bob, key, std::nullopt, initiator_offer, responder_offer);
}

// A 235 KB frame (the MLP's dense delta) each way, then a tampered one.
void check_carries_frames_and_rejects_tampering(Session& a, Session& b) {
  const std::vector<std::uint8_t> message = pattern(235'146);
  testing::check_both_ways(a, b, message, 3);
  FrameSealer a_to_b = a.make_sealer();
  FrameOpener b_from_a = b.make_opener();
  auto sealed = a_to_b.seal_to_vector(message);
  REQUIRE(sealed.ok());
  (*sealed)[100'000] ^= 0x04;
  auto opened = b_from_a.open_to_vector(*sealed);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().kind == ErrorKind::security);
  CHECK(b_from_a.broken());
}

}  // namespace

TEST_CASE("the frame AEAD is AES-256-GCM only when both ends offer it", "[crypto][frame][aead]") {
  CHECK(choose_frame_aead(kBoth, kBoth) == FrameAead::aes256_gcm);
  CHECK(choose_frame_aead(kBoth, kChaChaOnly) == FrameAead::chacha20_poly1305);
  CHECK(choose_frame_aead(kChaChaOnly, kBoth) == FrameAead::chacha20_poly1305);
  CHECK(choose_frame_aead(kChaChaOnly, kChaChaOnly) == FrameAead::chacha20_poly1305);
  // Unknown bits (a newer peer's ciphers) change nothing.
  CHECK(choose_frame_aead(kBoth | 0x80u, kChaChaOnly | 0x80u) == FrameAead::chacha20_poly1305);
  CHECK(std::string(frame_aead_name(FrameAead::aes256_gcm)) == "aes256-gcm");
  CHECK(std::string(frame_aead_name(FrameAead::chacha20_poly1305)) == "chacha20-poly1305");
}

TEST_CASE("STARLING_NO_AES_GCM takes AES-256-GCM out of the local offer", "[crypto][frame][aead]") {
  REQUIRE(::unsetenv("STARLING_NO_AES_GCM") == 0);
  const std::uint32_t normal = local_frame_aeads();
  CHECK((normal & kFrameAeadChaCha20Poly1305) != 0);
  CHECK(((normal & kFrameAeadAes256Gcm) != 0) == aes256gcm_available());
  REQUIRE(::setenv("STARLING_NO_AES_GCM", "1", 1) == 0);
  CHECK(local_frame_aeads() == kChaChaOnly);
  REQUIRE(::setenv("STARLING_NO_AES_GCM", "0", 1) == 0);
  CHECK(local_frame_aeads() == normal);
  REQUIRE(::unsetenv("STARLING_NO_AES_GCM") == 0);
}

TEST_CASE("AES-256-GCM frames round-trip and reject tampering, replay and the other AEAD",
          "[crypto][frame][aead]") {
  if (!have_aes()) return;
  SymmetricKey key = test_key(0x33);
  FrameSealer sealer(key, FrameAead::aes256_gcm);
  FrameOpener opener(key, FrameAead::aes256_gcm);
  FrameOpener chacha_opener(key, FrameAead::chacha20_poly1305);
  CHECK(sealer.aead() == FrameAead::aes256_gcm);

  // In place, with associated data, as the runtime does it.
  std::vector<std::uint8_t> message = pattern(4096);
  std::vector<std::uint8_t> buffer = message;
  buffer.resize(sealed_frame_size(message.size()));
  REQUIRE(sealer.seal_in_place(buffer, message.size(), std::vector<std::uint8_t>{1, 2}).ok());
  CHECK_FALSE(std::equal(message.begin(), message.end(), buffer.begin()));
  // The same bytes under the same key and counter are not a ChaCha20 frame:
  // AES really is in use.
  std::vector<std::uint8_t> copy = buffer;
  CHECK_FALSE(chacha_opener.open_in_place(copy, std::vector<std::uint8_t>{1, 2}).ok());
  auto opened = opener.open_in_place(buffer, std::vector<std::uint8_t>{1, 2});
  REQUIRE(opened.ok());
  CHECK(std::equal(opened->begin(), opened->end(), message.begin(), message.end()));

  auto first = sealer.seal_to_vector(message);
  REQUIRE(first.ok());
  REQUIRE(opener.open_to_vector(*first).ok());
  auto replayed = opener.open_to_vector(*first);  // counter moved on: a replay fails
  REQUIRE_FALSE(replayed.ok());
  CHECK(replayed.error().kind == ErrorKind::security);
  CHECK(opener.broken());

  FrameOpener fresh(key, FrameAead::aes256_gcm);
  FrameSealer fresh_sealer(key, FrameAead::aes256_gcm);
  auto tagged = fresh_sealer.seal_to_vector(message);
  REQUIRE(tagged.ok());
  tagged->back() ^= 0x01;
  CHECK_FALSE(fresh.open_to_vector(*tagged).ok());
}

TEST_CASE("sessions negotiate the frame AEAD and carry frames with either", "[crypto][handshake][aead]") {
  SECTION("both offer AES-256-GCM") {
    if (!have_aes()) return;
    Result<testing::SessionPair> sessions = handshake(kBoth, kBoth);
    REQUIRE(sessions.ok());
    CHECK(sessions->initiator.frame_aead == FrameAead::aes256_gcm);
    CHECK(sessions->responder.frame_aead == FrameAead::aes256_gcm);
    check_carries_frames_and_rejects_tampering(sessions->initiator, sessions->responder);
  }
  SECTION("both ChaCha20-Poly1305 only") {
    Result<testing::SessionPair> sessions = handshake(kChaChaOnly, kChaChaOnly);
    REQUIRE(sessions.ok());
    CHECK(sessions->initiator.frame_aead == FrameAead::chacha20_poly1305);
    CHECK(sessions->responder.frame_aead == FrameAead::chacha20_poly1305);
    check_carries_frames_and_rejects_tampering(sessions->initiator, sessions->responder);
  }
  SECTION("a peer without AES talks to one with it, either way round") {
    for (auto [initiator, responder] : {std::pair{kChaChaOnly, kBoth}, std::pair{kBoth, kChaChaOnly}}) {
      Result<testing::SessionPair> sessions = handshake(initiator, responder);
      REQUIRE(sessions.ok());
      CHECK(sessions->initiator.frame_aead == FrameAead::chacha20_poly1305);
      CHECK(sessions->responder.frame_aead == FrameAead::chacha20_poly1305);
      check_carries_frames_and_rejects_tampering(sessions->initiator, sessions->responder);
    }
  }
}

TEST_CASE("a peer that does not offer ChaCha20-Poly1305 is unsupported", "[crypto][handshake][aead]") {
  Identity alice = Identity::generate(), bob = Identity::generate();
  SwarmKey key = SwarmKey::generate();
  HandshakeInitiator initiator(alice, key);
  HandshakeHello hello = initiator.start();
  hello.frame_aeads = kFrameAeadAes256Gcm;
  Result<HandshakeReply> refused = HandshakeResponder(bob, key).on_hello(hello);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().kind == ErrorKind::unsupported);

  HandshakeInitiator initiator2(alice, key);
  HandshakeResponder responder(bob, key);
  Result<HandshakeReply> reply = responder.on_hello(initiator2.start());
  REQUIRE(reply.ok());
  reply->frame_aeads = 0;
  Result<InitiatorDone> done = initiator2.on_reply(*reply);
  REQUIRE_FALSE(done.ok());
  CHECK(done.error().kind == ErrorKind::unsupported);
}

TEST_CASE("an offer changed in flight fails the handshake: no silent downgrade", "[crypto][handshake][aead]") {
  if (!have_aes()) return;
  Identity alice = Identity::generate(), bob = Identity::generate();
  SwarmKey key = SwarmKey::generate();

  SECTION("the hello's offer stripped of AES") {
    HandshakeInitiator initiator(alice, key, std::nullopt, kBoth);
    HandshakeHello hello = initiator.start();
    REQUIRE(hello.frame_aeads == kBoth);
    hello.frame_aeads = kChaChaOnly;
    Result<HandshakeReply> reply = HandshakeResponder(bob, key, kBoth).on_hello(hello);
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.error().kind == ErrorKind::security);
  }
  SECTION("the hello re-sealed with a weaker offer by someone holding the swarm key") {
    // The responder accepts such a hello (the swarm key is all it checks), but
    // its reply is bound to the offer it saw, and the initiator refuses it.
    HandshakeInitiator initiator(alice, key, std::nullopt, kBoth);
    HandshakeHello hello = initiator.start();
    hello.frame_aeads = kChaChaOnly;
    internal::seal_hello_identity(key, hello, alice.public_key());
    HandshakeResponder responder(bob, key, kBoth);
    Result<HandshakeReply> reply = responder.on_hello(hello);
    REQUIRE(reply.ok());
    Result<InitiatorDone> done = initiator.on_reply(*reply);
    REQUIRE_FALSE(done.ok());
    CHECK(done.error().kind == ErrorKind::security);
  }
  SECTION("the reply's offer stripped of AES") {
    HandshakeInitiator initiator(alice, key, std::nullopt, kBoth);
    HandshakeResponder responder(bob, key, kBoth);
    Result<HandshakeReply> reply = responder.on_hello(initiator.start());
    REQUIRE(reply.ok());
    REQUIRE(reply->frame_aeads == kBoth);
    reply->frame_aeads = kChaChaOnly;
    Result<InitiatorDone> done = initiator.on_reply(*reply);
    REQUIRE_FALSE(done.ok());
    CHECK(done.error().kind == ErrorKind::security);
  }
  SECTION("control: the same messages unchanged give an AES session") {
    HandshakeInitiator initiator(alice, key, std::nullopt, kBoth);
    HandshakeResponder responder(bob, key, kBoth);
    HandshakeHello hello = initiator.start();
    internal::seal_hello_identity(key, hello, alice.public_key());  // re-sealed but unchanged: still fine
    Result<HandshakeReply> reply = responder.on_hello(hello);
    REQUIRE(reply.ok());
    Result<InitiatorDone> done = initiator.on_reply(*reply);
    REQUIRE(done.ok());
    CHECK(done->session.frame_aead == FrameAead::aes256_gcm);
    Result<Session> session = responder.on_finish(done->finish);
    REQUIRE(session.ok());
    CHECK(session->frame_aead == FrameAead::aes256_gcm);
  }
}
