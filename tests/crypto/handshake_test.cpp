#include <catch2/catch.hpp>

#include <string>

#include "../../src/crypto/handshake_steps.h"  // to forge messages that are valid but for one detail
#include "starling/crypto/handshake.h"
#include "session_pair.h"

using namespace starling;
using namespace starling::crypto;

namespace {

struct Peer {
  Identity identity = Identity::generate();
};

using Completed = testing::SessionPair;
using testing::run_handshake;

void check_channel(Session& a, Session& b) { testing::check_both_ways(a, b, {1, 2, 3, 4, 5}); }

}  // namespace

TEST_CASE("handshake with the same swarm key authenticates both identities", "[crypto][handshake]") {
  Peer alice, bob;
  SwarmKey key = SwarmKey::generate();
  Result<Completed> result = run_handshake(alice.identity, key, bob.identity, key);
  REQUIRE(result.ok());
  Completed& sessions = *result;
  CHECK(sessions.initiator.peer_id == bob.identity.node_id());
  CHECK(sessions.initiator.peer_public_key == bob.identity.public_key());
  CHECK(sessions.responder.peer_id == alice.identity.node_id());
  CHECK(sessions.initiator.transcript_hash == sessions.responder.transcript_hash);
  CHECK_FALSE(sessions.initiator.open_swarm);
  CHECK(sessions.initiator.send_key.equals(sessions.responder.receive_key));
  CHECK(sessions.initiator.receive_key.equals(sessions.responder.send_key));
  CHECK_FALSE(sessions.initiator.send_key.equals(sessions.initiator.receive_key));
  check_channel(sessions.initiator, sessions.responder);

  // A second handshake between the same peers gets fresh keys.
  Result<Completed> again = run_handshake(alice.identity, key, bob.identity, key);
  REQUIRE(again.ok());
  CHECK_FALSE(again->initiator.send_key.equals(sessions.initiator.send_key));
  CHECK(again->initiator.transcript_hash != sessions.initiator.transcript_hash);
}

TEST_CASE("handshake with a different swarm key fails and yields no session", "[crypto][handshake]") {
  Peer alice, bob;
  SwarmKey alice_key = SwarmKey::generate();
  SwarmKey bob_key = SwarmKey::generate();
  HandshakeInitiator initiator(alice.identity, alice_key);
  HandshakeResponder responder(bob.identity, bob_key);
  Result<HandshakeReply> reply = responder.on_hello(initiator.start());
  REQUIRE_FALSE(reply.ok());
  CHECK(reply.error().kind == ErrorKind::security);
  CHECK(responder.failed());
  CHECK_FALSE(responder.done());
  CHECK_FALSE(initiator.done());
  // The responder stays failed: nothing later gets it to a session.
  CHECK_FALSE(responder.on_finish(HandshakeFinish{}).ok());

  // The other way round: a responder without our key answers a hello it
  // could not have read (forged here with internals); the initiator refuses.
  HandshakeInitiator initiator2(alice.identity, alice_key);
  HandshakeHello hello = initiator2.start();
  internal::EphemeralKeypair ephemeral = internal::make_ephemeral_keypair();
  internal::KxKeys kx;
  REQUIRE(internal::responder_kx(ephemeral, hello.ephemeral_public_key, kx));
  HandshakeReply forged;
  internal::Hash pre = internal::pre_transcript(bob_key, kHandshakeVersion, hello.ephemeral_public_key,
                                                ephemeral.public_key, alice.identity.public_key(),
                                                internal::FrameAeadOffers{hello.frame_aeads, forged.frame_aeads});
  internal::Hash transcript = internal::full_transcript(bob_key, pre, bob.identity.public_key());
  forged.ephemeral_public_key = ephemeral.public_key;
  internal::seal_identity_proof(
      internal::handshake_key(bob_key, internal::Direction::responder_to_initiator, kx, pre), pre,
      bob.identity.public_key(), internal::sign_transcript(bob.identity, internal::Role::responder, transcript),
      forged);
  Result<InitiatorDone> done = initiator2.on_reply(forged);
  REQUIRE_FALSE(done.ok());
  CHECK(done.error().kind == ErrorKind::security);
  CHECK(initiator2.failed());
}

TEST_CASE("open swarm mode works and is flagged, it does not mix with a keyed swarm", "[crypto][handshake]") {
  Peer alice, bob;
  SwarmKey open = SwarmKey::open();
  Result<Completed> result = run_handshake(alice.identity, open, bob.identity, open);
  REQUIRE(result.ok());
  CHECK(result->initiator.open_swarm);
  CHECK(result->responder.open_swarm);
  check_channel(result->initiator, result->responder);
  SwarmKey keyed = SwarmKey::generate();
  CHECK_FALSE(run_handshake(alice.identity, open, bob.identity, keyed).ok());
  CHECK_FALSE(run_handshake(alice.identity, keyed, bob.identity, open).ok());
}

