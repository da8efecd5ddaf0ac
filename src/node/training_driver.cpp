// TrainingDriver: CHOCO delta gossip between neighbours over a Transport. See
// training_driver.h and docs/learning.md ("The swarm").
#include "starling/node/training_driver.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <utility>

#include "starling/assert.h"
#include "starling/crypto/hash.h"
#include "starling/wire/codec.h"

namespace starling::node {
namespace {

constexpr std::uint64_t kDialBackoffMs = 3'000;
constexpr std::uint64_t kServedModelLifetimeMs = 60'000;
constexpr std::uint64_t kModelRefusedRetryMs = 1'000;
// Frames can vanish (the fault layer drops them; a real network only delays
// them): a link whose hello or snapshot does not complete in this time is
// redone, and a model chunk not answered in this time is asked for again.
constexpr std::uint64_t kHandshakeStallMs = 5'000;
constexpr std::uint64_t kModelChunkStallMs = 3'000;

// γ defaults measured in docs/learning.md (per compressor; top-k from swarm
// runs with training, where 0.2 let the replicas drift apart).
float default_gamma(compress::CompressorKind kind) {
  switch (kind) {
    case compress::CompressorKind::none:
    case compress::CompressorKind::int8: return 0.5f;
    case compress::CompressorKind::topk: return 0.1f;
    case compress::CompressorKind::randk:
    case compress::CompressorKind::sign: return 0.1f;
  }
  return 0.1f;
}

wire::Delta to_wire(const node::LinkDelta& in) {
  wire::Delta out;
  out.epoch = in.epoch;
  out.seq = in.seq;
  out.compressor = static_cast<wire::CompressorKind>(in.delta.kind);
  out.dimension = in.delta.dimension;
  out.seed = in.delta.seed;
  out.indices = in.delta.indices;
  out.values = in.delta.values;
  out.codes = in.delta.codes;
  out.scales = in.delta.scales;
  return out;
}

node::LinkDelta from_wire(const wire::Delta& in) {
  node::LinkDelta out;
  out.epoch = in.epoch;
  out.seq = in.seq;
  out.delta.kind = static_cast<compress::CompressorKind>(in.compressor);
  out.delta.dimension = in.dimension;
  out.delta.seed = in.seed;
  out.delta.indices = in.indices;
  out.delta.values = in.values;
  out.delta.codes = in.codes;
  out.delta.scales = in.scales;
  return out;
}
static_assert(int(compress::CompressorKind::sign) == int(wire::CompressorKind::sign));

gossip::NodeId identity_of(const ConnectionInfo& info) {
  gossip::NodeId id{};
  if (info.remote_identity.size() == id.size()) {
    std::copy(info.remote_identity.begin(), info.remote_identity.end(), id.begin());
  } else {
    // Plain mode (tests): no proven identity; name the link by its address.
    id = crypto::hash256(to_string(info.remote));
  }
  return id;
}

bool is_live(gossip::MemberState state) {
  return state == gossip::MemberState::alive || state == gossip::MemberState::suspect;
}

}  // namespace

struct TrainingDriver::Link {
  Link(ConnectionId id_, bool outbound_, gossip::NodeId node, std::string address_, const TrainingDriverOptions& o,
       std::uint64_t seed)
      : id(id_),
        outbound(outbound_),
        node_id(node),
        address(std::move(address_)),
        state(o.layout, o.compressor, seed, o.warmup) {}

  ConnectionId id;
  bool outbound;
  gossip::NodeId node_id;
  std::string address;
  bool connected = false;
  bool hello_sent = false;
  bool hello_received = false;
  node::LinkState state;
  std::optional<std::uint64_t> start_epoch;  // start(x, epoch) is due once we have parameters
  std::vector<float> snapshot;               // reassembly of the neighbour's snapshot
  std::uint64_t snapshot_epoch = 0;
  std::uint64_t snapshot_filled = 0;
  std::uint64_t deltas_since_digest = 0;
  std::uint64_t deltas_sent = 0;
  std::uint64_t deltas_received = 0;
  std::uint64_t resets = 0;
  std::uint64_t model_retry_at_ms = 0;  // it had no model to serve; ask again after this
  std::uint64_t created_ms = 0;
  std::uint64_t epoch_started_ms = 0;   // when we last sent a snapshot
  double last_correction_norm = 0.0;    // ‖x̂(j→i) − x̂(i→j)‖ at the last consensus step

