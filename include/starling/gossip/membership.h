// SWIM + Lifeguard membership as a sans-I/O state machine.
//
// The owner (the libuv runtime, the simulator, a test) feeds it what happened:
// a message arrived, time passed, the user asked to join or leave. Each call
// takes the current time and returns Actions: messages to send (a datagram, or
// a stream exchange for Join/PushPull) and events worth logging. Nothing in
// here reads a clock, opens a socket or touches a global RNG, so a seed and a
// message schedule replay a run exactly. docs/membership.md has the protocol.
//
// Driving it: after every call, arm one timer for next_deadline_ms() and call
// tick() when it fires (calling tick early or late is harmless).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "starling/gossip/accusers.h"
#include "starling/gossip/awareness.h"
#include "starling/gossip/broadcast_queue.h"
#include "starling/gossip/candidates.h"
#include "starling/gossip/config.h"
#include "starling/gossip/messages.h"
#include "starling/gossip/neighbour_sampler.h"
#include "starling/gossip/identity_clash.h"
#include "starling/gossip/random.h"
#include "starling/gossip/record_authority.h"
#include "starling/gossip/suspicion.h"

namespace starling::gossip {

struct Identity {
  NodeId node_id{};
  std::string address;  // "host:port" others reach us at
  // Hook for restarts: the incarnation to start from. A peer that persists
  // incarnation() (e.g. on every self_refuted event) and restarts from that
  // value + 1 is believed at once; one that starts from 0 still rejoins,
  // refuting the old record as soon as a seed tells it what others believe.
  std::uint64_t initial_incarnation = 0;
  // Signs our record and accusations and checks everyone else's (required;
  // its node_id() must equal node_id). Shared so a driver can keep using it.
  std::shared_ptr<const RecordAuthority> authority;
  // We accept no inbound connection or datagram (`starling peer
  // --outbound-only`): our signed record says so, nobody dials or pings us
  // directly, and we probe only members we are linked with (set_linked).
  bool outbound_only = false;
  // We keep membership only (no model): our signed record says so, and
  // training peers do not sample us as a neighbour (sample_neighbours).
  bool membership_only = false;
};

enum class Transport : std::uint8_t {
  datagram,  // unreliable, small: probes, acks, gossip
  stream,    // reliable exchange (TCP): Join and PushPull; the runtime delivers
             // a reply to the sender's listening address (GossipMessage::sender_address)
};

struct Outgoing {
  Transport transport = Transport::datagram;
  std::string to_address;
  GossipMessage message;
};

enum class EventKind : std::uint8_t {
  joined_swarm,      // a seed answered (or we are the first member)
  join_retry,        // no seed answered yet; trying again after Event::retry_after_ms
  member_joined,     // a new member, or one back from dead/left with a higher incarnation
  member_suspected,  // member: the suspected record; source: the accuser
  member_recovered,  // a suspect refuted the suspicion
  member_dead,       // suspicion expired (ours or someone's): declared dead
  member_left,       // left gracefully
  member_reaped,     // dropped from the view after its retention time
  self_refuted,      // someone suspected us or declared us dead; member: our new record
  identity_in_use,   // another process signs records with our identity (IdentityClash);
                     // member: its record (its address), source: who told us
};

const char* to_string(EventKind kind);

struct Event {
  EventKind kind{};
  MemberRecord member;
  NodeId source{};
  std::int64_t retry_after_ms = 0;  // join_retry only
};

struct Actions {
  std::vector<Outgoing> sends;
  std::vector<Event> events;
};

struct MemberView {
  MemberRecord record;
  std::int64_t state_since_ms = 0;  // when this member entered its current state (our clock)
};

// What `starling status` shows.
struct MembershipView {
  MemberRecord self;
  std::int64_t uptime_ms = 0;
  int health_score = 0;  // Lifeguard awareness: 0 is healthy
  std::size_t ignored_accusers = 0;       // accusers in their cool-down now
  std::uint64_t rejected_records = 0;     // alive/left records whose signature failed
  std::uint64_t rejected_accusations = 0;  // bad signature, unknown accuser, unsigned incarnation
  std::uint64_t dropped_accusations = 0;  // from ignored or rate-limited accusers
  std::size_t candidates = 0;             // members heard of second-hand, not yet confirmed
  std::uint64_t candidates_refused = 0;   // over a source's quota or the total bound
  std::uint64_t candidates_expired = 0;   // never answered our pings
  std::vector<MemberView> members;  // everyone but self, by node id
};

// The first neighbour rotation of a member started at `start_ms`: uniform in
// [start + period, start + 2 period), drawn from the member's own generator
// (so a seed replays it). Later rotations follow every period, keeping the
// phase. Why a whole period of spread rather than a small jitter: members
// started together (a simulated swarm, a restarted cluster) then rotate as
// evenly spread as a fixed period allows, none sooner than one period after
// its start, and each still rotates once per period.
std::int64_t first_rotation_ms(std::int64_t start_ms, std::int64_t period_ms, Random& random);

class Membership {
 public:
  // `config` must pass validate() (a bad config is the caller's bug here; turn
  // user input into a Config with config_for_profile and validate() first).
  Membership(Config config, Identity identity, std::uint64_t random_seed, std::int64_t now_ms);

  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;
  Membership(Membership&&) = default;
  Membership& operator=(Membership&&) = default;
  ~Membership() = default;

