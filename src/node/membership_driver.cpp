// MembershipDriver: gossip/'s Membership on a Transport. See membership_driver.h.
#include "starling/node/membership_driver.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include "starling/assert.h"
#include "starling/node/gossip_codec.h"
#include "starling/wire/codec.h"

namespace starling::node {
namespace {

// While leaving, check for completion at least this often.
constexpr std::int64_t kLeavePollMs = 50;

}  // namespace

MembershipDriver::MembershipDriver(Transport& transport, MembershipDriverOptions options)
    : transport_(transport), options_(std::move(options)) {
  STARLING_ASSERT_MSG(options_.config.validate().ok(), "MembershipDriver needs a validated gossip::Config");
  TransportEvents events;
  events.on_connected = [this](const ConnectionInfo& info) { on_connected(info); };
  events.on_frame = [this](ConnectionId id, ByteSpan frame) { on_frame(id, frame); };
  events.on_disconnected = [this](ConnectionId id, const Error& reason) { on_disconnected(id, reason); };
  events.on_datagram = [this](const Address& from, ByteSpan datagram, const Bytes& sender_identity) {
    on_datagram(from, datagram, sender_identity);
  };
  events.on_send_ready = [this](ConnectionId id) { on_send_ready(id); };
  transport_.set_events(std::move(events));
}

MembershipDriver::~MembershipDriver() {
  if (timer_) transport_.cancel_timer(*timer_);
  for (auto& [id, stream] : streams_) {
    transport_.cancel_timer(stream.timeout_timer);
    transport_.close(id);
  }
  // Other components close their own connections (transport shutdown does it
  // at the latest); their events stop here.
  transport_.set_events({});
}

void MembershipDriver::start(gossip::Identity self, std::vector<std::string> seeds) {
  STARLING_ASSERT_MSG(!membership_, "MembershipDriver::start called twice");
  seeds_ = std::set<std::string>(seeds.begin(), seeds.end());
  last_incarnation_ = self.initial_incarnation;
  membership_.emplace(options_.config, std::move(self), options_.random_seed, now());
  if (options_.on_incarnation) options_.on_incarnation(last_incarnation_);
  process(membership_->join(std::move(seeds), now()));
}

void MembershipDriver::leave(std::function<void()> on_complete) {
  STARLING_ASSERT(membership_);
  on_leave_complete_ = std::move(on_complete);
  if (!membership_->leaving()) process(membership_->leave(now()));
  check_leave_complete();
}

Result<ConnectionId> MembershipDriver::connect_other(const Address& remote) {
  auto id = transport_.connect(remote);
  if (id) others_.insert(*id);
  return id;
}

void MembershipDriver::close_other(ConnectionId id) {
  if (others_.erase(id) > 0) transport_.close(id);
}

std::vector<gossip::MemberRecord> MembershipDriver::sample_neighbours(std::size_t fanout) {
  STARLING_ASSERT(membership_);
  return membership_->sample_neighbours(fanout);
}

const gossip::Membership& MembershipDriver::membership() const {
  STARLING_ASSERT(membership_);
  return *membership_;
}

gossip::MembershipView MembershipDriver::view() const {
  STARLING_ASSERT(membership_);
  return membership_->view(now());
}

// ---- actions out -----------------------------------------------------------

void MembershipDriver::process(gossip::Actions actions) {
  for (const auto& outgoing : actions.sends) send(outgoing);
  for (const auto& event : actions.events) {
    if (event.kind == gossip::EventKind::joined_swarm) handshake_failures_ = 0;
    if (options_.on_event) options_.on_event(event);
  }
  if (membership_->incarnation() != last_incarnation_) {
    last_incarnation_ = membership_->incarnation();
    if (options_.on_incarnation) options_.on_incarnation(last_incarnation_);
  }
  arm_timer();
  check_leave_complete();
}

void MembershipDriver::send(const gossip::Outgoing& outgoing) {
  if (!options_.rewrite_outgoing) {
    send_one(outgoing);
    return;
  }
  for (const gossip::Outgoing& rewritten : options_.rewrite_outgoing(outgoing)) send_one(rewritten);
}

void MembershipDriver::send_one(const gossip::Outgoing& outgoing) {
  auto address = parse_address(outgoing.to_address);
  if (!address) {
    log(DriverLogLevel::warning, "cannot send to '" + outgoing.to_address + "': " + address.error().message);
    return;
  }
  auto bytes = encode_gossip(outgoing.message);
  if (!bytes) {
    log(DriverLogLevel::warning, std::string("cannot encode ") + gossip::body_name(outgoing.message.body) +
                                     " for " + outgoing.to_address + ": " + bytes.error().message);
    return;
  }
  ++traffic_.messages_sent;
  traffic_.bytes_sent += bytes->size();
  if (outgoing.transport == gossip::Transport::datagram) {
    send_datagram(*address, std::move(*bytes));
    return;
  }
  auto id = transport_.connect(*address);
  if (!id) {
    log(DriverLogLevel::warning, "cannot connect to " + outgoing.to_address + ": " + id.error().message);
    return;
  }
  StreamState stream;
  stream.outbound = true;
  stream.peer = outgoing.to_address;
  stream.timeout_timer = transport_.start_timer(options_.stream_timeout_ms, [this, conn = *id] {
    auto found = streams_.find(conn);
    if (found == streams_.end()) return;
    found->second.timeout_timer = 0;
    transport_.close(conn);
    streams_.erase(found);
  });
  streams_[*id] = std::move(stream);
  // Queued until the handshake completes; the receiver closes after reading it.
  if (auto sent = transport_.send(*id, *bytes); !sent) {
    log(DriverLogLevel::warning, "cannot send to " + outgoing.to_address + ": " + sent.error().message);
    transport_.close(*id);
    forget_stream(*id);
  }
}

void MembershipDriver::send_datagram(const Address& to, Bytes bytes) {
  auto sent = transport_.send_datagram(to, bytes);
  if (sent.ok()) return;
  // gossip/ keeps piggybacked updates within piggyback_bytes_max, so this
  // should not happen; count it so status shows if the budget is wrong.
  if (sent.error().kind == ErrorKind::invalid_argument) ++traffic_.datagrams_oversize;
  // Best effort by design: a refused datagram is a lost datagram, which SWIM
  // tolerates. Say so once in a while.
  if (++datagrams_refused_ % 100 == 1)
    log(DriverLogLevel::warning, "datagram to " + to_string(to) + " refused: " + sent.error().message);
}

void MembershipDriver::arm_timer() {
  if (!membership_) return;
  std::int64_t deadline = membership_->next_deadline_ms();
  if (membership_->leaving()) deadline = std::min(deadline, now() + kLeavePollMs);
  if (timer_ && deadline == timer_deadline_ms_) return;
  if (timer_) transport_.cancel_timer(*timer_);
  const std::int64_t delay = std::max<std::int64_t>(0, deadline - now());
  timer_deadline_ms_ = deadline;
  timer_ = transport_.start_timer(static_cast<std::uint64_t>(delay), [this] {
    timer_.reset();
    on_timer();
  });
}

void MembershipDriver::on_timer() { process(membership_->tick(now())); }

void MembershipDriver::check_leave_complete() {
  if (leave_reported_ || !on_leave_complete_ || !membership_->leave_complete(now())) return;
  leave_reported_ = true;
  auto done = std::move(on_leave_complete_);
  on_leave_complete_ = nullptr;
  done();
}

// ---- events in -------------------------------------------------------------

void MembershipDriver::on_connected(const ConnectionInfo& info) {
  if (others_.count(info.id)) {
    if (options_.other_connections.on_connected) options_.other_connections.on_connected(info);
    return;
  }
  auto found = streams_.find(info.id);
  if (found != streams_.end()) {
    found->second.connected = true;
    found->second.info = info;
    if (!membership_ || !membership_->joined()) handshake_failures_ = 0;
    return;
  }
  // Inbound: it carries one stream message or a status query. Bound its life.
  StreamState stream;
  stream.connected = true;
  stream.peer = to_string(info.remote);
  stream.info = info;
  stream.timeout_timer = transport_.start_timer(options_.stream_timeout_ms, [this, conn = info.id] {
    auto it = streams_.find(conn);
    if (it == streams_.end()) return;
    it->second.timeout_timer = 0;
    transport_.close(conn);
    streams_.erase(it);
  });
  streams_[info.id] = std::move(stream);
}

void MembershipDriver::on_frame(ConnectionId id, ByteSpan frame) {
  if (others_.count(id)) {
    if (options_.other_connections.on_frame) options_.other_connections.on_frame(id, frame);
    return;
  }
  auto message = wire::decode(frame);
  if (!message) {
    log(DriverLogLevel::warning, "dropping a connection that sent a bad message: " + message.error().message);
    transport_.close(id);
    forget_stream(id);
    return;
  }
  if (const auto* query = std::get_if<wire::StatusQuery>(&*message)) {
    // The client closes once it has the answer.
    transport_.set_peer_label(id, kControlPeerLabel);
    answer_status(id, query->request_id);
    return;
  }
  if (std::holds_alternative<wire::FaultControl>(*message) || std::holds_alternative<wire::TrainingControl>(*message)) {
    // The client follows with a StatusQuery on this connection: its answer
    // tells it the control took effect.
    transport_.set_peer_label(id, kControlPeerLabel);
    if (options_.on_control) options_.on_control(*message);
    return;
  }
  if (!is_membership_message(*message)) {
    auto found = streams_.find(id);
    const bool inbound = found != streams_.end() && !found->second.outbound;
    if (inbound && options_.claim_connection) {
      const ConnectionInfo info = found->second.info;
      forget_stream(id);
      others_.insert(id);
      if (options_.claim_connection(info, *message)) return;
      others_.erase(id);
    }
    transport_.close(id);
    forget_stream(id);
    return;
  }
  auto gossip_message = from_wire(std::move(*message));
  Bytes identity;
  std::string peer;
  if (auto found = streams_.find(id); found != streams_.end()) {
    identity = found->second.info.remote_identity;
    peer = found->second.peer;
  }
  // One stream message per connection: it has done its job either way.
  transport_.close(id);
  forget_stream(id);
  if (!gossip_message || !membership_) return;
  if (!sender_is_authenticated(*gossip_message, identity, "stream", peer)) return;
  ++traffic_.messages_received;
  traffic_.bytes_received += frame.size();
  const std::string from = gossip_message->sender_address;
  process(membership_->on_message(from, *gossip_message, now()));
}

void MembershipDriver::on_disconnected(ConnectionId id, const Error& reason) {
  if (others_.erase(id) > 0) {
    if (options_.other_connections.on_disconnected) options_.other_connections.on_disconnected(id, reason);
    return;
  }
  auto found = streams_.find(id);
  if (found == streams_.end()) return;
  const StreamState stream = found->second;
  forget_stream(id);
  if (!stream.outbound || stream.connected) return;  // closed after delivery: normal
  const bool to_seed = seeds_.count(stream.peer) > 0;
  const bool joining = membership_ && !membership_->joined();
  // The connection came up but the secure session did not: either our check
  // failed, or the other side's did and it hung up. The transport says which
  // it was (Reason); a refused connect or a timeout is not a key mismatch.
  if (reason.reason == Reason::handshake_failed) {
    ++handshake_failures_;
    const std::string what = "secure handshake with " + stream.peer + " failed (" + to_string(reason.kind) +
                             ": " + reason.message + ")";
    if (joining && handshake_failures_ >= options_.handshake_failures_reported) {
      log(DriverLogLevel::error, what + ": cannot join the swarm; " + std::to_string(handshake_failures_) +
                                     " handshakes failed in a row, so that peer most likely uses a different "
                                     "swarm key (compare the fingerprints printed at start; --swarm-key)");
    } else {
      log(DriverLogLevel::warning, what);
    }
    return;
  }
  if (joining && to_seed) {
    log(DriverLogLevel::warning, "seed " + stream.peer + " unreachable (" + reason.message + ")");
  } else {
    log(DriverLogLevel::info, "stream to " + stream.peer + " failed (" + reason.message + ")");
  }
}

bool MembershipDriver::sender_is_authenticated(const gossip::GossipMessage& message, const Bytes& identity,
                                               const char* channel, const std::string& peer) {
  if (identity.empty()) return true;  // plain mode: nothing was proven, nothing to compare
  if (std::equal(identity.begin(), identity.end(), message.sender.begin(), message.sender.end())) return true;
  if (++traffic_.messages_refused_sender % 100 == 1) {
    gossip::NodeId sender{};
    std::copy_n(identity.begin(), std::min(identity.size(), sender.size()), sender.begin());
    log(DriverLogLevel::warning, std::string("dropped a ") + gossip::body_name(message.body) + " (" + channel +
                                     " from " + peer + ") that claims to come from " + gossip::short_hex(message.sender) +
                                     " but was sent by " + gossip::short_hex(sender) +
                                     " (a member speaking for another; " +
                                     std::to_string(traffic_.messages_refused_sender) + " so far)");
  }
  return false;
}

void MembershipDriver::on_datagram(const Address& from, ByteSpan datagram, const Bytes& sender_identity) {
  if (!membership_) return;
  auto message = decode_gossip(datagram);
  if (!message) return;  // hostile or from a newer peer: counted nowhere, ignored
  const std::string from_text = to_string(from);
  if (!sender_is_authenticated(*message, sender_identity, "datagram", from_text)) return;
  ++traffic_.messages_received;
  traffic_.bytes_received += datagram.size();
  process(membership_->on_message(from_text, *message, now()));
}

void MembershipDriver::on_send_ready(ConnectionId id) {
  if (others_.count(id) && options_.other_connections.on_send_ready) options_.other_connections.on_send_ready(id);
}

void MembershipDriver::answer_status(ConnectionId id, std::uint64_t request_id) {
  wire::StatusAnswer answer;
  answer.request_id = request_id;
  answer.json = options_.status_json ? options_.status_json() : std::string("{}");
  auto bytes = wire::encode(wire::Message{std::move(answer)});
  if (!bytes) {
    log(DriverLogLevel::warning, "cannot encode the status answer: " + bytes.error().message);
    return;
  }
  if (auto sent = transport_.send(id, *bytes); !sent) {
    log(DriverLogLevel::warning, "cannot send the status answer: " + sent.error().message);
  }
}

void MembershipDriver::forget_stream(ConnectionId id) {
  auto found = streams_.find(id);
  if (found == streams_.end()) return;
  if (found->second.timeout_timer != 0) transport_.cancel_timer(found->second.timeout_timer);
  streams_.erase(found);
}

void MembershipDriver::log(DriverLogLevel level, const std::string& message) const {
  if (options_.on_log) options_.on_log(level, message);
}

}  // namespace starling::node
