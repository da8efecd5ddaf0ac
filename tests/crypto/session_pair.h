// Test helpers shared by the crypto tests: a complete in-memory handshake
// between two identities, and a check that two sessions carry a message
// both ways (each side's send key is the other's receive key).
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <vector>

#include "starling/crypto/frame.h"
#include "starling/crypto/handshake.h"

namespace starling::crypto::testing {

struct SessionPair {
  Session initiator;
  Session responder;
};

// Runs the three messages between a fresh initiator and responder.
inline Result<SessionPair> run_handshake(const Identity& initiator_identity, const SwarmKey& initiator_key,
                                         const Identity& responder_identity, const SwarmKey& responder_key,
                                         std::optional<NodeId> expected = std::nullopt,
                                         std::uint32_t initiator_offer = local_frame_aeads(),
                                         std::uint32_t responder_offer = local_frame_aeads()) {
  HandshakeInitiator initiator(initiator_identity, initiator_key, expected, initiator_offer);
  HandshakeResponder responder(responder_identity, responder_key, responder_offer);
  Result<HandshakeReply> reply = responder.on_hello(initiator.start());
  if (!reply) return reply.error();
  Result<InitiatorDone> done = initiator.on_reply(*reply);
  if (!done) return done.error();
  Result<Session> responder_session = responder.on_finish(done->finish);
  if (!responder_session) return responder_session.error();
  return SessionPair{std::move(done->session), std::move(*responder_session)};
}

// Seals `message` on each side and opens it on the other.
inline void check_both_ways(Session& a, Session& b, const std::vector<std::uint8_t>& message, int rounds = 1) {
  FrameSealer a_to_b = a.make_sealer();
  FrameOpener b_from_a = b.make_opener();
  FrameSealer b_to_a = b.make_sealer();
  FrameOpener a_from_b = a.make_opener();
  for (int round = 0; round < rounds; ++round) {
    auto sealed = a_to_b.seal_to_vector(message);
    REQUIRE(sealed.ok());
    auto opened = b_from_a.open_to_vector(*sealed);
    REQUIRE(opened.ok());
    CHECK(*opened == message);
    sealed = b_to_a.seal_to_vector(message);
    REQUIRE(sealed.ok());
    opened = a_from_b.open_to_vector(*sealed);
    REQUIRE(opened.ok());
    CHECK(*opened == message);
  }
}

}  // namespace starling::crypto::testing