  // Starts membership through `seeds` ("host:port"; our own address is
  // skipped). With no seed we are the first member. Without an answer, joins
  // are retried with jittered exponential backoff until one arrives; they are
  // also retried whenever we find ourselves alone with no live member.
  Actions join(std::vector<std::string> seeds, std::int64_t now_ms);

  // The seed at `address` turned out to be ourselves under another address
  // (the driver's dial reached its own process): skip it from now on, as
  // join() skips our own address. Without another seed, and not joined yet,
  // we are the first member (joined_swarm), as with no seed at all. Nothing
  // happens when `address` is no seed.
  Actions forget_seed(const std::string& address);

  // Announces that we leave: stops probing and spreads `left` about ourselves.
  // Keep calling tick() until leave_complete(), then stop.
  Actions leave(std::int64_t now_ms);
  bool leave_complete(std::int64_t now_ms) const;

  // A message arrived. `from_address` is where a datagram came from (acks go
  // back there); stream replies go to message.sender_address.
  Actions on_message(const std::string& from_address, const GossipMessage& message, std::int64_t now_ms);

  // Time passed: runs every timer that is due.
  Actions tick(std::int64_t now_ms);

  // The earliest time tick() has work to do.
  std::int64_t next_deadline_ms() const;

  // A small random set of live (alive or suspect) members for delta gossip,
  // stable between calls: members that die or leave are replaced, and one
  // member rotates every neighbour_rotation_ms (during tick()), the first
  // time at first_rotation_ms (a random phase, so members do not rotate in
  // lockstep). Never an outbound-only member (nobody dials it) nor a
  // membership-only one (it holds no model and would refuse the link).
  std::vector<MemberRecord> sample_neighbours(std::size_t fanout);
  // When the next neighbour rotation is due (only once sample_neighbours was called).
  std::int64_t next_rotation_ms() const { return next_rotation_ms_; }
  // Swaps `node_id` out of that set for another live member at once, rather
  // than at the next rotation: the training layer calls it when the member
  // refused a link (it is at its link cap), so a late joiner does not keep
  // dialling full members until they rotate out. False if nothing changed.
  bool replace_neighbour(const NodeId& node_id);

  MembershipView view(std::int64_t now_ms) const;

