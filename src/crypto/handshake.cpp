#include "starling/crypto/handshake.h"

#include "handshake_steps.h"
#include "sodium_support.h"

namespace starling::crypto {

using internal::Direction;
using internal::Role;

namespace {

Error version_error(std::uint32_t version) {
  return make_error(ErrorKind::unsupported, "peer speaks handshake version " + std::to_string(version) +
                                                "; this starling speaks version " +
                                                std::to_string(kHandshakeVersion));
}

// What an end offers: ChaCha20-Poly1305 always (the common ground), AES-256-GCM
// only where this CPU can run it.
std::uint32_t usable_offer(std::uint32_t wanted) {
  std::uint32_t offer = kFrameAeadChaCha20Poly1305;
  if ((wanted & kFrameAeadAes256Gcm) != 0 && aes256gcm_available()) offer |= kFrameAeadAes256Gcm;
  return offer;
}

Error offer_error(std::uint32_t offer) {
  return make_error(ErrorKind::unsupported, "handshake: peer does not offer ChaCha20-Poly1305 frames (offer " +
                                                std::to_string(offer) + ")");
}

}  // namespace

// ---- HandshakeInitiator -------------------------------------------------------

HandshakeInitiator::HandshakeInitiator(const Identity& identity, const SwarmKey& swarm_key,
                                       std::optional<NodeId> expected_peer, std::uint32_t frame_aeads)
    : identity_(identity), swarm_key_(swarm_key), expected_peer_(expected_peer), frame_aeads_(usable_offer(frame_aeads)) {
  internal::ensure_sodium();
}

HandshakeInitiator::~HandshakeInitiator() = default;

Error HandshakeInitiator::fail(ErrorKind kind, std::string message) {
  state_ = State::failed;
  ephemeral_secret_.wipe();
  return make_error(kind, "handshake: " + std::move(message));
}

HandshakeHello HandshakeInitiator::start() {
  STARLING_ASSERT_MSG(state_ == State::fresh, "HandshakeInitiator::start called twice");
  internal::EphemeralKeypair ephemeral = internal::make_ephemeral_keypair();
  ephemeral_public_ = ephemeral.public_key;
  ephemeral_secret_ = std::move(ephemeral.secret_key);

  HandshakeHello hello;
  hello.version = kHandshakeVersion;
  hello.ephemeral_public_key = ephemeral_public_;
  hello.frame_aeads = frame_aeads_;
  internal::seal_hello_identity(swarm_key_, hello, identity_.public_key());
  state_ = State::awaiting_reply;
  return hello;
}

Result<InitiatorDone> HandshakeInitiator::on_reply(const HandshakeReply& reply) {
  if (state_ != State::awaiting_reply) {
    return fail(ErrorKind::security, "unexpected reply message (handshake not waiting for one)");
  }
  if (reply.version != kHandshakeVersion) {
    state_ = State::failed;
    return version_error(reply.version);
  }
  if ((reply.frame_aeads & kFrameAeadChaCha20Poly1305) == 0) {
    state_ = State::failed;
    return offer_error(reply.frame_aeads);
  }
  internal::EphemeralKeypair own;
  own.public_key = ephemeral_public_;
  own.secret_key = std::move(ephemeral_secret_);  // used once, then wiped with `own`
  internal::KxKeys kx;
  if (!internal::initiator_kx(own, reply.ephemeral_public_key, kx)) {
    return fail(ErrorKind::security, "responder sent a degenerate ephemeral key");
  }
  // Our own offer as we sent it, the responder's as received: a change to
  // either in flight makes the two pre-transcripts differ, and the reply
  // below fails to open.
  internal::Hash pre = internal::pre_transcript(swarm_key_, kHandshakeVersion, ephemeral_public_,
                                                reply.ephemeral_public_key, identity_.public_key(),
                                                internal::FrameAeadOffers{frame_aeads_, reply.frame_aeads});
  SymmetricKey reply_key = internal::handshake_key(swarm_key_, Direction::responder_to_initiator, kx, pre);
  PublicKey peer_public_key{};
  Signature peer_signature{};
  if (!internal::open_identity_proof(reply_key, pre, reply, peer_public_key, peer_signature)) {
    return fail(ErrorKind::security,
                "reply failed authentication (the responder holds a different swarm key, or it was altered)");
  }
  internal::Hash transcript = internal::full_transcript(swarm_key_, pre, peer_public_key);
  if (!internal::verify_transcript(peer_public_key, Role::responder, transcript, peer_signature)) {
    return fail(ErrorKind::security, "responder's signature does not verify");
  }
  NodeId peer_id = NodeId::from_public_key(peer_public_key);
  if (peer_id == identity_.node_id()) {
    Error error = fail(ErrorKind::security, "responder claims our own identity (a reflected or looped connection)");
    error.reason = Reason::own_identity;
    return error;
  }
  if (expected_peer_ && peer_id != *expected_peer_) {
    return fail(ErrorKind::security, "identity mismatch: dialled " + expected_peer_->short_hex() +
                                         " but the responder is " + peer_id.short_hex());
  }

  InitiatorDone done;
  Signature own_signature = internal::sign_transcript(identity_, Role::initiator, transcript);
  SymmetricKey finish_key = internal::handshake_key(swarm_key_, Direction::initiator_to_responder, kx, pre);
  internal::seal_finish(finish_key, transcript, own_signature, done.finish);
  done.session.send_key = internal::session_key(swarm_key_, Direction::initiator_to_responder, kx, transcript);
  done.session.receive_key = internal::session_key(swarm_key_, Direction::responder_to_initiator, kx, transcript);
  done.session.peer_public_key = peer_public_key;
  done.session.peer_id = peer_id;
  done.session.open_swarm = swarm_key_.is_open();
  done.session.frame_aead = choose_frame_aead(frame_aeads_, reply.frame_aeads);
  done.session.transcript_hash = transcript;
  state_ = State::done;
  return done;
}

// ---- HandshakeResponder -------------------------------------------------------

HandshakeResponder::HandshakeResponder(const Identity& identity, const SwarmKey& swarm_key,
                                       std::uint32_t frame_aeads)
    : identity_(identity), swarm_key_(swarm_key), frame_aeads_(usable_offer(frame_aeads)) {
  internal::ensure_sodium();
}

HandshakeResponder::~HandshakeResponder() = default;

Error HandshakeResponder::fail(ErrorKind kind, std::string message) {
  state_ = State::failed;
  handshake_key_from_initiator_.wipe();
  session_key_send_.wipe();
  session_key_receive_.wipe();
  return make_error(kind, "handshake: " + std::move(message));
}

Result<HandshakeReply> HandshakeResponder::on_hello(const HandshakeHello& hello) {
  if (state_ != State::awaiting_hello) {
    return fail(ErrorKind::security, "unexpected hello message (handshake not waiting for one)");
  }
  if (hello.version != kHandshakeVersion) {
    state_ = State::failed;
    return version_error(hello.version);
  }
  if ((hello.frame_aeads & kFrameAeadChaCha20Poly1305) == 0) {
    state_ = State::failed;
    return offer_error(hello.frame_aeads);
  }
  PublicKey peer_public_key{};
  if (!internal::open_hello_identity(swarm_key_, hello, peer_public_key)) {
    // Nothing goes back: a peer without our swarm key learns nothing.
    return fail(ErrorKind::security,
                "hello failed authentication (the initiator holds a different swarm key, or it was altered)");
  }
  if (peer_public_key == identity_.public_key()) {
    Error error = fail(ErrorKind::security, "initiator claims our own identity (a reflected or looped connection)");
    error.reason = Reason::own_identity;
    return error;
  }
  internal::EphemeralKeypair own = internal::make_ephemeral_keypair();
  internal::KxKeys kx;
  if (!internal::responder_kx(own, hello.ephemeral_public_key, kx)) {
    return fail(ErrorKind::security, "initiator sent a degenerate ephemeral key");
  }
  internal::Hash pre = internal::pre_transcript(swarm_key_, kHandshakeVersion, hello.ephemeral_public_key,
                                                own.public_key, peer_public_key,
                                                internal::FrameAeadOffers{hello.frame_aeads, frame_aeads_});
  internal::Hash transcript = internal::full_transcript(swarm_key_, pre, identity_.public_key());

  HandshakeReply reply;
  reply.version = kHandshakeVersion;
  reply.ephemeral_public_key = own.public_key;
  reply.frame_aeads = frame_aeads_;
  Signature own_signature = internal::sign_transcript(identity_, Role::responder, transcript);
  SymmetricKey reply_key = internal::handshake_key(swarm_key_, Direction::responder_to_initiator, kx, pre);
  internal::seal_identity_proof(reply_key, pre, identity_.public_key(), own_signature, reply);

  // Keep only what on_finish needs; the ephemeral secret dies with `own`.
  peer_public_key_ = peer_public_key;
  transcript_hash_ = transcript;
  frame_aead_ = choose_frame_aead(hello.frame_aeads, frame_aeads_);
  handshake_key_from_initiator_ = internal::handshake_key(swarm_key_, Direction::initiator_to_responder, kx, pre);
  session_key_send_ = internal::session_key(swarm_key_, Direction::responder_to_initiator, kx, transcript);
  session_key_receive_ = internal::session_key(swarm_key_, Direction::initiator_to_responder, kx, transcript);
  state_ = State::awaiting_finish;
  return reply;
}

Result<Session> HandshakeResponder::on_finish(const HandshakeFinish& finish) {
  if (state_ != State::awaiting_finish) {
    return fail(ErrorKind::security, "unexpected finish message (handshake not waiting for one)");
  }
  Signature peer_signature{};
  if (!internal::open_finish(handshake_key_from_initiator_, transcript_hash_, finish, peer_signature)) {
    return fail(ErrorKind::security, "finish failed authentication (altered, or not from this handshake)");
  }
  if (!internal::verify_transcript(peer_public_key_, Role::initiator, transcript_hash_, peer_signature)) {
    return fail(ErrorKind::security, "initiator's signature does not verify");
  }
  Session session;
  session.send_key = std::move(session_key_send_);
  session.receive_key = std::move(session_key_receive_);
  session.peer_public_key = peer_public_key_;
  session.peer_id = NodeId::from_public_key(peer_public_key_);
  session.open_swarm = swarm_key_.is_open();
  session.frame_aead = frame_aead_;
  session.transcript_hash = transcript_hash_;
  handshake_key_from_initiator_.wipe();
  state_ = State::done;
  return session;
}

}  // namespace starling::crypto
