#if STARLING_HAVE_CRYPTO

#include "crypto_codec.h"

#include <string>
#include <type_traits>
#include <variant>

#include "starling/wire/codec.h"
#include "starling/wire/messages.h"

namespace starling::runtime::codec {

namespace {

// The wire schema fixes these sizes; they must be crypto's.
static_assert(sizeof(wire::HandshakeHello::ephemeral_public_key) == sizeof(crypto::EphemeralPublicKey));
static_assert(sizeof(wire::HandshakeHello::sealed_identity) == sizeof(crypto::HandshakeHello::sealed_identity));
static_assert(sizeof(wire::HandshakeReply::sealed_identity_proof) ==
              sizeof(crypto::HandshakeReply::sealed_identity_proof));
static_assert(sizeof(wire::HandshakeFinish::sealed_signature) == sizeof(crypto::HandshakeFinish::sealed_signature));
static_assert(sizeof(wire::SealedDatagram::nonce) == sizeof(crypto::SealedDatagram::nonce));
static_assert(sizeof(wire::NodeId) == sizeof(crypto::NodeId::Bytes));
static_assert(sizeof(wire::SealedDatagram::sender_key) == sizeof(crypto::PublicKey));
static_assert(sizeof(wire::SealedDatagram::signature) == sizeof(crypto::Signature));
static_assert(std::is_same_v<decltype(wire::HandshakeHello::version), decltype(crypto::HandshakeHello::version)>);

Bytes encode_message(const wire::Message& message) {
  auto bytes = wire::encode(message);
  // Fixed-size handshake messages always fit: a failure is a bug.
  STARLING_ASSERT_MSG(bytes.ok(), bytes.error().message.c_str());
  return std::move(bytes).value();
}

// Decodes one message and insists on its kind.
template <typename Expected>
Result<Expected> decode_as(ByteSpan bytes, const char* expected_name) {
  auto message = wire::decode(bytes);
  if (!message) return message.error();
  auto* wanted = std::get_if<Expected>(&*message);
  if (wanted == nullptr) {
    return make_error(ErrorKind::corrupt, std::string("expected ") + expected_name + ", got " +
                                              wire::message_name(*message));
  }
  return std::move(*wanted);
}

}  // namespace

Bytes encode(const crypto::HandshakeHello& hello) {
  return encode_message(
      wire::HandshakeHello{hello.version, hello.ephemeral_public_key, hello.sealed_identity, hello.frame_aeads});
}

Bytes encode(const crypto::HandshakeReply& reply) {
  return encode_message(
      wire::HandshakeReply{reply.version, reply.ephemeral_public_key, reply.sealed_identity_proof, reply.frame_aeads});
}

Bytes encode(const crypto::HandshakeFinish& finish) {
  return encode_message(wire::HandshakeFinish{finish.sealed_signature});
}

Result<Bytes> encode(const crypto::SealedDatagram& datagram) {
  wire::SealedDatagram out;
  out.nonce = datagram.nonce;
  out.sender = datagram.sender.bytes();
  out.timestamp_ms = datagram.timestamp_ms;
  out.counter = datagram.counter;
  out.ciphertext = datagram.ciphertext;
  out.sender_key = datagram.sender_key;
  out.signature = datagram.signature;
  return wire::encode(out);
}

Result<crypto::HandshakeHello> decode_hello(ByteSpan bytes) {
  auto hello = decode_as<wire::HandshakeHello>(bytes, "handshake_hello");
  if (!hello) return hello.error();
  crypto::HandshakeHello out;
  out.version = hello->version;
  out.ephemeral_public_key = hello->ephemeral_public_key;
  out.sealed_identity = hello->sealed_identity;
  out.frame_aeads = hello->frame_aeads;
  return out;
}

Result<crypto::HandshakeReply> decode_reply(ByteSpan bytes) {
  auto reply = decode_as<wire::HandshakeReply>(bytes, "handshake_reply");
  if (!reply) return reply.error();
  crypto::HandshakeReply out;
  out.version = reply->version;
  out.ephemeral_public_key = reply->ephemeral_public_key;
  out.sealed_identity_proof = reply->sealed_identity_proof;
  out.frame_aeads = reply->frame_aeads;
  return out;
}

Result<crypto::HandshakeFinish> decode_finish(ByteSpan bytes) {
  auto finish = decode_as<wire::HandshakeFinish>(bytes, "handshake_finish");
  if (!finish) return finish.error();
  crypto::HandshakeFinish out;
  out.sealed_signature = finish->sealed_signature;
  return out;
}

Result<crypto::SealedDatagram> decode_datagram(ByteSpan bytes) {
  auto datagram = decode_as<wire::SealedDatagram>(bytes, "sealed_datagram");
  if (!datagram) return datagram.error();
  crypto::SealedDatagram out;
  out.nonce = datagram->nonce;
  out.sender = crypto::NodeId(datagram->sender);
  out.timestamp_ms = datagram->timestamp_ms;
  out.counter = datagram->counter;
  out.ciphertext = std::move(datagram->ciphertext);
  out.sender_key = datagram->sender_key;
  out.signature = datagram->signature;
  return out;
}

}  // namespace starling::runtime::codec

#endif  // STARLING_HAVE_CRYPTO
