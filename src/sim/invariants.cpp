#include "starling/sim/invariants.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "starling/gossip/messages.h"

namespace starling::sim {
namespace {
std::string fmt(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}
constexpr std::size_t kMaxViolationsKept = 100;
}  // namespace

InvariantChecker::InvariantChecker(InvariantOptions options) : options_(options) {}

void InvariantChecker::violate(double t, const char* invariant, std::string what) {
  ++reported_;
  if (violations_.size() < kMaxViolationsKept) violations_.push_back(Violation{t, invariant, std::move(what)});
}

void InvariantChecker::disturb(int peer, double) { disturbed_until_[peer] = kForever; }

void InvariantChecker::calm(int peer, double t) {
  auto it = disturbed_until_.find(peer);
  if (it != disturbed_until_.end() && it->second == kForever) it->second = t + options_.grace_seconds;
}

void InvariantChecker::disturb_all(double) { all_disturbed_until_ = kForever; }

void InvariantChecker::calm_all(double t) {
  if (all_disturbed_until_ == kForever) all_disturbed_until_ = t + options_.grace_seconds;
}

bool InvariantChecker::quiet(int peer, double t) const {
  if (t < all_disturbed_until_) return false;
  auto it = disturbed_until_.find(peer);
  return it == disturbed_until_.end() || t >= it->second;
}

void InvariantChecker::member_dead(double t, int observer, int accused, bool accused_up,
                                   std::uint64_t declared_incarnation, std::uint64_t life_first_incarnation) {
  if (accused < 0 || !accused_up) return;
  // A death about an earlier life (below this life's first incarnation) is news from the past.
  if (declared_incarnation < life_first_incarnation) return;
  if (!quiet(observer, t) || !quiet(accused, t)) return;
  violate(t, "false_death",
          "peer " + std::to_string(observer) + " declared peer " + std::to_string(accused) + " (incarnation " +
              std::to_string(declared_incarnation) + ") dead while it ran and every link of both delivered");
}

void InvariantChecker::persisted_incarnation(double t, int peer, int identity_generation, std::uint64_t incarnation) {
  auto [it, fresh] = persisted_.try_emplace({peer, identity_generation}, incarnation);
  if (fresh) return;
  if (incarnation < it->second) {
    violate(t, "incarnation", "peer " + std::to_string(peer) + " persisted incarnation " + std::to_string(incarnation) +
                                  " after " + std::to_string(it->second) + " under the same identity");
  }
  it->second = std::max(it->second, incarnation);
}

void InvariantChecker::observed_incarnation(double t, int observer, int observer_life, const gossip::NodeId& member,
                                            std::uint64_t incarnation, bool reaped) {
  const auto key = std::make_pair(std::make_pair(observer, observer_life), member);
  if (reaped) {
    observed_.erase(key);
    return;
  }
  auto [it, fresh] = observed_.try_emplace(key, incarnation);
  if (fresh) return;
  if (incarnation < it->second) {
    violate(t, "incarnation", "peer " + std::to_string(observer) + " saw member " + gossip::short_hex(member) +
                                  " go back from incarnation " + std::to_string(it->second) + " to " +
                                  std::to_string(incarnation));
  }
  it->second = std::max(it->second, incarnation);
}

void InvariantChecker::swarm_average(double t,
                                     const std::vector<std::pair<std::pair<int, int>, const Eigen::VectorXf*>>& replicas) {
  std::vector<std::pair<int, int>> members;
  for (const auto& [who, x] : replicas) members.push_back(who);
  if (replicas.empty()) {
    average_members_.clear();
    average_start_.reset();
    return;
  }
  Eigen::VectorXf mean = Eigen::VectorXf::Zero(replicas.front().second->size());
  for (const auto& [who, x] : replicas) {
    if (x->size() != mean.size()) return;
    mean += *x;
  }
  mean /= float(replicas.size());
  if (members != average_members_ || !average_start_) {
    // A new span: the swarm changed (a join, a crash), so its average may too.
    average_members_ = members;
    average_start_ = mean;
    double spread = 0.0;
    for (const auto& [who, x] : replicas) spread += double((*x - mean).squaredNorm());
    average_scale_ = std::sqrt(spread / double(replicas.size()));
    return;
  }
  const double moved = double((mean - *average_start_).norm());
  const double allowed = options_.average_tolerance * std::max(average_scale_, 1e-6 * double(mean.norm()));
  if (moved > allowed) {
    violate(t, "average", "the swarm average of " + std::to_string(replicas.size()) + " replicas moved by " +
                              fmt("%.3g", moved) + " (allowed " + fmt("%.3g", allowed) +
                              ") with lr 0 and no clipping");
    average_start_ = mean;  // report each drift once
  }
}

void InvariantChecker::digest_mismatches(double t, int peer, int life, std::uint64_t count, bool fault_free) {
  std::uint64_t& seen = mismatches_[{peer, life}];
  if (count > seen && fault_free) {
    violate(t, "digest", "peer " + std::to_string(peer) + " saw " + std::to_string(count - seen) +
                             " digest mismatch(es): the two ends of a link held different copies");
  }
  seen = std::max(seen, count);
}

}  // namespace starling::sim
