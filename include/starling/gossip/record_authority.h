// Who may say what about a member. gossip/ holds no key and runs no crypto:
// the owner injects a RecordAuthority. The runtime's is Ed25519 with the
// peer's identity key (runtime/record_authority.h); gossip's own tests use a
// cheap deterministic double (tests/gossip/fake_authority.h).
//
// Two kinds of signed statement (docs/membership.md, "Lying members"):
//   - a member's own record: (node_id, address, incarnation, alive|left),
//     signed by the member; valid only when the public key hashes to node_id;
//   - an accusation: (accused node id, incarnation, suspect|dead), signed by
//     the accuser, checked with the accuser's key from its verified record.
#pragma once

#include <cstdint>

#include "starling/gossip/messages.h"

namespace starling::gossip {

class RecordAuthority {
 public:
  virtual ~RecordAuthority() = default;

  // Our own identity: the node id our key hashes to, and the key.
  virtual NodeId node_id() const = 0;
  virtual PublicKey public_key() const = 0;

  // Signs our own record over (node_id, address, incarnation,
  // signed_state(record.state)). record.node_id must be ours.
  virtual Signature sign_record(const MemberRecord& record) const = 0;
  // True when record.public_key hashes to record.node_id and
  // record.signature is that key's signature over the fields above.
  virtual bool verify_record(const MemberRecord& record) const = 0;

  // Signs our accusation that `accused` at `incarnation` is `state`
  // (suspect or dead).
  virtual Signature sign_accusation(const NodeId& accused, std::uint64_t incarnation, MemberState state) const = 0;
  virtual bool verify_accusation(const PublicKey& accuser, const NodeId& accused, std::uint64_t incarnation,
                                 MemberState state, const Signature& signature) const = 0;
};

}  // namespace starling::gossip