  // Outbound-only members (docs/membership.md, "Outbound-only members"). The
  // owner tells us which members it holds a connection with that carries
  // membership messages both ways (a link): one an outbound-only member
  // opened to us, or, when we are outbound-only, one we opened. Messages to
  // a linked member travel over the link, so we may probe it; an
  // outbound-only member we hold no link with is neither probed nor sent to
  // (unless its link just broke: then we keep probing it until it refutes,
  // so a crash is noticed), and while we are outbound-only we probe only
  // linked members and confirm the rest through them. No actions: the
  // change shows in the next tick.
  void set_linked(const NodeId& node_id, bool linked);
  bool linked(const NodeId& node_id) const { return linked_.count(node_id) > 0; }
  // Live members we may dial for delta gossip: not outbound-only (nobody
  // dials those; they dial us).
  std::vector<MemberRecord> dialable_members() const;
  // Whether a member other than `except` that accepts connections is listed
  // alive or suspect at `address` (ourselves included). An outbound-only
  // member's address is only the name its link is known by, so that name
  // must not be a reachable member's address: the link would take that
  // member's traffic (node/membership_links.cpp).
  bool reachable_member_at(const std::string& address, const NodeId& except) const;

  const MemberRecord& self() const { return self_; }
  std::uint64_t incarnation() const { return self_.incarnation; }
  bool joined() const { return joined_; }
  bool leaving() const { return leaving_; }
  int health_score() const { return awareness_.score(); }
  // Members other than self that are alive or suspect.
  std::size_t live_member_count() const { return live_count_; }
  // nullptr when `node_id` is unknown (or reaped).
  const MemberRecord* find(const NodeId& node_id) const;
  const Config& config() const { return config_; }

 private:
  struct Member {
    MemberRecord record;
    std::int64_t state_since_ms = 0;
  };
  struct Probe {
    bool active = false;
    std::uint64_t sequence = 0;
    NodeId target{};
    std::int64_t ack_deadline_ms = 0;  // direct ack missed after this: ask others
    std::int64_t end_ms = 0;           // no ack at all after this: suspect
    bool indirect_sent = false;
    int nacks_expected = 0;
    int nacks_received = 0;
  };
  struct Relay {  // an indirect probe we run for someone else
    std::string requester_address;
    std::uint64_t requester_sequence = 0;
    std::int64_t nack_deadline_ms = 0;
  };

  // Applying beliefs (from piggybacked updates, PushPull, Join, Leave).
  // membership_beliefs.cpp: only signed statements change what we believe.
  // `told_by` is the authenticated sender of the message the news came in.
  void apply_update(const Update& update, const NodeId& told_by, std::int64_t now_ms);
  void apply_signed(const MemberRecord& record, const NodeId& told_by, bool exempt, std::int64_t now_ms);
  void apply_alive(const MemberRecord& record, std::int64_t now_ms);
  void apply_left(const MemberRecord& record, std::int64_t now_ms);
  // `ours`: made just now by this member (a failed probe), not received.
  void apply_accusation(const Update& accusation, const NodeId& told_by, std::int64_t now_ms, bool ours = false);
  void suspect(Member& member, const Update& accusation, std::int64_t now_ms);
  void tell_still_suspecting(const Member& member, const Update& accusation, std::int64_t now_ms);
  bool probe_soon(const MemberRecord& record);
  // Puts `id` first in the rest of the probe round (at most once in it).
  void probe_next(const NodeId& id);
  // The probe after a hint comes at most one unscaled probe interval after
  // our last one (merge_state, address_taken_over).
  void probe_hinted_soon(std::int64_t now_ms);
  // Addresses (membership_addresses.cpp): which listed members claim each
  // address, so a different node id taking one over is noticed.
  void index_address(const NodeId& id, const std::string& old_address, const std::string& new_address);
  void address_taken_over(const MemberRecord& record, std::int64_t now_ms);
  // Whether a member we hold alive listens at `address`.
  bool alive_at(const std::string& address) const;
  void tell_stale(const NodeId& teller, std::int64_t now_ms);
  void tell_dead(const Member& member, std::int64_t now_ms);
  void tell_newer(const NodeId& teller, const Member& member, std::int64_t now_ms);
  bool may_tell(const NodeId& member, std::int64_t now_ms);
  void declare_dead(Member& member, std::int64_t now_ms);
  const PublicKey* key_of(const NodeId& node_id) const;
  Update accuse(const MemberRecord& record, MemberState state) const;
  void merge_state(const std::vector<MemberRecord>& records, const NodeId& told_by, bool exempt, std::int64_t now_ms);
  void sign_self();
  // health_hint: count the accusation against our local health (Lifeguard).
  void refute(std::uint64_t accused_incarnation, bool health_hint, std::int64_t now_ms);
  void ask_to_confirm(const MemberRecord& record);
  void declared_dead_self(const NodeId& told_by);
  void accused_self(std::uint64_t accused_incarnation, bool health_hint, std::int64_t now_ms);
  void set_state(Member& member, MemberState state, std::int64_t now_ms);