TEST_CASE("the initiator can require a specific responder", "[crypto][handshake]") {
  Peer alice, bob, carol;
  SwarmKey key = SwarmKey::generate();
  CHECK(run_handshake(alice.identity, key, bob.identity, key, bob.identity.node_id()).ok());
  Result<Completed> mismatch = run_handshake(alice.identity, key, carol.identity, key, bob.identity.node_id());
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().kind == ErrorKind::security);
  CHECK_THAT(mismatch.error().message, Catch::Contains("identity mismatch"));
}

TEST_CASE("a responder claiming someone else's identity is refused", "[crypto][handshake]") {
  // Mallory holds the swarm key and tries to pass as Bob: the reply is sealed
  // correctly and carries Bob's public key, but Mallory cannot sign as Bob.
  Peer alice, bob, mallory;
  SwarmKey key = SwarmKey::generate();
  auto forge_reply = [&](const HandshakeHello& hello, const Identity& signer) {
    PublicKey initiator_identity{};
    REQUIRE(internal::open_hello_identity(key, hello, initiator_identity));
    internal::EphemeralKeypair ephemeral = internal::make_ephemeral_keypair();
    internal::KxKeys kx;
    REQUIRE(internal::responder_kx(ephemeral, hello.ephemeral_public_key, kx));
    HandshakeReply reply;
    internal::Hash pre = internal::pre_transcript(key, kHandshakeVersion, hello.ephemeral_public_key,
                                                  ephemeral.public_key, initiator_identity,
                                                  internal::FrameAeadOffers{hello.frame_aeads, reply.frame_aeads});
    internal::Hash transcript = internal::full_transcript(key, pre, bob.identity.public_key());
    reply.ephemeral_public_key = ephemeral.public_key;
    internal::seal_identity_proof(internal::handshake_key(key, internal::Direction::responder_to_initiator, kx, pre),
                                  pre, bob.identity.public_key(),
                                  internal::sign_transcript(signer, internal::Role::responder, transcript), reply);
    return reply;
  };

  HandshakeInitiator fooled(alice.identity, key);
  Result<InitiatorDone> forged = fooled.on_reply(forge_reply(fooled.start(), mallory.identity));
  REQUIRE_FALSE(forged.ok());
  CHECK(forged.error().kind == ErrorKind::security);
  CHECK_THAT(forged.error().message, Catch::Contains("signature"));

  // Control: the very same construction signed by Bob is accepted, so the
  // failure above is the signature and nothing else.
  HandshakeInitiator genuine(alice.identity, key);
  Result<InitiatorDone> accepted = genuine.on_reply(forge_reply(genuine.start(), bob.identity));
  REQUIRE(accepted.ok());
  CHECK(accepted->session.peer_id == bob.identity.node_id());
}

TEST_CASE("an initiator claiming someone else's identity is refused", "[crypto][handshake]") {
  Peer alice, bob, mallory;
  SwarmKey key = SwarmKey::generate();
  auto attempt = [&](const Identity& signer) {
    HandshakeResponder responder(bob.identity, key);
    internal::EphemeralKeypair ephemeral = internal::make_ephemeral_keypair();
    HandshakeHello hello;
    hello.ephemeral_public_key = ephemeral.public_key;
    internal::seal_hello_identity(key, hello, alice.identity.public_key());  // claims to be Alice
    Result<HandshakeReply> reply = responder.on_hello(hello);
    REQUIRE(reply.ok());
    internal::KxKeys kx;
    REQUIRE(internal::initiator_kx(ephemeral, reply->ephemeral_public_key, kx));
    internal::Hash pre = internal::pre_transcript(key, kHandshakeVersion, ephemeral.public_key,
                                                  reply->ephemeral_public_key, alice.identity.public_key(),
                                                  internal::FrameAeadOffers{hello.frame_aeads, reply->frame_aeads});
    internal::Hash transcript = internal::full_transcript(key, pre, bob.identity.public_key());
    HandshakeFinish finish;
    internal::seal_finish(internal::handshake_key(key, internal::Direction::initiator_to_responder, kx, pre),
                          transcript, internal::sign_transcript(signer, internal::Role::initiator, transcript), finish);
    return responder.on_finish(finish);
  };
  Result<Session> forged = attempt(mallory.identity);
  REQUIRE_FALSE(forged.ok());
  CHECK(forged.error().kind == ErrorKind::security);
  CHECK_THAT(forged.error().message, Catch::Contains("signature"));
  Result<Session> genuine = attempt(alice.identity);
  REQUIRE(genuine.ok());
  CHECK(genuine->peer_id == alice.identity.node_id());
}

