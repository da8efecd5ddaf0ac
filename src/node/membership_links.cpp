// MembershipDriver, membership links: what lets a member that accepts no
// inbound connection or datagram (--outbound-only) take part in SWIM
// (docs/membership.md, "Outbound-only members").
//
// A link is a connection the outbound-only member opened that stays open
// and carries membership messages both ways, one per frame: whatever gossip/
// would send to the other end by datagram or by a new stream goes over the
// link instead. The outbound-only member keeps `outbound_links` of them
// (to live members that accept connections, redialled when they drop, with
// a keepalive when idle); the other end keeps any inbound membership
// connection whose sender's own signed record says it is outbound-only.
// Each end tells gossip/ who it is linked with (Membership::set_linked),
// which decides who probes whom.
#include <algorithm>

#include "starling/assert.h"
#include "starling/node/gossip_codec.h"
#include "starling/node/membership_driver.h"

namespace starling::node {

bool MembershipDriver::send_on_link(const std::string& to_address, const Bytes& bytes) {
  const auto link = links_.find(to_address);
  if (link == links_.end()) return false;
  const ConnectionId id = link->second;
  if (auto sent = transport_.send(id, bytes); !sent) {
    // A lost message, as a lost datagram would be; the link is redone.
    log(DriverLogLevel::info, "membership link to " + to_address + " failed: " + sent.error().message);
    router_.close(id);
    forget_stream(id);
    return true;
  }
  if (auto stream = streams_.find(id); stream != streams_.end()) stream->second.last_sent_ms = transport_.now_ms();
  return true;
}

void MembershipDriver::open_link(const std::string& address, const Bytes& first) {
  auto parsed = parse_address(address);
  if (!parsed) {
    log(DriverLogLevel::warning, "cannot link to '" + address + "': " + parsed.error().message);
    return;
  }
  auto id = router_.connect(Route::membership, *parsed);
  if (!id) {
    link_backoff_until_ms_[address] = transport_.now_ms() + options_.link_retry_ms;
    log(DriverLogLevel::warning, "cannot connect to " + address + ": " + id.error().message);
    return;
  }
  StreamState stream;
  stream.outbound = true;
  stream.peer = address;
  stream.link = true;
  stream.link_address = address;
  stream.last_sent_ms = transport_.now_ms();
  // No answer in time: the other end is unreachable (or not a member).
  stream.timeout_timer = transport_.start_timer(options_.stream_timeout_ms, [this, conn = *id] {
    auto found = streams_.find(conn);
    if (found == streams_.end()) return;
    found->second.timeout_timer = 0;
    link_backoff_until_ms_[found->second.peer] = transport_.now_ms() + options_.link_retry_ms;
    router_.close(conn);
    forget_stream(conn);
  });
  streams_[*id] = std::move(stream);
  links_.insert_or_assign(address, *id);
  if (auto sent = transport_.send(*id, first); !sent) {
    log(DriverLogLevel::warning, "cannot send to " + address + ": " + sent.error().message);
    router_.close(*id);
    forget_stream(*id);
  }
}

bool MembershipDriver::claims_outbound_only(const gossip::GossipMessage& message) const {
  // Only a claim: gossip/ checks the record's signature when it processes
  // the message, and the link is kept only if the member it lists then says
  // outbound-only (on_link_frame). Until then, answers to this sender go
  // back on its own connection, which is where it waits for them anyway.
  if (message.sender_address.empty()) return false;
  if (const auto* join = std::get_if<gossip::Join>(&message.body))
    if (join->self.node_id == message.sender && join->self.outbound_only) return true;
  for (const gossip::Update& update : message.updates)
    if (update.member.node_id == message.sender && update.member.outbound_only) return true;
  const gossip::MemberRecord* known = membership_->find(message.sender);
  return known != nullptr && known->outbound_only;
}

void MembershipDriver::on_link_frame(ConnectionId id, StreamState& stream, gossip::GossipMessage message,
                                     std::size_t bytes) {
  const std::string peer = stream.peer;
  if (!sender_is_authenticated(message, stream.info.remote_identity, "link", peer) ||
      (stream.link_node && *stream.link_node != message.sender)) {
    router_.close(id);
    forget_stream(id);
    return;
  }
  const bool first = !stream.link_node.has_value();
  if (first) {
    if (stream.timeout_timer != 0) transport_.cancel_timer(stream.timeout_timer);
    stream.timeout_timer = 0;
    if (!stream.outbound) {
      // An outbound-only member dialled us: its address is only a name, and
      // everything we send to that name goes here from now on. So the name
      // must not be taken: a member claiming a reachable member's address
      // (or another outbound-only member's link) would get that member's
      // pings, acks and gossip, and could answer for it or starve it.
      if (!link_name_free(message.sender_address, message.sender)) {
        if (++links_refused_ % 100 == 1)
          log(DriverLogLevel::warning,
              "refused a membership link from " + gossip::short_hex(message.sender) + " named " +
                  message.sender_address + ": that address belongs to another member (" +
                  std::to_string(links_refused_) + " refused so far)");
        router_.close(id);
        forget_stream(id);
        return;
      }
      stream.link = true;
      stream.link_address = message.sender_address;
      if (auto old = links_.find(stream.link_address); old != links_.end() && old->second != id) {
        // It redialled (its old connection may linger half-open): the newest wins.
        const ConnectionId stale = old->second;
        router_.close(stale);
        forget_stream(stale);
      }
      links_[stream.link_address] = id;
    } else if (!message.sender_address.empty() && message.sender_address != stream.link_address &&
               links_.count(message.sender_address) == 0) {
      // We dialled a seed by another name than the one it listens at:
      // gossip/ knows it by the latter.
      links_.erase(stream.link_address);
      stream.link_address = message.sender_address;
      links_[stream.link_address] = id;
    }
  }
  ++traffic_.messages_received;
  traffic_.bytes_received += bytes;
  const gossip::NodeId sender = message.sender;
  const std::string from = stream.link_address;
  const bool outbound = stream.outbound;
  // `stream` may go away while gossip's answers are sent: only ids below.
  process(membership_->on_message(from, message, now()));
  auto found = streams_.find(id);
  if (found == streams_.end()) return;
  if (first) {
    const gossip::MemberRecord* record = membership_->find(sender);
    const bool live = record != nullptr && (record->state == gossip::MemberState::alive ||
                                            record->state == gossip::MemberState::suspect);
    // Its own signed record names the link: an envelope's sender address is
    // not signed.
    if (!outbound && !(live && record->outbound_only && record->address == found->second.link_address)) {
      // Not an outbound-only member after all (or not a member): a one-shot stream.
      router_.close(id);
      forget_stream(id);
      return;
    }
    found->second.link_node = sender;
    membership_->set_linked(sender, true);
  }
  // Links are never closed on purpose, even beyond outbound_links (a Join to
  // more seeds than that): the other end takes a closed link for our crash.
}

bool MembershipDriver::link_name_free(const std::string& name, const gossip::NodeId& sender) const {
  if (membership_->reachable_member_at(name, sender)) return false;
  const auto held = links_.find(name);
  if (held == links_.end()) return true;
  const auto stream = streams_.find(held->second);
  // A link of the same member (a redial) may replace it; another's may not.
  return stream == streams_.end() || !stream->second.link_node || *stream->second.link_node == sender;
}

void MembershipDriver::forget_link(ConnectionId id, StreamState& stream) {
  if (!stream.link) return;
  stream.link = false;
  if (auto it = links_.find(stream.link_address); it != links_.end() && it->second == id) links_.erase(it);
  if (!stream.link_node || !membership_) return;
  const gossip::NodeId node = *stream.link_node;
  const bool another = std::any_of(streams_.begin(), streams_.end(), [&](const auto& entry) {
    return entry.first != id && entry.second.link && entry.second.link_node == node;
  });
  if (!another) membership_->set_linked(node, false);
}

void MembershipDriver::maintain_links() {
  if (!membership_ || membership_->leaving()) return;
  const std::uint64_t now_ms = transport_.now_ms();
  // Back-offs that ended are no longer needed (addresses of members long
  // gone piled up for ever).
  std::erase_if(link_backoff_until_ms_, [&](const auto& entry) { return entry.second <= now_ms; });
  const gossip::MemberRecord& self = membership_->self();
  // Keepalives: a ping the other end answers (sequence 0 is never a probe's),
  // so both ends' idle timers see traffic.
  std::vector<std::pair<std::string, gossip::NodeId>> idle;
  for (const auto& [id, stream] : streams_) {
    if (stream.link && stream.outbound && stream.link_node && now_ms >= stream.last_sent_ms + options_.link_keepalive_ms)
      idle.emplace_back(stream.link_address, *stream.link_node);
  }
  for (const auto& [address, node] : idle) {
    gossip::GossipMessage ping{self.node_id, self.address, gossip::Ping{0, node}, {}};
    if (auto bytes = encode_gossip(ping)) send_on_link(address, *bytes);
  }
  if (!membership_->joined() || links_.size() >= options_.outbound_links) return;
  // One more link, to a live member that accepts connections, not linked yet.
  std::vector<gossip::MemberRecord> choices = membership_->dialable_members();
  std::erase_if(choices, [&](const gossip::MemberRecord& member) {
    const auto backoff = link_backoff_until_ms_.find(member.address);
    return member.state != gossip::MemberState::alive || links_.count(member.address) > 0 ||
           membership_->linked(member.node_id) || (backoff != link_backoff_until_ms_.end() && backoff->second > now_ms);
  });
  if (choices.empty()) return;
  // No generator here: the clock spreads the choice well enough, and the
  // simulator stays deterministic.
  const gossip::MemberRecord& pick = choices[(now_ms / 1000 + links_.size()) % choices.size()];
  // The first message carries our own signed record, so the other end knows
  // at once that we are outbound-only and keeps the connection.
  gossip::GossipMessage hello{self.node_id, self.address, gossip::Gossip{}, {gossip::Update{self, self.node_id, {}}}};
  if (auto bytes = encode_gossip(hello)) {
    ++traffic_.messages_sent;
    traffic_.bytes_sent += bytes->size();
    open_link(pick.address, *bytes);
  }
}

}  // namespace starling::node
