#include "starling/node/record_authority.h"

#include "starling/node/gossip_codec.h"
#include "starling/node/verified_statements.h"

#include <optional>

#include "starling/assert.h"
#include "starling/wire/statements.h"

namespace starling::node {
namespace {

class Ed25519Authority final : public gossip::RecordAuthority {
 public:
  Ed25519Authority(std::optional<crypto::Identity> identity, std::shared_ptr<VerifiedStatements> verified)
      : identity_(std::move(identity)), verified_(std::move(verified)) {
    if (!verified_) verified_ = std::make_shared<VerifiedStatements>(kOwnMemoEntries);
  }

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
    // The memo key holds the statement, which holds node_id, and the public
    // key: a hit means this very key was checked to hash to this node id.
    const std::vector<std::uint8_t> statement = record_bytes(record);
    std::string key = VerifiedStatements::key('r', record.public_key, record.signature, statement);
    if (verified_->contains(key)) return true;
    if (crypto::NodeId::from_public_key(record.public_key).bytes() != record.node_id) return false;
    if (!crypto::verify_signature(record.public_key, statement, record.signature)) return false;
    verified_->insert(std::move(key));
    return true;
  }

  gossip::Signature sign_accusation(const gossip::NodeId& accused, std::uint64_t incarnation,
                                    gossip::MemberState state) const override {
    STARLING_ASSERT_MSG(identity_.has_value(), "a verifier cannot sign");
    return identity_->sign(wire::accusation_statement(accused, incarnation, to_wire_state(state)));
  }

  bool verify_accusation(const gossip::PublicKey& accuser, const gossip::NodeId& accused, std::uint64_t incarnation,
                         gossip::MemberState state, const gossip::Signature& signature) const override {
    const std::vector<std::uint8_t> statement = wire::accusation_statement(accused, incarnation, to_wire_state(state));
    std::string key = VerifiedStatements::key('a', accuser, signature, statement);
    if (verified_->contains(key)) return true;
    if (!crypto::verify_signature(accuser, statement, signature)) return false;
    verified_->insert(std::move(key));
    return true;
  }

 private:
  static std::vector<std::uint8_t> record_bytes(const gossip::MemberRecord& record) {
    return wire::record_statement(record.node_id, record.address, record.incarnation,
                                  to_wire_state(gossip::signed_state(record.state)),
                                  wire::RecordFlags{record.outbound_only, record.membership_only});
  }

  // A peer's own memo, when none is shared: its distinct records and
  // accusations in flight (a few per member).
  static constexpr std::size_t kOwnMemoEntries = 1 << 14;

  std::optional<crypto::Identity> identity_;
  std::shared_ptr<VerifiedStatements> verified_;
};

}  // namespace

std::shared_ptr<const gossip::RecordAuthority> make_record_authority(crypto::Identity identity,
                                                                     std::shared_ptr<VerifiedStatements> verified) {
  return std::make_shared<Ed25519Authority>(std::move(identity), std::move(verified));
}

std::shared_ptr<const gossip::RecordAuthority> make_record_verifier(std::shared_ptr<VerifiedStatements> verified) {
  return std::make_shared<Ed25519Authority>(std::nullopt, std::move(verified));
}

}  // namespace starling::node
