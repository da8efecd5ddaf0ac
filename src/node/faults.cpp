#include "starling/node/faults.h"

#include <algorithm>
#include <cmath>

namespace starling::node {

FaultPolicy::FaultPolicy(std::mt19937_64 generator) : generator_(std::move(generator)) {}

void FaultPolicy::set_default(const LinkFaults& faults) {
  std::lock_guard lock(mutex_);
  default_ = faults;
  refresh_active();
}

void FaultPolicy::set_link(const PeerKey& from, const PeerKey& to, const LinkFaults& faults) {
  std::lock_guard lock(mutex_);
  links_[{from, to}] = faults;
  refresh_active();
}

void FaultPolicy::set_outbound(const PeerKey& peer, const LinkFaults& faults) {
  std::lock_guard lock(mutex_);
  outbound_[peer] = faults;
  refresh_active();
}

void FaultPolicy::set_inbound(const PeerKey& peer, const LinkFaults& faults) {
  std::lock_guard lock(mutex_);
  inbound_[peer] = faults;
  refresh_active();
}

void FaultPolicy::set_peer(const PeerKey& peer, const LinkFaults& faults) {
  std::lock_guard lock(mutex_);
  outbound_[peer] = faults;
  inbound_[peer] = faults;
  refresh_active();
}

void FaultPolicy::partition(const std::vector<std::vector<PeerKey>>& groups) {
  std::lock_guard lock(mutex_);
  partition_group_.clear();
  for (std::size_t group = 0; group < groups.size(); ++group) {
    for (const PeerKey& peer : groups[group]) partition_group_[peer] = group;
  }
  refresh_active();
}

void FaultPolicy::block(const PeerKey& from, const PeerKey& to) {
  std::lock_guard lock(mutex_);
  blocked_.insert({from, to});
  refresh_active();
}

void FaultPolicy::clog(const PeerKey& peer, std::uint64_t until_us) {
  std::lock_guard lock(mutex_);
  clogged_until_us_[peer] = until_us;
  refresh_active();
}

void FaultPolicy::unclog(const PeerKey& peer) {
  std::lock_guard lock(mutex_);
  clogged_until_us_.erase(peer);
  refresh_active();
}

void FaultPolicy::heal() {
  std::lock_guard lock(mutex_);
  partition_group_.clear();
  blocked_.clear();
  clogged_until_us_.clear();
  refresh_active();
}

void FaultPolicy::clear() {
  std::lock_guard lock(mutex_);
  default_ = {};
  links_.clear();
  outbound_.clear();
  inbound_.clear();
  partition_group_.clear();
  blocked_.clear();
  clogged_until_us_.clear();
  link_busy_until_us_.clear();
  refresh_active();
}

void FaultPolicy::set_enabled(bool enabled) {
  std::lock_guard lock(mutex_);
  enabled_ = enabled;
  refresh_active();
}

void FaultPolicy::refresh_active() {
  auto imperfect = [](const auto& entry) { return !entry.second.is_perfect(); };
  const bool any = !default_.is_perfect() || std::any_of(links_.begin(), links_.end(), imperfect) ||
                   std::any_of(outbound_.begin(), outbound_.end(), imperfect) ||
                   std::any_of(inbound_.begin(), inbound_.end(), imperfect) || !partition_group_.empty() ||
                   !blocked_.empty() || !clogged_until_us_.empty();
  active_.store(enabled_ && any, std::memory_order_release);
}

bool FaultPolicy::is_blocked(const PeerKey& from, const PeerKey& to) const {
  if (blocked_.count({from, to}) != 0) return true;
  const auto from_group = partition_group_.find(from);
  const auto to_group = partition_group_.find(to);
  return from_group != partition_group_.end() && to_group != partition_group_.end() &&
         from_group->second != to_group->second;
}

const LinkFaults& FaultPolicy::faults_for(const PeerKey& from, const PeerKey& to) const {
  if (auto link = links_.find({from, to}); link != links_.end()) return link->second;
  if (auto out = outbound_.find(from); out != outbound_.end()) return out->second;
  if (auto in = inbound_.find(to); in != inbound_.end()) return in->second;
  return default_;
}

std::uint64_t FaultPolicy::clog_delay_us(const PeerKey& from, const PeerKey& to, std::uint64_t now_us) const {
  std::uint64_t until_us = 0;
  for (const PeerKey* peer : {&from, &to}) {
    if (auto clog = clogged_until_us_.find(*peer); clog != clogged_until_us_.end())
      until_us = std::max(until_us, clog->second);
  }
  return until_us > now_us ? until_us - now_us : 0;
}

std::uint64_t FaultPolicy::with_loss_limit(std::uint64_t rate, const LinkFaults& faults) {
  // Mathis et al. 1997: a TCP flow that loses a share p of its segments on a
  // path of round trip R carries at most MSS * sqrt(3/2) / (R * sqrt(p)).
  // The round trip is the path's mean: delay, half the jitter, the tail.
  const double p = faults.drop_probability;
  const double tail_us = faults.delay_mean_us > faults.delay_us ? double(faults.delay_mean_us - faults.delay_us) : 0.0;
  const double round_trip_s = 2e-6 * (double(faults.delay_us) + 0.5 * double(faults.jitter_us) + tail_us);
  if (p <= 0.0 || round_trip_s < kMinLossLimitRoundTripS) return rate;
  const double limit = kSegmentBytes * std::sqrt(1.5) / (round_trip_s * std::sqrt(p));
  const auto whole = static_cast<std::uint64_t>(std::max(1.0, limit));
  return rate == 0 ? whole : std::min(rate, whole);
}

double FaultPolicy::uniform() {
  // 53 random bits -> [0, 1): the same value on every platform for a seed.
  return static_cast<double>(generator_() >> 11) * 0x1.0p-53;
}

FaultDecision FaultPolicy::decide(const PeerKey& from, const PeerKey& to, std::size_t bytes,
                                  std::uint64_t now_us, Traffic traffic) {
  FaultDecision decision;
  if (!active()) return decision;
  std::lock_guard lock(mutex_);
  if (!enabled_) return decision;
  ++stats_.messages;
  if (is_blocked(from, to)) {
    decision.copies = 0;
    decision.partitioned = true;
    ++stats_.partitioned;
    return decision;
  }
  const LinkFaults& faults = faults_for(from, to);
  const std::uint64_t clog_us = clog_delay_us(from, to, now_us);
  if (clog_us > 0) ++stats_.clogged;
  if (faults.is_perfect()) {
    decision.delay_us[0] = clog_us;
    decision.queue_us[0] = clog_us;
    if (clog_us > 0) ++stats_.delayed;
    return decision;
  }
  // A stream under StreamLoss::retransmit loses nothing but time (a dead
  // path, drop_probability 1, loses everything).
  const bool like_tcp = traffic == Traffic::stream && faults.stream_loss == StreamLoss::retransmit &&
                        faults.drop_probability < 1.0;
  std::uint64_t retransmit_us = 0;
  std::uint64_t rate = faults.bandwidth_bytes_per_second;
  if (like_tcp) {
    // The first loss is repaired in a round trip (fast retransmit, or a tail
    // loss probe); a lost repair waits a retransmission timeout, doubled for
    // each further loss.
    const std::uint64_t round_trip_us = 2 * (faults.delay_us + faults.jitter_us);
    rate = with_loss_limit(rate, faults);
    const std::uint64_t fast_us = std::max(kMinFastRepairUs, round_trip_us);
    const std::uint64_t timeout_us = std::max(kMinRetransmitUs, 2 * round_trip_us);
    for (unsigned lost = 0; lost < kMaxRetransmits && faults.drop_probability > 0.0 &&
                            uniform() < faults.drop_probability;
         ++lost) {
      retransmit_us += lost == 0 ? fast_us : timeout_us << std::min(lost - 1, kMaxBackoffShift);
    }
    if (retransmit_us > 0) ++stats_.retransmitted;
  } else {
    decision.in_order = traffic == Traffic::stream && faults.stream_loss != StreamLoss::raw;
    if (faults.drop_probability > 0.0 && uniform() < faults.drop_probability) {
      decision.copies = 0;
      ++stats_.dropped;
      return decision;
    }
    if (faults.duplicate_probability > 0.0 && uniform() < faults.duplicate_probability) {
      decision.copies = 2;
      ++stats_.duplicated;
    }
  }
  // A bandwidth cap serialises the link: each copy leaves after the previous
  // one finished, and takes bytes / rate to cross.
  std::uint64_t* busy_until_us = nullptr;
  if (rate > 0) busy_until_us = &link_busy_until_us_[{from, to}];
  bool delayed = false;
  for (std::size_t copy = 0; copy < decision.copies; ++copy) {
    std::uint64_t delay_us = faults.delay_us;
    if (faults.jitter_us > 0) delay_us += generator_() % (faults.jitter_us + 1);
    if (faults.delay_mean_us > faults.delay_us) {
      // Exponential tail by inversion, from the policy's own generator.
      const double tail_mean_us = static_cast<double>(faults.delay_mean_us - faults.delay_us);
      delay_us += static_cast<std::uint64_t>(-tail_mean_us * std::log1p(-uniform()));
    }
    // A clogged path holds the message until the clog ends; the link's own
    // delay then starts from there.
    delay_us += clog_us + retransmit_us;
    std::uint64_t queue_us = clog_us + retransmit_us;
    if (busy_until_us != nullptr) {
      const std::uint64_t transfer_us = (static_cast<std::uint64_t>(bytes) * 1'000'000 + rate - 1) / rate;
      if (traffic == Traffic::datagram) {
        // Behind at most a bottleneck buffer's worth of the backlog; it does
        // not hold the stream up (a datagram is small against it).
        const std::uint64_t backlog_us = *busy_until_us > now_us ? *busy_until_us - now_us : 0;
        delay_us += std::min(backlog_us, kDatagramQueueUs) + transfer_us;
      } else {
        const std::uint64_t start_us = std::max(now_us, *busy_until_us);
        *busy_until_us = start_us + transfer_us;
        delay_us += *busy_until_us - now_us;
        queue_us += *busy_until_us - now_us;
      }
    }
    decision.delay_us[copy] = delay_us;
    decision.queue_us[copy] = std::min(queue_us, delay_us);
    delayed = delayed || delay_us > 0;
  }
  if (delayed) ++stats_.delayed;
  return decision;
}

FaultStats FaultPolicy::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace starling::node