  bool hello_done() const { return hello_sent && hello_received; }
};

TrainingDriver::TrainingDriver(Transport& transport, MembershipDriver& membership, ModelHost& host,
                               TrainingDriverOptions options)
    : transport_(transport), membership_(membership), host_(host), options_(std::move(options)),
      random_(options_.random_seed) {
  STARLING_ASSERT(options_.max_links >= 1);
  gamma_ = options_.gamma > 0.0f ? options_.gamma : default_gamma(options_.compressor.kind);
  weight_ = 1.0f / float(options_.max_links + 1);
  counters_.gamma = gamma_;
  counters_.mixing_weight = weight_;
}

TrainingDriver::~TrainingDriver() { stop(); }

void TrainingDriver::start(bool joining) {
  STARLING_ASSERT_MSG(state_ == "stopped" && !round_timer_, "TrainingDriver::start called twice");
  round_timer_ = transport_.start_timer(options_.round_interval_ms, [this] { on_round(); });
  neighbour_timer_ = transport_.start_timer(0, [this] { on_neighbour_check(); });
  if (joining && options_.download_model) {
    state_ = "downloading";
    download_ = Download{};  // not emplace(): clang 14 (the fuzz build) rejects it for this nested struct
    download_timer_ = transport_.start_timer(options_.download_timeout_ms, [this] {
      download_timer_.reset();
      finish_download(nullptr, "no neighbour served a model within " +
                                   std::to_string(options_.download_timeout_ms / 1000) +
                                   " s; training from our own initial parameters");
    });
    log(DriverLogLevel::info, "joining: downloading the model from a neighbour before training");
    return;
  }
  state_ = "training";
  host_.start_training(nullptr);
  host_.request_parameters();
  parameters_requested_ = true;
}

void TrainingDriver::stop() {
  for (auto* timer : {&round_timer_, &neighbour_timer_, &download_timer_}) {
    if (*timer) transport_.cancel_timer(**timer);
    timer->reset();
  }
  // Every timer this driver armed captures `this`: none may outlive it.
  for (const auto& [id, timer] : closing_timers_) transport_.cancel_timer(timer);
  closing_timers_.clear();
  for (auto& [id, link] : links_) {
    wire::Reset reset;
    reset.epoch = link->state.epoch();
    reset.reason = wire::ResetReason::shutdown;
    reset.detail = "peer stopping";
    if (link->connected) send(*link, wire::Message{reset});
    membership_.close_other(id);
  }
  links_.clear();
  state_ = "stopped";
}

// ---- rounds ------------------------------------------------------------------

void TrainingDriver::on_round() {
  round_timer_ = transport_.start_timer(options_.round_interval_ms, [this] { on_round(); });
  if (state_ != "training") return;
  round_due_ = true;
  // One request in flight at a time: a busy host answers late, rounds do not pile up.
  if (parameters_requested_) return;
  parameters_requested_ = true;
  host_.request_parameters();
}

void TrainingDriver::on_parameters(Eigen::VectorXf parameters) {
  parameters_requested_ = false;
  if (state_ == "stopped") return;
  if (std::size_t(parameters.size()) != options_.layout.dimension()) {
    log(DriverLogLevel::error, "model host returned " + std::to_string(parameters.size()) + " parameters, expected " +
                                   std::to_string(options_.layout.dimension()));
    return;
  }
  parameters_ = std::move(parameters);
  std::vector<ConnectionId> ids;
  for (const auto& entry : links_) ids.push_back(entry.first);
  for (ConnectionId id : ids) {
    // maybe_start may drop a link whose snapshot cannot be sent.
    if (auto found = links_.find(id); found != links_.end()) maybe_start(*found->second);
  }
  if (!round_due_) return;
  round_due_ = false;
  ++counters_.rounds;

  const Eigen::VectorXf& x = *parameters_;
  const bool poison = byzantine_ == ByzantineMode::random_deltas || byzantine_ == ByzantineMode::scaled_deltas;
  const Eigen::VectorXf sent_model = poison ? poisoned(x) : Eigen::VectorXf();
  const Eigen::VectorXf& x_send = poison ? sent_model : x;

  std::vector<ConnectionId> broken;
  for (auto& [id, link_ptr] : links_) {
    Link& link = *link_ptr;
    if (!link.connected || !link.state.sending()) continue;
    if (transport_.pending_outbound_bytes(id) > options_.max_link_backlog_bytes) continue;
    if (byzantine_ == ByzantineMode::garbage_frames) {
      Bytes garbage(256);
      for (auto& b : garbage) b = static_cast<std::uint8_t>(random_());
      if (!transport_.send(id, garbage)) broken.push_back(id);
      continue;
    }
    auto delta = link.state.make_delta(x_send);
    if (!delta) {
      log(DriverLogLevel::warning, "cannot make a delta for " + link.address + ": " + delta.error().message);
      continue;
    }
    if (!send(link, wire::Message{to_wire(*delta)})) {
      broken.push_back(id);
      continue;
    }
    ++link.deltas_sent;
    ++counters_.deltas_sent;
    if (++link.deltas_since_digest >= options_.digest_every) {
      link.deltas_since_digest = 0;
      const node::LinkDigest digest = link.state.make_digest();
      wire::Digest out;
      out.epoch = digest.epoch;
      out.seq = digest.seq;
      out.hash = digest.hash;
      if (!send(link, wire::Message{out})) broken.push_back(id);
    }
  }
  for (ConnectionId id : broken) drop_link(id, "send failed");

  // The consensus step, summed over ready links, goes to the host as one correction.
  std::optional<Eigen::VectorXf> correction = consensus(x);
  if (correction) host_.add_correction(*correction);
}

std::optional<Eigen::VectorXf> TrainingDriver::consensus(const Eigen::VectorXf& x) {
  // Our own displacement since the last round: what training did, with the
  // correction we handed the host taken out. No neighbour can change it.
  if (expected_parameters_ && expected_parameters_->size() == x.size())
    own_displacement_.observe(double((x - *expected_parameters_).norm()));
  counters_.own_displacement = own_displacement_.value();

  std::vector<Link*> ready;
  std::vector<double> norms;
  for (auto& [id, link_ptr] : links_) {
    if (!link_ptr->state.ready()) continue;
    const Result<double> norm = link_ptr->state.correction_norm();
    if (!norm) continue;
    ready.push_back(link_ptr.get());
    norms.push_back(*norm);
  }
  expected_parameters_ = x;
  if (ready.empty()) return std::nullopt;

  // The radius and the weights (docs/learning.md, "Robust aggregation").
  // Trust is recorded in every mode, so status shows who would be distrusted;
  // only the adaptive mode acts on it.
  std::vector<node::LinkTrust*> trust;
  for (Link* link : ready) trust.push_back(&trust_of(link->node_id));
  const node::ClippedGossipRound round =
      node::clipped_gossip_round(norms, trust, node::OwnState{double(x.norm()), own_displacement_.value()},
                                 options_.clipped_gossip);
  double radius = std::numeric_limits<double>::infinity();
  if (options_.clip == ClipMode::fixed) radius = options_.clip_radius;
  if (options_.clip == ClipMode::adaptive) radius = round.radius;
  counters_.clip_radius = radius;

  Eigen::VectorXf correction = Eigen::VectorXf::Zero(x.size());
  std::uint64_t distrusted = 0;
  for (std::size_t k = 0; k < ready.size(); ++k) {
    Link& link = *ready[k];
    const double weight = options_.clip == ClipMode::adaptive ? round.weights[k] : 1.0;
    if (weight < 1.0) ++distrusted;
    link.last_correction_norm = norms[k];
    if (weight <= 0.0) continue;
    Result<node::ConsensusStep> step =
        link.state.consensus_step(correction, gamma_, float(double(weight_) * weight), radius);
    if (step && step->clipped) ++counters_.corrections_clipped;
  }
  counters_.links_distrusted = distrusted;
  *expected_parameters_ += correction;
  return correction;
}

node::LinkTrust& TrainingDriver::trust_of(const gossip::NodeId& node) {
  auto found = trust_.find(node);
  if (found != trust_.end()) return found->second;
  // Bounded: forget the records of nodes we have no link to (the best
  // trusted first: forgetting a distrusted node would clear its record).
  constexpr std::size_t kMaxTrustRecords = 256;
  if (trust_.size() >= kMaxTrustRecords) {
    auto victim = trust_.end();
    for (auto it = trust_.begin(); it != trust_.end(); ++it) {
      const bool linked = std::any_of(links_.begin(), links_.end(),
                                      [&](const auto& entry) { return entry.second->node_id == it->first; });
      if (linked) continue;
      if (victim == trust_.end() || it->second.clipped_share() < victim->second.clipped_share()) victim = it;
    }
    if (victim != trust_.end()) trust_.erase(victim);
  }
  return trust_[node];
}

Eigen::VectorXf TrainingDriver::poisoned(const Eigen::VectorXf& x) {
  if (byzantine_ == ByzantineMode::scaled_deltas) return x * float(byzantine_scale_);
  // random_deltas: our model plus noise of `scale` times its RMS per coordinate.
  const float rms = x.size() > 0 ? x.norm() / std::sqrt(float(x.size())) : 0.0f;
  std::normal_distribution<float> noise(0.0f, float(byzantine_scale_) * std::max(rms, 1e-3f));
  Eigen::VectorXf out = x;
  for (Eigen::Index k = 0; k < out.size(); ++k) out[k] += noise(random_);
  return out;
}

void TrainingDriver::set_byzantine(ByzantineMode mode, double scale) {
  byzantine_ = mode;
  byzantine_scale_ = scale;
  if (mode != ByzantineMode::none)
    log(DriverLogLevel::warning, "byzantine mode on (fault injection): this peer now misbehaves on purpose");
}

// ---- neighbours ----------------------------------------------------------------

std::size_t TrainingDriver::live_link_count() const { return links_.size(); }

void TrainingDriver::on_neighbour_check() {
  neighbour_timer_ = transport_.start_timer(options_.neighbour_check_ms, [this] { on_neighbour_check(); });
  if (!membership_.started() || state_ == "stopped") return;
  const gossip::Membership& members = membership_.membership();

  // Links to members that died or left go; their contributions stay applied.
  std::vector<ConnectionId> gone;
  for (const auto& [id, link] : links_) {
    const gossip::MemberRecord* record = members.find(link->node_id);
    if (record && !is_live(record->state)) gone.push_back(id);
  }
  for (ConnectionId id : gone) drop_link(id, "member is no longer alive");

  const std::uint64_t now = transport_.now_ms();
  std::vector<ConnectionId> stalled;
  std::vector<ConnectionId> unanswered;
  for (const auto& [id, link] : links_) {
    if (!link->hello_done() && now > link->created_ms + kHandshakeStallMs) stalled.push_back(id);
    else if (link->state.sending() && !link->state.receiving() && now > link->epoch_started_ms + kHandshakeStallMs)
      unanswered.push_back(id);
  }
  for (ConnectionId id : stalled) drop_link(id, "link hello did not complete");
  for (ConnectionId id : unanswered) {
    if (auto found = links_.find(id); found != links_.end())
      break_link(*found->second, wire::ResetReason::unspecified, "no snapshot from the neighbour");
  }
  if (download_ && download_->from != 0 && now > download_->requested_ms + kModelChunkStallMs) {
    download_->from = 0;  // asked again below, from where the download stands
  }

  const std::vector<gossip::MemberRecord> sample = membership_.sample_neighbours(options_.neighbours);
  // Dialled links to members that rotated out of the sample are closed.
  std::vector<ConnectionId> rotated;
  for (const auto& [id, link] : links_) {
    if (!link->outbound) continue;
    // A copy, not the binding: clang 14 (the fuzz build) cannot capture structured bindings.
    const gossip::NodeId node_id = link->node_id;
    const bool wanted = std::any_of(sample.begin(), sample.end(),
                                    [&](const gossip::MemberRecord& m) { return m.node_id == node_id; });
    if (!wanted) rotated.push_back(id);
  }
  for (ConnectionId id : rotated) drop_link(id, "neighbour rotated out of the sample");

  for (const gossip::MemberRecord& member : sample) {
    if (live_link_count() >= options_.max_links) break;
    const bool linked = std::any_of(links_.begin(), links_.end(),
                                    [&](const auto& entry) { return entry.second->node_id == member.node_id; });
    if (linked) continue;
    dial(member);
  }
  if (download_) request_model();
}

void TrainingDriver::dial(const gossip::MemberRecord& member) {
  const std::uint64_t now = transport_.now_ms();
  auto backoff = dial_backoff_until_.find(member.address);
  if (backoff != dial_backoff_until_.end() && backoff->second > now) return;
  auto address = parse_address(member.address);
  if (!address) return;
  auto id = membership_.connect_other(*address);
  if (!id) {
    dial_backoff_until_[member.address] = now + kDialBackoffMs;
    log(DriverLogLevel::info, "cannot dial " + member.address + ": " + id.error().message);
    return;
  }
  auto link = std::make_unique<Link>(*id, true, member.node_id, member.address, options_, random_());
  link->created_ms = now;
  links_[*id] = std::move(link);
}

bool TrainingDriver::claim(const ConnectionInfo& info, const wire::Message& first) {
  if (state_ == "stopped" || !std::holds_alternative<wire::LinkHello>(first)) return false;
  const gossip::NodeId node = identity_of(info);
  std::string address = to_string(info.remote);
  if (membership_.started()) {
    if (const gossip::MemberRecord* record = membership_.membership().find(node)) address = record->address;
  }
  // Both ends dialled each other: keep the link dialled by the smaller node id.
  for (auto it = links_.begin(); it != links_.end(); ++it) {
    if (it->second->node_id != node) continue;
    const bool ours_wins = membership_.started() && membership_.membership().self().node_id < node;
    if (it->second->outbound && ours_wins) return false;
    if (it->second->outbound) {
      drop_link(it->first, "duplicate link (the neighbour's dial wins)");
      break;
    }
    return false;  // a second inbound link from the same node
  }
  if (live_link_count() >= options_.max_links) {
    log(DriverLogLevel::info, "refusing a link from " + address + ": already at --max-links");
    return false;
  }
  auto link = std::make_unique<Link>(info.id, false, node, address, options_, random_());
  link->connected = true;
  link->created_ms = transport_.now_ms();
  transport_.set_peer_label(info.id, address);  // the fault layer names peers by listen address
  Link& ref = *link;
  links_[info.id] = std::move(link);
  handle(ref, first);
  return true;
}

void TrainingDriver::on_connected(const ConnectionInfo& info) {
  auto found = links_.find(info.id);
  if (found == links_.end()) return;
  Link& link = *found->second;
  if (info.remote_identity.size() == link.node_id.size() &&
      !std::equal(info.remote_identity.begin(), info.remote_identity.end(), link.node_id.begin())) {
    drop_link(info.id, "the peer at " + link.address + " is not the member we dialled");
    return;
  }
  link.connected = true;
  send_hello(link);
}

void TrainingDriver::on_frame(ConnectionId id, ByteSpan frame) {
  auto found = links_.find(id);
  if (found == links_.end()) return;
  auto message = wire::decode(frame);
  if (!message) {
    drop_link(id, "undecodable frame (" + message.error().message + ")");
    return;
  }
  handle(*found->second, std::move(*message));
}

void TrainingDriver::on_disconnected(ConnectionId id, const Error& reason) {
  auto found = links_.find(id);
  if (found == links_.end()) return;
  if (!found->second->connected) dial_backoff_until_[found->second->address] = transport_.now_ms() + kDialBackoffMs;
  log(DriverLogLevel::info, "link to " + found->second->address + " closed (" + reason.message + ")");
  links_.erase(found);
  if (download_ && download_->from == id) {
    download_->from = 0;
    request_model();  // resume from another neighbour (or this one, once back)
  }
}

void TrainingDriver::drop_link(ConnectionId id, const std::string& why) {
  auto found = links_.find(id);
  if (found == links_.end()) return;
  log(DriverLogLevel::info, "closing link to " + found->second->address + ": " + why);
  links_.erase(found);
  membership_.close_other(id);
  if (download_ && download_->from == id) {
    download_->from = 0;
    request_model();
  }
}

// ---- link protocol ---------------------------------------------------------------

bool TrainingDriver::send(Link& link, const wire::Message& message) {
  auto bytes = wire::encode(message);
  if (!bytes) {
    log(DriverLogLevel::error, std::string("cannot encode ") + wire::message_name(message) + ": " + bytes.error().message);
    return false;
  }
  if (auto sent = transport_.send(link.id, *bytes); !sent) {
    log(DriverLogLevel::warning, "cannot send to " + link.address + ": " + sent.error().message);
    return false;
  }
  counters_.delta_bytes_sent += bytes->size();
  return true;
}

void TrainingDriver::send_hello(Link& link) {
  if (link.hello_sent) return;
  wire::LinkHello hello;
  hello.link_epoch = link.state.epoch();
  hello.parameter_count = options_.layout.dimension();
  hello.model_hash = options_.model_hash;
  hello.snapshot_precision = wire::Precision::bf16;
  if (send(link, wire::Message{hello})) link.hello_sent = true;
}

void TrainingDriver::handle(Link& link, wire::Message message) {
  if (auto* hello = std::get_if<wire::LinkHello>(&message)) return on_hello(link, *hello);
  if (auto* reset = std::get_if<wire::Reset>(&message)) return on_reset(link, *reset);
  if (!link.hello_received) {
    drop_link(link.id, std::string("expected a link hello, got ") + wire::message_name(message));
    return;
  }
  if (auto* chunk = std::get_if<wire::SnapshotChunk>(&message)) return on_snapshot_chunk(link, *chunk);
  if (auto* delta = std::get_if<wire::Delta>(&message)) return on_delta(link, *delta);
  if (auto* digest = std::get_if<wire::Digest>(&message)) return on_digest(link, *digest);
  if (auto* request = std::get_if<wire::ModelRequest>(&message)) return on_model_request(link, *request);
  if (auto* model = std::get_if<wire::ModelChunk>(&message)) return on_model_chunk(link, *model);
  drop_link(link.id, std::string("unexpected ") + wire::message_name(message) + " on a training link");
}

void TrainingDriver::on_hello(Link& link, const wire::LinkHello& hello) {
  if (link.hello_received) {
    drop_link(link.id, "second link hello");
    return;
  }
  std::string problem;
  if (hello.parameter_count != options_.layout.dimension()) {
    problem = "the neighbour's model has " + std::to_string(hello.parameter_count) + " parameters, ours " +
              std::to_string(options_.layout.dimension());
  } else if (hello.model_hash != options_.model_hash) {
    problem = "the neighbour trains a different model (model hash differs: check --model and --data)";
  } else if (hello.snapshot_precision != wire::Precision::bf16) {
    problem = "the neighbour wants a snapshot precision other than bf16";
  }
  if (!problem.empty()) {
    wire::Reset reset;
    reset.reason = wire::ResetReason::model_mismatch;
    reset.detail = problem;
    send(link, wire::Message{reset});
    log(DriverLogLevel::warning, "refusing a link with " + link.address + ": " + problem);
    // Close after the reset has had a chance to go out.
    const ConnectionId id = link.id;
    if (auto armed = closing_timers_.find(id); armed != closing_timers_.end()) transport_.cancel_timer(armed->second);
    closing_timers_[id] = transport_.start_timer(200, [this, id] {
      closing_timers_.erase(id);
      drop_link(id, "model mismatch");
    });
    link.hello_received = false;
    return;
  }
  link.hello_received = true;
  send_hello(link);
  if (link.outbound) link.start_epoch = link.state.epoch() + 1;  // the dialler opens epoch 1
  maybe_start(link);
  if (download_) request_model();
}

void TrainingDriver::maybe_start(Link& link) {
  if (!parameters_ || !link.hello_done() || !link.start_epoch || link.state.sending()) return;
  const std::uint64_t epoch = std::max(*link.start_epoch, link.state.epoch());
  link.start_epoch.reset();
  auto snapshot = link.state.start(*parameters_, epoch);
  if (!snapshot) {
    log(DriverLogLevel::error, "cannot start the link to " + link.address + ": " + snapshot.error().message);
    return;
  }
  link.deltas_since_digest = 0;
  link.epoch_started_ms = transport_.now_ms();
  const std::size_t total = snapshot->values.size();
  const std::size_t chunk_values = std::max<std::size_t>(1, options_.snapshot_chunk_values);
  for (std::size_t offset = 0; offset < total || offset == 0; offset += chunk_values) {
    wire::SnapshotChunk chunk;
    chunk.epoch = snapshot->epoch;
    chunk.offset = offset;
    chunk.total = total;
    chunk.precision = wire::Precision::bf16;
    const std::size_t end = std::min(total, offset + chunk_values);
    chunk.values_half.reserve(end - offset);
    for (std::size_t k = offset; k < end; ++k)
      chunk.values_half.push_back(static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(snapshot->values[k]) >> 16));
    if (!send(link, wire::Message{std::move(chunk)})) {
      drop_link(link.id, "cannot send the snapshot");
      return;
    }
    if (total == 0) break;
  }
}

