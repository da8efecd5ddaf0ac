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

MembershipDriver::MembershipDriver(ConnectionRouter& router, MembershipDriverOptions options)
    : router_(router), transport_(router.transport()), options_(std::move(options)) {
  STARLING_ASSERT_MSG(options_.config.validate().ok(), "MembershipDriver needs a validated gossip::Config");
  RouteHandler handler;
  handler.on_inbound = [this](const ConnectionInfo& info, ByteSpan first) { return on_inbound(info, first); };
  handler.on_connected = [this](const ConnectionInfo& info) { on_connected(info); };
  handler.on_frame = [this](ConnectionId id, ByteSpan frame) { on_frame(id, frame); };
  handler.on_disconnected = [this](ConnectionId id, const Error& reason) { on_disconnected(id, reason); };
  router_.set_handler(Route::membership, std::move(handler));
  router_.set_datagram_handler([this](const Address& from, ByteSpan datagram, const Bytes& sender_identity) {
    on_datagram(from, datagram, sender_identity);
  });
}

MembershipDriver::~MembershipDriver() {
  if (timer_) transport_.cancel_timer(*timer_);
  for (auto& [id, stream] : streams_) {
    transport_.cancel_timer(stream.timeout_timer);
    router_.close(id);
  }
  router_.clear_handler(Route::membership);
  router_.set_datagram_handler(nullptr);
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

std::vector<gossip::MemberRecord> MembershipDriver::sample_neighbours(std::size_t fanout) {
  STARLING_ASSERT(membership_);
  return membership_->sample_neighbours(fanout);
}

bool MembershipDriver::replace_neighbour(const gossip::NodeId& node_id) {
  STARLING_ASSERT(membership_);
  return membership_->replace_neighbour(node_id);
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
    count_event(event.kind);
    if (options_.on_event) options_.on_event(event);
  }
  if (membership_->incarnation() != last_incarnation_) {
    last_incarnation_ = membership_->incarnation();
    if (options_.on_incarnation) options_.on_incarnation(last_incarnation_);
  }
  arm_timer();
  check_leave_complete();
}

