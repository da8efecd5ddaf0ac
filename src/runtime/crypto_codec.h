// Bytes for the crypto layer's handshake messages and sealed datagrams.
// TODO(wire): these belong to src/wire's Cap'n Proto codec. Until that layer
// lands, a fixed layout (one type byte, then the fixed-size fields) keeps the
// runtime unblocked; only crypto_codec.cpp changes when wire arrives.
#pragma once

#include "starling/crypto/datagram.h"
#include "starling/crypto/handshake.h"
#include "starling/runtime/transport.h"
#include "starling/status.h"

namespace starling::runtime::codec {

Bytes encode(const crypto::HandshakeHello& hello);
Bytes encode(const crypto::HandshakeReply& reply);
Bytes encode(const crypto::HandshakeFinish& finish);
Bytes encode(const crypto::SealedDatagram& datagram);

// Errors: corrupt (wrong type, wrong size).
Result<crypto::HandshakeHello> decode_hello(ByteSpan bytes);
Result<crypto::HandshakeReply> decode_reply(ByteSpan bytes);
Result<crypto::HandshakeFinish> decode_finish(ByteSpan bytes);
Result<crypto::SealedDatagram> decode_datagram(ByteSpan bytes);

}  // namespace starling::runtime::codec