void TrainingDriver::on_snapshot_chunk(Link& link, const wire::SnapshotChunk& chunk) {
  const std::size_t dimension = options_.layout.dimension();
  if (chunk.epoch < link.state.epoch()) return;  // superseded by a newer epoch already
  if (chunk.precision != wire::Precision::bf16 || chunk.total != dimension ||
      chunk.offset + chunk.values_half.size() > dimension) {
    break_link(link, wire::ResetReason::unspecified, "malformed snapshot chunk");
    return;
  }
  if (chunk.offset == 0) {
    link.snapshot.assign(dimension, 0.0f);
    link.snapshot_epoch = chunk.epoch;
    link.snapshot_filled = 0;
  }
  if (chunk.epoch != link.snapshot_epoch || chunk.offset != link.snapshot_filled) {
    break_link(link, wire::ResetReason::sequence_gap, "snapshot chunks out of order");
    return;
  }
  for (std::size_t k = 0; k < chunk.values_half.size(); ++k)
    link.snapshot[chunk.offset + k] = std::bit_cast<float>(std::uint32_t(chunk.values_half[k]) << 16);
  link.snapshot_filled += chunk.values_half.size();
  if (link.snapshot_filled < dimension) return;

  node::LinkSnapshot snapshot{link.snapshot_epoch, std::move(link.snapshot)};
  link.snapshot = {};
  link.snapshot_filled = 0;
  const Status accepted = link.state.on_snapshot(snapshot);
  if (!accepted) {
    if (accepted.error().kind == ErrorKind::invalid_argument) return;  // stale
    break_link(link, wire::ResetReason::unspecified, accepted.error().message);
    return;
  }
  if (!link.state.sending()) {
    link.start_epoch = link.state.epoch();
    maybe_start(link);
  }
}

