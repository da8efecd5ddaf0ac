// TrainingDriver, delta rounds: each round's compressed delta and digest per
// link, the deltas and digests received, and the consensus correction (with
// robust clipping) handed to the model host. See training_driver.h.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <span>
#include <utility>

#include "starling/assert.h"
#include "starling/wire/codec.h"
#include <limits>
#include <random>

#include "training_internal.h"

namespace starling::node {
using namespace training_detail;

// ---- rounds ------------------------------------------------------------------

void TrainingDriver::on_round() {
  round_timer_ = transport_.start_timer(options_.round_interval_ms, [this] { on_round(); });
  expire_served_models(transport_.now_ms());
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
  if (round_due_) {
    // Our own displacement since the last round: what training did, with the
    // correction we handed the host taken out. No neighbour can change it.
    // The last round's x and correction are still here: x_prev + c is summed
    // per value as a stored "expected" vector would be, without storing it.
    if (round_base_) own_displacement_.observe(double((parameters - (*parameters_ + correction_)).norm()));
  } else {
    round_base_ = false;  // the last round's x is replaced: no base for the next displacement
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

  // Each delta's difference x − x̂ goes through correction_: the last round's
  // correction was used above (displacement) and this round's is made after
  // the deltas, so one buffer is the round's only scratch.
  if (correction_.size() != x.size()) correction_.resize(x.size());
  const std::span<float> scratch(correction_.data(), std::size_t(correction_.size()));
  std::vector<ConnectionId> broken;
  budget_.advance(transport_.now_ms());
  std::size_t links_left = 0;
  for (auto& [id, link_ptr] : links_) {
    link_ptr->sent_this_round = false;
    links_left += link_ptr->connected && link_ptr->state.sending() ? 1 : 0;
  }
  for (auto& [id, link_ptr] : links_) {
    Link& link = *link_ptr;
    if (!link.connected || !link.state.sending()) continue;
    // The link's queue and the upload budget (node/upload_budget.h): a link
    // that skips sends no delta and takes no part in this round's consensus.
    const DeltaPlan plan = plan_link_delta(link, links_left--);
    if (!plan.send) continue;
    if (byzantine_ == ByzantineMode::garbage_frames) {
      Bytes garbage(256);
      for (auto& b : garbage) b = static_cast<std::uint8_t>(random_());
      if (!transport_.send(id, garbage)) broken.push_back(id);
      continue;
    }
    auto delta = link.state.make_delta(x_send, scratch, plan.fraction_scale);
    if (!delta) {
      log(DriverLogLevel::warning, "cannot make a delta for " + link.address + ": " + delta.error().message);
      continue;
    }
    const std::uint64_t bytes_before = counters_.delta_bytes_sent;
    if (!send(link, wire::Message{to_wire(*delta)})) {
      broken.push_back(id);
      continue;
    }
    link.full_delta_bytes = std::size_t(double(counters_.delta_bytes_sent - bytes_before) / plan.fraction_scale);
    link.sent_this_round = true;
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
  if (consensus(x)) host_.add_correction(correction_);
}

bool TrainingDriver::consensus(const Eigen::VectorXf& x) {
  counters_.own_displacement = own_displacement_.value();

  std::vector<Link*> ready;
  std::vector<double> norms;
  for (auto& [id, link_ptr] : links_) {
    if (!link_ptr->state.ready() || !link_ptr->sent_this_round) continue;
    const Result<double> norm = link_ptr->state.correction_norm();
    if (!norm) continue;
    ready.push_back(link_ptr.get());
    norms.push_back(*norm);
  }
  // This round's x (parameters_) and correction_ are the next round's
  // displacement base; the correction is zero without a ready link.
  round_base_ = true;
  if (correction_.size() != x.size()) correction_.resize(x.size());
  correction_.setZero();
  if (ready.empty()) return false;

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

  std::uint64_t distrusted = 0;
  for (std::size_t k = 0; k < ready.size(); ++k) {
    Link& link = *ready[k];
    const double weight = options_.clip == ClipMode::adaptive ? round.weights[k] : 1.0;
    if (weight < 1.0) ++distrusted;
    link.last_correction_norm = norms[k];
    if (weight <= 0.0) continue;
    Result<node::ConsensusStep> step =
        link.state.consensus_step(correction_, gamma_, float(double(weight_) * weight), radius);
    if (step && step->clipped) ++counters_.corrections_clipped;
  }
  counters_.links_distrusted = distrusted;
  return true;
}

void TrainingDriver::expire_served_models(std::uint64_t now_ms) {
  std::erase_if(served_, [now_ms](const auto& entry) { return entry.second.expires_ms < now_ms; });
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

void TrainingDriver::on_delta(Link& link, const wire::Delta& delta) {
  // Deltas of an epoch we already left, or sent before the neighbour saw our
  // reset, are expected after a restart: not an error.
  // The neighbour's older traffic still draining from a slow link: progress
  // towards its next snapshot, for the stall timer.
  if (delta.epoch < link.state.epoch()) link.last_activity_ms = transport_.now_ms();
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

}  // namespace starling::node
