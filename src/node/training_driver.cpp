// TrainingDriver: CHOCO delta gossip between neighbours over a Transport. See
// training_driver.h and docs/learning.md ("The swarm"). This file: the
// driver's life (start, stop) and its status; the jobs live beside it:
// training_neighbours.cpp (dial, accept, drop, re-sample),
// training_link_setup.cpp (LinkHello, snapshots, resets),
// training_download.cpp (ModelRequest/ModelChunk, joining),
// training_rounds.cpp (deltas, digests, the consensus correction).
#include "starling/node/training_driver.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "starling/assert.h"
#include "starling/ml/fpu.h"
#include "starling/text.h"
#include "starling/wire/codec.h"

#include "training_internal.h"

namespace starling::node {

Result<ClipSetting> parse_clip(std::string_view text) {
  if (text == "auto") return ClipSetting{ClipMode::adaptive, 0.0};
  if (text == "off") return ClipSetting{ClipMode::off, 0.0};
  const std::string terminated(text);
  char* end = nullptr;
  const double radius = std::strtod(terminated.c_str(), &end);
  if (end == terminated.c_str() || *end != '\0' || !(radius > 0.0) || !std::isfinite(radius)) {
    return make_error(ErrorKind::invalid_argument, "want auto, off or a positive radius, got '" + terminated + "'");
  }
  return ClipSetting{ClipMode::fixed, radius};
}

using namespace training_detail;

TrainingDriver::TrainingDriver(ConnectionRouter& router, MembershipDriver& membership, ModelHost& host,
                               TrainingDriverOptions options)
    : router_(router), transport_(router.transport()), membership_(membership), host_(host),
      options_(std::move(options)), random_(options_.random_seed), budget_(options_.upload_budget) {
  RoundPacingConfig pacing;
  pacing.cpu_share = options_.round_cpu_share;
  pacing.floor_ms = options_.round_min_interval_ms;
  pacer_ = RoundPacer(pacing);
  counters_.round_floor_ms = pacer_.floor_ms();
  counters_.round_cpu_share_budget = pacer_.cpu_share();
  STARLING_ASSERT(options_.max_links >= 1);
  // The shape is for people: one the hello could not carry is left unsaid
  // rather than failing every hello's encoding.
  if (options_.model_shape.size() > wire::Limits{}.max_shape_bytes || !is_valid_utf8(options_.model_shape))
    options_.model_shape.clear();
  STARLING_ASSERT(options_.round_min_interval_ms <= options_.round_max_interval_ms);
  gamma_ = options_.gamma > 0.0f ? options_.gamma : default_gamma(options_.compressor);
  counters_.gamma = gamma_;
  if (options_.consensus_control) {
    const std::uint64_t fixed =
        options_.round_every_steps > 0 ? options_.round_every_steps : default_round_steps(options_.compressor.kind);
    control_.emplace(options_.consensus_control_config, fixed);
  }
  counters_.round_every_steps = round_steps();
  RouteHandler handler;
  handler.on_inbound = [this](const ConnectionInfo& info, ByteSpan first) { return on_inbound(info, first); };
  handler.on_connected = [this](const ConnectionInfo& info) { on_connected(info); };
  handler.on_frame = [this](ConnectionId id, ByteSpan frame) { on_frame(id, frame); };
  handler.on_disconnected = [this](ConnectionId id, const Error& reason) { on_disconnected(id, reason); };
  router_.set_handler(Route::training, std::move(handler));
}

TrainingDriver::~TrainingDriver() {
  stop();
  router_.clear_handler(Route::training);
}

void TrainingDriver::start(bool joining) {
  STARLING_ASSERT_MSG(state_ == "stopped" && !round_timer_, "TrainingDriver::start called twice");
  arm_round_timer(options_.round_interval_ms);
  neighbour_timer_ = transport_.start_timer(0, [this] { on_neighbour_check(); });
  if (joining && options_.download_model) {
    state_ = "downloading";
    download_ = Download{};  // not emplace(): clang 14 (the fuzz build) rejects it for this nested struct
    download_->started_ms = transport_.now_ms();
    download_->pace = DownloadPace(options_.model_chunk_bytes);
    download_timer_ = transport_.start_timer(options_.download_timeout_ms, [this] { on_download_timer(); });
    log(DriverLogLevel::info, "joining: downloading the model from a neighbour before training");
    return;
  }
  state_ = "training";
  host_.start_training(nullptr);
  request_parameters(0);
}

void TrainingDriver::stop() {
  close_all("peer stopping");
  state_ = "stopped";
}

void TrainingDriver::withdraw(const std::string& why) {
  if (!active()) return;
  log(DriverLogLevel::error,
      "training failed (" + why + "): closing every training link so that this model pulls on no neighbour; "
      "membership goes on",
      "training.withdrawn", {{"reason", why}, {"links", std::to_string(links_.size())}});
  close_all("training failed on this peer");
  download_.reset();
  served_.clear();
  state_ = "failed";
}

void TrainingDriver::close_all(const std::string& detail) {
  for (auto* timer : {&round_timer_, &pace_timer_, &neighbour_timer_, &download_timer_}) {
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
    reset.detail = detail;
    if (link->connected) send(*link, wire::Message{reset});
    router_.close(id);
  }
  links_.clear();
}

// ---- status ---------------------------------------------------------------------------

TrainingDriverStatus TrainingDriver::status() const {
  TrainingDriverStatus out = counters_;
  out.state = state_;
  out.upload_budget_bytes_per_second = budget_.bytes_per_second();
  out.upload_bytes_per_second = budget_.measured_bytes_per_second(transport_.now_ms());
  out.upload_tokens = budget_.tokens();
  out.round_cpu_us = pacer_.round_cost_us();
  out.round_cpu_share = pacer_.cpu_share_used();
  out.round_interval_ms = pacer_.round_interval_ms();
  out.steps_per_round = pacer_.steps_per_round();
  // In double: a finite copy of a diverged neighbour (1e30 per value) would
  // overflow a float sum of squares.
  Eigen::VectorXd mean;
  std::size_t ready = 0;
  if (parameters_) mean = parameters_->cast<double>();
  for (const auto& [id, link] : links_) {
    NeighbourStatus n;
    n.node_id = link->node_id;
    n.address = link->address;
    n.outbound = link->outbound;
    n.connected = link->connected;
    n.ready = link->state.ready();
    n.link_epoch = link->state.epoch();
    n.tracking_error = parameters_ && link->state.sending() ? link->state.tracking_error(*parameters_) : 0.0;
    n.deltas_sent = link->deltas_sent;
    n.deltas_received = link->deltas_received;
    n.resets = link->resets;
    n.correction_norm = link->last_correction_norm;
    n.degree = link->peer_degree;
    n.mixing_weight = link->mixing_weight;
    if (auto trust = trust_.find(link->node_id); trust != trust_.end()) {
      n.trust_rounds = trust->second.rounds();
      n.corrections_clipped = trust->second.clipped_rounds();
      n.clipped_share = trust->second.clipped_share();
      n.trust = options_.clip == ClipMode::adaptive ? trust->second.weight(options_.clipped_gossip) : 1.0;
    }
    out.neighbours.push_back(std::move(n));
    // The distance is from the neighbours we mix with: a distrusted
    // neighbour's copy, or one that overflowed (a diverged or hostile
    // model), would make it NaN or the attacker's distance, not ours.
    const bool counted = parameters_ && link->state.receiving() &&
                         (options_.clip != ClipMode::adaptive || trust_weight(link->node_id) > 0.0) &&
                         ml::all_finite(link->state.in_copy().data(), std::size_t(link->state.in_copy().size()));
    if (counted) {
      mean += link->state.in_copy().cast<double>();
      ++ready;
    }
  }
  out.model_bytes_held = std::uint64_t(correction_.size()) * sizeof(float);
  if (parameters_) out.model_bytes_held += std::uint64_t(parameters_->size()) * sizeof(float);
  for (const auto& [id, link] : links_) {
    out.model_bytes_held += link->state.model_bytes_held() + link->snapshot.capacity() * sizeof(float);
    out.compressor_scratch_bytes += link->state.scratch_bytes();
  }
  for (const auto& [id, served] : served_) out.model_bytes_held += std::uint64_t(served.values.size()) * sizeof(float);
  if (downloaded_base_) out.model_bytes_held += std::uint64_t(downloaded_base_->values.size()) * sizeof(float);
  if (download_) out.model_bytes_held += download_->bytes.capacity();
  out.host_model_bytes_held = host_.model_bytes_held();
  if (parameters_ && ready > 0) {
    mean /= double(ready + 1);
    const double denominator = mean.squaredNorm();
    out.consensus_distance = denominator > 0 ? (parameters_->cast<double>() - mean).squaredNorm() / denominator : 0.0;
  }
  return out;
}

void TrainingDriver::log(DriverLogLevel level, const std::string& message, std::string_view event,
                     const LogFields& fields) const {
  if (options_.on_log) options_.on_log(level, event, message, fields);
}

wire::Hash32 model_hash(const std::string& description) { return crypto::hash256(description); }

}  // namespace starling::node