void TrainingDriver::on_delta(Link& link, const wire::Delta& delta) {
  // Deltas of an epoch we already left, or sent before the neighbour saw our
  // reset, are expected after a restart: not an error.
  if (delta.epoch < link.state.epoch() || !link.state.receiving()) return;
  const bool out_of_sequence = delta.epoch == link.state.epoch() && delta.seq != link.state.next_receive_seq();
  if (const Status applied = link.state.on_delta(from_wire(delta)); !applied) {
    break_link(link, out_of_sequence ? wire::ResetReason::sequence_gap : wire::ResetReason::unspecified, applied.error().message);
    return;
  }
  ++link.deltas_received;
  ++counters_.deltas_received;
}

void TrainingDriver::on_digest(Link& link, const wire::Digest& digest) {
  if (digest.epoch < link.state.epoch() || !link.state.receiving()) return;
  if (const Status ok = link.state.on_digest(node::LinkDigest{digest.epoch, digest.seq, digest.hash}); !ok) {
    ++counters_.digest_mismatches;
    break_link(link, wire::ResetReason::digest_mismatch, ok.error().message);
  }
}

void TrainingDriver::on_reset(Link& link, const wire::Reset& reset) {
  if (reset.reason == wire::ResetReason::shutdown || reset.reason == wire::ResetReason::model_mismatch) {
    if (reset.reason == wire::ResetReason::model_mismatch)
      log(DriverLogLevel::warning, "link to " + link.address + " refused: " + reset.detail);
    drop_link(link.id, "neighbour closed the link (" + reset.detail + ")");
    return;
  }
  log(DriverLogLevel::info, "link to " + link.address + " reset by the neighbour: " + reset.detail);
  ++link.resets;
  ++counters_.link_resets;
  link.state.on_reset(node::LinkReset{reset.epoch, reset.detail});
  // The neighbour restarts with a snapshot of a newer epoch; we answer it.
}

