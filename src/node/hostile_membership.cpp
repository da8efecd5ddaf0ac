// HostileMembership: a lying or flooding member for scenarios. See
// hostile_membership.h.
#include "starling/node/hostile_membership.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "starling/assert.h"
#include "starling/crypto/keys.h"
#include "starling/node/record_authority.h"

namespace starling::node {
namespace {

// The node id a made-up member would have: the hash of the public key of the
// identity grown from key_seed, exactly as a real peer's.
gossip::NodeId fake_node_id(const std::array<std::uint8_t, 32>& key_seed) {
  return crypto::Identity::from_seed(std::span<const std::uint8_t, 32>(key_seed)).node_id().bytes();
}

std::string host_of(const std::string& address) {
  const auto colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

const char* to_string(HostileMembershipMode mode) {
  switch (mode) {
    case HostileMembershipMode::none: return "none";
    case HostileMembershipMode::lies: return "membership_lies";
    case HostileMembershipMode::flood: return "membership_flood";
  }
  return "?";
}

HostileMembership::HostileMembership(HostileMembershipOptions options)
    : options_(options), random_(options.random_seed) {
  STARLING_ASSERT(options_.updates_per_datagram >= 1);
  STARLING_ASSERT(options_.fake_members_max >= 1);
}

std::vector<gossip::Outgoing> HostileMembership::rewrite(const gossip::Outgoing& outgoing,
                                                         const gossip::MembershipView& view) {
  std::vector<gossip::Outgoing> out{outgoing};
  if (mode_ == HostileMembershipMode::none) return out;
  std::vector<gossip::Update> extra;
  std::string extra_to = outgoing.to_address;
  if (mode_ == HostileMembershipMode::lies) lie(out.front(), view, extra);
  if (mode_ == HostileMembershipMode::flood) extra_to = flood(out.front(), view, extra);
  if (out.front().transport == gossip::Transport::stream) return out;  // streams carry views, not extras

  // Fill the message itself up to a datagram's worth, then more Gossip
  // datagrams to the same member (or to the real member a flood chose).
  std::size_t next = 0;
  {
    gossip::GossipMessage& first = out.front().message;  // only until out grows
    while (extra_to == outgoing.to_address && next < extra.size() &&
           first.updates.size() < options_.updates_per_datagram) {
      first.updates.push_back(extra[next++]);
    }
  }
  while (next < extra.size()) {
    gossip::Outgoing more;
    more.transport = gossip::Transport::datagram;
    more.to_address = extra_to;
    more.message.sender = outgoing.message.sender;
    more.message.sender_address = outgoing.message.sender_address;
    more.message.body = gossip::Gossip{};
    while (next < extra.size() && more.message.updates.size() < options_.updates_per_datagram) {
      more.message.updates.push_back(extra[next++]);
    }
    out.push_back(std::move(more));
  }
  return out;
}

// ---- lies --------------------------------------------------------------------

gossip::Update HostileMembership::accusation(const gossip::MemberRecord& victim,
                                             const gossip::MemberRecord& self) const {
  // The strongest lie a member can tell since records and accusations are
  // signed: the victim's real, signed record, declared dead by the liar in
  // its own name (an incarnation the victim never signed would be dropped).
  gossip::Update update;
  update.member = victim;
  update.member.state = gossip::MemberState::dead;
  update.source = self.node_id;
  if (options_.authority) {
    update.accusation = options_.authority->sign_accusation(victim.node_id, victim.incarnation, gossip::MemberState::dead);
  }
  return update;
}

gossip::Update HostileMembership::forged_alive(const gossip::MemberRecord& victim,
                                               const gossip::MemberRecord& self) const {
  gossip::Update update;
  update.member = victim;
  update.member.address = self.address;
  update.member.incarnation = victim.incarnation + 1;
  update.member.state = gossip::MemberState::alive;
  update.source = victim.node_id;  // as if the victim announced it: the forgery a signature must stop
  return update;
}

void HostileMembership::lie(gossip::Outgoing& outgoing, const gossip::MembershipView& view,
                            std::vector<gossip::Update>& extra) {
  const gossip::MemberRecord& self = view.self;
  // Our own view learns our lies back from the others (they relay them), so
  // remember where each member really listens: the recipient is spared (it
  // would refute at once) and never mistaken for someone else.
  for (const gossip::MemberView& member : view.members) {
    if (member.record.address != self.address) real_addresses_[member.record.node_id] = member.record.address;
  }
  std::vector<gossip::MemberRecord> victims;
  for (const gossip::MemberView& member : view.members) {
    if (member.record.state == gossip::MemberState::left) continue;
    auto real = real_addresses_.find(member.record.node_id);
    if (real != real_addresses_.end() && real->second == outgoing.to_address) continue;
    victims.push_back(member.record);
  }
  gossip::GossipMessage& message = outgoing.message;
  // Relay nothing true about others (refutations included); keep our own
  // record so we stay a member in good standing.
  std::erase_if(message.updates, [&](const gossip::Update& u) { return u.member.node_id != self.node_id; });
  if (auto* push_pull = std::get_if<gossip::PushPull>(&message.body)) {
    std::vector<gossip::MemberRecord> members;
    for (const gossip::MemberRecord& record : push_pull->members) {
      if (record.node_id == self.node_id) members.push_back(record);
    }
    for (const gossip::MemberRecord& victim : victims) {
      members.push_back(forged_alive(victim, self).member);
      members.push_back(accusation(victim, self).member);
    }
    push_pull->members = std::move(members);
    return;
  }
  if (outgoing.transport == gossip::Transport::stream) return;
  // The forged move (refused wherever records are checked), then the signed
  // accusation of the victim's real record.
  for (const gossip::MemberRecord& victim : victims) {
    extra.push_back(forged_alive(victim, self));
    extra.push_back(accusation(victim, self));
  }
}

// ---- flood -------------------------------------------------------------------

FakeMember HostileMembership::make_fake(const gossip::MemberRecord& self) {
  FakeMember fake;
  for (std::size_t i = 0; i < fake.key_seed.size(); i += 8) {
    const std::uint64_t bits = random_.next();
    for (std::size_t b = 0; b < 8; ++b) fake.key_seed[i + b] = static_cast<std::uint8_t>(bits >> (8 * b));
  }
  fake.record.node_id = fake_node_id(fake.key_seed);
  const auto own_port = self.address.substr(self.address.rfind(':') + 1);
  std::string port;
  do {
    port = std::to_string(random_.between(1024, 65535));
  } while (port == own_port);
  fake.record.address = host_of(self.address) + ":" + port;
  fake.record.incarnation = 0;
  fake.record.state = gossip::MemberState::alive;
  sign_fake(fake);
  return fake;
}

void HostileMembership::sign_fake(FakeMember& fake) {
  if (!fake.authority) {
    fake.authority = make_record_authority(crypto::Identity::from_seed(std::span<const std::uint8_t, 32>(fake.key_seed)));
  }
  fake.record.public_key = fake.authority->public_key();
  fake.record.signature = fake.authority->sign_record(fake.record);
}

const FakeMember& HostileMembership::next_fake(const gossip::MemberRecord& self) {
  if (fakes_.size() < options_.fake_members_max) {
    fakes_.push_back(make_fake(self));
    fake_ids_.insert(fakes_.back().record.node_id);
    return fakes_.back();
  }
  // All made: announce the oldest again, one incarnation up, which also
  // brings back the ones the others have declared dead meanwhile.
  FakeMember& fake = fakes_[next_fake_];
  next_fake_ = (next_fake_ + 1) % fakes_.size();
  ++fake.record.incarnation;
  sign_fake(fake);
  return fake;
}

std::string HostileMembership::flood(gossip::Outgoing& outgoing, const gossip::MembershipView& view,
                                    std::vector<gossip::Update>& extra) {
  if (auto* push_pull = std::get_if<gossip::PushPull>(&outgoing.message.body)) {
    if (fakes_.empty()) (void)next_fake(view.self);
    for (const FakeMember& fake : fakes_) push_pull->members.push_back(fake.record);
    return outgoing.to_address;
  }
  if (outgoing.transport == gossip::Transport::stream) return outgoing.to_address;
  for (std::size_t i = 0; i < options_.fake_updates_per_message; ++i) {
    const FakeMember& fake = next_fake(view.self);
    extra.push_back(gossip::Update{fake.record, fake.record.node_id});  // "announced" by the fake itself
  }
  // Our own view fills with our fakes (the others relay them back), so most
  // of what gossip/ sends goes to fakes. An attacker sends its announcements
  // to real members: to the recipient when it is one, else to a random one.
  std::vector<const gossip::MemberRecord*> real;
  for (const gossip::MemberView& member : view.members) {
    if (fake_ids_.count(member.record.node_id)) continue;
    if (member.record.state != gossip::MemberState::alive && member.record.state != gossip::MemberState::suspect) {
      continue;
    }
    if (member.record.address == outgoing.to_address) return outgoing.to_address;
    real.push_back(&member.record);
  }
  if (real.empty()) return outgoing.to_address;
  return real[random_.below(real.size())]->address;
}

}  // namespace starling::node
