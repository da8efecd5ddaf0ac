// TrainingDriver, delta rounds: each round's compressed delta and digest per
// link, the deltas and digests received, and the consensus correction (with
// robust clipping) handed to the model host. See training_driver.h.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <span>
#include <utility>

#include "starling/assert.h"
#include "starling/ml/fpu.h"
#include "starling/node/model_passes.h"
#include "starling/wire/codec.h"
#include <limits>
#include <random>

#include "training_internal.h"

namespace starling::node {
using namespace training_detail;

// ---- rounds ------------------------------------------------------------------

void TrainingDriver::arm_round_timer(std::uint64_t delay_ms) {
  if (round_timer_) transport_.cancel_timer(*round_timer_);
  round_timer_ = transport_.start_timer(delay_ms, [this] {
    round_timer_.reset();
    on_round_timer();
  });
}

void TrainingDriver::on_round_timer() {
  expire_served_models(transport_.now_ms());
  arm_round_timer(host_counts_steps_ ? options_.round_max_interval_ms : options_.round_interval_ms);
  if (state_ != "training") return;
  round_forced_ = true;
  request_parameters(0);
}

void TrainingDriver::request_parameters(std::int64_t at_step) { host_.request_parameters(at_step); }

std::uint64_t TrainingDriver::round_steps() const {
  if (control_) return control_->round_steps();
  return options_.round_every_steps > 0 ? options_.round_every_steps : default_round_steps(options_.compressor.kind);
}

void TrainingDriver::on_parameters(Eigen::VectorXf parameters, std::int64_t step) {
  if (!active()) return;
  if (std::size_t(parameters.size()) != options_.layout.dimension()) {
    log(DriverLogLevel::error, "model host returned " + std::to_string(parameters.size()) + " parameters, expected " +
                                   std::to_string(options_.layout.dimension()));
    return;
  }
  if (!ml::all_finite(parameters.data(), std::size_t(parameters.size()))) {
    // A replica that diverged (NaN or Inf): a snapshot or delta of it breaks
    // every link it reaches (the neighbour refuses it as corrupt, and each
    // reset sent another snapshot). Its host fails soon (a run of
    // non-finite losses) and withdraws; meanwhile nothing of it leaves this
    // peer, and the parameters we hold (for snapshots, downloads, replies)
    // stay the last finite ones. The round timer asks again.
    const std::uint64_t now = transport_.now_ms();
    if (!nonfinite_logged_ms_ || now >= *nonfinite_logged_ms_ + 10'000) {
      nonfinite_logged_ms_ = now;
      log(DriverLogLevel::warning,
          "the model is not finite (NaN or Inf): no snapshots or deltas of it until training recovers",
          "training.nonfinite", {});
    }
    return;
  }
  const std::uint64_t cpu_start = cpu_clock_us();
  if (step != kNoStep && !host_counts_steps_) {
    host_counts_steps_ = true;
    arm_round_timer(options_.round_max_interval_ms);
  }
  const bool due = round_forced_ || (step != kNoStep && step >= next_round_step_);
  // Pacing (node/round_pacing.h): the driver asks for a round's parameters
  // only once the rules allow one, but an answer can also come early (a
  // link asked for fresh parameters): such a round waits like any other.
  const bool held = due && !round_forced_ && counters_.rounds > 0 && round_pause().wait_ms > 0;
  const bool round = due && !held && state_ == "training";
  // Our own displacement since parameters_ (the last round's corrected x,
  // or the last refresh's while a round is held: the pulls since are inside
  // it): what training did; no neighbour can change it. With ‖x_i‖ for the
  // consensus step's clipping bound in the same pass. A refresh is measured
  // too and stays the base, so held rounds still track it per round's steps.
  const bool refresh = held && step != kNoStep && state_ == "training" && refreshes_while_held();
  if (round) round_displacement_ = -1.0;
  if (round_base_ && (round || refresh)) {
    const DisplacementNorms norms =
        displacement_and_norm(parameters.data(), parameters_->data(), std::size_t(parameters.size()));
    own_displacement_.observe(norms.displacement);
    displacement_steps_ = step != kNoStep && parameters_step_ != kNoStep && step > parameters_step_
                              ? std::uint64_t(step - parameters_step_)
                              : 0;
    if (round) {
      round_displacement_ = norms.displacement;
      round_own_norm_ = norms.norm;
    }
  } else if (round) {
    round_own_norm_ = -1.0;  // the consensus step measures it if a link is ready
  }
  // Not a round (a refresh, a link needed fresh parameters, or the round is
  // early): kept for snapshots; only a refresh keeps the displacement base.
  if (!round) round_base_ = round_base_ && refresh;
  parameters_ = std::move(parameters);
  parameters_step_ = step;
  parameters_ms_ = transport_.now_ms();
  answer_waiting_model_requests();
  if (round) {
    run_round(step, cpu_start);
    return;
  }
  pull_own_norm_ = -1.0;  // the next on-delta pull measures these
  std::vector<ConnectionId> ids;
  for (const auto& entry : links_) ids.push_back(entry.first);
  for (ConnectionId id : ids) {
    if (auto found = links_.find(id); found != links_.end()) maybe_start(*found->second);
  }
  if (state_ != "training") return;
  // A held round arms the pace timer and asks for fresh parameters
  // meanwhile (ask_for_round), whatever answer this was; a host without
  // steps is asked again by the round timer only.
  if (held || pace_timer_) {
    ask_for_round();
    return;
  }
  if (host_counts_steps_) request_parameters(next_round_step_);
}

bool TrainingDriver::refreshes_while_held() const { return options_.mixing == Mixing::pairwise; }

std::uint64_t TrainingDriver::cpu_clock_us() const {
  return options_.round_cpu_clock_us ? options_.round_cpu_clock_us() : 0;
}

std::uint64_t TrainingDriver::round_bytes() const {
  std::uint64_t total = 0;
  std::uint64_t largest = 0;
  for (const auto& [id, link] : links_) {
    if (!link->connected || !link->state.sending()) continue;
    total += link->full_delta_bytes;
    largest = std::max<std::uint64_t>(largest, link->full_delta_bytes);
  }
  const std::uint64_t bytes = options_.mixing == Mixing::pairwise ? largest : total;
  // A sparse delta can shrink to fit the tokens (plan_delta): such a round
  // waits only for the smallest share it would send, so the budget adapts
  // the compression ratio as well as the round rate.
  return options_.compressor.sparsifies() ? std::uint64_t(double(bytes) * kMinFractionScale) : bytes;
}

RoundPause TrainingDriver::round_pause() {
  const std::uint64_t now = transport_.now_ms();
  budget_.advance(now);
  return pacer_.pause(now, budget_, round_bytes());
}

void TrainingDriver::ask_for_round() {
  if (pace_timer_) {
    transport_.cancel_timer(*pace_timer_);
    pace_timer_.reset();
  }
  if (state_ != "training" || !host_counts_steps_) return;
  const RoundPause pause = round_pause();
  counters_.round_wait = std::string(to_string(pause.wait_ms > 0 ? pause.reason : RoundWait::steps));
  if (pause.wait_ms == 0) {
    request_parameters(next_round_step_);
    return;
  }
  if (!round_held_) {
    round_held_ = true;
    if (pause.reason == RoundWait::floor) ++counters_.rounds_held_floor;
    if (pause.reason == RoundWait::cpu) ++counters_.rounds_held_cpu;
    if (pause.reason == RoundWait::upload) ++counters_.rounds_held_upload;
  }
  // While the round waits past the floor, pair replies still read
  // parameters_: take them every round's worth of steps, and at
  // most once per floor, as rounds would (the answer is kept, not a round:
  // on_parameters). A peer held for seconds by the upload budget otherwise
  // replied with a model seconds old, and each pull on that stale copy
  // added the neighbours' progress since then to a model that had made its
  // own: a dip in its accuracy. Pairwise only: neighbourhood rounds pull
  // only in rounds, and on-delta with refreshes diverged under the budget
  // (churn, sign, seed 1: every peer at 10% by 150 s; docs/learning.md).
  std::uint64_t wait_ms = pause.wait_ms;
  if (pause.reason != RoundWait::floor && parameters_step_ != kNoStep && refreshes_while_held()) {
    const std::uint64_t now = transport_.now_ms();
    const std::uint64_t age = now - std::min(now, parameters_ms_);
    if (age >= pacer_.floor_ms())
      request_parameters(parameters_step_ + std::int64_t(std::max<std::uint64_t>(1, round_steps())));
    else
      wait_ms = std::min(wait_ms, pacer_.floor_ms() - age);  // to refresh then
  }
  pace_timer_ = transport_.start_timer(wait_ms, [this] {
    pace_timer_.reset();
    ask_for_round();
  });
}

void TrainingDriver::run_round(std::int64_t step, std::uint64_t cpu_start_us) {
  last_round_ms_ = transport_.now_ms();
  round_forced_ = false;
  round_held_ = false;
  if (pace_timer_) {
    transport_.cancel_timer(*pace_timer_);
    pace_timer_.reset();
  }
  expire_served_models(last_round_ms_);
  arm_round_timer(host_counts_steps_ ? options_.round_max_interval_ms : options_.round_interval_ms);
  ++counters_.rounds;
  Eigen::VectorXf& x = *parameters_;

  // Which links send a delta this round: the link's queue and the upload
  // budget (node/upload_budget.h) decide, and pairwise mixing sends to the
  // partner only (and to neighbours that mix by rounds, which never pair:
  // their links work as on-delta's). A link that sends nothing takes no part
  // in this round's consensus: pulling on copies nothing moves would add the
  // same correction round after round.
  //
  // Under pairwise a link not ready yet gets no delta either (until session
  // 36 it got one every round). Its neighbour is ready as soon as it has
  // answered our snapshot with its own, and may ask us to pair while that
  // snapshot is still on its way to us; it takes our next delta on the link
  // for the reply. A round delta sent before its request reached us was
  // taken so, and shifted its copies, while we shifted after our real reply:
  // the copies differed at the next digest and the link was reset with a
  // whole snapshot each way (real peers behind a capped uplink, on a lossy
  // path, 16 processes on 2 cores; "pairwise mixing: a link that starts
  // over a slow path keeps its copies alike").
  const std::uint64_t now = transport_.now_ms();
  budget_.advance(now);
  UploadBudget planning = budget_;  // charged with each planned delta, in order
  Link* partner = options_.mixing == Mixing::pairwise ? pick_partner() : nullptr;
  std::map<ConnectionId, DeltaPlan> plans;
  // The tokens are shared among the links that send this round: under
  // pairwise the partner (and links to neighbours that mix by rounds).
  // Sharing them among every link gave a partner early in the map's order
  // the share of links it does not send to, and its delta was skipped.
  const auto sends_this_round = [&](const Link& link) {
    if (!link.connected || !link.state.sending()) return false;
    return options_.mixing != Mixing::pairwise || &link == partner || link.peer_round_deltas;
  };
  std::vector<Link*> sending;
  for (auto& [id, link_ptr] : links_) {
    link_ptr->sent_this_round = false;
    if (sends_this_round(*link_ptr)) sending.push_back(link_ptr.get());
  }
  // Each round serves them from the next link on: when the tokens cover
  // only some of their deltas, every link gets its turn.
  if (!sending.empty())
    std::rotate(sending.begin(), sending.begin() + std::ptrdiff_t(counters_.rounds % sending.size()), sending.end());
  std::size_t links_left = sending.size();
  for (Link* link_ptr : sending) {
    Link& link = *link_ptr;
    const DeltaPlan plan = plan_link_delta(link, links_left--, planning);
    if (!plan.send) continue;
    plans[link.id] = plan;
    link.sent_this_round = true;
    planning.charge(std::uint64_t(double(link.full_delta_bytes) * plan.fraction_scale), now);
  }

  // CHOCO order: the consensus correction from the copies as they are, added
  // to x here and handed to the host, then the deltas of the corrected x, so
  // a neighbour's copy of us includes this round's correction.
  // Pairwise rounds pull nothing here: the partner's pull comes with its
  // reply (pair_pull), from copies fresh at both ends.
  // On-delta rounds pull nothing here either: each link pulls when the
  // neighbour's delta arrives (pull_on_delta).
  const bool corrected =
      options_.mixing != Mixing::neighbourhood ? false : consensus(x, nullptr, round_own_norm_);
  pull_own_norm_ = round_own_norm_;
  round_own_norm_ = -1.0;
  // Status: what the links' pulls weigh together, as a round's would.
  if (options_.mixing == Mixing::on_delta) counters_.mixing_weight = float(ready_links_weight());
  if (corrected) {
    const bool finite = add_correction_in_place(x.data(), correction_.data(), std::size_t(x.size()));
    // The distance reads correction_: before the host may take it.
    const double weight = double(gamma_) * double(counters_.mixing_weight);
    control_round(weight > 0.0 ? double(correction_.norm()) / weight : -1.0, step, x);
    host_.hand_over_correction(correction_, finite);
  } else if (pull_weight_since_round_ > 0.0) {
    control_round(double(pulls_since_round_.norm()) / (double(gamma_) * pull_weight_since_round_), step, x);
    pulls_since_round_.setZero();
    pull_weight_since_round_ = 0.0;
  } else {
    control_round(-1.0, step, x);
  }
  next_round_step_ = (step == kNoStep ? 0 : step) + std::int64_t(round_steps());
  round_base_ = true;

  const bool poison = poisoning();
  const Eigen::VectorXf sent_model = poison ? poisoned(x) : Eigen::VectorXf();
  const Eigen::VectorXf& x_send = poison ? sent_model : x;
  const std::uint16_t degree = wire_degree();
  if (byzantine_ == ByzantineMode::drift_deltas) drift_ = drift_offset(x);
  const Eigen::VectorXf& drift = drift_;
  Eigen::VectorXf drifted;  // drift_deltas: this link's neighbour copy + drift

  // Each delta's difference x − x̂ goes through correction_ (handed over
  // above), so one buffer is the round's only scratch.
  if (correction_.size() != x.size()) correction_.resize(x.size());
  const std::span<float> scratch(correction_.data(), std::size_t(correction_.size()));
  std::vector<ConnectionId> broken;
  std::vector<std::pair<ConnectionId, std::string>> unmade;  // deltas that failed kDeltasUnmadeBeforeReset times in a row
  for (const auto& [id, plan] : plans) {
    auto found = links_.find(id);
    if (found == links_.end()) continue;
    Link& link = *found->second;
    if (byzantine_ == ByzantineMode::garbage_frames) {
      if (!transport_.send(id, garbage_frame())) broken.push_back(id);
      continue;
    }
    // Pairwise: a digest goes before the pair delta, while every pairing
    // on this link is complete at both ends, pair shifts included (a
    // digest right after it could be checked once the neighbour's shift
    // for this pairing is in and ours is not).
    const bool digest_due = ++link.deltas_since_digest >= options_.digest_every;
    if (digest_due) link.deltas_since_digest = 0;
    if (digest_due && options_.mixing == Mixing::pairwise && !send_digest(link)) {
      broken.push_back(id);
      continue;
    }
    const Eigen::VectorXf* link_send = &x_send;
    if (drift.size() == x.size() && link.state.in_copy().size() == x.size()) {
      drifted = link.state.in_copy() + drift;
      link_send = &drifted;
    }
    auto delta = link.state.make_delta(*link_send, scratch, plan.fraction_scale);
    if (!delta) {
      // Once per streak, not twice a round for as long as it lasts; a third
      // in a row resets the link (its copies start again from our model).
      ++counters_.deltas_unmade;
      if (link.deltas_unmade_in_a_row++ == 0)
        log(DriverLogLevel::warning, "cannot make a delta for " + link.address + ": " + delta.error().message);
      if (link.deltas_unmade_in_a_row >= kDeltasUnmadeBeforeReset) unmade.emplace_back(id, delta.error().message);
      continue;
    }
    link.deltas_unmade_in_a_row = 0;
    wire::Delta out = to_wire(std::move(*delta));
    out.degree = degree;
    out.pair = &link == partner;
    if (out.pair) {
      link.awaiting_pair_reply = true;
      link.pair_sent_ms = now;
    }
    const std::uint64_t bytes_before = counters_.delta_bytes_sent;
    if (!send(link, wire::Message{std::move(out)})) {
      broken.push_back(id);
      continue;
    }
    link.full_delta_bytes = std::size_t(double(counters_.delta_bytes_sent - bytes_before) / plan.fraction_scale);
    ++link.deltas_sent;
    ++counters_.deltas_sent;
    if (digest_due && options_.mixing != Mixing::pairwise && !send_digest(link)) broken.push_back(id);
  }
  // maybe_start may drop a link whose snapshot cannot be sent; links it
  // starts send their first delta next round.
  std::vector<ConnectionId> ids;
  for (const auto& entry : links_) ids.push_back(entry.first);
  for (ConnectionId id : ids) {
    if (auto found = links_.find(id); found != links_.end()) maybe_start(*found->second);
  }
  for (ConnectionId id : broken) drop_link(id, "send failed");
  for (const auto& [id, why] : unmade) {
    auto found = links_.find(id);
    if (found == links_.end()) continue;
    found->second->deltas_unmade_in_a_row = 0;
    reset_link(*found->second, wire::ResetReason::unspecified, "our deltas to it cannot be made (" + why + ")");
  }
  const std::uint64_t cpu_end = cpu_clock_us();
  pacer_.on_round(last_round_ms_, cpu_end >= cpu_start_us ? cpu_end - cpu_start_us : 0,
                  step == kNoStep ? -1 : step);
  ask_for_round();
}

bool TrainingDriver::send_digest(Link& link) {
  const node::LinkDigest digest = link.state.make_digest();
  wire::Digest out;
  out.epoch = digest.epoch;
  out.seq = digest.seq;
  out.hash = digest.hash;
  return bool(send(link, wire::Message{out}));
}

void TrainingDriver::control_round(double distance, std::int64_t step, const Eigen::VectorXf& x) {
  // Consensus control (node/consensus_control.h): the distance from the
  // neighbours' weighted mean is this round's correction over γ·Σw (exact
  // without clipping; a clipped round understates it; under on-delta and
  // pairwise mixing the pulls since the last round over their Σw), measured
  // against the training displacement since the last round.
  const std::int64_t since = last_round_step_;
  last_round_step_ = step == kNoStep ? -1 : step;
  if (!control_ || !(distance >= 0.0) || step == kNoStep || since < 0 || step <= since) return;
  // The displacement spans the steps since its base (a refresh's, if the round was held).
  const double displacement = round_displacement_ >= 0.0 && displacement_steps_ > 0 ? round_displacement_ : -1.0;
  control_->observe(distance, displacement, displacement_steps_, double(x.norm()));
  counters_.consensus_ratio = control_->ratio();
  counters_.round_every_steps = control_->round_steps();
}

std::size_t TrainingDriver::ready_link_count() const {
  std::size_t ready = 0;
  for (const auto& [id, link] : links_) ready += link->state.ready() ? 1 : 0;
  return ready;
}

double TrainingDriver::ready_links_weight() const {
  double total = 0.0;
  for (const auto& [id, link] : links_) {
    if (!link->state.ready()) continue;
    const double trust = options_.clip == ClipMode::adaptive ? trust_weight(link->node_id) : 1.0;
    total += double(mixing_weight(*link)) * trust;
  }
  return total;
}

std::uint16_t TrainingDriver::wire_degree() const {
  return std::uint16_t(std::min<std::size_t>(ready_link_count(), 0xffff));
}

float TrainingDriver::mixing_weight(const Link& link) const {
  // Metropolis-Hastings: both ends use the larger of the two degrees. A
  // neighbour that has not said its degree yet is taken at our link cap.
  const std::size_t own = ready_link_count();
  const std::size_t theirs = link.peer_degree > 0 ? link.peer_degree : options_.max_links;
  return 1.0f / float(1 + std::max(own, theirs));
}

TrainingDriver::Link* TrainingDriver::pick_partner() {
  // One open request of ours at a time (node/pair_window.h): its pull is
  // computed from our copy as it was when we asked; several landing together
  // would each pull by the same old gap.
  const std::uint64_t now = transport_.now_ms();
  for (const auto& [id, link] : links_) {
    if (link->awaiting_pair_reply && pair_window_.blocks(link->pair_sent_ms, now)) {
      ++counters_.rounds_pair_open;
      return nullptr;
    }
  }
  std::vector<Link*> ready;
  for (auto& [id, link] : links_) {
    if (link->connected && link->state.ready() && !link->awaiting_pair_reply && !link->peer_round_deltas &&
        link->pair_retry_at_ms <= transport_.now_ms() &&
        transport_.pending_outbound_bytes(id) <= options_.max_link_backlog_bytes &&
        !serving_download(serving_, id, now))
      ready.push_back(link.get());
  }
  if (ready.empty()) return nullptr;
  return ready[std::uniform_int_distribution<std::size_t>(0, ready.size() - 1)(random_)];
}

void TrainingDriver::answer_pair(Link& link) {
  if (!link.connected || !link.state.sending()) return;
  if (!link.state.ready() || state_ != "training" || !parameters_) {
    if (link.peer_declines_pairs) decline_pair(link);  // not training: no pull to make
    return;
  }
  const std::uint64_t now = transport_.now_ms();
  if (now < link.pair_answer_after_ms) {
    ++counters_.pairs_too_soon;
    if (link.peer_declines_pairs) decline_pair(link);
    return;
  }
  // The reply first: a delta of our model as it is now (after every pull we
  // took so far), so our copy at both ends is fresh; the initiator's copy is
  // its request, just applied. The pull then acts on today's gap, and the
  // initiator makes the same pull, opposite, from the same two copies when
  // the reply arrives.
  //
  // The upload budget and the link's queue rule decide whether a reply goes
  // (reply_fits, node/upload_budget.h: a reply may take the tokens one
  // bucket into debt); one that does not fit is declined, and neither end
  // pulls. Replies that were charged but never
  // held let a peer's neighbours spend its upload: with --max-upload 100000
  // among 1 MB/s neighbours a peer sent 583 kB/s, all of it replies.
  // A neighbour too old to understand a decline gets no answer at all: its
  // request lapses after its pair window. (It used to get its reply
  // regardless, so a neighbour that only had to say it cannot take a
  // decline spent our whole budget.)
  budget_.advance(transport_.now_ms());
  if (!reply_fits(budget_, transport_.pending_outbound_bytes(link.id), link.full_delta_bytes) ||
      serving_download(serving_, link.id, transport_.now_ms())) {
    if (link.peer_declines_pairs) {
      decline_pair(link);
    } else {
      ++counters_.pairs_unanswered;
    }
    return;
  }
  const auto dimension = Eigen::Index(options_.layout.dimension());
  if (correction_.size() != dimension) correction_.resize(dimension);
  const std::span<float> scratch(correction_.data(), std::size_t(correction_.size()));
  // A byzantine peer answers as it sends (it used to answer honestly, so
  // under pairwise mixing half of its pairings were harmless).
  Eigen::VectorXf made_up;
  const Eigen::VectorXf* source = reply_source(link, *parameters_, made_up);
  if (!source) {
    (void)transport_.send(link.id, garbage_frame());  // a failed send shows as the connection's end
    return;
  }
  auto reply = link.state.make_delta(*source, scratch);
  if (!reply) return;
  wire::Delta out = to_wire(std::move(*reply));
  out.degree = wire_degree();
  const std::uint64_t bytes_before = counters_.delta_bytes_sent;
  if (!send(link, wire::Message{std::move(out)})) return;  // a failed send drops the link
  link.full_delta_bytes = counters_.delta_bytes_sent - bytes_before;
  ++link.deltas_sent;
  ++counters_.deltas_sent;
  ++counters_.pair_mirrors;
  // Its next request comes a round later at the earliest; half our floor
  // leaves room for requests that travelled at different speeds.
  link.pair_answer_after_ms = now + pacer_.floor_ms() / 2;
  pair_pull(link);
}

void TrainingDriver::decline_pair(Link& link) {
  // When to ask again: once a reply would fit (reply_fits) at the budget's
  // rate, for the link's delta size, or our largest if none went on it yet. At least the
  // round floor and kMinPairRetryMs (a decline costs bytes too: asked again
  // every millisecond, declines alone spent the budget), at most
  // kMaxPairRetryMs, so a declined neighbour pairs elsewhere meanwhile and
  // comes back soon.
  std::uint64_t retry_ms = std::max(pacer_.floor_ms(), kMinPairRetryMs);
  if (budget_.limited()) {
    std::size_t delta_bytes = link.full_delta_bytes;
    for (const auto& [id, other] : links_) delta_bytes = std::max(delta_bytes, other->full_delta_bytes);
    const std::int64_t missing = std::int64_t(delta_bytes) - budget_.tokens() - std::int64_t(budget_.burst_bytes());
    if (missing > 0) retry_ms = std::max(retry_ms, std::uint64_t(missing) * 1000 / budget_.bytes_per_second());
  }
  wire::PairDecline decline;
  decline.epoch = link.state.epoch();
  decline.seq = link.state.next_receive_seq() - 1;  // the request, just applied
  decline.retry_after_ms = std::uint32_t(std::min(retry_ms, kMaxPairRetryMs));
  link.pair_answer_after_ms = std::max(link.pair_answer_after_ms, transport_.now_ms() + decline.retry_after_ms / 2);
  if (send(link, wire::Message{decline})) ++counters_.pairs_declined;
}

void TrainingDriver::on_pair_decline(Link& link, const wire::PairDecline& decline) {
  // Only the answer to our open request counts: one of an older epoch, or
  // with another sequence number, is ignored (we keep waiting for the
  // neighbour's next delta, as without a decline).
  if (!link.awaiting_pair_reply || decline.epoch != link.state.epoch() || link.state.next_send_seq() == 0 ||
      decline.seq != link.state.next_send_seq() - 1)
    return;
  link.awaiting_pair_reply = false;
  link.pair_retry_at_ms =
      transport_.now_ms() + std::min<std::uint64_t>(decline.retry_after_ms, kMaxPairRetryMs);
  ++counters_.pair_declines_received;
}

void TrainingDriver::pair_pull(Link& link) {
  if (!link.state.ready()) return;
  if (state_ == "training" && parameters_ && consensus(*parameters_, &link)) hand_over_pull();
  // Both ends move the two copies by the pairing's unclipped pulls, bit for
  // bit alike, so the copies hold them (as CHOCO's order would: the
  // neighbour's view of us includes our last pull) and the next delta on
  // this link carries only what moved since. Unconditional: the other end
  // does it too, whatever our state.
  link.state.pair_shift(0.5f * gamma_);
}

bool TrainingDriver::consensus(const Eigen::VectorXf& x, Link* pair, double own_norm, bool one_link) {
  counters_.own_displacement = own_displacement_.value();

  std::vector<Link*> ready;
  for (auto& [id, link_ptr] : links_) {
    if (!link_ptr->state.ready()) continue;
    if (pair ? link_ptr.get() != pair : !link_ptr->sent_this_round) continue;
    ready.push_back(link_ptr.get());
  }
  if (correction_.size() != x.size()) correction_.resize(x.size());
  if (ready.empty()) {
    correction_.setZero();
    return false;
  }

  // The weights and the radius (docs/learning.md, "Robust aggregation").
  // Trust is recorded in every mode, so status shows who would be distrusted;
  // only the adaptive mode acts on it. A link's trust weight is known before
  // this round's norms (clipped_gossip_round reads it before it records the
  // round), so each link's pull is added unclipped in the same pass that
  // measures its norm (LinkState::pull, the first one overwriting: no zeroing
  // pass); a link the radius then clips gets a second pass with the
  // difference of the factors. Honest rounds rarely clip: one pass per link.
  std::vector<node::LinkTrust*> trust;
  std::vector<float> factors;
  std::vector<double> norms;
  bool zeroed = true;  // correction_ still to be overwritten
  bool finite = true;
  for (Link* link : ready) {
    node::LinkTrust& link_trust = trust_of(link->node_id);
    trust.push_back(&link_trust);
    const float mixing = pair && !one_link ? 0.5f : mixing_weight(*link);
    link->mixing_weight = mixing;
    const double weight =
        options_.clip == ClipMode::adaptive ? link_trust.weight(options_.clipped_gossip) : 1.0;
    factors.push_back(float(double(mixing) * weight));
    Result<double> norm = weight > 0.0 ? link->state.pull(correction_, gamma_ * factors.back(), zeroed)
                                       : link->state.correction_norm();
    if (weight > 0.0) zeroed = false;
    norms.push_back(*norm);
    if (weight > 0.0 && !std::isfinite(*norm)) finite = false;
  }
  if (zeroed) correction_.setZero();  // every link distrusted: no pull at all
  // On-delta and pairwise pull one link at a time: the other trusted ready
  // links' last norms join the median, or a lone link's own norm would set
  // its radius and only the model-norm cap would bound an attacker's pull.
  std::vector<double> other_norms;
  if (pair) {
    for (const auto& [id, other] : links_) {
      if (other.get() == pair || !other->state.ready() || !std::isfinite(other->last_correction_norm) ||
          other->last_correction_norm <= 0.0)
        continue;
      if (trust_weight(other->node_id) <= 0.0) continue;
      other_norms.push_back(other->last_correction_norm);
    }
  }
  const node::ClippedGossipRound round =
      node::clipped_gossip_round(norms, trust, node::OwnState{own_norm >= 0.0 ? own_norm : model_norm(x.data(), std::size_t(x.size())),
                                                     own_displacement_.value()},
                                 options_.clipped_gossip, other_norms);
  double radius = std::numeric_limits<double>::infinity();
  if (options_.clip == ClipMode::fixed) radius = options_.clip_radius;
  if (options_.clip == ClipMode::adaptive) radius = round.radius;
  counters_.clip_radius = radius;
  // A link whose copies overflowed put NaN/Inf into the sum: start over
  // without it (consensus_step refuses a correction that is not finite).
  // So does a clipped link: taking (γ·w − f)·d back off the γ·w·d already
  // added cancels catastrophically for a correction far past the radius (a
  // diverged neighbour's d of 1e37 leaves float rounding of about 1e30 in
  // every value of our model). Honest rounds rarely clip.
  bool rebuild = !finite;
  for (std::size_t k = 0; k < ready.size() && !rebuild; ++k) {
    const double weight = options_.clip == ClipMode::adaptive ? round.weights[k] : 1.0;
    rebuild = weight > 0.0 && node::pull_factor(gamma_, factors[k], norms[k], radius).clipped;
  }
  if (rebuild) correction_.setZero();

  std::uint64_t distrusted = 0;
  double total_weight = 0.0;
  for (std::size_t k = 0; k < ready.size(); ++k) {
    Link& link = *ready[k];
    const double weight = options_.clip == ClipMode::adaptive ? round.weights[k] : 1.0;
    STARLING_ASSERT(float(double(link.mixing_weight) * weight) == factors[k]);
    if (weight < 1.0) ++distrusted;
    if (options_.clip == ClipMode::adaptive) say_trust(link, weight);
    link.last_correction_norm = norms[k];
    if (weight <= 0.0) continue;
    total_weight += double(link.mixing_weight) * weight;
    if (!rebuild) continue;  // its pull is in the sum as it is
    Result<node::ConsensusStep> step = link.state.consensus_step(correction_, gamma_, factors[k], radius, norms[k]);
    if (step && step->clipped) ++counters_.corrections_clipped;
  }
  counters_.links_distrusted = distrusted;
  pull_weight_ = total_weight;
  // An on-delta pull is one link's: status keeps the round's sum (run_round).
  if (!one_link) counters_.mixing_weight = float(total_weight);
  return true;
}

void TrainingDriver::expire_served_models(std::uint64_t now_ms) {
  std::erase_if(served_, [now_ms](const auto& entry) { return entry.second.expires_ms < now_ms; });
}

double TrainingDriver::trust_weight(const gossip::NodeId& node) const {
  const auto found = trust_.find(node);
  return found == trust_.end() ? 1.0 : found->second.weight(options_.clipped_gossip);
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
    if (victim != trust_.end()) {
      distrust_said_.erase(victim->first);
      trust_.erase(victim);
    }
  }
  return trust_[node];
}

