// Runs gossip/'s sans-I/O Membership over a Transport: datagrams carry
// probes, acks and gossip; a short-lived connection carries each stream
// message (Join, PushPull); one timer is armed for next_deadline_ms(). It
// serves the ConnectionRouter's membership route (connections that open with
// a membership message, and every datagram); status queries and controls are
// the router's control route (node::Peer answers them). Works on the libuv
// transport and on the memory network. Everything runs on the transport's thread.
//
// In secure mode gossip/ may trust GossipMessage::sender: the driver hands it
// only messages whose sender is the identity that signed the datagram or
// authenticated the connection they came on; the rest are dropped and counted
// (MembershipTraffic::messages_refused_sender). Plain mode proves nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "starling/gossip/membership.h"
#include "starling/node/connection_router.h"
#include "starling/node/message_traffic.h"
#include "starling/node/transport.h"
#include "starling/wire/messages.h"

namespace starling::node {

// The fault-layer name the driver gives a connection that carries status
// queries or control messages, so a peer's injected faults can spare its
// answers to the scenario runner (FaultPolicy::set_link(self, this, {})).
inline constexpr const char* kControlPeerLabel = "control";

enum class DriverLogLevel : std::uint8_t { debug, info, warning, error };
// Key/value details of a log line (peer, reason, ...), for machine-readable
// logs (`starling peer --log-format json`); the message already says them.
using LogFields = std::vector<std::pair<std::string, std::string>>;
// A log line's receiver: its level, a stable event name ("link.reset",
// "handshake.failed"; empty: the driver's generic one), the human line and
// its fields. docs/cli.md lists the event names.
using DriverLogSink =
    std::function<void(DriverLogLevel level, std::string_view event, const std::string& message, const LogFields& fields)>;

struct MembershipDriverOptions {
  gossip::Config config;  // must pass validate()
  std::uint64_t random_seed = 0;
  // Every membership event (joins, suspicions, deaths, leaves, join retries).
  std::function<void(const gossip::Event& event)> on_event;
  // What the driver itself has to say: unreachable seeds, failed handshakes,
  // undeliverable messages.
  DriverLogSink on_log;
  // Our incarnation changed (at start and after every refutation): persist it
  // so a restart rejoins above it.
  std::function<void(std::uint64_t incarnation)> on_incarnation;
  // Fault injection (off when unset): every membership message gossip/
  // produces passes through here just before it is encoded, and what it
  // returns is sent instead (none, the message, or the message rewritten plus
  // more to the same or other members). The scenario runner's lying and
  // flooding members (runtime/hostile_membership.h) use it.
  std::function<std::vector<gossip::Outgoing>(const gossip::Outgoing& outgoing)> rewrite_outgoing;
  // A stream connection still open after this is closed (the receiver closes
  // it once it has read the one frame it carries).
  std::uint64_t stream_timeout_ms = 10'000;
  // While not joined, this many consecutive failed handshakes (security) make
  // the driver say, as an error, that the swarm keys differ.
  int handshake_failures_reported = 3;
  // Outbound-only (gossip::Identity::outbound_only given to start()): how
  // many members we keep a membership link with (a connection we opened that
  // carries membership messages both ways; docs/membership.md,
  // "Outbound-only members"), and how often an idle link carries a keepalive
  // (the transport drops a connection silent for its idle timeout).
  std::size_t outbound_links = 3;
  std::uint64_t link_keepalive_ms = 10'000;
  std::uint64_t link_retry_ms = 3'000;  // after a failed dial, before that member is dialled again
};

// Membership messages only (not status queries), counted as encoded wire
// messages before sealing and framing (as gossip/ produced them; gossip/ caps
// piggybacked updates by bytes, so a datagram is never split).
struct MembershipTraffic {
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t datagrams_oversize = 0;  // refused for exceeding max_datagram_bytes (gossip's byte budget failed)
  // Messages dropped before gossip saw them because their envelope's sender
  // was not the identity that authenticated the datagram or the connection
  // (a member speaking for another). Secure mode only.
  std::uint64_t messages_refused_sender = 0;
  // The same messages by kind (gossip::body_name: "ping", "ack", "gossip", ...).
  TrafficByKind by_kind;
};

// Membership events seen, by kind (the names are the log's event names).
struct MembershipEventCounts {
  std::uint64_t member_joined = 0;
  std::uint64_t member_suspected = 0;   // suspicions we learned of (ours or others')
  std::uint64_t member_recovered = 0;   // a suspect refuted its suspicion
  std::uint64_t member_dead = 0;
  std::uint64_t member_left = 0;
  std::uint64_t member_reaped = 0;
  std::uint64_t self_refuted = 0;       // we refuted a suspicion about us
  std::uint64_t identity_in_use = 0;    // another process signs records with our identity
  std::uint64_t join_retry = 0;
};

class MembershipDriver {
 public:
  // Serves the router's membership route and its datagrams; make it before
  // transport.listen().
  MembershipDriver(ConnectionRouter& router, MembershipDriverOptions options);
  ~MembershipDriver();
  MembershipDriver(const MembershipDriver&) = delete;
  MembershipDriver& operator=(const MembershipDriver&) = delete;