void TrainingDriver::break_link(Link& link, wire::ResetReason reason, const std::string& detail) {
  log(DriverLogLevel::warning, "link to " + link.address + " broken (" + detail + "): resetting with a snapshot");
  ++link.resets;
  ++counters_.link_resets;
  const node::LinkReset reset = link.state.make_reset(detail);
  wire::Reset out;
  out.epoch = reset.epoch;
  out.reason = reason;
  out.detail = detail.substr(0, 1024);
  if (!send(link, wire::Message{out})) {
    drop_link(link.id, "cannot send a reset");
    return;
  }
  link.snapshot = {};
  link.snapshot_filled = 0;
  link.start_epoch = link.state.epoch() + 1;
  maybe_start(link);
}

// ---- model download ----------------------------------------------------------------

void TrainingDriver::on_model_request(Link& link, const wire::ModelRequest& request) {
  const std::uint64_t now = transport_.now_ms();
  std::erase_if(served_, [now](const auto& entry) { return entry.second.expires_ms < now; });
  // Bounds against a member that asks without reading (docs/security.md):
  // while the link's outbound queue holds more than the backlog limit, the
  // request is ignored (an honest joiner asks again after its stall timeout),
  // so what one link makes us queue is the limit plus one chunk.
  if (transport_.pending_outbound_bytes(link.id) > options_.max_link_backlog_bytes) {
    ++counters_.model_requests_refused;
    return;
  }
  // At most max_downloads_served links are served at once; a link counts as
  // served while it asked within the chunk stall time. Others hear "none"
  // and ask another neighbour.
  std::erase_if(serving_, [&](const auto& entry) {
    return entry.second + kModelChunkStallMs < now || links_.find(entry.first) == links_.end();
  });
  wire::ModelChunk chunk;
  const bool busy = !serving_.count(link.id) && serving_.size() >= options_.max_downloads_served;
  if (state_ != "training" || !parameters_ || busy) {
    if (busy) ++counters_.model_requests_refused;
    send(link, wire::Message{chunk});  // total 0: nothing to serve (now)
    return;
  }
  serving_[link.id] = now;
  auto found = request.snapshot_id != 0 ? served_.find(request.snapshot_id) : served_.end();
  std::uint64_t offset = request.offset;
  if (found == served_.end()) {
    // A new snapshot, frozen so that a resumed download continues the same bytes.
    std::uint64_t id = 0;
    while (id == 0 || served_.count(id)) id = random_();
    if (served_.size() >= 2) served_.erase(served_.begin());
    found = served_.emplace(id, ServedModel{*parameters_, now + kServedModelLifetimeMs}).first;
    offset = 0;
  }
  found->second.expires_ms = now + kServedModelLifetimeMs;
  const Eigen::VectorXf& values = found->second.values;
  static_assert(std::endian::native == std::endian::little, "models are served as little-endian floats");
  const std::uint64_t total = std::uint64_t(values.size()) * sizeof(float);
  if (offset > total) offset = 0;
  const std::uint64_t limit = request.max_bytes == 0 ? options_.model_chunk_bytes
                                                     : std::min<std::uint64_t>(request.max_bytes, options_.model_chunk_bytes);
  const std::uint64_t size = std::min<std::uint64_t>(total - offset, std::max<std::uint64_t>(limit, 4));
  chunk.snapshot_id = found->first;
  chunk.offset = offset;
  chunk.total = total;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(values.data());
  chunk.data.assign(bytes + offset, bytes + offset + size);
  if (send(link, wire::Message{std::move(chunk)})) counters_.model_bytes_served += size;
}