void TrainingDriver::say_trust(const Link& link, double weight) {
  const bool said = distrust_said_.count(link.node_id) != 0;
  if (weight < 1.0 && !said) {
    distrust_said_.insert(link.node_id);
    const double share = trust_of(link.node_id).clipped_share();
    char text[160];
    std::snprintf(text, sizeof text, "%.0f%% of its recent corrections were past the clipping radius; its pull now "
                  "weighs %.2f of a trusted neighbour's", 100.0 * share, weight);
    log(DriverLogLevel::warning,
        "neighbour " + link.address + " is losing our trust: " + text +
            " (a faulty or hostile member; `starling status` shows each neighbour's trust)",
        "link.distrusted", {{"peer", link.address}, {"clipped_share", std::to_string(share)},
                            {"trust", std::to_string(weight)}});
  } else if (weight >= 1.0 && said) {
    distrust_said_.erase(link.node_id);
    log(DriverLogLevel::info, "neighbour " + link.address + " is trusted again: its corrections stay within the "
        "clipping radius", "link.trusted", {{"peer", link.address}});
  }
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

Eigen::VectorXf TrainingDriver::drift_offset(const Eigen::VectorXf& x) {
  // Against our own progress since the last round: an estimate of the
  // direction every honest replica's training takes.
  Eigen::VectorXf direction;
  if (drift_from_.size() == x.size()) direction = drift_from_ - x;
  drift_from_ = x;
  const float length = direction.size() > 0 ? direction.norm() : 0.0f;
  if (!(length > 0.0f) || !std::isfinite(length)) return {};
  // Sized by the median gap ‖x̂(j→i) − x̂(i→j)‖ of our ready links: an
  // honest neighbour's correction norms are of that size, so `scale` below
  // the clipping multiplier (3) is never clipped and never loses trust.
  std::vector<double> gaps;
  for (const auto& [id, link] : links_) {
    if (!link->state.ready() || link->state.in_copy().size() != x.size()) continue;
    gaps.push_back(double((link->state.in_copy() - link->state.out_copy()).norm()));
  }
  if (gaps.empty()) return {};
  std::nth_element(gaps.begin(), gaps.begin() + std::ptrdiff_t((gaps.size() - 1) / 2), gaps.end());
  const double gap = gaps[(gaps.size() - 1) / 2];
  if (!(gap > 0.0) || !std::isfinite(gap)) return {};
  return direction * float(byzantine_scale_ * gap / double(length));
}

Bytes TrainingDriver::garbage_frame() {
  Bytes garbage(256);
  for (auto& b : garbage) b = static_cast<std::uint8_t>(random_());
  return garbage;
}

const Eigen::VectorXf* TrainingDriver::reply_source(const Link& link, const Eigen::VectorXf& x,
                                                    Eigen::VectorXf& storage) {
  if (byzantine_ == ByzantineMode::garbage_frames) return nullptr;
  if (poisoning()) {
    storage = poisoned(x);
    return &storage;
  }
  if (byzantine_ == ByzantineMode::drift_deltas && drift_.size() == x.size() &&
      link.state.in_copy().size() == x.size()) {
    storage = link.state.in_copy() + drift_;
    return &storage;
  }
  return &x;
}

void TrainingDriver::set_byzantine(ByzantineMode mode, double scale) {
  byzantine_ = mode;
  byzantine_scale_ = scale;
  drift_from_ = Eigen::VectorXf();
  drift_ = Eigen::VectorXf();
  if (mode != ByzantineMode::none)
    log(DriverLogLevel::warning, "byzantine mode on (fault injection): this peer now misbehaves on purpose");
}

void TrainingDriver::on_delta(Link& link, wire::Delta& delta) {
  // Deltas of an epoch we already left, or sent before the neighbour saw our
  // reset, are expected after a restart: not an error.
  // The neighbour's older traffic still draining from a slow link: progress
  // towards its next snapshot, for the stall timer.
  if (delta.epoch < link.state.epoch()) link.last_activity_ms = transport_.now_ms();
  if (delta.epoch < link.state.epoch() || !link.state.receiving()) return;
  const bool out_of_sequence = delta.epoch == link.state.epoch() && delta.seq != link.state.next_receive_seq();
  // Pairwise (docs/learning.md, "Pairwise mixing"): every pull comes after
  // the delta that makes the link's copies fresh. Awaiting our request's
  // answer, the neighbour's next delta is its reply (it pulled after making
  // it) or its own request crossing ours (it will pull on ours, unanswered):
  // either way both ends now hold the same two fresh copies, so we pull
  // once. A request we did not cross gets a reply, then our pull.
  const bool awaited = link.awaiting_pair_reply;
  link.awaiting_pair_reply = false;
  const bool pair = delta.pair;
  const std::uint16_t degree = delta.degree;
  if (const Status applied = link.state.on_delta(from_wire(std::move(delta))); !applied) {
    break_link(link, out_of_sequence ? wire::ResetReason::sequence_gap : wire::ResetReason::unspecified, applied.error().message);
    return;
  }
  ++link.deltas_received;
  ++counters_.deltas_received;
  if (degree > 0) link.peer_degree = degree;
  if (awaited) {
    if (pair) {
      ++counters_.pair_crossings;
    } else {
      pair_window_.on_reply(transport_.now_ms() - std::min(transport_.now_ms(), link.pair_sent_ms));
      counters_.pair_rtt_ms = pair_window_.smoothed_rtt_ms();
    }
    pair_pull(link);
  } else if (pair) {
    answer_pair(link);
  } else if (options_.mixing == Mixing::on_delta || (options_.mixing == Mixing::pairwise && link.peer_round_deltas)) {
    pull_on_delta(link);
  }
}

void TrainingDriver::pull_on_delta(Link& link) {
  // Our own copy x̂(i→j) holds our last delta to j, so the gap is between
  // what each end last sent: j pulls on the same two copies when our delta
  // reaches it, and the pair's sum is kept as in a neighbourhood round.
  if (!link.state.ready() || state_ != "training" || !parameters_) return;
  if (link.pulled_at_sent == link.deltas_sent) {
    ++counters_.delta_pulls_skipped;  // this gap was pulled on already (Link::pulled_at_sent)
    return;
  }
  if (pull_own_norm_ < 0.0) pull_own_norm_ = model_norm(parameters_->data(), std::size_t(parameters_->size()));
  if (!consensus(*parameters_, &link, pull_own_norm_, true)) return;
  hand_over_pull();
  link.pulled_at_sent = link.deltas_sent;
  ++counters_.delta_pulls;
}

void TrainingDriver::hand_over_pull() {
  const bool finite = add_correction_in_place(parameters_->data(), correction_.data(), std::size_t(parameters_->size()));
  if (control_ && finite) {
    if (pulls_since_round_.size() != correction_.size()) pulls_since_round_.setZero(correction_.size());
    pulls_since_round_ += correction_;  // before the host may take the buffer
    pull_weight_since_round_ += pull_weight_;
  }
  host_.hand_over_correction(correction_, finite);
}

void TrainingDriver::on_digest(Link& link, const wire::Digest& digest) {
  // Epoch 0 (no epoch has it) is a keepalive (kLinkKeepaliveMs): ignored here.
  if (digest.epoch < link.state.epoch() || !link.state.receiving()) return;
  if (const Status ok = link.state.on_digest(node::LinkDigest{digest.epoch, digest.seq, digest.hash}); !ok) {
    ++counters_.digest_mismatches;
    break_link(link, wire::ResetReason::digest_mismatch, ok.error().message);
  }
}

}  // namespace starling::node
