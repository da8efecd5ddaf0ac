// What must hold in every simulated run, whatever the faults (a violation
// fails the run and prints its seed; docs/simulator.md, "Invariants"):
//   1. no member is declared dead while it runs and its links deliver: the
//      accused is up and neither it nor the accuser was disturbed (paused,
//      partitioned, lossy, delayed, clogged, byzantine, ...) within the grace
//      window before the declaration;
//   2. incarnations never go backwards: a peer's persisted incarnation under
//      one identity, and the incarnation an observer's events carry for a
//      member, only grow;
//   3. with lr 0 and no clipping the swarm average is preserved (within a
//      tolerance; see the doc for why it is not exact under asynchronous
//      rounds), while the set of training peers stays the same;
//   4. both ends of a link hold the same copy at every digest: a digest
//      mismatch while every peer is undisturbed (no fault within the grace
//      window) and no byzantine peer is in the run is a violation.
// The executor (scenario_run.cpp) feeds the facts; the checker decides.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "starling/gossip/messages.h"

namespace starling::sim {

struct Violation {
  double t = 0.0;  // virtual seconds
  std::string invariant;  // "false_death", "incarnation", "average", "digest"
  std::string what;
};

struct InvariantOptions {
  // A disturbance ends only this long after its fault did (suspicion must
  // have time to be refuted): the profile's suspicion timeout plus margin.
  double grace_seconds = 10.0;
  // Average preservation: |mean - mean at the span's start| may not exceed
  // this times the initial RMS distance of the replicas from their mean.
  double average_tolerance = 1e-3;
};

class InvariantChecker {
 public:
  explicit InvariantChecker(InvariantOptions options);

  // Fault bookkeeping. A peer is disturbed from disturb() until grace_seconds
  // after the matching calm(); disturb_all covers every peer (e.g. a swarm-wide
  // loss, a lying member).
  void disturb(int peer, double t);
  void calm(int peer, double t);
  void disturb_all(double t);
  void calm_all(double t);
  bool quiet(int peer, double t) const;

  // Invariant 1. `accused` is the member's peer index (-1: not a peer of the
  // run, e.g. a made-up member); `life_first_incarnation` the incarnation its
  // current life started with (a death below it is about an earlier life).
  void member_dead(double t, int observer, int accused, bool accused_up, std::uint64_t declared_incarnation,
                   std::uint64_t life_first_incarnation);
  // Invariant 2.
  void persisted_incarnation(double t, int peer, int identity_generation, std::uint64_t incarnation);
  void observed_incarnation(double t, int observer, int observer_life, const gossip::NodeId& member,
                            std::uint64_t incarnation, bool reaped);
  // Invariant 3: the training replicas now, keyed by (peer, life).
  void swarm_average(double t, const std::vector<std::pair<std::pair<int, int>, const Eigen::VectorXf*>>& replicas);
  // Invariant 4: a peer's digest-mismatch counter (cumulative for its life).
  // `fault_free`: no link of the swarm was faulted since the last report (a
  // frame dropped from a lossy stream may legitimately end in a mismatch).
  void digest_mismatches(double t, int peer, int life, std::uint64_t count, bool fault_free);

  const std::vector<Violation>& violations() const { return violations_; }

 private:
  void violate(double t, const char* invariant, std::string what);

  InvariantOptions options_;
  static constexpr double kForever = std::numeric_limits<double>::infinity();
  std::map<int, double> disturbed_until_;  // peer -> end of its disturbance (+inf while ongoing)
  double all_disturbed_until_ = -kForever;
  std::map<std::pair<int, int>, std::uint64_t> persisted_;  // (peer, identity generation)
  std::map<std::pair<std::pair<int, int>, gossip::NodeId>, std::uint64_t> observed_;
  std::map<std::pair<int, int>, std::uint64_t> mismatches_;
  std::vector<std::pair<int, int>> average_members_;
  std::optional<Eigen::VectorXf> average_start_;
  double average_scale_ = 0.0;
  std::vector<Violation> violations_;
  std::size_t reported_ = 0;
};

}  // namespace starling::sim
