# Connection handshake and sealed datagrams (src/crypto builds and checks the
# contents; src/runtime maps src/crypto's structs to these). Sent outside any
# session, so every field has a fixed size the codec checks: a Data field of
# any other length is `corrupt`. Sizes are those of src/crypto's structs
# (include/starling/crypto/handshake.h, datagram.h).
@0xb3d35afd3e069f60;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("starling::wire::schema");

# Message 1, initiator -> responder.
struct HandshakeHello {
  version @0 :UInt32;            # handshake protocol version (crypto::kHandshakeVersion)
  ephemeralPublicKey @1 :Data;   # exactly 32 bytes (crypto_kx)
  sealedIdentity @2 :Data;       # exactly 48 bytes: identity key (32) + tag (16)
  frameAeads @3 :UInt32;         # frame AEADs offered, a bit mask (crypto::kFrameAead*)
}

# Message 2, responder -> initiator.
struct HandshakeReply {
  version @0 :UInt32;
  ephemeralPublicKey @1 :Data;   # exactly 32 bytes
  sealedIdentityProof @2 :Data;  # exactly 112 bytes: identity key (32) + signature (64) + tag (16)
  frameAeads @3 :UInt32;         # frame AEADs offered, a bit mask (crypto::kFrameAead*)
}

# Message 3, initiator -> responder.
struct HandshakeFinish {
  sealedSignature @0 :Data;      # exactly 80 bytes: signature (64) + tag (16)
}

# One UDP datagram: a starling Message (membership), AEAD-sealed under the
# swarm's datagram key. sender, timestampMs and counter are authenticated
# but travel in the clear (freshness and replay checks before opening).
struct SealedDatagram {
  nonce @0 :Data;                # exactly 24 bytes (XChaCha20-Poly1305)
  sender @1 :Data;               # exactly 32 bytes: node id
  timestampMs @2 :UInt64;        # sender's wall clock when sealed
  counter @3 :UInt64;            # strictly increasing per sender
  ciphertext @4 :Data;           # sealed message + 16-byte tag, at most Limits::max_ciphertext_bytes
  senderKey @5 :Data;            # exactly 32 bytes: the sender's Ed25519 public key (sender = its hash)
  signature @6 :Data;            # exactly 64 bytes: senderKey's signature over the fields above
}