  // Starts membership once the transport listens. `self.address` must be the
  // address others reach us at (the bound listen address).
  void start(gossip::Identity self, std::vector<std::string> seeds);

  // Graceful leave: announces it, keeps ticking until the broadcast drained
  // (or the profile's leave timeout), then calls on_complete once.
  void leave(std::function<void()> on_complete);

  // A small, slowly rotating random set of live members (see
  // gossip::Membership::sample_neighbours). Only after start().
  std::vector<gossip::MemberRecord> sample_neighbours(std::size_t fanout);
  // gossip::Membership::replace_neighbour. Only after start().
  bool replace_neighbour(const gossip::NodeId& node_id);

  bool started() const { return membership_.has_value(); }
  // Only after start().
  const gossip::Membership& membership() const;
  gossip::MembershipView view() const;
  std::uint64_t now_ms() const { return transport_.now_ms(); }
  const MembershipTraffic& traffic() const { return traffic_; }
  const MembershipEventCounts& event_counts() const { return event_counts_; }
  // Membership links open now (outbound-only members' connections, at
  // either end).
  std::size_t link_count() const { return links_.size(); }

 private:
  struct StreamState {
    bool outbound = false;
    bool connected = false;
    std::string peer;  // the dialled address (outbound) or remote socket
    ConnectionInfo info;  // once connected: who the remote proved to be
    TimerId timeout_timer = 0;
    // A membership link (membership_links.cpp): kept open, every frame a
    // membership message, both ways. `link_address`: the other end's listen
    // address, which gossip/ sends to; `link_node`: who it proved to be
    // (set by its first message).
    bool link = false;
    std::string link_address;
    std::optional<gossip::NodeId> link_node;
    std::uint64_t last_sent_ms = 0;
  };

  std::int64_t now() const { return static_cast<std::int64_t>(transport_.now_ms()); }
  void process(gossip::Actions actions);
  void count_event(gossip::EventKind kind);
  void send(const gossip::Outgoing& outgoing);
  void send_one(const gossip::Outgoing& outgoing);
  void send_datagram(const Address& to, Bytes bytes);
  void arm_timer();
  void on_timer();
  void check_leave_complete();

  bool on_inbound(const ConnectionInfo& info, ByteSpan first_frame);
  void on_connected(const ConnectionInfo& info);
  void on_frame(ConnectionId id, ByteSpan frame);
  void on_disconnected(ConnectionId id, const Error& reason);
  void on_datagram(const Address& from, ByteSpan datagram, const Bytes& sender_identity);
  // False (and counted, logged now and then) when an authenticated identity
  // is known and the envelope names someone else.
  bool sender_is_authenticated(const gossip::GossipMessage& message, const Bytes& identity, const char* channel,
                               const std::string& peer);
  void forget_stream(ConnectionId id);
  void log(DriverLogLevel level, const std::string& message, std::string_view event = {},
           const LogFields& fields = {}) const;
  // Membership links (membership_links.cpp).
  bool send_on_link(const std::string& to_address, const Bytes& bytes);
  void open_link(const std::string& address, const Bytes& first);
  bool claims_outbound_only(const gossip::GossipMessage& message) const;
  // Whether an inbound link from `sender` may be known by `name`.
  bool link_name_free(const std::string& name, const gossip::NodeId& sender) const;
  void on_link_frame(ConnectionId id, StreamState& stream, gossip::GossipMessage message, std::size_t bytes);
  void forget_link(ConnectionId id, StreamState& stream);
  void maintain_links();
  void report_own_identity_inbound();
  void on_own_address(const std::string& address);
  bool outbound_only() const { return membership_ && membership_->self().outbound_only; }

  ConnectionRouter& router_;
  Transport& transport_;
  MembershipDriverOptions options_;
  std::optional<gossip::Membership> membership_;
  std::uint64_t last_incarnation_ = 0;
  std::optional<TimerId> timer_;
  std::int64_t timer_deadline_ms_ = 0;
  std::map<ConnectionId, StreamState> streams_;
  std::set<std::string> seeds_;
  int handshake_failures_ = 0;  // consecutive, while not joined
  // Inbound handshakes that proved our own identity: how many were logged,
  // and when the last line was (at most one a minute).
  std::uint64_t own_identity_reported_ = 0;
  std::optional<std::uint64_t> own_identity_logged_ms_;
  std::function<void()> on_leave_complete_;
  bool leave_reported_ = false;
  MembershipTraffic traffic_;
  MembershipEventCounts event_counts_;
  std::uint64_t datagrams_refused_ = 0;
  std::map<std::string, ConnectionId> links_;  // the other end's listen address -> its link
  std::uint64_t links_refused_ = 0;  // inbound links whose name was taken (link_name_free)
  std::map<std::string, std::uint64_t> link_backoff_until_ms_;  // outbound-only: failed dials
};

}  // namespace starling::node