void MembershipDriver::count_event(gossip::EventKind kind) {
  MembershipEventCounts& c = event_counts_;
  switch (kind) {
    case gossip::EventKind::joined_swarm: return;
    case gossip::EventKind::join_retry: ++c.join_retry; return;
    case gossip::EventKind::member_joined: ++c.member_joined; return;
    case gossip::EventKind::member_suspected: ++c.member_suspected; return;
    case gossip::EventKind::member_recovered: ++c.member_recovered; return;
    case gossip::EventKind::member_dead: ++c.member_dead; return;
    case gossip::EventKind::member_left: ++c.member_left; return;
    case gossip::EventKind::member_reaped: ++c.member_reaped; return;
    case gossip::EventKind::self_refuted: ++c.self_refuted; return;
    case gossip::EventKind::identity_in_use: ++c.identity_in_use; return;
  }
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
  count_sent(traffic_.by_kind, gossip::body_name(outgoing.message.body), bytes->size());
  // A member we hold a membership link with gets everything over it: an
  // outbound-only member receives nothing any other way (membership_links.cpp).
  if (send_on_link(outgoing.to_address, *bytes)) return;
  if (outgoing.transport == gossip::Transport::stream && outbound_only()) {
    // Nobody can answer us on a new connection: the exchange (and, if we
    // want one more, a lasting link) rides on the connection we open.
    open_link(outgoing.to_address, *bytes);
    return;
  }
  if (outgoing.transport == gossip::Transport::datagram) {
    send_datagram(*address, std::move(*bytes));
    return;
  }
  auto id = router_.connect(Route::membership, *address);
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
    router_.close(conn);
    forget_stream(conn);
  });
  streams_[*id] = std::move(stream);
  // Queued until the handshake completes; the receiver closes after reading it.
  if (auto sent = transport_.send(*id, *bytes); !sent) {
    log(DriverLogLevel::warning, "cannot send to " + outgoing.to_address + ": " + sent.error().message);
    router_.close(*id);
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

void MembershipDriver::on_timer() {
  process(membership_->tick(now()));
  if (outbound_only()) maintain_links();
  report_own_identity_inbound();
}

// The transport drops an inbound connection whose handshake proves our own
// identity without telling the application (it never announced it), and the
// other end cannot tell why we hung up (we say nothing to a failed
// handshake): only this end knows that two processes may hold one identity.
// This peer's own dials to an address of its own are not counted here
// (Reason::own_address: the dialler skips that address, on_own_address).
void MembershipDriver::report_own_identity_inbound() {
  const HandshakeFailures& failures = transport_.stats().handshake_failures;
  if (failures.own_identity <= own_identity_reported_) return;
  constexpr std::uint64_t kEveryMs = 60'000;
  if (own_identity_logged_ms_ && now_ms() < *own_identity_logged_ms_ + kEveryMs) return;
  const std::uint64_t fresh = failures.own_identity - own_identity_reported_;
  own_identity_reported_ = failures.own_identity;
  own_identity_logged_ms_ = now_ms();
  log(DriverLogLevel::warning,
      std::to_string(fresh) + " inbound connection(s) proved this peer's own identity (latest from " +
          failures.own_identity_last_from +
          "): another process runs with this identity file (a copied data dir or machine image: give each peer "
          "its own --identity or --data-dir)",
      "handshake.own_identity", {{"peer", failures.own_identity_last_from}, {"count", std::to_string(fresh)}});
}

void MembershipDriver::check_leave_complete() {
  if (leave_reported_ || !on_leave_complete_ || !membership_->leave_complete(now())) return;
  leave_reported_ = true;
  auto done = std::move(on_leave_complete_);
  on_leave_complete_ = nullptr;
  done();
}

// ---- events in -------------------------------------------------------------

bool MembershipDriver::on_inbound(const ConnectionInfo& info, ByteSpan first_frame) {
  // An inbound stream carries one membership message: read it, close it.
  StreamState stream;
  stream.connected = true;
  stream.peer = to_string(info.remote);
  stream.info = info;
  streams_[info.id] = std::move(stream);
  on_frame(info.id, first_frame);
  return true;
}

void MembershipDriver::on_connected(const ConnectionInfo& info) {
  auto found = streams_.find(info.id);
  if (found == streams_.end()) return;
  found->second.connected = true;
  found->second.info = info;
  if (!membership_ || !membership_->joined()) handshake_failures_ = 0;
}

void MembershipDriver::on_frame(ConnectionId id, ByteSpan frame) {
  const auto known = streams_.find(id);
  auto message = wire::decode(frame);
  if (!message || !is_membership_message(*message)) {
    if (!message)
      log(DriverLogLevel::warning, "dropping a connection that sent a bad message: " + message.error().message);
    router_.close(id);
    forget_stream(id);
    return;
  }
  auto gossip_message = from_wire(std::move(*message));
  if (known != streams_.end() && gossip_message && membership_ &&
      (known->second.link || (!known->second.outbound && claims_outbound_only(*gossip_message)))) {
    on_link_frame(id, known->second, std::move(*gossip_message), frame.size());
    return;
  }
  Bytes identity;
  std::string peer;
  if (auto found = streams_.find(id); found != streams_.end()) {
    identity = found->second.info.remote_identity;
    peer = found->second.peer;
  }
  // One stream message per connection: it has done its job either way.
  router_.close(id);
  forget_stream(id);
  if (!gossip_message || !membership_) return;
  if (!sender_is_authenticated(*gossip_message, identity, "stream", peer)) return;
  ++traffic_.messages_received;
  traffic_.bytes_received += frame.size();
  count_received(traffic_.by_kind, gossip::body_name(gossip_message->body), frame.size());
  const std::string from = gossip_message->sender_address;
  process(membership_->on_message(from, *gossip_message, now()));
}

void MembershipDriver::on_disconnected(ConnectionId id, const Error& reason) {
  auto found = streams_.find(id);
  if (found == streams_.end()) return;
  const StreamState stream = found->second;
  forget_stream(id);
  if (stream.link && stream.outbound && !stream.connected)
    link_backoff_until_ms_[stream.peer] = transport_.now_ms() + options_.link_retry_ms;
  if (!stream.outbound || stream.connected) return;  // closed after delivery: normal
  const bool to_seed = seeds_.count(stream.peer) > 0;
  const bool joining = membership_ && !membership_->joined();
  // The connection came up but the secure session did not: either our check
  // failed, or the other side's did and it hung up. The transport says which
  // it was (Reason); a refused connect or a timeout is not a key mismatch.
  if (reason.reason == Reason::own_address) {
    on_own_address(stream.peer);
    return;
  }
  if (reason.reason == Reason::own_identity) {
    log(DriverLogLevel::error,
        "secure handshake with " + stream.peer + " failed: that peer holds this peer's own identity (two peers "
        "started from one identity file or a copied data dir: give each its own --identity or --data-dir)",
        "handshake.own_identity", {{"peer", stream.peer}, {"count", "1"}});
    return;
  }
  if (reason.reason == Reason::handshake_failed) {
    ++handshake_failures_;
    const std::string what = "secure handshake with " + stream.peer + " failed (" + to_string(reason.kind) +
                             ": " + reason.message + ")";
    // Frames no starling sends, or a handshake message that does not decode:
    // not a starling peer at all (blaming the swarm key sent users comparing
    // fingerprints). A failed authentication, or the other side hanging up
    // (its check failed): a key.
    const bool not_starling = reason.kind == ErrorKind::corrupt || reason.kind == ErrorKind::overloaded;
    const std::string likely =
        !not_starling
            ? "so that peer most likely uses a different swarm key (compare the fingerprints printed at start; "
              "--swarm-key), or this peer's own identity (two peers started from one identity file: give each its "
              "own --identity or --data-dir)"
            : "and its bytes are not starling's handshake: most likely another program listens at that address "
              "(a wrong port?), or a starling of an incompatible version";
    if (joining && handshake_failures_ >= options_.handshake_failures_reported) {
      log(DriverLogLevel::error, what + ": cannot join the swarm; " + std::to_string(handshake_failures_) +
                                     " handshakes failed in a row, " + likely,
          "handshake.failed", {{"peer", stream.peer}, {"reason", to_string(reason.kind)}, {"detail", reason.message}});
    } else {
      log(DriverLogLevel::warning, what, "handshake.failed",
          {{"peer", stream.peer}, {"reason", to_string(reason.kind)}, {"detail", reason.message}});
    }
    return;
  }
  if (joining && to_seed) {
    log(DriverLogLevel::warning, "seed " + stream.peer + " unreachable (" + reason.message + ")", "seed.unreachable",
        {{"peer", stream.peer}, {"reason", reason.message}});
  } else {
    log(DriverLogLevel::info, "stream to " + stream.peer + " failed (" + reason.message + ")", "stream.failed",
        {{"peer", stream.peer}, {"reason", reason.message}});
  }
}

// The dial reached this very process (the transport knows: our own responder
// refused the hello as ours): the address is this peer's own under another
// name, e.g. one config shared by every machine that names each of them as a
// seed. It failed as a key mismatch does and was retried for ever, so a peer
// whose only seed was itself never started.
void MembershipDriver::on_own_address(const std::string& address) {
  if (seeds_.erase(address) == 0) {
    log(DriverLogLevel::info, "the connection to " + address + " reached this peer itself (an address of its own)",
        "stream.own_address", {{"peer", address}});
    return;
  }
  const bool was_joined = membership_->joined();
  gossip::Actions actions = membership_->forget_seed(address);
  const bool alone = seeds_.empty() && !was_joined;
  log(alone ? DriverLogLevel::warning : DriverLogLevel::info,
      "seed " + address + " is this peer itself under another address (it listens at " + membership_->self().address +
          "): skipping it" + (alone ? "; no other seed, so starting a new swarm" : ""),
      "seed.own_address", {{"peer", address}});
  process(std::move(actions));
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
  count_received(traffic_.by_kind, gossip::body_name(message->body), datagram.size());
  process(membership_->on_message(from_text, *message, now()));
}

void MembershipDriver::forget_stream(ConnectionId id) {
  auto found = streams_.find(id);
  if (found == streams_.end()) return;
  if (found->second.timeout_timer != 0) transport_.cancel_timer(found->second.timeout_timer);
  if (found->second.link) forget_link(id, found->second);
  streams_.erase(found);
}

void MembershipDriver::log(DriverLogLevel level, const std::string& message, std::string_view event,
                     const LogFields& fields) const {
  if (options_.on_log) options_.on_log(level, event, message, fields);
}

}  // namespace starling::node