  // Message handlers.
  void ask_unknown(const GossipMessage& message, std::int64_t now_ms);
  void handle_ping(const std::string& from_address, const Ping& ping);
  void handle_indirect_ping(const std::string& from_address, const IndirectPing& request, std::int64_t now_ms);
  void handle_ack(const Ack& ack, std::int64_t now_ms);
  void handle_nack(const Nack& nack);
  void handle_join(const GossipMessage& message, const Join& join, std::int64_t now_ms);
  void handle_push_pull(const GossipMessage& message, const PushPull& push_pull, std::int64_t now_ms);

  // Timers.
  void run_relays(std::int64_t now_ms);
  void run_candidates(std::int64_t now_ms);
  void run_probe(std::int64_t now_ms);
  void start_probe(std::int64_t now_ms);
  void send_indirect_probes();
  void finish_failed_probe(std::int64_t now_ms);
  void run_suspicions(std::int64_t now_ms);
  void remind_accused(std::int64_t now_ms);
  void run_gossip(std::int64_t now_ms);
  void run_push_pull(std::int64_t now_ms);
  void run_join(std::int64_t now_ms);
  void run_rotation(std::int64_t now_ms);
  void reap(std::int64_t now_ms);
  bool wants_join() const;

  // Sending.
  // `to`: the member the datagram is meant for, when there is one (else
  // whoever listens at the address). Piggybacked news spends its
  // retransmissions only on a member we hold alive (see send_datagram).
  void send_datagram(const std::string& to_address, MessageBody body, const NodeId* to = nullptr);
  void send_stream(const std::string& to_address, MessageBody body);
  GossipMessage envelope(MessageBody body) const;
  void attach(GossipMessage& message, Update update) const;
  std::vector<MemberRecord> snapshot() const;
  // Ourselves and the members alive or suspect (a new joiner's reply).
  std::vector<MemberRecord> live_snapshot() const;
  void emit(EventKind kind, const MemberRecord& member, const NodeId& source);
  Actions take_actions();

  // Helpers.
  std::size_t cluster_size() const { return live_count_ + 1; }
  std::optional<NodeId> next_probe_target();
  std::vector<NodeId> live_ids() const;
  std::vector<NodeId> pick_random(std::vector<NodeId> candidates, std::size_t count);
  // Reachability (membership_reach.cpp): may a message to `record` reach it
  // (it is linked, or it accepts datagrams), and may its answer reach us?
  bool can_send(const MemberRecord& record) const;
  bool can_probe(const MemberRecord& record) const;
  std::vector<NodeId> neighbour_ids() const;  // live and dialable
  std::vector<NodeId> training_neighbour_ids() const;  // those, less membership-only members
  std::vector<NodeId> live_dialable_ids(bool training_only) const;
  // Outbound-only: a candidate is pinged through a linked member (an
  // IndirectPing); its forwarded ack confirms it.
  void ping_candidate_via_link(const MemberRecord& candidate, std::int64_t now_ms);
  std::int64_t push_pull_interval_ms() const;
  // When to pull a full state early: after refusing news, while pulls still
  // teach us members, or after being declared dead; nullopt when none of
  // these happened since our last pull.
  std::optional<std::int64_t> repair_pull_ms() const;

