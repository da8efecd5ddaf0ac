# One stream frame on a TCP connection: a standard Cap'n Proto stream message
# (segment table + segments) whose root holds opaque bytes, normally one
# AEAD-sealed starling Message. See frame.cpp for why this framing.
@0x974700d34d613381;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("starling::wire::schema");

struct Frame {
  payload @0 :Data;
}
