// node::Peer: one swarm member below the I/O layer. It owns membership
// (MembershipDriver), delta gossip (TrainingDriver, when it trains), the
// hostile-membership fault injector and the ConnectionRouter that hands each
// connection of the one Transport to membership, the training links or the
// control channel (status queries and scenario controls, answered here).
//
// What it is given, and nothing else: a Transport (sockets and the clock:
// libuv in `starling peer`, memory in tests and the simulator), a ModelHost
// (a training thread, a stepped trainer, or a plain vector), an
// IncarnationStore (a file, or memory), a seed for every generator it runs,
// and a log sink. It reports status as structs (PeerStatus); apps/ turns them
// into JSON. The runtime (apps/runtime_peer.h) and the simulator assemble
// peers through this one class. Everything runs on the transport's thread.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "starling/gossip/config.h"
#include "starling/gossip/membership.h"
#include "starling/node/connection_router.h"
#include "starling/node/hostile_membership.h"
#include "starling/node/log_budget.h"
#include "starling/node/membership_driver.h"
#include "starling/node/training_driver.h"
#include "starling/node/transport.h"
#include "starling/status.h"
#include "starling/wire/messages.h"

namespace starling::node {

// Where a peer keeps the incarnation it ran with, so a restart rejoins above it.
class IncarnationStore {
 public:
  virtual ~IncarnationStore() = default;
  // The last incarnation saved; nullopt: never ran. A store that cannot tell
  // (a damaged file) refuses before a Peer is made (FileIncarnationStore::open).
  virtual std::optional<std::uint64_t> load() = 0;
  virtual Status save(std::uint64_t incarnation) = 0;
};

// For tests and the simulator: survives a Peer when it outlives it.
class MemoryIncarnationStore final : public IncarnationStore {
 public:
  std::optional<std::uint64_t> load() override { return value_; }
  Status save(std::uint64_t incarnation) override {
    value_ = incarnation;
    return Ok{};
  }

 private:
  std::optional<std::uint64_t> value_;
};

using LogLevel = DriverLogLevel;
// level, a stable machine name for what happened ("member.dead", "link.up",
// "handshake.failed", ...; generic ones: "membership", "gossip", "control",
// "router"), the human line and its key/value fields (docs/cli.md, "Logs").
using LogSink = DriverLogSink;

struct PeerStatus;

struct PeerOptions {
  gossip::Config membership;  // must pass validate()
  // Delta gossip; nullopt (or no ModelHost): membership only (a bootstrap node).
  std::optional<TrainingDriverOptions> training;
  // Seeds membership, delta gossip and the hostile-membership injector (each
  // its own generator, derived from this one number).
  std::uint64_t random_seed = 0;
  gossip::NodeId node_id{};
  // Signs our record; its node_id() must be node_id.
  std::shared_ptr<const gossip::RecordAuthority> authority;
  LogSink log;
  // Every membership event, for observers (the simulator's invariants); the
  // log sink gets them too, as lines.
  std::function<void(const gossip::Event& event)> on_membership_event;
  // The text a StatusQuery is answered with (apps: JSON from the struct);
  // unset: "{}".
  std::function<std::string(const PeerStatus& status)> status_answer;
  // Control messages (wire::FaultControl, wire::TrainingControl) after the
  // peer applied its part of a TrainingControl (byzantine mode, hostile
  // membership mode): the rest (fault layer, training speed) is the caller's.
  std::function<void(const wire::Message& control)> on_control;
  // Who may inject faults (wire::FaultControl, wire::TrainingControl) over a
  // control connection: the one identity the scenario runner connects with
  // (the node id its handshake proves; empty in plain mode). nullopt, the
  // default: nobody, so a member of the swarm cannot turn this peer
  // byzantine, cut it off or slow it down. A StatusQuery is answered either way.
  std::optional<Bytes> fault_control_from;
  // Membership's one-message stream connections and control connections
  // still open after this are closed.
  std::uint64_t stream_timeout_ms = 10'000;
  // How many fake members a flooding peer makes up (HostileMembershipOptions).
  std::size_t hostile_fake_members_max = 4000;
  // Accepts no inbound connection or datagram (`--outbound-only`): reached
  // over membership links it opens, never dialled for delta gossip
  // (docs/membership.md, "Outbound-only members"). Needs seeds.
  bool outbound_only = false;
};

struct PeerStatus {
  bool started = false;
  bool joined = false;
  std::string profile;
  std::uint64_t now_ms = 0;
  gossip::MembershipView view;  // empty before start()
  MembershipTraffic membership_traffic;
  MembershipEventCounts membership_events;
  std::size_t membership_links = 0;  // outbound-only members' links open now (MembershipDriver::link_count)
  TransportStats transport;
  RouterStats router;
  HostileMembershipMode membership_fault = HostileMembershipMode::none;
  // nullopt: membership only.
  std::optional<TrainingDriverStatus> training;
};

class Peer {
 public:
  // host may be null (membership only); training runs when both host and
  // options.training are given. Takes over the transport's events.
  Peer(Transport& transport, ModelHost* host, IncarnationStore& incarnations, PeerOptions options);
  ~Peer();
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // Binds the transport (port 0 picks one); the bound address is what others
  // reach us at. Errors as Transport::listen.
  Result<Address> listen(const Address& at);
  // After listen(): joins through `seeds` (none: a new swarm) at the stored
  // incarnation + 1 (0 on a first start), and starts delta gossip.
  // `joining`: download the swarm's model before training.
  void start(std::vector<std::string> seeds, bool joining);
  // Graceful leave: stops delta gossip (tells the neighbours), announces the
  // leave, calls on_complete once it drained (or the profile's leave timeout).
  void leave(std::function<void()> on_complete);
  // Stops delta gossip now (links closed). Membership keeps answering until
  // the Peer is destroyed.
  void stop_training();
  // Everything off: no callback follows; the transport stays usable.
  void stop();
  // After the TrainingDriver withdrew (its host's training failed): a new
  // driver replaces it and joins again, downloading a neighbour's model for
  // the host (ModelHost::start_training comes again). status() keeps
  // counting from the replaced drivers' counters (add_earlier_counters).
  // false (nothing done) unless started, not stopped, and withdrawn.
  bool restart_training();
  // The host's training failed (`why`): the driver withdraws at once (our
  // model pulls on nobody) and, up to kMaxTrainingRecoveries times per run,
  // spaced 1, 2, 4 s, restart_training() joins again with a neighbour's
  // model. `rearm` runs just before each restart, so the host takes
  // start_training again. false once every recovery is used up (the peer
  // stays a member without training) or when it does not train. `starling
  // peer` and the simulator's trainer both come here (docs/learning.md, "A
  // replica that fails").
  static constexpr int kMaxTrainingRecoveries = 3;
  // A failure also refuses downloads from the member whose model the failed
  // training started from, for this long (docs/security.md, "A poisoned
  // download"): a hostile server cannot hand every recovery a bad model.
  static constexpr std::uint64_t kRefusedServerMs = 600'000;
  static constexpr std::size_t kMaxRefusedServers = 64;
  bool on_training_failed(const std::string& why, std::function<void()> rearm);
  int training_recoveries() const { return recovery_attempts_; }  // attempts started

