// node::Peer: membership + delta gossip + the connection router, assembled
// once for the runtime and the simulator. See peer.h.
#include "starling/node/peer.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "starling/assert.h"
#include "starling/wire/codec.h"

namespace starling::node {
namespace {

// One seed per generator the peer runs, all from the one it is given
// (splitmix64: neighbouring seeds give unrelated streams).
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

HostileMembershipMode hostile_mode_of(wire::ByzantineMode mode) {
  if (mode == wire::ByzantineMode::membership_lies) return HostileMembershipMode::lies;
  if (mode == wire::ByzantineMode::membership_flood) return HostileMembershipMode::flood;
  return HostileMembershipMode::none;
}

ByzantineMode training_mode_of(wire::ByzantineMode mode) {
  switch (mode) {
    case wire::ByzantineMode::none: return ByzantineMode::none;
    case wire::ByzantineMode::random_deltas: return ByzantineMode::random_deltas;
    case wire::ByzantineMode::scaled_deltas: return ByzantineMode::scaled_deltas;
    case wire::ByzantineMode::garbage_frames: return ByzantineMode::garbage_frames;
    case wire::ByzantineMode::drift_deltas: return ByzantineMode::drift_deltas;
    // A membership liar or flooder trains honestly: only its membership messages lie.
    case wire::ByzantineMode::membership_lies:
    case wire::ByzantineMode::membership_flood: return ByzantineMode::none;
  }
  return ByzantineMode::none;
}

HostileMembershipOptions hostile_options(const PeerOptions& options) {
  HostileMembershipOptions out;
  out.random_seed = derive_seed(options.random_seed, 2);
  out.authority = options.authority;  // a liar signs its own accusations
  out.fake_members_max = options.hostile_fake_members_max;
  return out;
}

}  // namespace

Peer::Peer(Transport& transport, ModelHost* host, IncarnationStore& incarnations, PeerOptions options)
    : transport_(transport), host_(host), incarnations_(incarnations), options_(std::move(options)),
      hostile_(hostile_options(options_)) {
  STARLING_ASSERT_MSG(options_.authority, "Peer needs a record authority (its identity)");
  ConnectionRouterOptions router_options;
  router_options.first_frame_timeout_ms = options_.stream_timeout_ms;
  router_options.on_refused = [this](const std::string& message) { log(LogLevel::info, "router", message); };
  router_ = std::make_unique<ConnectionRouter>(transport_, std::move(router_options));

  MembershipDriverOptions membership;
  membership.config = options_.membership;
  membership.random_seed = derive_seed(options_.random_seed, 0);
  membership.stream_timeout_ms = options_.stream_timeout_ms;
  membership.on_event = [this](const gossip::Event& event) {
    const EventLine line = describe(event);
    log(line.level, line.event, line.message, line.fields);
    if (options_.on_membership_event) options_.on_membership_event(event);
  };
  membership.on_log = [this](LogLevel level, std::string_view event, const std::string& message,
                             const LogFields& fields) { log(level, event.empty() ? "membership" : event, message, fields); };
  membership.on_incarnation = [this](std::uint64_t incarnation) {
    incarnation_ = incarnation;
    if (Status saved = incarnations_.save(incarnation); !saved)
      log(LogLevel::warning, "incarnation",
          "cannot save incarnation " + std::to_string(incarnation) + " (" + saved.error().message +
              "): a restart may rejoin below it");
  };
  membership.rewrite_outgoing = [this](const gossip::Outgoing& outgoing) {
    if (!hostile_.active()) return std::vector<gossip::Outgoing>{outgoing};
    return hostile_.rewrite(outgoing, membership_->view());
  };
  membership_ = std::make_unique<MembershipDriver>(*router_, std::move(membership));

  if (host_ && options_.training) training_ = make_training_driver();

  RouteHandler control;
  control.on_inbound = [this](const ConnectionInfo& info, ByteSpan first) {
    // The scenario runner's connection: its injected faults spare it.
    transport_.set_peer_label(info.id, kControlPeerLabel);
    ControlConnection connection;
    connection.identity = info.remote_identity;
    connection.timer = transport_.start_timer(options_.stream_timeout_ms, [this, id = info.id] {
      auto found = controls_.find(id);
      if (found == controls_.end()) return;
      controls_.erase(found);
      router_->close(id);
    });
    controls_[info.id] = connection;
    on_control_frame(info.id, first);
    return true;
  };
  control.on_frame = [this](ConnectionId id, ByteSpan frame) { on_control_frame(id, frame); };
  control.on_disconnected = [this](ConnectionId id, const Error&) { forget_control(id); };
  router_->set_handler(Route::control, std::move(control));
}

std::unique_ptr<TrainingDriver> Peer::make_training_driver() {
  TrainingDriverOptions training = *options_.training;
  // A restarted driver samples its own neighbours: another stream.
  training.random_seed = derive_seed(options_.random_seed, 1 + 1000 * training_restarts_);
  training.refused_servers = current_refused_servers();
  training.on_log = [this](LogLevel level, std::string_view event, const std::string& message,
                           const LogFields& fields) {
    log(level, event.empty() ? "gossip" : event, "gossip: " + message, fields);
  };
  return std::make_unique<TrainingDriver>(*router_, *membership_, *host_, std::move(training));
}

bool Peer::restart_training() {
  if (!training_ || !started_ || stopped_ || !training_->withdrawn()) return false;
  add_earlier_counters(earlier_training_, training_->status());
  training_.reset();  // first: its destructor clears the router's training route
  ++training_restarts_;
  training_ = make_training_driver();
  if (byzantine_) training_->set_byzantine(byzantine_->first, byzantine_->second);
  training_->start(/*joining=*/true);
  return true;
}

void Peer::forget_expired_refusals() {
  const std::uint64_t now = transport_.now_ms();
  std::erase_if(refused_servers_, [now](const auto& entry) { return entry.second <= now; });
}

std::vector<gossip::NodeId> Peer::current_refused_servers() {
  forget_expired_refusals();
  std::vector<gossip::NodeId> nodes;
  for (const auto& [node, until] : refused_servers_) nodes.push_back(node);
  return nodes;
}

void Peer::refuse_server_of_failed_model() {
  const auto& from = training_->started_from();
  if (!from) return;
  forget_expired_refusals();
  if (refused_servers_.size() >= kMaxRefusedServers && !refused_servers_.count(from->node_id)) {
    auto soonest = std::min_element(refused_servers_.begin(), refused_servers_.end(),
                                    [](const auto& a, const auto& b) { return a.second < b.second; });
    refused_servers_.erase(soonest);
  }
  refused_servers_[from->node_id] = transport_.now_ms() + kRefusedServerMs;
  log(LogLevel::warning, "training.server_refused",
      "the model this replica started from was downloaded from " + gossip::short_hex(from->node_id) + " (" +
          from->address + "): for " + std::to_string(kRefusedServerMs / 60'000) +
          " min other neighbours are asked for the model first (a hostile or broken neighbour could have served it)",
      {{"member", gossip::to_hex(from->node_id)}, {"address", from->address},
       {"refused_ms", std::to_string(kRefusedServerMs)}});
}

bool Peer::on_training_failed(const std::string& why, std::function<void()> rearm) {
  if (!training_ || !started_ || stopped_) return false;
  if (!training_->withdrawn()) refuse_server_of_failed_model();
  training_->withdraw(why);
  if (recovery_timer_) return true;  // a restart is already on its way
  if (recovery_attempts_ >= kMaxTrainingRecoveries) {
    log(LogLevel::error, "training.given_up",
        "training failed again after " + std::to_string(recovery_attempts_) +
            " recoveries: giving up; this peer stays a member without training (restart it, with a smaller "
            "learning rate if it diverged)",
        {{"recoveries", std::to_string(recovery_attempts_)}});
    return false;
  }
  ++recovery_attempts_;
  // Spaced out, so a cause that lasts a moment (the swarm's model at a bad
  // instant) does not use every attempt up at once.
  const std::uint64_t wait_ms = std::uint64_t{1000} << (recovery_attempts_ - 1);
  log(LogLevel::warning, "training.recovering",
      "recovering from the training failure (" + std::to_string(recovery_attempts_) + " of " +
          std::to_string(kMaxTrainingRecoveries) + ") in " + std::to_string(wait_ms / 1000) +
          " s: downloading a neighbour's model, then training on from it with a fresh optimizer state",
      {{"attempt", std::to_string(recovery_attempts_)}, {"wait_ms", std::to_string(wait_ms)}});
  recovery_timer_ = transport_.start_timer(wait_ms, [this, rearm = std::move(rearm)] {
    recovery_timer_.reset();
    if (rearm) rearm();
    restart_training();
  });
  return true;
}

void Peer::cancel_recovery() {
  if (recovery_timer_) transport_.cancel_timer(*recovery_timer_);
  recovery_timer_.reset();
}

Peer::~Peer() {
  stop();
  training_.reset();
  membership_.reset();
  router_.reset();
}

Result<Address> Peer::listen(const Address& at) {
  auto bound = transport_.listen(at);
  if (bound) address_ = to_string(*bound);
  return bound;
}

void Peer::start(std::vector<std::string> seeds, bool joining) {
  STARLING_ASSERT_MSG(!address_.empty(), "Peer::start before listen()");
  STARLING_ASSERT_MSG(!started_, "Peer::start called twice");
  started_ = true;
  const std::optional<std::uint64_t> last = incarnations_.load();
  gossip::Identity self;
  self.node_id = options_.node_id;
  self.address = address_;
  self.initial_incarnation = last ? *last + 1 : 0;
  self.authority = options_.authority;
  self.outbound_only = options_.outbound_only;
  self.membership_only = training_ == nullptr;
  incarnation_ = self.initial_incarnation;
  membership_->start(std::move(self), std::move(seeds));
  if (training_) training_->start(joining);
}

void Peer::leave(std::function<void()> on_complete) {
  STARLING_ASSERT(started_);
  stop_training();
  membership_->leave(std::move(on_complete));
}

void Peer::stop_training() {
  cancel_recovery();
  if (training_) training_->stop();
}

void Peer::stop() {
  if (stopped_) return;
  stopped_ = true;
  stop_training();
  for (auto& [id, connection] : controls_) {
    transport_.cancel_timer(connection.timer);
    router_->close(id);
  }
  controls_.clear();
  router_->clear_handler(Route::control);
}

void Peer::on_parameters(Eigen::VectorXf parameters, std::int64_t step) {
  if (training_) training_->on_parameters(std::move(parameters), step);
}

void Peer::set_byzantine(ByzantineMode mode, double scale) {
  byzantine_ = std::pair{mode, scale};
  if (training_) training_->set_byzantine(mode, scale);
}

void Peer::set_hostile_membership(HostileMembershipMode mode) {
  if (mode == hostile_.mode()) return;
  hostile_.set_mode(mode);
  log(LogLevel::warning, "control",
      std::string("control: membership fault ") + to_string(mode) + " (this peer now " +
          (mode == HostileMembershipMode::none ? "tells the truth again" : "misbehaves") + " on purpose)");
}

void Peer::apply_control(const wire::Message& control) {
  if (const auto* train = std::get_if<wire::TrainingControl>(&control)) {
    const HostileMembershipMode mode = hostile_mode_of(train->byzantine);
    set_hostile_membership(mode);
    if (training_) {
      set_byzantine(training_mode_of(train->byzantine), train->byzantine_scale);
    } else if (mode == HostileMembershipMode::none) {
      log(LogLevel::warning, "control", "training control ignored: this peer does not train (--no-train)");
    }
  }
  if (options_.on_control) options_.on_control(control);
}

void Peer::on_control_frame(ConnectionId id, ByteSpan frame) {
  auto message = wire::decode(frame);
  if (!message) {
    log(LogLevel::warning, "control", "dropping a control connection that sent a bad message: " + message.error().message);
    forget_control(id);
    router_->close(id);
    return;
  }
  if (const auto* query = std::get_if<wire::StatusQuery>(&*message)) {
    // One query a connection, as ControlClient asks: the client closes once
    // it has the answer. A member sending queries back to back had every
    // frame of a read answered before the loop polled again (5,000-8,000
    // answers a second), until its neighbours declared the peer dead.
    const auto found = controls_.find(id);
    if (found != controls_.end() && found->second.answered) {
      log(LogLevel::warning, "control",
          "closing a control connection that asked a second time (a client asks once a connection)");
      forget_control(id);
      router_->close(id);
      return;
    }
    if (found != controls_.end()) found->second.answered = true;
    answer_status(id, query->request_id);
    return;
  }
  if (std::holds_alternative<wire::FaultControl>(*message) || std::holds_alternative<wire::TrainingControl>(*message)) {
    const auto found = controls_.find(id);
    if (!options_.fault_control_from || found == controls_.end() ||
        found->second.identity != *options_.fault_control_from) {
      if (controls_refused_++ % 100 == 0) {
        log(LogLevel::warning, "control",
            "refused a fault-injection control from a client that is not this peer's scenario runner "
            "(closing its connection; " + std::to_string(controls_refused_) + " refused so far)");
      }
      forget_control(id);
      router_->close(id);
      return;
    }
    // The client follows with a StatusQuery on this connection: its answer
    // tells it the control took effect.
    apply_control(*message);
    return;
  }
  forget_control(id);
  router_->close(id);
}

void Peer::answer_status(ConnectionId id, std::uint64_t request_id) {
  wire::StatusAnswer answer;
  answer.request_id = request_id;
  answer.json = options_.status_answer ? options_.status_answer(status()) : std::string("{}");
  auto bytes = wire::encode(wire::Message{std::move(answer)});
  if (!bytes) {
    log(LogLevel::warning, "control", "cannot encode the status answer: " + bytes.error().message);
    return;
  }
  if (auto sent = transport_.send(id, *bytes); !sent)
    log(LogLevel::warning, "control", "cannot send the status answer: " + sent.error().message);
}

void Peer::forget_control(ConnectionId id) {
  auto found = controls_.find(id);
  if (found == controls_.end()) return;
  transport_.cancel_timer(found->second.timer);
  controls_.erase(found);
}

PeerStatus Peer::status() const {
  PeerStatus out;
  out.started = membership_->started();
  out.now_ms = transport_.now_ms();
  out.profile = options_.membership.profile;
  if (out.started) {
    out.joined = membership_->membership().joined();
    out.view = membership_->view();
  }
  out.membership_traffic = membership_->traffic();
  out.membership_events = membership_->event_counts();
  out.membership_links = membership_->link_count();
  out.transport = transport_.stats();
  out.router = router_->stats();
  out.membership_fault = hostile_.mode();
  out.training = training_status();
  return out;
}

std::optional<TrainingDriverStatus> Peer::training_status() const {
  if (!training_) return std::nullopt;
  TrainingDriverStatus status = training_->status();
  add_earlier_counters(status, earlier_training_);
  return status;
}

std::uint64_t Peer::incarnation() const {
  return membership_->started() ? membership_->membership().incarnation() : incarnation_;
}

namespace {

// Lines another machine can trigger at will: link ups, resets, refusals and
// closes, bad control frames, the membership driver's connection lines.
bool remote_triggered(LogLevel level, std::string_view event) {
  return level != LogLevel::error && (event.starts_with("link.") || event == "control" || event == "membership");
}

}  // namespace

void Peer::log(LogLevel level, std::string_view event, const std::string& message, const LogFields& fields) const {
  if (!options_.log) return;
  if (!remote_triggered(level, event)) return options_.log(level, event, message, fields);
  std::uint64_t left_out = 0;
  if (!remote_lines_.allow(event, transport_.now_ms(), &left_out)) return;
  if (left_out == 0) return options_.log(level, event, message, fields);
  LogFields counted = fields;
  counted.emplace_back("left_out", std::to_string(left_out));
  options_.log(level, event,
               message + " (" + std::to_string(left_out) + " more " + std::string(event) +
                   " lines left out since the last one: they came faster than " +
                   std::to_string(1000 / kRemoteLineIntervalMs) + " a second)",
               counted);
}

EventLine describe(const gossip::Event& event) {
  const std::string who = gossip::short_hex(event.member.node_id) + " (" + event.member.address + ", incarnation " +
                          std::to_string(event.member.incarnation) + ")";
  LogFields member = {{"member", gossip::to_hex(event.member.node_id)},
                      {"address", event.member.address},
                      {"incarnation", std::to_string(event.member.incarnation)}};
  // The event names are a stable interface (log pipelines match on them):
  // docs/cli.md lists them; add new ones, never rename.
  switch (event.kind) {
    case gossip::EventKind::joined_swarm: return {LogLevel::info, "swarm.joined", "joined the swarm", {}};
    case gossip::EventKind::join_retry:
      return {LogLevel::warning, "swarm.join_retry",
              "no seed answered yet; retrying in " + std::to_string(event.retry_after_ms) +
                  " ms (seeds unreachable, or not started yet)",
              {{"retry_after_ms", std::to_string(event.retry_after_ms)}}};
    case gossip::EventKind::member_joined: return {LogLevel::info, "member.joined", "member joined: " + who, member};
    case gossip::EventKind::member_suspected:
      member.emplace_back("by", gossip::to_hex(event.source));
      return {LogLevel::warning, "member.suspect", "member suspected: " + who + " by " + gossip::short_hex(event.source),
              member};
    case gossip::EventKind::member_recovered:
      return {LogLevel::info, "member.alive", "member recovered: " + who, member};
    case gossip::EventKind::member_dead: return {LogLevel::warning, "member.dead", "member dead: " + who, member};
    case gossip::EventKind::member_left: return {LogLevel::info, "member.left", "member left: " + who, member};
    case gossip::EventKind::member_reaped: return {LogLevel::info, "member.reaped", "member forgotten: " + who, member};
    case gossip::EventKind::self_refuted:
      return {LogLevel::warning, "member.refuted",
              "refuted a suspicion about us; incarnation now " + std::to_string(event.member.incarnation),
              {{"incarnation", std::to_string(event.member.incarnation)}}};
    case gossip::EventKind::identity_in_use:
      return {LogLevel::error, "member.identity_in_use",
              "another process uses this peer's identity, at " + event.member.address + " (incarnation " +
                  std::to_string(event.member.incarnation) +
                  "): its records and ours replace each other, and members reach one of us in the other's name. "
                  "A copied identity file, data dir or machine image? Give each peer its own --identity or "
                  "--data-dir",
              {{"address", event.member.address}, {"incarnation", std::to_string(event.member.incarnation)},
               {"told_by", gossip::to_hex(event.source)}}};
  }
  return {LogLevel::info, "membership", "membership event", {}};
}

}  // namespace starling::node
