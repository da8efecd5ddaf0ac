# Connection handshake (src/crypto maps these to its own structs). Sent in the
# clear before the session keys exist, so every field is size-checked.
@0xb3d35afd3e069f60;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("starling::wire::schema");

enum HandshakeRole {
  unspecified @0;
  initiator @1;
  responder @2;
}

struct HandshakeHello {
  protocolVersion @0 :UInt16;
  ephemeralPublicKey @1 :Data;   # exactly 32 bytes (crypto_kx)
  identityPublicKey @2 :Data;    # exactly 32 bytes (Ed25519)
  signature @3 :Data;            # exactly 64 bytes (Ed25519)
  nonce @4 :Data;                # optional, at most 64 bytes
  role @5 :HandshakeRole;
}