void TrainingDriver::request_model() {
  if (!download_ || download_->from != 0) return;
  const std::uint64_t now = transport_.now_ms();
  for (auto& [id, link] : links_) {
    if (!link->hello_done() || link->model_retry_at_ms > now) continue;
    wire::ModelRequest request;
    request.snapshot_id = download_->snapshot_id;
    request.offset = download_->bytes.size();
    request.max_bytes = options_.model_chunk_bytes;
    if (!send(*link, wire::Message{request})) continue;
    download_->from = id;
    download_->requested_ms = now;
    return;
  }
}

void TrainingDriver::on_model_chunk(Link& link, const wire::ModelChunk& chunk) {
  if (!download_ || download_->from != link.id) return;  // late or unasked
  download_->from = 0;
  const std::uint64_t expected_total = std::uint64_t(options_.layout.dimension()) * sizeof(float);
  if (chunk.total == 0) {
    link.model_retry_at_ms = transport_.now_ms() + kModelRefusedRetryMs;
    request_model();
    return;
  }
  if (chunk.total != expected_total) {
    log(DriverLogLevel::warning, link.address + " served a model of " + std::to_string(chunk.total) +
                                     " bytes, expected " + std::to_string(expected_total));
    link.model_retry_at_ms = transport_.now_ms() + kServedModelLifetimeMs;
    request_model();
    return;
  }
  if (chunk.snapshot_id != download_->snapshot_id) {
    if (download_->snapshot_id != 0)
      log(DriverLogLevel::info, "model download restarts: " + link.address + " serves another snapshot");
    download_->snapshot_id = chunk.snapshot_id;
    download_->bytes.clear();
  }
  if (chunk.offset != download_->bytes.size() || chunk.offset + chunk.data.size() > expected_total ||
      chunk.data.empty()) {
    request_model();  // ask again from where we are
    return;
  }
  download_->bytes.insert(download_->bytes.end(), chunk.data.begin(), chunk.data.end());
  counters_.model_bytes_downloaded += chunk.data.size();
  if (download_->bytes.size() < expected_total) {
    request_model();
    return;
  }
  Eigen::VectorXf model(Eigen::Index(options_.layout.dimension()));
  std::memcpy(model.data(), download_->bytes.data(), expected_total);
  if (!model.allFinite()) {
    log(DriverLogLevel::warning, link.address + " served a model with NaN/Inf; asking another neighbour");
    download_->snapshot_id = 0;
    download_->bytes.clear();
    link.model_retry_at_ms = transport_.now_ms() + kServedModelLifetimeMs;
    request_model();
    return;
  }
  finish_download(&model, "downloaded the model (" + std::to_string(expected_total) + " bytes) from " + link.address);
}

