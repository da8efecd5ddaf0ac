#include "starling/node/record_authority.h"

#include "starling/node/gossip_codec.h"

#include <optional>

#include "starling/assert.h"
#include "starling/wire/statements.h"

namespace starling::node {
namespace {

class Ed25519Authority final : public gossip::RecordAuthority {
 public:
  explicit Ed25519Authority(std::optional<crypto::Identity> identity) : identity_(std::move(identity)) {}

  gossip::NodeId node_id() const override {
    STARLING_ASSERT_MSG(identity_.has_value(), "a verifier has no identity");
    return identity_->node_id().bytes();
  }
  gossip::PublicKey public_key() const override {
    STARLING_ASSERT_MSG(identity_.has_value(), "a verifier has no identity");
    return identity_->public_key();
  }

  gossip::Signature sign_record(const gossip::MemberRecord& record) const override {
    STARLING_ASSERT_MSG(record.node_id == node_id(), "a member signs only its own record");
    return identity_->sign(record_bytes(record));
  }

  bool verify_record(const gossip::MemberRecord& record) const override {
    if (crypto::NodeId::from_public_key(record.public_key).bytes() != record.node_id) return false;
    return crypto::verify_signature(record.public_key, record_bytes(record), record.signature);
  }

  gossip::Signature sign_accusation(const gossip::NodeId& accused, std::uint64_t incarnation,
                                    gossip::MemberState state) const override {
    STARLING_ASSERT_MSG(identity_.has_value(), "a verifier cannot sign");
    return identity_->sign(wire::accusation_statement(accused, incarnation, to_wire_state(state)));
  }

  bool verify_accusation(const gossip::PublicKey& accuser, const gossip::NodeId& accused, std::uint64_t incarnation,
                         gossip::MemberState state, const gossip::Signature& signature) const override {
    return crypto::verify_signature(accuser, wire::accusation_statement(accused, incarnation, to_wire_state(state)),
                                    signature);
  }

 private:
  static std::vector<std::uint8_t> record_bytes(const gossip::MemberRecord& record) {
    return wire::record_statement(record.node_id, record.address, record.incarnation,
                                  to_wire_state(gossip::signed_state(record.state)));
  }

  std::optional<crypto::Identity> identity_;
};

}  // namespace

std::shared_ptr<const gossip::RecordAuthority> make_record_authority(crypto::Identity identity) {
  return std::make_shared<Ed25519Authority>(std::move(identity));
}

std::shared_ptr<const gossip::RecordAuthority> make_record_verifier() {
  return std::make_shared<Ed25519Authority>(std::nullopt);
}

}  // namespace starling::node
