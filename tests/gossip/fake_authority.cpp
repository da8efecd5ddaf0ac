// TEST DOUBLE, see fake_authority.h.
#include "fake_authority.h"

namespace starling::gossip::testing {

namespace {
std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
template <std::size_t N>
void fill(std::array<std::uint8_t, N>& out, std::uint64_t state) {
  for (std::size_t i = 0; i < N; i += 8) {
    const std::uint64_t word = splitmix(state);
    for (std::size_t j = 0; j < 8 && i + j < N; ++j) out[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
  }
}
std::uint64_t absorb(std::uint64_t h, std::uint64_t value) {
  h ^= value;
  return splitmix(h);
}
constexpr std::uint64_t kRecordLabel = 0x7265636f7264;      // "record"
constexpr std::uint64_t kAccusationLabel = 0x616363757365;  // "accuse"
constexpr std::uint64_t kIdLabel = 0x6e6f64652d6964;        // "node-id"
}  // namespace

FakeAuthority::FakeAuthority(std::uint64_t seed) {
  fill(public_key_, seed * 0x100000001b3ULL + 1);
  node_id_ = id_of(public_key_);
}

NodeId FakeAuthority::id_of(const PublicKey& key) {
  std::uint64_t h = kIdLabel;
  for (std::uint8_t byte : key) h = absorb(h, byte);
  NodeId id{};
  fill(id, h);
  return id;
}

Signature FakeAuthority::mix(const PublicKey& key, std::uint64_t label, const NodeId& id, const std::string& text,
                             std::uint64_t incarnation, MemberState state) {
  std::uint64_t h = label;
  for (std::uint8_t byte : key) h = absorb(h, byte);
  for (std::uint8_t byte : id) h = absorb(h, byte);
  h = absorb(h, text.size());
  for (char c : text) h = absorb(h, static_cast<std::uint8_t>(c));
  h = absorb(h, incarnation);
  h = absorb(h, static_cast<std::uint64_t>(state));
  Signature out{};
  fill(out, h);
  return out;
}

std::uint64_t FakeAuthority::record_label(const MemberRecord& record) {
  return kRecordLabel + (record.outbound_only ? 1 : 0) + (record.membership_only ? 2 : 0);
}

Signature FakeAuthority::sign_record(const MemberRecord& record) const {
  // The outbound-only and membership-only flags are signed too (a different label when set).
  return mix(public_key_, record_label(record), record.node_id, record.address,
             record.incarnation, signed_state(record.state));
}

bool FakeAuthority::verify_record(const MemberRecord& record) const {
  return id_of(record.public_key) == record.node_id &&
         mix(record.public_key, record_label(record), record.node_id, record.address,
             record.incarnation, signed_state(record.state)) == record.signature;
}

Signature FakeAuthority::sign_accusation(const NodeId& accused, std::uint64_t incarnation, MemberState state) const {
  return mix(public_key_, kAccusationLabel, accused, {}, incarnation, state);
}

bool FakeAuthority::verify_accusation(const PublicKey& accuser, const NodeId& accused, std::uint64_t incarnation,
                                      MemberState state, const Signature& signature) const {
  return mix(accuser, kAccusationLabel, accused, {}, incarnation, state) == signature;
}

MemberRecord FakeAuthority::record(std::string address, std::uint64_t incarnation, MemberState state) const {
  MemberRecord out{node_id_, std::move(address), incarnation, state, public_key_, {}};
  out.signature = sign_record(out);
  return out;
}

Update FakeAuthority::accusation(const MemberRecord& accused, MemberState state) const {
  Update out;
  out.member = accused;
  out.member.state = state;
  out.source = node_id_;
  out.accusation = sign_accusation(accused.node_id, accused.incarnation, state);
  return out;
}

std::shared_ptr<const FakeAuthority> fake_authority(std::uint64_t seed) { return std::make_shared<FakeAuthority>(seed); }

}  // namespace starling::gossip::testing