void TrainingDriver::finish_download(const Eigen::VectorXf* model, const std::string& why) {
  if (!download_) return;
  if (download_timer_) transport_.cancel_timer(*download_timer_);
  download_timer_.reset();
  download_.reset();
  log(model ? DriverLogLevel::info : DriverLogLevel::warning, why);
  state_ = "training";
  host_.start_training(model);
  if (!parameters_requested_) {
    parameters_requested_ = true;
    host_.request_parameters();
  }
}

// ---- status ---------------------------------------------------------------------------

TrainingDriverStatus TrainingDriver::status() const {
  TrainingDriverStatus out = counters_;
  out.state = state_;
  Eigen::VectorXf mean;
  std::size_t ready = 0;
  if (parameters_) mean = *parameters_;
  for (const auto& [id, link] : links_) {
    NeighbourStatus n;
    n.node_id = link->node_id;
    n.address = link->address;
    n.outbound = link->outbound;
    n.ready = link->state.ready();
    n.link_epoch = link->state.epoch();
    n.tracking_error = parameters_ && link->state.sending() ? link->state.tracking_error(*parameters_) : 0.0;
    n.deltas_sent = link->deltas_sent;
    n.deltas_received = link->deltas_received;
    n.resets = link->resets;
    n.correction_norm = link->last_correction_norm;
    if (auto trust = trust_.find(link->node_id); trust != trust_.end()) {
      n.trust_rounds = trust->second.rounds();
      n.corrections_clipped = trust->second.clipped_rounds();
      n.clipped_share = trust->second.clipped_share();
      n.trust = options_.clip == ClipMode::adaptive ? trust->second.weight(options_.clipped_gossip) : 1.0;
    }
    out.neighbours.push_back(std::move(n));
    if (parameters_ && link->state.receiving()) {
      mean += link->state.in_copy();
      ++ready;
    }
  }
  if (parameters_ && ready > 0) {
    mean /= float(ready + 1);
    const double denominator = double(mean.squaredNorm());
    out.consensus_distance = denominator > 0 ? double((*parameters_ - mean).squaredNorm()) / denominator : 0.0;
  }
  return out;
}

void TrainingDriver::log(DriverLogLevel level, const std::string& message) const {
  if (options_.on_log) options_.on_log(level, message);
}

void route_training(MembershipDriverOptions& options, TrainingDriver** slot) {
  options.other_connections.on_connected = [slot](const ConnectionInfo& info) {
    if (*slot) (*slot)->on_connected(info);
  };
  options.other_connections.on_frame = [slot](ConnectionId id, ByteSpan frame) {
    if (*slot) (*slot)->on_frame(id, frame);
  };
  options.other_connections.on_disconnected = [slot](ConnectionId id, const Error& reason) {
    if (*slot) (*slot)->on_disconnected(id, reason);
  };
  options.claim_connection = [slot](const ConnectionInfo& info, const wire::Message& first) {
    return *slot ? (*slot)->claim(info, first) : false;
  };
}

wire::Hash32 model_hash(const std::string& description) { return crypto::hash256(description); }

}  // namespace starling::node
