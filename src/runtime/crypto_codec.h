// Maps the crypto layer's handshake messages and sealed datagrams to the wire
// layer's messages and back, and encodes them with the one wire codec
// (src/wire). Nothing here packs bytes itself.
#pragma once

#include "starling/crypto/datagram.h"
#include "starling/crypto/handshake.h"
#include "starling/runtime/transport.h"
#include "starling/status.h"

namespace starling::runtime::codec {

// Handshake messages are tiny and fixed-size: encoding cannot fail.
Bytes encode(const crypto::HandshakeHello& hello);
Bytes encode(const crypto::HandshakeReply& reply);
Bytes encode(const crypto::HandshakeFinish& finish);
// Fails (invalid_argument) when the ciphertext is over the wire limit.
Result<Bytes> encode(const crypto::SealedDatagram& datagram);

// Errors: those of wire::decode (corrupt: malformed or a field of the wrong
// size; unsupported: a newer wire version), and corrupt for a well-formed
// message of another kind.
Result<crypto::HandshakeHello> decode_hello(ByteSpan bytes);
Result<crypto::HandshakeReply> decode_reply(ByteSpan bytes);
Result<crypto::HandshakeFinish> decode_finish(ByteSpan bytes);
Result<crypto::SealedDatagram> decode_datagram(ByteSpan bytes);

}  // namespace starling::runtime::codec