  // The ModelHost's answer to request_parameters().
  void on_parameters(Eigen::VectorXf parameters, std::int64_t step = -1);
  // Handles a control message as if it came on a control connection.
  void apply_control(const wire::Message& control);
  void set_byzantine(ByzantineMode mode, double scale);
  void set_hostile_membership(HostileMembershipMode mode);

  PeerStatus status() const;
  // The training part of status() alone (nullopt: membership only): the
  // driver's status with the counters of the drivers it replaced added.
  std::optional<TrainingDriverStatus> training_status() const;
  std::uint64_t incarnation() const;
  bool started() const { return started_; }
  const std::string& address() const { return address_; }
  bool trains() const { return training_ != nullptr; }

  // The parts, for tests and status.
  MembershipDriver& membership() { return *membership_; }
  const MembershipDriver& membership() const { return *membership_; }
  TrainingDriver* training() { return training_.get(); }
  const TrainingDriver* training() const { return training_.get(); }
  ConnectionRouter& router() { return *router_; }
  Transport& transport() { return transport_; }

 private:
  struct ControlConnection {
    TimerId timer = 0;
    Bytes identity;  // the client's proven node id (ConnectionInfo::remote_identity)
    bool answered = false;  // its one status query has been answered
  };
  void log(LogLevel level, std::string_view event, const std::string& message, const LogFields& fields = {}) const;
  void on_control_frame(ConnectionId id, ByteSpan frame);
  void answer_status(ConnectionId id, std::uint64_t request_id);
  void forget_control(ConnectionId id);
  std::unique_ptr<TrainingDriver> make_training_driver();
  void cancel_recovery();

  Transport& transport_;
  ModelHost* host_;
  IncarnationStore& incarnations_;
  PeerOptions options_;
  std::unique_ptr<ConnectionRouter> router_;
  HostileMembership hostile_;
  std::unique_ptr<MembershipDriver> membership_;
  std::unique_ptr<TrainingDriver> training_;
  std::map<ConnectionId, ControlConnection> controls_;
  std::uint64_t controls_refused_ = 0;
  // Lines other machines trigger (link ups and resets, bad control frames):
  // 20 at once, then one a second per kind (log_budget.h).
  static constexpr std::uint64_t kRemoteLineIntervalMs = 1000;
  mutable LogBudget remote_lines_{20, kRemoteLineIntervalMs};
  std::string address_;
  bool started_ = false;
  bool stopped_ = false;
  std::uint64_t incarnation_ = 0;
  std::uint64_t training_restarts_ = 0;
  int recovery_attempts_ = 0;
  TrainingDriverStatus earlier_training_;  // the replaced drivers' counters, summed
  std::optional<TimerId> recovery_timer_;
  std::optional<std::pair<ByzantineMode, double>> byzantine_;  // re-applied to a restarted driver
  std::map<gossip::NodeId, std::uint64_t> refused_servers_;  // node -> refused until (transport ms)
  void forget_expired_refusals();
  // The unexpired refusals, for a new driver's options.
  std::vector<gossip::NodeId> current_refused_servers();
  void refuse_server_of_failed_model();
};

// The membership event as a log line (level, event name, text, fields), as
// `starling peer` prints it.
struct EventLine {
  LogLevel level = LogLevel::info;
  std::string_view event;
  std::string message;
  LogFields fields;
};
EventLine describe(const gossip::Event& event);

}  // namespace starling::node