TEST_CASE("a signature made in one role is not accepted for the other", "[crypto][handshake]") {
  Identity alice = Identity::generate();
  internal::Hash transcript{};
  transcript[0] = 9;
  Signature as_initiator = internal::sign_transcript(alice, internal::Role::initiator, transcript);
  CHECK(internal::verify_transcript(alice.public_key(), internal::Role::initiator, transcript, as_initiator));
  CHECK_FALSE(internal::verify_transcript(alice.public_key(), internal::Role::responder, transcript, as_initiator));
}

TEST_CASE("tampered handshake messages are rejected", "[crypto][handshake]") {
  Peer alice, bob;
  SwarmKey key = SwarmKey::generate();

  SECTION("hello") {
    HandshakeInitiator initiator(alice.identity, key);
    HandshakeHello hello = initiator.start();
    HandshakeHello bad_key = hello;
    bad_key.ephemeral_public_key[5] ^= 1;
    CHECK_FALSE(HandshakeResponder(bob.identity, key).on_hello(bad_key).ok());
    HandshakeHello bad_identity = hello;
    bad_identity.sealed_identity[0] ^= 1;
    CHECK_FALSE(HandshakeResponder(bob.identity, key).on_hello(bad_identity).ok());
    HandshakeHello bad_version = hello;
    bad_version.version = kHandshakeVersion + 1;
    Result<HandshakeReply> unsupported = HandshakeResponder(bob.identity, key).on_hello(bad_version);
    REQUIRE_FALSE(unsupported.ok());
    CHECK(unsupported.error().kind == ErrorKind::unsupported);
    CHECK(HandshakeResponder(bob.identity, key).on_hello(hello).ok());
  }
  SECTION("reply") {
    for (int target = 0; target < 2; ++target) {
      HandshakeInitiator initiator(alice.identity, key);
      HandshakeResponder responder(bob.identity, key);
      Result<HandshakeReply> reply = responder.on_hello(initiator.start());
      REQUIRE(reply.ok());
      if (target == 0) reply->ephemeral_public_key[0] ^= 1;
      else reply->sealed_identity_proof[40] ^= 1;
      Result<InitiatorDone> done = initiator.on_reply(*reply);
      REQUIRE_FALSE(done.ok());
      CHECK(done.error().kind == ErrorKind::security);
      CHECK(initiator.failed());
    }
  }
  SECTION("finish") {
    HandshakeInitiator initiator(alice.identity, key);
    HandshakeResponder responder(bob.identity, key);
    Result<HandshakeReply> reply = responder.on_hello(initiator.start());
    REQUIRE(reply.ok());
    Result<InitiatorDone> done = initiator.on_reply(*reply);
    REQUIRE(done.ok());
    done->finish.sealed_signature[10] ^= 1;
    Result<Session> session = responder.on_finish(done->finish);
    REQUIRE_FALSE(session.ok());
    CHECK(session.error().kind == ErrorKind::security);
  }
}

TEST_CASE("a replayed hello or finish does not give the replayer a session", "[crypto][handshake]") {
  Peer alice, bob;
  SwarmKey key = SwarmKey::generate();
  HandshakeInitiator initiator(alice.identity, key);
  HandshakeResponder responder(bob.identity, key);
  HandshakeHello hello = initiator.start();
  Result<HandshakeReply> reply = responder.on_hello(hello);
  REQUIRE(reply.ok());
  Result<InitiatorDone> done = initiator.on_reply(*reply);
  REQUIRE(done.ok());
  REQUIRE(responder.on_finish(done->finish).ok());

  // An eavesdropper replays both of Alice's messages to Bob: Bob answers the
  // hello with a fresh ephemeral key, so the old finish no longer fits.
  HandshakeResponder replayed(bob.identity, key);
  REQUIRE(replayed.on_hello(hello).ok());
  Result<Session> session = replayed.on_finish(done->finish);
  REQUIRE_FALSE(session.ok());
  CHECK(session.error().kind == ErrorKind::security);
}

TEST_CASE("messages out of order and reflected connections are refused", "[crypto][handshake]") {
  Peer alice, bob;
  SwarmKey key = SwarmKey::generate();
  HandshakeInitiator initiator(alice.identity, key);
  CHECK_FALSE(initiator.on_reply(HandshakeReply{}).ok());  // before start()
  HandshakeResponder responder(bob.identity, key);
  CHECK_FALSE(responder.on_finish(HandshakeFinish{}).ok());  // before the hello

  Result<Completed> self = run_handshake(alice.identity, key, alice.identity, key);
  REQUIRE_FALSE(self.ok());
  CHECK(self.error().kind == ErrorKind::security);

  HandshakeInitiator done_once(alice.identity, key);
  HandshakeResponder other(bob.identity, key);
  Result<HandshakeReply> reply = other.on_hello(done_once.start());
  REQUIRE(reply.ok());
  REQUIRE(done_once.on_reply(*reply).ok());
  CHECK_FALSE(done_once.on_reply(*reply).ok());  // a duplicate reply after completion
}