  Config config_;
  std::shared_ptr<const RecordAuthority> authority_;
  MemberRecord self_;
  std::int64_t start_ms_;
  Random random_;
  Awareness awareness_;
  BroadcastQueue broadcasts_;
  NeighbourSampler neighbours_;

  std::map<NodeId, Member, NodeIdLess> members_;  // everyone but self; ordered so runs replay
  // members_' ids, states and state times in the same (id) order, flat: the
  // per-round scans (gossip targets, live ids, helpers, push-pull peers) walk
  // this instead of the tree, which dominated 1024-member runs. Kept in step
  // by apply_alive (insert), set_state (update) and reap (erase). `member`
  // points at the entry's node in members_ (map nodes stay put until reap
  // erases both), so a scan reads records without a tree lookup per member:
  // those lookups (32-byte id compares) were a fifth of a 1000-peer run.
  // Safe across a move of the Membership: moving a std::map hands its nodes
  // over without relocating them (copying is deleted above).
  struct RosterEntry {
    NodeId id{};
    MemberState state = MemberState::alive;
    std::int64_t state_since_ms = 0;
    const Member* member = nullptr;
  };
  std::vector<RosterEntry> roster_;
  RosterEntry& roster_entry(const NodeId& id);
  // Listed members by the address their record names (usually one each; a
  // new identity restarted on the same port adds a second until the old one
  // is reaped). Kept by apply_alive and reap.
  std::map<std::string, std::vector<NodeId>> members_at_;
  std::map<NodeId, Suspicion, NodeIdLess> suspicions_;
  std::map<NodeId, Update, NodeIdLess> accusations_;  // the signed accusation behind each suspicion
  std::map<NodeId, std::int64_t, NodeIdLess> reminders_;  // each pending suspicion: next time we tell the accused
  AccuserLimits accusers_;
  Candidates candidates_;
  std::int64_t next_candidate_round_ms_ = 0;
  std::int64_t last_refute_ms_ = -1000000000;
  IdentityClash identity_clash_;
  std::int64_t last_asked_unknown_ms_ = -1000000000;  // ask_unknown's pace
  std::map<NodeId, std::int64_t, NodeIdLess> told_ms_;  // may_tell's pace: last direct answer to each member
  std::uint64_t rejected_records_ = 0;
  std::uint64_t rejected_accusations_ = 0;
  std::map<std::uint64_t, Relay> relays_;
  std::size_t live_count_ = 0;
  std::set<NodeId, NodeIdLess> linked_;
  // Outbound-only members whose link broke: the incarnation they had then.
  // We probe them until they refute (a higher incarnation) or die.
  std::map<NodeId, std::uint64_t, NodeIdLess> lost_links_;
  struct CandidatePing {
    NodeId candidate{};
    std::int64_t expires_ms = 0;
  };
  std::map<std::uint64_t, CandidatePing> candidate_pings_;  // by sequence

  std::vector<NodeId> probe_order_;  // randomised round-robin
  std::size_t probe_index_ = 0;
  Probe probe_;
  std::uint64_t next_sequence_ = 1;

  std::vector<std::string> seeds_;
  bool joined_ = false;
  bool leaving_ = false;
  std::int64_t leave_deadline_ms_ = 0;
  std::int64_t join_backoff_ms_ = 0;

  std::int64_t next_probe_ms_;
  std::int64_t last_probe_ms_ = -1000000000;  // when start_probe last ran
  std::int64_t next_gossip_ms_;
  std::int64_t next_push_pull_ms_;
  std::int64_t last_push_pull_ms_ = -1000000000;
  std::uint64_t refused_at_pull_ = 0;  // candidates_.refused() when we last pulled
  bool pull_taught_ = false;           // a pull reply since then brought new candidates
  std::optional<NodeId> pull_from_;    // who told us we were declared dead since then (declared_dead_self)
  std::int64_t repair_gap_ms_ = 0;     // least time from a pull to a repair pull (0: not set yet)
  std::int64_t next_join_ms_;
  std::int64_t next_rotation_ms_;

  Actions out_;
};

}  // namespace starling::gossip
