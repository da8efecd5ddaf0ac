// TEST DOUBLE: a cheap, deterministic stand-in for the runtime's Ed25519
// RecordAuthority (runtime/record_authority.h), so gossip's unit tests and the
// simulated swarm run without libsodium. Its "signatures" are a keyed mix of
// the signer's public key and the signed fields: a statement signed by one
// member does not verify under another's key, and a key only "hashes" to its
// own node id, which is all these tests need. It is no cryptography: anyone
// holding a public key could forge with it. Never use it outside tests.
#pragma once

#include <cstdint>
#include <memory>

#include "starling/gossip/record_authority.h"

namespace starling::gossip::testing {

class FakeAuthority final : public RecordAuthority {
 public:
  explicit FakeAuthority(std::uint64_t seed);

  NodeId node_id() const override { return node_id_; }
  PublicKey public_key() const override { return public_key_; }
  Signature sign_record(const MemberRecord& record) const override;
  bool verify_record(const MemberRecord& record) const override;
  Signature sign_accusation(const NodeId& accused, std::uint64_t incarnation, MemberState state) const override;
  bool verify_accusation(const PublicKey& accuser, const NodeId& accused, std::uint64_t incarnation,
                         MemberState state, const Signature& signature) const override;

  // The node id a fake key "hashes" to.
  static NodeId id_of(const PublicKey& key);

  // Test helpers: this member's signed record, and its signed accusation.
  MemberRecord record(std::string address, std::uint64_t incarnation, MemberState state = MemberState::alive) const;
  Update accusation(const MemberRecord& accused, MemberState state) const;

 private:
  static std::uint64_t record_label(const MemberRecord& record);
  static Signature mix(const PublicKey& key, std::uint64_t label, const NodeId& id, const std::string& text,
                       std::uint64_t incarnation, MemberState state);
  PublicKey public_key_{};
  NodeId node_id_{};
};

std::shared_ptr<const FakeAuthority> fake_authority(std::uint64_t seed);

}  // namespace starling::gossip::testing
